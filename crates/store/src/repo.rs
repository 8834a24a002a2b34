//! The domain's ports on [`Store`]: each operation on the store's backend within its
//! deadline, failures logged and converted, list totals cached.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use federation_domain::{
    CatalogApplied, ChangeLog, ChangesSince, FlapMark, Lease, ListFilter, LoggedSteps,
    MaintenanceChange, PresenceRecord, Project, ProjectPage, ProjectPatch, ProjectRepository,
    Registration, RepositoryError, Slug, Snapshot, Term, Transition, Upserted,
};

use crate::error::StoreError;
use crate::store::Store;

impl Store {
    pub(crate) async fn upsert_many(
        &self,
        regs: &[Registration],
    ) -> Result<Vec<Upserted>, StoreError> {
        Ok(self
            .backend
            .ops()
            .apply_catalog(regs, false)
            .await?
            .upserted)
    }

    async fn do_list(&self, filter: &ListFilter) -> Result<ProjectPage, StoreError> {
        if !filter.meta.is_empty() {
            return self.list_by_metadata(filter).await;
        }
        let known = self.totals.get(filter);
        let started = std::time::Instant::now();
        let page = self.backend.ops().list(filter, known).await?;
        if known.is_none() {
            self.totals.put(
                filter,
                started,
                i64::try_from(page.total).unwrap_or(i64::MAX),
            );
        }
        Ok(page)
    }

    /// A list with `meta.KEY=VALUE` conditions: the other conditions in SQL, the
    /// metadata ones by the domain's own rule over the result, then the page. (Reads
    /// are answered from the registry; the store's list serves tools and checks.)
    async fn list_by_metadata(&self, filter: &ListFilter) -> Result<ProjectPage, StoreError> {
        let wide = ListFilter {
            limit: None,
            offset: 0,
            after: None,
            meta: Vec::new(),
            ..filter.clone()
        };
        let everything = Box::pin(self.do_list(&wide)).await?;
        let matching: Vec<Project> = everything
            .items
            .into_iter()
            .filter(|p| filter.matches(p))
            .collect();
        // Counted in full, as without metadata conditions; the cursor bounds the page.
        let total = u64::try_from(matching.len()).unwrap_or(u64::MAX);
        let items = matching
            .into_iter()
            .filter(|p| filter.after.as_ref().is_none_or(|a| p.slug > *a))
            .skip(usize::try_from(filter.offset).unwrap_or(usize::MAX))
            .take(filter.limit.map_or(usize::MAX, |l| l as usize))
            .collect();
        Ok(ProjectPage {
            items,
            total,
            revision: everything.revision,
        })
    }
}

impl Store {
    /// Runs one operation of a port within its deadline (the pool's wait plus the
    /// statement timeout), then logs and converts a failure as [`port`] does. An
    /// operation past it is abandoned: its connection, if in a transaction, is
    /// discarded by the pool and the server rolls the transaction back.
    pub(crate) async fn bounded<T>(
        &self,
        op: &'static str,
        operation: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, RepositoryError> {
        let deadline = self.timeout + self.statement_timeout;
        let result = tokio::time::timeout(deadline, operation)
            .await
            .unwrap_or(Err(StoreError::Deadline(deadline)));
        port(op, result)
    }
}

/// Logs a failure with its full text (SQL and database messages stay in logs) and
/// converts it for the port.
fn port<T>(op: &'static str, r: Result<T, StoreError>) -> Result<T, RepositoryError> {
    r.map_err(|e| {
        tracing::debug!(operation = op, error = %e, "store operation failed");
        e.into()
    })
}

#[async_trait]
impl ProjectRepository for Store {
    async fn upsert(&self, registration: &Registration) -> Result<Upserted, RepositoryError> {
        self.upsert_grouped(registration).await
    }

    async fn upsert_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, RepositoryError> {
        let result = self
            .bounded("upsert_all", self.upsert_many(registrations))
            .await;
        self.totals.invalidate();
        result
    }

    async fn apply_catalog(
        &self,
        registrations: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, RepositoryError> {
        let result = self
            .bounded(
                "apply_catalog",
                self.backend.ops().apply_catalog(registrations, prune),
            )
            .await;
        self.totals.invalidate();
        result
    }

    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, RepositoryError> {
        let result = self
            .bounded("update", self.backend.ops().update(slug, patch))
            .await;
        self.totals.invalidate();
        result
    }

    async fn set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, RepositoryError> {
        self.bounded(
            "set_maintenance",
            self.backend.ops().set_maintenance(slug, change),
        )
        .await
    }

    async fn get(&self, slug: &Slug) -> Result<Option<Project>, RepositoryError> {
        self.bounded("get", self.backend.ops().get(slug)).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<ProjectPage, RepositoryError> {
        self.bounded("list", self.do_list(filter)).await
    }

    async fn delete(&self, slug: &Slug, why: &str) -> Result<bool, RepositoryError> {
        let result = self
            .bounded("delete", self.backend.ops().delete(slug, why))
            .await;
        self.totals.invalidate();
        result
    }

    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, RepositoryError> {
        self.bounded("presence_snapshot", self.backend.ops().presence_snapshot())
            .await
    }

    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<LoggedSteps, RepositoryError> {
        let write = async {
            if updates.is_empty() && transitions.is_empty() {
                return Ok(LoggedSteps::default());
            }
            self.backend
                .ops()
                .write_presence(updates, transitions, term)
                .await
        };
        let result = self.bounded("write_presence", write).await;
        self.totals.invalidate();
        result
    }

    async fn write_flapping(&self, marks: &[FlapMark], term: Term) -> Result<(), RepositoryError> {
        if marks.is_empty() {
            return Ok(());
        }
        self.bounded(
            "write_flapping",
            self.backend.ops().write_flapping(marks, term),
        )
        .await
    }

    async fn history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, RepositoryError> {
        self.bounded("history", self.backend.ops().history(slug, limit))
            .await
    }

    async fn trim_history(
        &self,
        before: DateTime<Utc>,
        per_project: u32,
    ) -> Result<u64, RepositoryError> {
        port(
            "trim_history",
            self.backend.ops().trim_history(before, per_project).await,
        )
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.bounded("ping", self.backend.ops().ping()).await
    }
}

#[async_trait]
impl ChangeLog for Store {
    async fn snapshot(&self) -> Result<Snapshot, RepositoryError> {
        self.bounded("snapshot", self.backend.ops().snapshot())
            .await
    }

    async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.bounded(
            "changes_since",
            self.backend.ops().changes_since(revision, limit, true),
        )
        .await
    }

    async fn events_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.bounded(
            "events_since",
            self.backend.ops().changes_since(revision, limit, false),
        )
        .await
    }

    async fn published_through(&self) -> Result<u64, RepositoryError> {
        self.bounded("published_through", self.backend.ops().published_through())
            .await
    }

    async fn mark_published(&self, revision: u64, term: Term) -> Result<(), RepositoryError> {
        self.bounded(
            "mark_published",
            self.backend.ops().mark_published(revision, term),
        )
        .await
    }

    async fn trim(&self, before: DateTime<Utc>, keep: u64) -> Result<u64, RepositoryError> {
        self.bounded("trim", self.backend.ops().trim(before, keep))
            .await
    }
}

#[async_trait]
impl Lease for Store {
    async fn acquire(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Term>, RepositoryError> {
        self.bounded("acquire_lease", self.backend.ops().acquire(holder, ttl))
            .await
    }

    async fn release(&self, holder: &str) -> Result<(), RepositoryError> {
        self.bounded("release_lease", self.backend.ops().release(holder))
            .await
    }
}
