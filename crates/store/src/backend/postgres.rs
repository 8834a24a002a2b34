//! The operations on PostgreSQL: each on a pooled connection, writes in a transaction
//! that first takes the change log's lock.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use federation_domain::{
    reason, CatalogApplied, ChangesSince, FlapMark, ListFilter, LoggedSteps, MaintenanceChange,
    PresenceRecord, Project, ProjectPage, ProjectPatch, Registration, Slug, Snapshot, Term,
    Transition,
};

use super::{applied, listed, upserted_changes, Operations};
use crate::error::StoreError;
use crate::log::NewChange;
use crate::pg;
use crate::presence_write;
use crate::rows::now_micros;
use crate::schema::DbTime;

/// A PostgreSQL pool and how long to wait for one of its connections.
#[derive(Clone)]
pub(crate) struct Postgres {
    pool: Pool<AsyncPgConnection>,
    timeout: Duration,
}

impl Postgres {
    pub(crate) fn new(pool: Pool<AsyncPgConnection>, timeout: Duration) -> Self {
        Self { pool, timeout }
    }

    /// A pooled connection, waiting at most the pool timeout.
    pub(crate) async fn conn(&self) -> Result<Object<AsyncPgConnection>, StoreError> {
        pooled!(self.pool, self.timeout)
    }
}

#[async_trait]
impl Operations for Postgres {
    async fn ping(&self) -> Result<(), StoreError> {
        pg::ping(&mut *self.conn().await?).await
    }

    async fn apply_catalog(
        &self,
        regs: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, StoreError> {
        let now = DbTime(now_micros());
        let mut conn = self.conn().await?;
        if !prune {
            let upserted = conn
                .transaction(async |c| crate::upsert::register(c, regs, now).await)
                .await?;
            return applied((upserted, Vec::new()));
        }
        conn.transaction(async |c| {
            pg::lock_log(c).await?;
            let upserted = crate::upsert::upsert_many(c, regs, now).await?;
            let mut changes = upserted_changes(&upserted, now);
            let removed = if prune {
                pg::prune(c, &listed(regs), now).await?
            } else {
                Vec::new()
            };
            changes.extend(
                removed
                    .iter()
                    .map(|s| NewChange::removal(s, reason::PRUNED, now)),
            );
            pg::log_changes(c, &changes).await?;
            Ok::<_, StoreError>((upserted, removed))
        })
        .await
        .and_then(applied)
    }

    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, StoreError> {
        let now = DbTime(now_micros());
        let mut conn = self.conn().await?;
        conn.transaction(async |c| crate::edit::update(c, slug.as_str(), patch, now).await)
            .await
    }

    async fn set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, StoreError> {
        let now = DbTime(now_micros());
        let mut conn = self.conn().await?;
        let out = conn
            .transaction(async |c| {
                pg::lock_log(c).await?;
                let out = pg::set_maintenance(c, slug.as_str(), change, now).await?;
                if let Some((_, true)) = &out {
                    pg::log_changes(c, &[NewChange::catalog("updated", slug.as_str(), now)])
                        .await?;
                }
                Ok::<_, StoreError>(out)
            })
            .await?;
        Ok(out.map(|(project, _)| project))
    }

    async fn get(&self, slug: &Slug) -> Result<Option<Project>, StoreError> {
        let mut conn = self.conn().await?;
        pg::get(&mut conn, slug.as_str()).await
    }

    async fn list(
        &self,
        filter: &ListFilter,
        known: Option<i64>,
    ) -> Result<ProjectPage, StoreError> {
        let mut conn = self.conn().await?;
        match known {
            // The total is known: the page (and its tags) alone.
            Some(_) => pg::list(&mut conn, filter, known).await,
            // One snapshot, so the counted total and the page agree.
            None => {
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(async |c| pg::list(c, filter, None).await)
                    .await
            }
        }
    }

    async fn delete(&self, slug: &Slug, why: &str) -> Result<bool, StoreError> {
        let now = DbTime(now_micros());
        let mut conn = self.conn().await?;
        conn.transaction(async |c| crate::edit::remove(c, slug.as_str(), why, now).await)
            .await
    }

    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, StoreError> {
        let mut conn = self.conn().await?;
        pg::presence_snapshot(&mut conn).await
    }

    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<LoggedSteps, StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| {
            // A stale term fails before anything is written; the fence itself is the
            // locked check as the writes end, just before the commit: a slow write (a
            // locked row, a slow disk) must not hold the lease's row, or the leader
            // could not renew its lease while the write waits, and the lead would move
            // for a slow tick. The steps chain onto the stored statuses under the log's
            // lock, so another writer's step is neither repeated nor skipped over.
            let transitions = presence_write::lock_and_chain(c, transitions, term).await?;
            let first_revision = presence_write::write(c, updates, &transitions, term).await?;
            Ok(LoggedSteps {
                transitions,
                first_revision,
            })
        })
        .await
    }

    async fn write_flapping(&self, marks: &[FlapMark], term: Term) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| {
            pg::lock_log(c).await?;
            pg::check_term(pg::lease_term(c).await?, term)?;
            let changes = pg::mark_flapping(c, marks).await?;
            pg::log_changes(c, &changes).await?;
            pg::check_term(pg::lease_row(c, false).await?, term)
        })
        .await
    }

    async fn history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, StoreError> {
        let mut conn = self.conn().await?;
        pg::history(&mut conn, slug, limit).await
    }

    async fn trim_history(
        &self,
        before: DateTime<Utc>,
        per_project: u32,
    ) -> Result<u64, StoreError> {
        let before = DbTime(before);
        let mut conn = self.conn().await?;
        conn.transaction(async |c| pg::trim_history(c, before, per_project).await)
            .await
    }

    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut conn = self.conn().await?;
        conn.build_transaction()
            .read_only()
            .repeatable_read()
            .run(async |c| pg::snapshot(c).await)
            .await
    }

    async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
        with_projects: bool,
    ) -> Result<ChangesSince, StoreError> {
        let mut conn = self.conn().await?;
        conn.build_transaction()
            .read_only()
            .repeatable_read()
            .run(async |c| pg::changes_since(c, revision, limit, with_projects).await)
            .await
    }

    async fn published_through(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        pg::published_through(&mut conn).await
    }

    async fn mark_published(&self, revision: u64, term: Term) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| {
            pg::check_term(pg::lease_row(c, false).await?, term)?;
            pg::set_published(c, revision).await
        })
        .await
    }

    async fn trim(&self, before: DateTime<Utc>, keep: u64) -> Result<u64, StoreError> {
        let before = DbTime(before);
        let mut conn = self.conn().await?;
        conn.transaction(async |c| {
            pg::lock_log(c).await?;
            pg::trim(c, before, keep).await
        })
        .await
    }

    async fn acquire(&self, holder: &str, ttl: Duration) -> Result<Option<Term>, StoreError> {
        let now = now_micros();
        let mut conn = self.conn().await?;
        conn.transaction(async |c| {
            let current = pg::lease_row(c, true).await?;
            pg::acquire(c, current, holder, now, ttl).await
        })
        .await
    }

    async fn release(&self, holder: &str) -> Result<(), StoreError> {
        let now = now_micros();
        let mut conn = self.conn().await?;
        pg::release(&mut conn, holder, now).await
    }
}
