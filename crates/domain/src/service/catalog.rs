//! The catalog: registering, reading, updating and removing projects, and their
//! maintenance windows.

use crate::error::{RepositoryError, ServiceError, ValidationError};
use crate::model::{
    reason, CatalogApplied, CatalogPlan, HeartbeatKeyDigest, ListFilter, MaintenanceChange,
    MaintenanceInput, Project, ProjectPage, ProjectPatch, Registration, RegistrationInput, Slug,
    Transition, Upserted,
};
use crate::presence::StatusCounts;
use crate::replication::Summary;

use super::state::admit;
use super::Federation;

pub(super) fn path_slug(raw: &str) -> Result<Slug, ServiceError> {
    // A slug that cannot be valid names no project: that is a 404, not a 422.
    Slug::parse(raw).map_err(|_| ServiceError::NotFound(raw.chars().take(64).collect()))
}

impl Federation {
    /// Registers or updates a project. `created` tells which.
    pub async fn register(&self, input: &RegistrationInput) -> Result<Upserted, ServiceError> {
        let registration = input.validate()?;
        let upserted = self.repo.upsert(&registration).await?;
        {
            let mut presence = self.state.presence();
            admit(&mut presence, &upserted.project);
            presence.register(&registration.slug);
        }
        self.catch_up().await;
        Ok(upserted)
    }

    /// Registers every entry in one transaction (bulk registration): all or none.
    pub async fn register_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, ServiceError> {
        Ok(self.apply_catalog(registrations, false).await?.upserted)
    }

    /// What applying `registrations` (with `prune`) would change, from the registry.
    pub fn plan_catalog(&self, registrations: &[Registration], prune: bool) -> CatalogPlan {
        let registry = self.state.registry();
        let all = registry.list(&ListFilter::default());
        CatalogPlan::new(&all.items, registrations, prune)
    }

    /// Applies a catalog in one transaction, all or none: registers every entry and,
    /// with `prune`, removes the projects the file registered and no longer lists.
    pub async fn apply_catalog(
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
        self.catch_up().await;
        Ok(applied)
    }

    /// A project as the registry holds it (memory: no store round trip), with the
    /// revision it reflects.
    pub fn get(&self, slug: &str) -> Result<(Project, u64), ServiceError> {
        let slug = path_slug(slug)?;
        let registry = self.state.registry();
        registry
            .get(&slug)
            .map(|p| (p.clone(), registry.revision()))
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    /// A page of the registry (memory).
    pub fn list(&self, filter: &ListFilter) -> ProjectPage {
        self.state.registry().list(filter)
    }

    /// Projects by recorded status (the registry: the same on every replica).
    pub fn counts(&self) -> StatusCounts {
        self.state.registry().counts()
    }

    /// Counts by status and tag, the offline project silent the longest, the revision.
    pub fn summary(&self) -> Summary {
        self.state.registry().summary()
    }

    /// Applies a partial update to the project's descriptive fields.
    pub async fn update(&self, slug: &str, patch: &ProjectPatch) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        let project = self
            .repo
            .update(&slug, patch)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))?;
        self.state
            .presence()
            .set_interval(&project.slug, project.heartbeat_interval);
        self.catch_up().await;
        Ok(project)
    }

    /// Starts (or replaces) a maintenance window for `by` (the caller's key name, or
    /// `anonymous`): until it ends no degraded/offline transition is recorded for the
    /// project. Recorded in its history and the change log.
    pub async fn start_maintenance(
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
        self.catch_up().await;
        Ok(project)
    }

    /// Ends a project's maintenance window now (the normal rules apply at once). A
    /// project not in maintenance is returned as it is.
    pub async fn end_maintenance(&self, slug: &str, by: &str) -> Result<Project, ServiceError> {
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
        self.catch_up().await;
        Ok(project)
    }

    /// Removes the project and its history.
    pub async fn deregister(&self, slug: &str) -> Result<(), ServiceError> {
        let slug = path_slug(slug)?;
        if !self.repo.delete(&slug, reason::DELETED).await? {
            return Err(ServiceError::NotFound(slug.to_string()));
        }
        self.state.presence().remove(&slug);
        self.catch_up().await;
        Ok(())
    }

    /// The project's latest status changes, newest first, at most `limit`.
    pub async fn history(&self, slug: &str, limit: u32) -> Result<Vec<Transition>, ServiceError> {
        let slug = path_slug(slug)?;
        self.repo
            .history(&slug, limit)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    /// Makes `key` the project's heartbeat key (replacing any other), or with `None`
    /// removes it. A catalog change (`updated` in the log, so every replica follows);
    /// status and liveness stay as they are.
    pub async fn set_heartbeat_key(
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

    /// Whether the store answers.
    pub async fn ping_store(&self) -> Result<(), RepositoryError> {
        self.repo.ping().await
    }
}
