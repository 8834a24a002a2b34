//! `ProjectRepository` for [`Store`]: picks the backend and the transaction shape.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use federation_domain::{
    reason, CatalogApplied, ChangeLog, ChangesSince, Lease, ListFilter, MaintenanceChange,
    PresenceRecord, Project, ProjectPage, ProjectPatch, ProjectRepository, Registration,
    RepositoryError, Slug, Snapshot, Term, Transition, Upserted,
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
        Ok(self.do_apply_catalog(regs, false).await?.upserted)
    }

    /// Upserts `regs` and, with `prune`, removes the file's projects they do not list,
    /// in one transaction with their change-log rows.
    async fn do_apply_catalog(
        &self,
        regs: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, StoreError> {
        let now = DbTime(now_micros());
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    pg::lock_log(c).await?;
                    let upserted = pg::upsert_many(c, regs, now).await?;
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
            Backend::Sqlite { .. } => {
                let regs = regs.to_vec();
                self.sqlite_write(move |c| {
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

    async fn do_set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, StoreError> {
        let now = DbTime(now_micros());
        let out = match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    pg::lock_log(c).await?;
                    let out = pg::set_maintenance(c, slug.as_str(), change, now).await?;
                    if let Some((_, true)) = &out {
                        pg::log_changes(c, &[NewChange::catalog("updated", slug.as_str(), now)])
                            .await?;
                    }
                    Ok::<_, StoreError>(out)
                })
                .await?
            }
            Backend::Sqlite { .. } => {
                let (slug, change) = (slug.clone(), change.clone());
                self.sqlite_write(move |c| {
                    let out = sqlite::set_maintenance(c, slug.as_str(), &change, now)?;
                    if let Some((_, true)) = &out {
                        sqlite::append(c, &[NewChange::catalog("updated", slug.as_str(), now)])?;
                    }
                    Ok(out)
                })
                .await?
            }
        };
        Ok(out.map(|(project, _)| project))
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
        if !filter.meta.is_empty() {
            return self.list_by_metadata(filter).await;
        }
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

    async fn do_delete(&self, slug: &Slug, why: &str) -> Result<bool, StoreError> {
        let now = DbTime(now_micros());
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| {
                    pg::lock_log(c).await?;
                    let deleted = pg::delete(c, slug.as_str(), why, now).await?;
                    if deleted {
                        pg::log_changes(c, &[NewChange::removal(slug.as_str(), why, now)]).await?;
                    }
                    Ok(deleted)
                })
                .await
            }
            Backend::Sqlite { .. } => {
                let (slug, why) = (slug.clone(), why.to_owned());
                self.sqlite_write(move |c| {
                    let deleted = sqlite::delete(c, slug.as_str(), &why, now)?;
                    if deleted {
                        sqlite::append(c, &[NewChange::removal(slug.as_str(), &why, now)])?;
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

impl Store {
    /// Runs one operation of a port within its deadline (the pool's wait plus the
    /// statement timeout), then logs and converts a failure as [`port`] does. An
    /// operation past it is abandoned: its connection, if in a transaction, is
    /// discarded by the pool and the server rolls the transaction back.
    async fn bounded<T>(
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
        let result = self
            .bounded(
                "upsert",
                self.upsert_many(std::slice::from_ref(registration)),
            )
            .await;
        self.totals.invalidate();
        let mut out = result?;
        out.pop()
            .ok_or_else(|| RepositoryError::Internal("upsert returned nothing".into()))
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
            .bounded("apply_catalog", self.do_apply_catalog(registrations, prune))
            .await;
        self.totals.invalidate();
        result
    }

    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, RepositoryError> {
        let result = self.bounded("update", self.do_update(slug, patch)).await;
        self.totals.invalidate();
        result
    }

    async fn set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, RepositoryError> {
        self.bounded("set_maintenance", self.do_set_maintenance(slug, change))
            .await
    }

    async fn get(&self, slug: &Slug) -> Result<Option<Project>, RepositoryError> {
        self.bounded("get", self.do_get(slug)).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<ProjectPage, RepositoryError> {
        self.bounded("list", self.do_list(filter)).await
    }

    async fn delete(&self, slug: &Slug, why: &str) -> Result<bool, RepositoryError> {
        let result = self.bounded("delete", self.do_delete(slug, why)).await;
        self.totals.invalidate();
        result
    }

    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, RepositoryError> {
        self.bounded("presence_snapshot", self.do_presence_snapshot())
            .await
    }

    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<(), RepositoryError> {
        let result = self
            .bounded(
                "write_presence",
                self.do_write_presence(updates, transitions, term),
            )
            .await;
        self.totals.invalidate();
        result
    }

    async fn history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, RepositoryError> {
        self.bounded("history", self.do_history(slug, limit)).await
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
        self.bounded("ping", ping(self)).await
    }
}

#[async_trait]
impl ChangeLog for Store {
    async fn snapshot(&self) -> Result<Snapshot, RepositoryError> {
        self.bounded("snapshot", self.do_snapshot()).await
    }

    async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.bounded("changes_since", self.do_changes_since(revision, limit))
            .await
    }

    async fn published_through(&self) -> Result<u64, RepositoryError> {
        self.bounded("published_through", self.do_published_through())
            .await
    }

    async fn mark_published(&self, revision: u64, term: Term) -> Result<(), RepositoryError> {
        self.bounded("mark_published", self.do_mark_published(revision, term))
            .await
    }

    async fn trim(&self, before: DateTime<Utc>, keep: u64) -> Result<u64, RepositoryError> {
        self.bounded("trim", self.do_trim(before, keep)).await
    }
}

#[async_trait]
impl Lease for Store {
    async fn acquire(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Term>, RepositoryError> {
        self.bounded("acquire_lease", self.do_acquire(holder, ttl))
            .await
    }

    async fn release(&self, holder: &str) -> Result<(), RepositoryError> {
        self.bounded("release_lease", self.do_release(holder)).await
    }
}
