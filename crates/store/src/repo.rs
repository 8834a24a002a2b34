//! `ProjectRepository` for [`Store`]: picks the backend and the transaction shape.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use federation_domain::{
    ChangeLog, ChangesSince, Lease, ListFilter, PresenceRecord, Project, ProjectPage, ProjectPatch,
    ProjectRepository, Registration, RepositoryError, Slug, Snapshot, Term, Transition, Upserted,
};

use crate::error::StoreError;
use crate::log::NewChange;
use crate::rows::now_micros;
use crate::schema::DbTime;
use crate::store::{Backend, Store};
use crate::{pg, sqlite};

pub(crate) async fn ping(store: &Store) -> Result<(), StoreError> {
    match &store.backend {
        Backend::Postgres(pool) => pg::ping(&mut *store.pg_conn(pool).await?).await,
        Backend::Sqlite { .. } => store.sqlite(sqlite::ping).await,
    }
}

impl Store {
    async fn upsert_many(&self, regs: &[Registration]) -> Result<Vec<Upserted>, StoreError> {
        let now = DbTime(now_micros());
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    pg::lock_log(c).await?;
                    let out = pg::upsert_many(c, regs, now).await?;
                    pg::log_changes(c, &upserted_changes(&out, now)).await?;
                    Ok(out)
                })
                .await
            }
            Backend::Sqlite { .. } => {
                let regs = regs.to_vec();
                self.sqlite_write(move |c| {
                    let out = regs
                        .iter()
                        .map(|reg| sqlite::upsert(c, reg, now))
                        .collect::<Result<Vec<_>, _>>()?;
                    sqlite::append(c, &upserted_changes(&out, now))?;
                    Ok(out)
                })
                .await
            }
        }
    }

    async fn do_update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, StoreError> {
        let now = DbTime(now_micros());
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    pg::lock_log(c).await?;
                    let out = pg::update(c, slug.as_str(), patch, now).await?;
                    if out.is_some() {
                        pg::log_changes(c, &[NewChange::catalog("updated", slug.as_str(), now)])
                            .await?;
                    }
                    Ok(out)
                })
                .await
            }
            Backend::Sqlite { .. } => {
                let (slug, patch) = (slug.clone(), patch.clone());
                self.sqlite_write(move |c| {
                    let out = sqlite::update(c, slug.as_str(), &patch, now)?;
                    if out.is_some() {
                        sqlite::append(c, &[NewChange::catalog("updated", slug.as_str(), now)])?;
                    }
                    Ok(out)
                })
                .await
            }
        }
    }

    async fn do_get(&self, slug: &Slug) -> Result<Option<Project>, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                pg::get(&mut conn, slug.as_str()).await
            }
            Backend::Sqlite { .. } => {
                let slug = slug.clone();
                self.sqlite(move |c| sqlite::get(c, slug.as_str())).await
            }
        }
    }

    async fn do_list(&self, filter: &ListFilter) -> Result<ProjectPage, StoreError> {
        let known = self.totals.get(filter);
        let started = std::time::Instant::now();
        let page = match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                match known {
                    // The total is known: the page (and its tags) alone.
                    Some(_) => pg::list(&mut conn, filter, known).await?,
                    // One snapshot, so the counted total and the page agree.
                    None => {
                        conn.build_transaction()
                            .read_only()
                            .repeatable_read()
                            .run(async |c| pg::list(c, filter, None).await)
                            .await?
                    }
                }
            }
            Backend::Sqlite { .. } => {
                let filter = filter.clone();
                self.sqlite(move |c| {
                    diesel::Connection::transaction(c, |c| sqlite::list(c, &filter, known))
                })
                .await?
            }
        };
        if known.is_none() {
            self.totals.put(
                filter,
                started,
                i64::try_from(page.total).unwrap_or(i64::MAX),
            );
        }
        Ok(page)
    }

    async fn do_delete(&self, slug: &Slug) -> Result<bool, StoreError> {
        let now = DbTime(now_micros());
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    pg::lock_log(c).await?;
                    let deleted = pg::delete(c, slug.as_str()).await?;
                    if deleted {
                        pg::log_changes(c, &[NewChange::catalog("deleted", slug.as_str(), now)])
                            .await?;
                    }
                    Ok(deleted)
                })
                .await
            }
            Backend::Sqlite { .. } => {
                let slug = slug.clone();
                self.sqlite_write(move |c| {
                    let deleted = sqlite::delete(c, slug.as_str())?;
                    if deleted {
                        sqlite::append(c, &[NewChange::catalog("deleted", slug.as_str(), now)])?;
                    }
                    Ok(deleted)
                })
                .await
            }
        }
    }

    async fn do_presence_snapshot(&self) -> Result<Vec<PresenceRecord>, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                pg::presence_snapshot(&mut conn).await
            }
            Backend::Sqlite { .. } => self.sqlite(sqlite::presence_snapshot).await,
        }
    }

    async fn do_write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<(), StoreError> {
        if updates.is_empty() && transitions.is_empty() {
            return Ok(());
        }
        let slugs = || {
            transitions
                .iter()
                .map(|t| t.slug.as_str())
                .collect::<Vec<_>>()
        };
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    pg::lock_log(c).await?;
                    pg::check_term(pg::lease_row(c, false).await?, term)?;
                    pg::write_presence(c, updates, transitions).await?;
                    if !transitions.is_empty() {
                        let known = pg::existing_slugs(c, slugs()).await?;
                        pg::log_changes(c, &transition_changes(transitions, &known)).await?;
                    }
                    Ok(())
                })
                .await
            }
            Backend::Sqlite { .. } => {
                let (updates, transitions) = (updates.to_vec(), transitions.to_vec());
                self.sqlite_write(move |c| {
                    sqlite::check_term(sqlite::lease_row(c)?, term)?;
                    sqlite::write_presence(c, &updates, &transitions)?;
                    if transitions.is_empty() {
                        return Ok(());
                    }
                    let slugs = transitions.iter().map(|t| t.slug.as_str()).collect();
                    let known = sqlite::existing_slugs(c, slugs)?;
                    sqlite::append(c, &transition_changes(&transitions, &known))
                })
                .await
            }
        }
    }

    async fn do_history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                pg::history(&mut conn, slug, limit).await
            }
            Backend::Sqlite { .. } => {
                let slug = slug.clone();
                self.sqlite(move |c| sqlite::history(c, &slug, limit)).await
            }
        }
    }
}

