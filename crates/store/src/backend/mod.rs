//! The store's operations, one implementation per database: [`Postgres`] (async, on a
//! deadpool of diesel-async connections) and [`Sqlite`] (sync diesel on the blocking
//! pool, one writer at a time). [`crate::Store`] picks one at connect time and adds
//! what both share: deadlines, logging and the list-total cache.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use federation_domain::{
    CatalogApplied, ChangesSince, FlapMark, ListFilter, LoggedSteps, MaintenanceChange,
    PresenceRecord, Project, ProjectPage, ProjectPatch, Registration, Slug, Snapshot, Term,
    Transition, Upserted,
};

use crate::error::StoreError;
use crate::log::NewChange;

/// Takes a connection from a pool, waiting at most `timeout` (a macro: the pool's
/// manager bounds are long to spell out generically).
macro_rules! pooled {
    ($pool:expr, $timeout:expr) => {{
        use diesel_async::pooled_connection::deadpool::PoolError;
        use diesel_async::pooled_connection::PoolError as ConnPoolError;
        let timeout: std::time::Duration = $timeout;
        match tokio::time::timeout(timeout, $pool.get()).await {
            Err(_) => Err(StoreError::Timeout(timeout)),
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(PoolError::Backend(ConnPoolError::ConnectionError(e)))) => {
                Err(StoreError::Connect(e.to_string()))
            }
            Ok(Err(PoolError::Backend(ConnPoolError::QueryError(e)))) => Err(StoreError::Query(e)),
            Ok(Err(PoolError::Timeout(_))) => Err(StoreError::Timeout(timeout)),
            Ok(Err(e)) => Err(StoreError::Pool(e.to_string())),
        }
    }};
}

mod postgres;
mod sqlite;

pub(crate) use postgres::Postgres;
pub(crate) use sqlite::{Sqlite, SqliteConn};

/// What a database does for the ports: each write in one transaction with its
/// change-log rows.
#[async_trait]
pub(crate) trait Operations: Send + Sync {
    /// Opens (or takes) one connection and runs a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Upserts `regs` and, with `prune`, removes the file's projects they do not list.
    async fn apply_catalog(
        &self,
        regs: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, StoreError>;
    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, StoreError>;
    async fn set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, StoreError>;
    async fn get(&self, slug: &Slug) -> Result<Option<Project>, StoreError>;
    /// A page; `known` is the filter's total when the cache has it (else it is counted,
    /// in the page's snapshot).
    async fn list(
        &self,
        filter: &ListFilter,
        known: Option<i64>,
    ) -> Result<ProjectPage, StoreError>;
    async fn delete(&self, slug: &Slug, why: &str) -> Result<bool, StoreError>;
    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, StoreError>;
    /// Fenced by `term`; not called with nothing to write.
    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<LoggedSteps, StoreError>;
    /// Fenced by `term`; not called with nothing to write.
    async fn write_flapping(&self, marks: &[FlapMark], term: Term) -> Result<(), StoreError>;
    async fn history(&self, slug: &Slug, limit: u32)
        -> Result<Option<Vec<Transition>>, StoreError>;
    async fn trim_history(
        &self,
        before: DateTime<Utc>,
        per_project: u32,
    ) -> Result<u64, StoreError>;
    async fn snapshot(&self) -> Result<Snapshot, StoreError>;
    /// The log after `revision`, each change with its project unless `with_projects` is
    /// false (the outbox's read).
    async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
        with_projects: bool,
    ) -> Result<ChangesSince, StoreError>;
    async fn published_through(&self) -> Result<u64, StoreError>;
    async fn mark_published(&self, revision: u64, term: Term) -> Result<(), StoreError>;
    async fn trim(&self, before: DateTime<Utc>, keep: u64) -> Result<u64, StoreError>;
    async fn acquire(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Term>, StoreError>;
    async fn release(&self, holder: &str) -> Result<(), StoreError>;
}

/// The database a store uses.
#[derive(Clone)]
pub(crate) enum Backend {
    Postgres(Postgres),
    Sqlite(Sqlite),
}

impl Backend {
    /// Its operations.
    pub(crate) fn ops(&self) -> &dyn Operations {
        match self {
            Backend::Postgres(pg) => pg,
            Backend::Sqlite(sqlite) => sqlite,
        }
    }

    /// `"postgres"` or `"sqlite"`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }
}

/// The slugs a catalog lists.
fn listed(regs: &[Registration]) -> std::collections::HashSet<&str> {
    regs.iter().map(|r| r.slug.as_str()).collect()
}

/// The result of an apply, with the removed slugs as domain values.
fn applied(
    (upserted, removed): (Vec<Upserted>, Vec<String>),
) -> Result<CatalogApplied, StoreError> {
    let removed = removed
        .iter()
        .map(|s| Slug::parse(s).map_err(|e| StoreError::Corrupt(format!("slug {s:?}: {e}"))))
        .collect::<Result<_, _>>()?;
    Ok(CatalogApplied { upserted, removed })
}

/// The log rows of an upsert: registered or updated, in the batch's order.
pub(crate) fn upserted_changes(
    upserted: &[Upserted],
    now: crate::schema::DbTime,
) -> Vec<NewChange<'_>> {
    upserted
        .iter()
        .map(|u| NewChange::registration(u.project.slug.as_str(), u.created, now))
        .collect()
}

/// The log rows of the steps [`federation_domain::chain_onto`] kept (only projects that exist).
pub(crate) fn transition_changes(transitions: &[Transition]) -> Vec<NewChange<'_>> {
    transitions.iter().map(NewChange::transition).collect()
}
