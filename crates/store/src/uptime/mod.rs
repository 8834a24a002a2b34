//! Uptime's facts on both backends: history rows by window, and the spans the leader
//! heard the bus (`uptime_heard`). The domain's [`UptimeSource`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use federation_domain::uptime::{Span, UptimeSource};
use federation_domain::{RepositoryError, Slug, Transition};

use crate::backend::Backend;
use crate::error::StoreError;
use crate::schema::DbTime;
use crate::Store;

mod ops;

/// At most this many slugs are read one by one (an index lookup each); more read
/// every project's last row at once and keep theirs.
const ONE_BY_ONE: usize = 64;

diesel::table! {
    use diesel::sql_types::*;
    use crate::schema::UtcTime;

    /// The spans the leader heard the bus.
    uptime_heard (started_at) {
        started_at -> UtcTime,
        ended_at -> UtcTime,
    }
}

/// A history row with its slug and id, as uptime reads it.
#[derive(Debug, diesel::Queryable, diesel::Selectable, diesel::QueryableByName)]
#[diesel(table_name = crate::schema::status_transitions)]
pub(crate) struct UptimeRow {
    id: i64,
    slug: String,
    from_status: String,
    to_status: String,
    reason: Option<String>,
    at: DbTime,
    last_heartbeat_at: Option<DbTime>,
}

impl UptimeRow {
    fn into_transition(self) -> Result<Transition, StoreError> {
        let slug = Slug::parse(&self.slug)
            .map_err(|e| StoreError::Corrupt(format!("slug {:?}: {e}", self.slug)))?;
        crate::rows::TransitionRow {
            from_status: self.from_status,
            to_status: self.to_status,
            reason: self.reason,
            at: self.at,
            last_heartbeat_at: self.last_heartbeat_at,
        }
        .into_transition(&slug)
    }
}

/// Rows oldest first (ties in the order written), as the port promises.
fn ordered(mut rows: Vec<UptimeRow>) -> Result<Vec<Transition>, StoreError> {
    rows.sort_by_key(|r| (r.at, r.id));
    rows.dedup_by_key(|r| r.id);
    rows.into_iter().map(UptimeRow::into_transition).collect()
}

impl Store {
    async fn rows_between(
        &self,
        slugs: Option<Vec<Slug>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Transition>, StoreError> {
        let (from, to) = (DbTime(from), DbTime(to));
        let slugs: Option<Vec<String>> =
            slugs.map(|s| s.iter().map(|s| s.as_str().to_owned()).collect());
        let rows = match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                ops::pg::rows_between(&mut conn, slugs, from, to).await?
            }
            Backend::Sqlite(sqlite) => {
                sqlite
                    .run(move |c| ops::sqlite::rows_between(c, slugs, from, to))
                    .await?
            }
        };
        ordered(rows)
    }

    async fn heard_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Span>, StoreError> {
        let (from, to) = (DbTime(from), DbTime(to));
        let rows = match &self.backend {
            Backend::Postgres(pg) => ops::pg::heard(&mut *pg.conn().await?, from, to).await?,
            Backend::Sqlite(sqlite) => sqlite.run(move |c| ops::sqlite::heard(c, from, to)).await?,
        };
        Ok(rows
            .into_iter()
            .map(|(s, e): (DbTime, DbTime)| Span::new(s.0, e.0))
            .collect())
    }

    async fn put_heard(&self, span: Span) -> Result<(), StoreError> {
        let (start, end) = (DbTime(span.start), DbTime(span.end.max(span.start)));
        match &self.backend {
            Backend::Postgres(pg) => ops::pg::record(&mut *pg.conn().await?, start, end).await,
            Backend::Sqlite(sqlite) => {
                sqlite
                    .write(move |c| ops::sqlite::record(c, start, end))
                    .await
            }
        }
    }
}

#[async_trait]
impl UptimeSource for Store {
    async fn history_between(
        &self,
        slugs: Option<Vec<Slug>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Transition>, RepositoryError> {
        self.bounded("uptime_history", self.rows_between(slugs, from, to))
            .await
    }

    async fn heard(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Span>, RepositoryError> {
        self.bounded("uptime_heard", self.heard_between(from, to))
            .await
    }

    async fn record_heard(&self, span: Span) -> Result<(), RepositoryError> {
        self.bounded("uptime_record_heard", self.put_heard(span))
            .await
    }
}
