//! Uptime's facts on both backends: history rows by window, and the spans the leader
//! heard the bus (`uptime_heard`). The domain's [`UptimeSource`].

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use federation_domain::uptime::{DailyRollup, Figures, GroupDay, Span, UptimeSource};
use federation_domain::{RepositoryError, Slug, Transition};

use crate::backend::Backend;
use crate::error::StoreError;
use crate::schema::DbTime;
use crate::Store;

mod groups;
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

diesel::table! {
    /// Each project's figures per closed UTC day.
    uptime_daily (day, slug) {
        day -> Date,
        slug -> Text,
        online_us -> BigInt,
        degraded_us -> BigInt,
        offline_us -> BigInt,
        maintenance_us -> BigInt,
        unknown_us -> BigInt,
        outages -> BigInt,
        longest_outage_us -> BigInt,
        leading_offline_us -> BigInt,
        trailing_offline_us -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::schema::UtcTime;

    /// The days rolled up.
    uptime_rolled_days (day) {
        day -> Date,
        rolled_at -> UtcTime,
        grouped -> Bool,
    }
}

/// A stored daily rollup.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, diesel::Insertable)]
#[diesel(table_name = uptime_daily)]
pub(crate) struct DailyRow {
    day: NaiveDate,
    slug: String,
    online_us: i64,
    degraded_us: i64,
    offline_us: i64,
    maintenance_us: i64,
    unknown_us: i64,
    outages: i64,
    longest_outage_us: i64,
    leading_offline_us: i64,
    trailing_offline_us: i64,
}

impl DailyRow {
    fn new(r: &DailyRollup) -> Self {
        let f = &r.figures;
        Self {
            day: r.day,
            slug: r.slug.as_str().to_owned(),
            online_us: f.online,
            degraded_us: f.degraded,
            offline_us: f.offline,
            maintenance_us: f.maintenance,
            unknown_us: f.unknown,
            outages: i64::try_from(f.outages).unwrap_or(i64::MAX),
            longest_outage_us: f.longest_outage,
            leading_offline_us: f.leading_offline,
            trailing_offline_us: f.trailing_offline,
        }
    }

    fn into_rollup(self) -> Result<DailyRollup, StoreError> {
        let slug = Slug::parse(&self.slug)
            .map_err(|e| StoreError::Corrupt(format!("slug {:?}: {e}", self.slug)))?;
        Ok(DailyRollup {
            slug,
            day: self.day,
            figures: Figures {
                online: self.online_us,
                degraded: self.degraded_us,
                offline: self.offline_us,
                maintenance: self.maintenance_us,
                unknown: self.unknown_us,
                outages: u64::try_from(self.outages).unwrap_or_default(),
                longest_outage: self.longest_outage_us,
                leading_offline: self.leading_offline_us,
                trailing_offline: self.trailing_offline_us,
            },
        })
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
        let reach = DbTime(from - federation_domain::model::MAINTENANCE_MAX);
        let (from, to) = (DbTime(from), DbTime(to));
        let slugs: Option<Vec<String>> =
            slugs.map(|s| s.iter().map(|s| s.as_str().to_owned()).collect());
        let rows = match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                ops::pg::rows_between(&mut conn, slugs, reach, from, to).await?
            }
            Backend::Sqlite(sqlite) => {
                sqlite
                    .run(move |c| ops::sqlite::rows_between(c, slugs, reach, from, to))
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

impl Store {
    async fn read_rollups(
        &self,
        slugs: Option<Vec<Slug>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyRollup>, StoreError> {
        let slugs: Option<Vec<String>> =
            slugs.map(|s| s.iter().map(|s| s.as_str().to_owned()).collect());
        let rows = match &self.backend {
            Backend::Postgres(pg) => {
                ops::pg::rollups(&mut *pg.conn().await?, slugs, from, to).await?
            }
            Backend::Sqlite(sqlite) => {
                sqlite
                    .run(move |c| ops::sqlite::rollups(c, slugs, from, to))
                    .await?
            }
        };
        rows.into_iter().map(DailyRow::into_rollup).collect()
    }

    async fn read_rolled_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDate>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => ops::pg::rolled_days(&mut *pg.conn().await?, from, to).await,
            Backend::Sqlite(sqlite) => {
                sqlite
                    .run(move |c| ops::sqlite::rolled_days(c, from, to))
                    .await
            }
        }
    }

    /// Stores `day`'s group rollups, and its project rollups when `rows` is given
    /// (then the day is marked rolled up), marking the day grouped; one transaction.
    async fn write_rollups(
        &self,
        day: NaiveDate,
        rows: Option<Vec<DailyRollup>>,
        groups: Vec<GroupDay>,
    ) -> Result<(), StoreError> {
        use diesel_async::AsyncConnection;
        let rows: Option<Vec<DailyRow>> = rows.map(|r| r.iter().map(DailyRow::new).collect());
        let (group_rows, edges) = groups::rows_of(&groups);
        let now = DbTime(crate::rows::now_micros());
        match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                conn.transaction(async |c| {
                    if let Some(rows) = rows {
                        ops::pg::save_rollups(c, day, rows, now).await?;
                    }
                    ops::pg::save_groups(c, day, group_rows, edges).await
                })
                .await
            }
            Backend::Sqlite(sqlite) => {
                sqlite
                    .write(move |c| {
                        if let Some(rows) = rows {
                            ops::sqlite::save_rollups(c, day, rows, now)?;
                        }
                        ops::sqlite::save_groups(c, day, group_rows, edges)
                    })
                    .await
            }
        }
    }

    async fn read_grouped_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDate>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => ops::pg::grouped_days(&mut *pg.conn().await?, from, to).await,
            Backend::Sqlite(sqlite) => {
                sqlite
                    .run(move |c| ops::sqlite::grouped_days(c, from, to))
                    .await
            }
        }
    }

    async fn read_groups(
        &self,
        scope: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<GroupDay>, StoreError> {
        let (days, edges) = match &self.backend {
            Backend::Postgres(pg) => {
                ops::pg::group_rollups(&mut *pg.conn().await?, scope, from, to).await?
            }
            Backend::Sqlite(sqlite) => {
                sqlite
                    .run(move |c| ops::sqlite::group_rollups(c, scope, from, to))
                    .await?
            }
        };
        groups::groups_of(days, edges)
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

    async fn rollups(
        &self,
        slugs: Option<Vec<Slug>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyRollup>, RepositoryError> {
        self.bounded("uptime_rollups", self.read_rollups(slugs, from, to))
            .await
    }

    async fn rolled_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDate>, RepositoryError> {
        self.bounded("uptime_rolled_days", self.read_rolled_days(from, to))
            .await
    }

    async fn grouped_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDate>, RepositoryError> {
        self.bounded("uptime_grouped_days", self.read_grouped_days(from, to))
            .await
    }

    async fn group_rollups(
        &self,
        scope: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<GroupDay>, RepositoryError> {
        self.bounded("uptime_group_rollups", self.read_groups(scope, from, to))
            .await
    }

    async fn save_rollups(
        &self,
        day: NaiveDate,
        rows: Vec<DailyRollup>,
        groups: Vec<GroupDay>,
    ) -> Result<(), RepositoryError> {
        self.bounded(
            "uptime_save_rollups",
            self.write_rollups(day, Some(rows), groups),
        )
        .await
    }

    async fn save_groups(
        &self,
        day: NaiveDate,
        groups: Vec<GroupDay>,
    ) -> Result<(), RepositoryError> {
        self.bounded("uptime_save_groups", self.write_rollups(day, None, groups))
            .await
    }
}
