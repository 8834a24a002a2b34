//! The catalog: registering, reading, updating and removing projects, and their
//! maintenance windows.

use std::sync::Arc;

use crate::error::{RepositoryError, ServiceError, ValidationError};
use crate::model::{
    reason, CatalogApplied, CatalogPlan, HeartbeatKeyDigest, ListFilter, MaintenanceChange,
    MaintenanceInput, Project, ProjectPage, ProjectPatch, Registration, RegistrationInput, Slug,
    Transition, Upserted,
};
use crate::ports::ProjectRepository;
use crate::presence::StatusCounts;
use crate::replication::{RenderedPage, Renderer, Summary};
use bytes::Bytes;

use super::state::{admit, State};

fn path_slug(raw: &str) -> Result<Slug, ServiceError> {
    // A slug that cannot be valid names no project: that is a 404, not a 422.
    Slug::parse(raw).map_err(|_| ServiceError::NotFound(raw.chars().take(64).collect()))
}

/// The catalog: registrations, reads, updates and removals, maintenance windows.
pub(super) struct Catalog {
    state: Arc<State>,
    /// The catalog and its history.
    repo: Arc<dyn ProjectRepository>,
}

impl Catalog {
    pub(super) fn new(state: Arc<State>, repo: Arc<dyn ProjectRepository>) -> Self {
        Self { state, repo }
    }

    pub(super) async fn register(
        &self,
        input: &RegistrationInput,
    ) -> Result<Upserted, ServiceError> {
        let registration = input.validate()?;
        let upserted = self.repo.upsert(&registration).await?;
        {
            let mut presence = self.state.presence();
            admit(&mut presence, &upserted.project);
            presence.register(&registration.slug);
        }
        self.state.catch_up_with(&upserted).await;
        Ok(upserted)
    }

    pub(super) async fn register_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, ServiceError> {
        Ok(self.apply_catalog(registrations, false).await?.upserted)
    }

    pub(super) fn plan_catalog(&self, registrations: &[Registration], prune: bool) -> CatalogPlan {
        let registry = self.state.registry();
        let all = registry.list(&ListFilter::default());
        CatalogPlan::new(&all.items, registrations, prune)
    }

    pub(super) async fn apply_catalog(
        &self,
        registrations: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, ServiceError> {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in registrations.iter().enumerate() {
            if !seen.insert(&r.slug) {
                return Err(ValidationError::new(
                    format!("projects[{i}].slug"),
                    format!("duplicate slug {}", r.slug),
                )
                .into());
            }
        }
        let applied = self.repo.apply_catalog(registrations, prune).await?;
        {
            let mut presence = self.state.presence();
            for u in &applied.upserted {
                admit(&mut presence, &u.project);
            }
            for r in registrations {
                presence.register(&r.slug);
            }
            for slug in &applied.removed {
                presence.remove(slug);
            }
        }
        self.state.catch_up().await;
        Ok(applied)
    }

    pub(super) fn get(&self, slug: &str) -> Result<(Project, u64), ServiceError> {
        let slug = path_slug(slug)?;
        let registry = self.state.registry();
        registry
            .get(&slug)
            .map(|p| (p.clone(), registry.revision()))
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    pub(super) fn list(&self, filter: &ListFilter) -> ProjectPage {
        self.state.registry().list(filter)
    }

    pub(super) fn get_rendered(
        &self,
        slug: &str,
        render: Renderer,
    ) -> Result<(Bytes, u64), ServiceError> {
        let slug = path_slug(slug)?;
        let registry = self.state.registry();
        registry
            .rendered(&slug, render)
            .map(|b| (b, registry.revision()))
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    pub(super) fn slugs(&self, filter: &ListFilter) -> Vec<crate::model::Slug> {
        self.state.registry().slugs(filter)
    }

    pub(super) fn list_rendered(&self, filter: &ListFilter, render: Renderer) -> RenderedPage {
        self.state.registry().list_rendered(filter, render)
    }

    pub(super) fn matching_more_than(
        &self,
        filter: &ListFilter,
        more_than: u64,
    ) -> Option<(u64, u64)> {
        self.state.registry().matching_more_than(filter, more_than)
    }

    pub(super) fn part_rendered(
        &self,
        filter: &ListFilter,
        after: Option<&Slug>,
        limit: usize,
        render: Renderer,
    ) -> (Vec<Bytes>, Option<Slug>) {
        self.state
            .registry()
            .part_rendered(filter, after, limit, render)
    }

    pub(super) fn counts(&self) -> StatusCounts {
        self.state.registry().counts()
    }

    pub(super) fn summary(&self) -> Summary {
        self.state.registry().summary()
    }

    pub(super) async fn update(
        &self,
        slug: &str,
        patch: &ProjectPatch,
    ) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        let project = self
            .repo
            .update(&slug, patch)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))?;
        self.state
            .presence()
            .set_interval(&project.slug, project.heartbeat_interval);
        self.state.catch_up().await;
        Ok(project)
    }

    pub(super) async fn start_maintenance(
        &self,
        slug: &str,
        input: &MaintenanceInput,
        by: &str,
    ) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        let maintenance = input.validate(self.state.clock.now(), by)?;
        let project = self
            .repo
            .set_maintenance(&slug, &MaintenanceChange::Start(maintenance))
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))?;
        self.state
            .presence()
            .set_maintenance(&slug, project.maintenance.as_ref().map(|m| m.until));
        self.state.catch_up().await;
        Ok(project)
    }

    pub(super) async fn end_maintenance(
        &self,
        slug: &str,
        by: &str,
    ) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        let change = MaintenanceChange::End {
            at: self.state.clock.now(),
            reason: format!("{}: ended early by {by}", reason::MAINTENANCE_ENDED),
            due: false,
        };
        let project = self
            .repo
            .set_maintenance(&slug, &change)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))?;
        self.state.presence().set_maintenance(&slug, None);
        self.state.catch_up().await;
        Ok(project)
    }

    pub(super) async fn deregister(&self, slug: &str) -> Result<(), ServiceError> {
        let slug = path_slug(slug)?;
        if !self.repo.delete(&slug, reason::DELETED).await? {
            return Err(ServiceError::NotFound(slug.to_string()));
        }
        self.state.presence().remove(&slug);
        self.state.catch_up().await;
        Ok(())
    }

    pub(super) async fn history(
        &self,
        slug: &str,
        limit: u32,
    ) -> Result<Vec<Transition>, ServiceError> {
        let slug = path_slug(slug)?;
        self.repo
            .history(&slug, limit)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    pub(super) async fn set_heartbeat_key(
        &self,
        slug: &str,
        key: Option<HeartbeatKeyDigest>,
    ) -> Result<Project, ServiceError> {
        let patch = ProjectPatch {
            heartbeat_key: Some(key),
            ..ProjectPatch::default()
        };
        self.update(slug, &patch).await
    }

    pub(super) async fn ping_store(&self) -> Result<(), RepositoryError> {
        self.repo.ping().await
    }
}