/// The log rows of an upsert: registered or updated, in the batch's order.
fn upserted_changes(upserted: &[Upserted], now: DbTime) -> Vec<NewChange<'_>> {
    upserted
        .iter()
        .map(|u| {
            let kind = if u.created { "registered" } else { "updated" };
            NewChange::catalog(kind, u.project.slug.as_str(), now)
        })
        .collect()
}

/// The log rows of the transitions whose project exists (the others are not stored).
fn transition_changes<'a>(
    transitions: &'a [Transition],
    known: &std::collections::HashSet<String>,
) -> Vec<NewChange<'a>> {
    transitions
        .iter()
        .filter(|t| known.contains(t.slug.as_str()))
        .map(NewChange::transition)
        .collect()
}

impl Store {
    async fn do_snapshot(&self) -> Result<Snapshot, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(async |c| pg::snapshot(c).await)
                    .await
            }
            Backend::Sqlite { .. } => {
                self.sqlite(|c| diesel::Connection::transaction(c, sqlite::snapshot))
                    .await
            }
        }
    }

    async fn do_changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(async |c| pg::changes_since(c, revision, limit).await)
                    .await
            }
            Backend::Sqlite { .. } => {
                self.sqlite(move |c| {
                    diesel::Connection::transaction(c, |c| {
                        sqlite::changes_since(c, revision, limit)
                    })
                })
                .await
            }
        }
    }

    async fn do_published_through(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                pg::published_through(&mut conn).await
            }
            Backend::Sqlite { .. } => self.sqlite(sqlite::published_through).await,
        }
    }

    async fn do_mark_published(&self, revision: u64, term: Term) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    pg::check_term(pg::lease_row(c, false).await?, term)?;
                    pg::set_published(c, revision).await
                })
                .await
            }
            Backend::Sqlite { .. } => {
                self.sqlite_write(move |c| {
                    sqlite::check_term(sqlite::lease_row(c)?, term)?;
                    sqlite::set_published(c, revision)
                })
                .await
            }
        }
    }

    async fn do_trim_history(
        &self,
        before: DateTime<Utc>,
        per_project: u32,
    ) -> Result<u64, StoreError> {
        let before = DbTime(before);
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| pg::trim_history(c, before, per_project).await)
                    .await
            }
            Backend::Sqlite { .. } => {
                self.sqlite_write(move |c| sqlite::trim_history(c, before, per_project))
                    .await
            }
        }
    }

    async fn do_trim(&self, before: DateTime<Utc>, keep: u64) -> Result<u64, StoreError> {
        let before = DbTime(before);
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    pg::lock_log(c).await?;
                    pg::trim(c, before, keep).await
                })
                .await
            }
            Backend::Sqlite { .. } => {
                self.sqlite_write(move |c| sqlite::trim(c, before, keep))
                    .await
            }
        }
    }

    async fn do_acquire(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Term>, StoreError> {
        let now = now_micros();
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    let current = pg::lease_row(c, true).await?;
                    pg::acquire(c, current, holder, now, ttl).await
                })
                .await
            }
            Backend::Sqlite { .. } => {
                let holder = holder.to_owned();
                self.sqlite_write(move |c| {
                    let current = sqlite::lease_row(c)?;
                    sqlite::acquire(c, current, &holder, now, ttl)
                })
                .await
            }
        }
    }

    async fn do_release(&self, holder: &str) -> Result<(), StoreError> {
        let now = now_micros();
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                pg::release(&mut conn, holder, now).await
            }
            Backend::Sqlite { .. } => {
                let holder = holder.to_owned();
                self.sqlite_write(move |c| sqlite::release(c, &holder, now))
                    .await
            }
        }
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
        let result = self.upsert_many(std::slice::from_ref(registration)).await;
        self.totals.invalidate();
        let mut out = port("upsert", result)?;
        out.pop()
            .ok_or_else(|| RepositoryError::Internal("upsert returned nothing".into()))
    }

    async fn upsert_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, RepositoryError> {
        let result = self.upsert_many(registrations).await;
        self.totals.invalidate();
        port("upsert_all", result)
    }

    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, RepositoryError> {
        let result = self.do_update(slug, patch).await;
        self.totals.invalidate();
        port("update", result)
    }

    async fn get(&self, slug: &Slug) -> Result<Option<Project>, RepositoryError> {
        port("get", self.do_get(slug).await)
    }

    async fn list(&self, filter: &ListFilter) -> Result<ProjectPage, RepositoryError> {
        port("list", self.do_list(filter).await)
    }

    async fn delete(&self, slug: &Slug) -> Result<bool, RepositoryError> {
        let result = self.do_delete(slug).await;
        self.totals.invalidate();
        port("delete", result)
    }

    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, RepositoryError> {
        port("presence_snapshot", self.do_presence_snapshot().await)
    }

    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<(), RepositoryError> {
        let result = self.do_write_presence(updates, transitions, term).await;
        self.totals.invalidate();
        port("write_presence", result)
    }

    async fn history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, RepositoryError> {
        port("history", self.do_history(slug, limit).await)
    }

    async fn trim_history(
        &self,
        before: DateTime<Utc>,
        per_project: u32,
    ) -> Result<u64, RepositoryError> {
        port(
            "trim_history",
            self.do_trim_history(before, per_project).await,
        )
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        port("ping", ping(self).await)
    }
}

#[async_trait]
impl ChangeLog for Store {
    async fn snapshot(&self) -> Result<Snapshot, RepositoryError> {
        port("snapshot", self.do_snapshot().await)
    }

    async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        port(
            "changes_since",
            self.do_changes_since(revision, limit).await,
        )
    }

    async fn published_through(&self) -> Result<u64, RepositoryError> {
        port("published_through", self.do_published_through().await)
    }

    async fn mark_published(&self, revision: u64, term: Term) -> Result<(), RepositoryError> {
        port(
            "mark_published",
            self.do_mark_published(revision, term).await,
        )
    }

    async fn trim(&self, before: DateTime<Utc>, keep: u64) -> Result<u64, RepositoryError> {
        port("trim", self.do_trim(before, keep).await)
    }
}

#[async_trait]
impl Lease for Store {
    async fn acquire(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Term>, RepositoryError> {
        port("acquire_lease", self.do_acquire(holder, ttl).await)
    }

    async fn release(&self, holder: &str) -> Result<(), RepositoryError> {
        port("release_lease", self.do_release(holder).await)
    }
}
