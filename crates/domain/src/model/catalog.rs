//! The catalog file: what applying one would change, and what it did.

use super::project::{Origin, Project, Registration, Upserted};
use super::slug::Slug;

/// What applying the catalog file did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogApplied {
    /// Every entry, as stored.
    pub upserted: Vec<Upserted>,
    /// The projects removed because the file no longer lists them (`prune`).
    pub removed: Vec<Slug>,
}

/// What applying a catalog would change (`federation catalog apply --dry-run`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogPlan {
    /// Entries not registered yet.
    pub create: Vec<Slug>,
    /// Entries registered with other values, and which fields differ.
    pub update: Vec<(Slug, Vec<&'static str>)>,
    /// Entries registered as they are.
    pub unchanged: Vec<Slug>,
    /// Projects the file registered and no longer lists (only with `prune`).
    pub remove: Vec<Slug>,
}

impl CatalogPlan {
    /// What `registrations` would change in `current` (the registry), pruning the
    /// file's projects it no longer lists when `prune`.
    pub fn new<'a>(
        current: impl IntoIterator<Item = &'a Project>,
        registrations: &[Registration],
        prune: bool,
    ) -> Self {
        let current: std::collections::HashMap<&Slug, &Project> =
            current.into_iter().map(|p| (&p.slug, p)).collect();
        let listed: std::collections::HashSet<&Slug> =
            registrations.iter().map(|r| &r.slug).collect();
        let mut plan = CatalogPlan::default();
        for r in registrations {
            let Some(p) = current.get(&r.slug) else {
                plan.create.push(r.slug.clone());
                continue;
            };
            let mut fields = Vec::new();
            if p.name != r.name {
                fields.push("name");
            }
            if p.hub_url != r.hub_url {
                fields.push("hub_url");
            }
            if p.mesh_namespace != r.mesh_namespace {
                fields.push("mesh_namespace");
            }
            if p.tags != r.tags {
                fields.push("tags");
            }
            if r.heartbeat_interval.is_some() && p.heartbeat_interval != r.heartbeat_interval {
                fields.push("heartbeat_interval");
            }
            if p.origin != r.origin {
                fields.push("origin");
            }
            if fields.is_empty() {
                plan.unchanged.push(r.slug.clone());
            } else {
                plan.update.push((r.slug.clone(), fields));
            }
        }
        if prune {
            plan.remove = current
                .values()
                .filter(|p| p.origin == Origin::File && !listed.contains(&p.slug))
                .map(|p| p.slug.clone())
                .collect();
            plan.remove.sort();
        }
        plan
    }
}
