//! The operations on SQLite: sync diesel run on tokio's blocking pool, one writer at a
//! time in this process, each write inside an IMMEDIATE transaction.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use federation_domain::{
    reason, CatalogApplied, ChangesSince, FlapMark, ListFilter, LoggedSteps, MaintenanceChange,
    PresenceRecord, Project, ProjectPage, ProjectPatch, Registration, Slug, Snapshot, Term,
    Transition,
};

use super::{applied, listed, transition_changes, upserted_changes, Operations};
use crate::error::StoreError;
use crate::log::NewChange;
use crate::rows::now_micros;
use crate::schema::DbTime;
use crate::sqlite;

/// An async SQLite connection: the sync one run on tokio's blocking pool.
pub(crate) type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// A SQLite pool, how long to wait for one of its connections, and the lock writers
/// take in turn.
#[derive(Clone)]
pub(crate) struct Sqlite {
    pool: Pool<SqliteConn>,
    timeout: Duration,
    /// One writer at a time inside this process, so writers queue here instead of
    /// spinning in SQLite's busy handler (other processes still get `busy_timeout`).
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Sqlite {
    pub(crate) fn new(pool: Pool<SqliteConn>, timeout: Duration) -> Self {
        Self {
            pool,
            timeout,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Waits for this process's turn to write (held until the guard drops).
    pub(crate) async fn lock_writes(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.write_lock.clone().lock_owned().await
    }

    /// Runs `f` on a pooled connection on the blocking pool. The work runs in its own
    /// task, which owns the connection until `f` returns: a caller that gives up (a
    /// dropped request) cannot hand a connection back to the pool mid-transaction.
    pub(crate) async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.pool.clone();
        let timeout = self.timeout;
        tokio::spawn(async move {
            let mut conn = pooled!(pool, timeout)?;
            conn.spawn_blocking(move |c| Ok(f(c)))
                .await
                .map_err(StoreError::Query)?
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Like [`Sqlite::run`], for writes: one writer at a time in this process, inside
    /// an IMMEDIATE transaction (the write lock is taken at BEGIN, so a read-then-write
    /// never fails half-way with SQLITE_BUSY).
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let guard = self.lock_writes().await;
        let result = self.run(move |c| c.immediate_transaction(f)).await;
        drop(guard);
        result
    }
}

#[async_trait]
impl Operations for Sqlite {
    async fn ping(&self) -> Result<(), StoreError> {
        self.run(sqlite::ping).await
    }

    async fn apply_catalog(
        &self,
        regs: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, StoreError> {
        let now = DbTime(now_micros());
        let regs = regs.to_vec();
        self.write(move |c| {
            let upserted = regs
                .iter()
                .map(|reg| sqlite::upsert(c, reg, now))
                .collect::<Result<Vec<_>, _>>()?;
            let mut changes = upserted_changes(&upserted, now);
            let removed = if prune {
                sqlite::prune(c, &listed(&regs), now)?
            } else {
                Vec::new()
            };
            changes.extend(
                removed
                    .iter()
                    .map(|s| NewChange::removal(s, reason::PRUNED, now)),
            );
            sqlite::append(c, &changes)?;
            applied((upserted, removed))
        })
        .await
    }

    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, StoreError> {
        let now = DbTime(now_micros());
        let (slug, patch) = (slug.clone(), patch.clone());
        self.write(move |c| {
            let out = sqlite::update(c, slug.as_str(), &patch, now)?;
            if out.is_some() {
                sqlite::append(c, &[NewChange::catalog("updated", slug.as_str(), now)])?;
            }
            Ok(out)
        })
        .await
    }

    async fn set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, StoreError> {
        let now = DbTime(now_micros());
        let (slug, change) = (slug.clone(), change.clone());
        let out = self
            .write(move |c| {
                let out = sqlite::set_maintenance(c, slug.as_str(), &change, now)?;
                if let Some((_, true)) = &out {
                    sqlite::append(c, &[NewChange::catalog("updated", slug.as_str(), now)])?;
                }
                Ok(out)
            })
            .await?;
        Ok(out.map(|(project, _)| project))
    }

    async fn get(&self, slug: &Slug) -> Result<Option<Project>, StoreError> {
        let slug = slug.clone();
        self.run(move |c| sqlite::get(c, slug.as_str())).await
    }

    async fn list(
        &self,
        filter: &ListFilter,
        known: Option<i64>,
    ) -> Result<ProjectPage, StoreError> {
        let filter = filter.clone();
        self.run(move |c| diesel::Connection::transaction(c, |c| sqlite::list(c, &filter, known)))
            .await
    }

    async fn delete(&self, slug: &Slug, why: &str) -> Result<bool, StoreError> {
        let now = DbTime(now_micros());
        let (slug, why) = (slug.clone(), why.to_owned());
        self.write(move |c| {
            let deleted = sqlite::delete(c, slug.as_str(), &why, now)?;
            if deleted {
                sqlite::append(c, &[NewChange::removal(slug.as_str(), &why, now)])?;
            }
            Ok(deleted)
        })
        .await
    }

    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, StoreError> {
        self.run(sqlite::presence_snapshot).await
    }

    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<LoggedSteps, StoreError> {
        let (updates, transitions) = (updates.to_vec(), transitions.to_vec());
        self.write(move |c| {
            sqlite::check_term(sqlite::lease_row(c)?, term)?;
            // The steps chain onto the stored statuses (see the PostgreSQL backend).
            let transitions = if transitions.is_empty() {
                Vec::new()
            } else {
                let slugs = transitions.iter().map(|t| t.slug.as_str()).collect();
                let mut stored = sqlite::stored_statuses(c, slugs)?;
                federation_domain::chain_onto(&transitions, &mut stored)
            };
            sqlite::write_presence(c, &updates, &transitions)?;
            sqlite::append(c, &transition_changes(&transitions))?;
            // Not numbered here (as registrations): the writer reads the log back.
            Ok(LoggedSteps {
                transitions,
                first_revision: None,
            })
        })
        .await
    }

    async fn write_flapping(&self, marks: &[FlapMark], term: Term) -> Result<(), StoreError> {
        let marks = marks.to_vec();
        self.write(move |c| {
            sqlite::check_term(sqlite::lease_row(c)?, term)?;
            let changes = sqlite::mark_flapping(c, &marks)?;
            sqlite::append(c, &changes)
        })
        .await
    }

    async fn history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, StoreError> {
        let slug = slug.clone();
        self.run(move |c| sqlite::history(c, &slug, limit)).await
    }

    async fn trim_history(
        &self,
        before: DateTime<Utc>,
        per_project: u32,
    ) -> Result<u64, StoreError> {
        let before = DbTime(before);
        self.write(move |c| sqlite::trim_history(c, before, per_project))
            .await
    }

    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.run(|c| diesel::Connection::transaction(c, sqlite::snapshot))
            .await
    }

    async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
        with_projects: bool,
    ) -> Result<ChangesSince, StoreError> {
        self.run(move |c| {
            diesel::Connection::transaction(c, |c| {
                sqlite::changes_since(c, revision, limit, with_projects)
            })
        })
        .await
    }

    async fn published_through(&self) -> Result<u64, StoreError> {
        self.run(sqlite::published_through).await
    }

    async fn mark_published(&self, revision: u64, term: Term) -> Result<(), StoreError> {
        self.write(move |c| {
            sqlite::check_term(sqlite::lease_row(c)?, term)?;
            sqlite::set_published(c, revision)
        })
        .await
    }

    async fn trim(&self, before: DateTime<Utc>, keep: u64) -> Result<u64, StoreError> {
        let before = DbTime(before);
        self.write(move |c| sqlite::trim(c, before, keep)).await
    }

    async fn acquire(&self, holder: &str, ttl: Duration) -> Result<Option<Term>, StoreError> {
        let now = now_micros();
        let holder = holder.to_owned();
        self.write(move |c| {
            let current = sqlite::lease_row(c)?;
            sqlite::acquire(c, current, &holder, now, ttl)
        })
        .await
    }

    async fn release(&self, holder: &str) -> Result<(), StoreError> {
        let now = now_micros();
        let holder = holder.to_owned();
        self.write(move |c| sqlite::release(c, &holder, now)).await
    }
}
