//! `ProjectRepository` for [`Store`]: picks the backend and the transaction shape.

use async_trait::async_trait;
use diesel_async::AsyncConnection;
use federation_domain::{
    ListFilter, PresenceRecord, Project, ProjectPage, ProjectPatch, ProjectRepository,
    Registration, RepositoryError, Slug, Transition, Upserted,
};

use crate::error::StoreError;
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
                conn.transaction(async |c| pg::upsert_many(c, regs, now).await)
                    .await
            }
            Backend::Sqlite { .. } => {
                let regs = regs.to_vec();
                self.sqlite_write(move |c| {
                    regs.iter().map(|reg| sqlite::upsert(c, reg, now)).collect()
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
                conn.transaction(async |c| pg::update(c, slug.as_str(), patch, now).await)
                    .await
            }
            Backend::Sqlite { .. } => {
                let (slug, patch) = (slug.clone(), patch.clone());
                self.sqlite_write(move |c| sqlite::update(c, slug.as_str(), &patch, now))
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
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                pg::delete(&mut conn, slug.as_str()).await
            }
            Backend::Sqlite { .. } => {
                let slug = slug.clone();
                self.sqlite_write(move |c| sqlite::delete(c, slug.as_str()))
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
    ) -> Result<(), StoreError> {
        if updates.is_empty() && transitions.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = self.pg_conn(pool).await?;
                conn.transaction(async |c| pg::write_presence(c, updates, transitions).await)
                    .await
            }
            Backend::Sqlite { .. } => {
                let (updates, transitions) = (updates.to_vec(), transitions.to_vec());
                self.sqlite_write(move |c| sqlite::write_presence(c, &updates, &transitions))
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
    ) -> Result<(), RepositoryError> {
        let result = self.do_write_presence(updates, transitions).await;
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

    async fn ping(&self) -> Result<(), RepositoryError> {
        port("ping", ping(self).await)
    }
}
