//! The operations on PostgreSQL: each on a pooled connection, writes in a transaction
//! that first takes the change log's lock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use federation_domain::{
    reason, CatalogApplied, ChangeKind, ChangesSince, ListFilter, MaintenanceChange,
    PresenceRecord, Project, ProjectPage, ProjectPatch, Registration, Slug, Snapshot, Term,
    Transition,
};

use super::{applied, listed, transition_changes, upserted_changes, Operations};
use crate::commits::{Commits, Written};
use crate::error::StoreError;
use crate::log::NewChange;
use crate::rows::now_micros;
use crate::schema::DbTime;
use crate::{pg, pgupsert, pgwrite};

/// A PostgreSQL pool, how long to wait for one of its connections, and the writes
/// this process committed to the log (so reading them back costs no query).
#[derive(Clone)]
pub(crate) struct Postgres {
    pool: Pool<AsyncPgConnection>,
    timeout: Duration,
    commits: Arc<Commits>,
}

impl Postgres {
    pub(crate) fn new(
        pool: Pool<AsyncPgConnection>,
        timeout: Duration,
        commits: Arc<Commits>,
    ) -> Self {
        Self {
            pool,
            timeout,
            commits,
        }
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
        conn.transaction(async |c| {
            if !prune {
                // The whole write in one statement, right behind the lock.
                let whole = pg::locked(c, |c| pgupsert::upsert_logged(c, regs, now)).await?;
                if let Some((upserted, logged)) = whole {
                    return Ok((upserted, Vec::new(), Some(logged)));
                }
                // A slug given twice: one at a time, below (the lock is held).
            } else {
                pg::lock_log(c).await?;
            }
            let upserted = pgupsert::upsert_many(c, regs, now).await?;
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
            let logged = pg::log_changes(c, &changes).await?;
            Ok::<_, StoreError>((upserted, removed, logged))
        })
        .await
        .and_then(|(upserted, removed, logged)| {
            let applied = applied((upserted, removed))?;
            let written = applied
                .upserted
                .iter()
                .map(|u| Written {
                    slug: u.project.slug.clone(),
                    at: now.0,
                    kind: if u.created {
                        ChangeKind::Registered
                    } else {
                        ChangeKind::Updated
                    },
                    project: Some(u.project.clone()),
                })
                .chain(applied.removed.iter().map(|slug| Written {
                    slug: slug.clone(),
                    at: now.0,
                    kind: ChangeKind::Deleted {
                        reason: Some(reason::PRUNED.to_owned()),
                    },
                    project: None,
                }))
                .collect();
            self.commits.record_write(logged, written);
            Ok(applied)
        })
    }

    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, StoreError> {
        let now = DbTime(now_micros());
        let mut conn = self.conn().await?;
        let (out, logged) = conn
            .transaction(async |c| {
                let out = pg::locked(c, |c| pgwrite::update(c, slug.as_str(), patch, now)).await?;
                let logged = match out {
                    Some(_) => {
                        pg::log_changes(c, &[NewChange::catalog("updated", slug.as_str(), now)])
                            .await?
                    }
                    None => None,
                };
                Ok::<_, StoreError>((out, logged))
            })
            .await?;
        if let Some(project) = &out {
            self.commits
                .record_write(logged, vec![updated(project, now)]);
        }
        Ok(out)
    }

    async fn set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, StoreError> {
        let now = DbTime(now_micros());
        let mut conn = self.conn().await?;
        let (out, logged) = conn
            .transaction(async |c| {
                pg::lock_log(c).await?;
                let out = pg::set_maintenance(c, slug.as_str(), change, now).await?;
                let logged = match &out {
                    Some((_, true)) => {
                        pg::log_changes(c, &[NewChange::catalog("updated", slug.as_str(), now)])
                            .await?
                    }
                    _ => None,
                };
                Ok::<_, StoreError>((out, logged))
            })
            .await?;
        if let Some((project, true)) = &out {
            self.commits
                .record_write(logged, vec![updated(project, now)]);
        }
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
        let (deleted, logged) = conn
            .transaction(async |c| {
                let deleted =
                    pg::locked(c, |c| pgwrite::delete(c, slug.as_str(), why, now)).await?;
                let logged = if deleted {
                    pg::log_changes(c, &[NewChange::removal(slug.as_str(), why, now)]).await?
                } else {
                    None
                };
                Ok::<_, StoreError>((deleted, logged))
            })
            .await?;
        if deleted {
            let removal = Written {
                slug: slug.clone(),
                at: now.0,
                kind: ChangeKind::Deleted {
                    reason: Some(why.to_owned()),
                },
                project: None,
            };
            self.commits.record_write(logged, vec![removal]);
        }
        Ok(deleted)
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
    ) -> Result<(), StoreError> {
        let slugs = || {
            transitions
                .iter()
                .map(|t| t.slug.as_str())
                .collect::<Vec<_>>()
        };
        let mut conn = self.conn().await?;
        let logged = conn
            .transaction(async |c| {
                pg::lock_log(c).await?;
                // A stale term fails fast, without a lock; the fence itself is the locked
                // check just before the commit: a slow write (a locked row, a slow disk)
                // must not hold the lease's row, or the leader could not renew its lease
                // while the write waits, and the lead would move for a slow tick.
                pg::check_term(pg::lease_term(c).await?, term)?;
                pg::write_presence(c, updates, transitions).await?;
                let mut logged = None;
                if !transitions.is_empty() {
                    let known = pg::existing_slugs(c, slugs()).await?;
                    logged = pg::log_changes(c, &transition_changes(transitions, &known)).await?;
                }
                pg::check_term(pg::lease_row(c, false).await?, term)?;
                Ok::<_, StoreError>(logged)
            })
            .await?;
        // Not recorded in `commits` (the leader reads its transitions back with the
        // projects as the log holds them), but they are the log's newest.
        if let Some(last) = logged.and_then(|l| l.revisions.last().copied()) {
            self.commits.saw(last);
        }
        Ok(())
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

    async fn changes_since(&self, revision: u64, limit: u32) -> Result<ChangesSince, StoreError> {
        let mut conn = self.conn().await?;
        conn.build_transaction()
            .read_only()
            .repeatable_read()
            .run(async |c| pg::changes_since(c, revision, limit).await)
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

/// The log's record of a project's update, as the write left it.
fn updated(project: &Project, now: DbTime) -> Written {
    Written {
        slug: project.slug.clone(),
        at: now.0,
        kind: ChangeKind::Updated,
        project: Some(project.clone()),
    }
}
