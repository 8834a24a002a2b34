//! A [`ProjectRepository`] decorator that measures the batched presence writes (duration,
//! rows per batch, refusals) into the service's [`Metrics`]; every other call passes
//! straight through.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use federation_api::Metrics;
use federation_domain::{
    CatalogApplied, FlapMark, ListFilter, LoggedSteps, MaintenanceChange, PresenceRecord, Project,
    ProjectPage, ProjectPatch, ProjectRepository, Registration, RepositoryError, Slug, Term,
    Transition, Upserted,
};

/// The store, measured.
pub struct Metered {
    inner: Arc<dyn ProjectRepository>,
    metrics: Arc<Metrics>,
}

impl Metered {
    pub fn new(inner: Arc<dyn ProjectRepository>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl ProjectRepository for Metered {
    async fn upsert(&self, registration: &Registration) -> Result<Upserted, RepositoryError> {
        self.inner.upsert(registration).await
    }

    async fn upsert_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, RepositoryError> {
        self.inner.upsert_all(registrations).await
    }

    async fn apply_catalog(
        &self,
        registrations: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, RepositoryError> {
        self.inner.apply_catalog(registrations, prune).await
    }

    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, RepositoryError> {
        self.inner.update(slug, patch).await
    }

    async fn set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, RepositoryError> {
        self.inner.set_maintenance(slug, change).await
    }

    async fn get(&self, slug: &Slug) -> Result<Option<Project>, RepositoryError> {
        self.inner.get(slug).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<ProjectPage, RepositoryError> {
        self.inner.list(filter).await
    }

    async fn delete(&self, slug: &Slug, why: &str) -> Result<bool, RepositoryError> {
        self.inner.delete(slug, why).await
    }

    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, RepositoryError> {
        self.inner.presence_snapshot().await
    }

    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<LoggedSteps, RepositoryError> {
        let started = Instant::now();
        let result = self.inner.write_presence(updates, transitions, term).await;
        self.metrics.observe_flush(
            started.elapsed(),
            updates.len(),
            transitions.len(),
            result.is_ok(),
        );
        result
    }

    async fn write_flapping(&self, marks: &[FlapMark], term: Term) -> Result<(), RepositoryError> {
        self.inner.write_flapping(marks, term).await
    }

    async fn history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, RepositoryError> {
        self.inner.history(slug, limit).await
    }

    async fn trim_history(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        per_project: u32,
    ) -> Result<u64, RepositoryError> {
        self.inner.trim_history(before, per_project).await
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.inner.ping().await
    }
}
