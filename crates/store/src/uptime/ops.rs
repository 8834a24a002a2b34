//! The statements, written once for both backends (as [`crate::reads`] does).

/// Expands the uptime statements for one connection type.
macro_rules! uptime_ops {
    ($conn:ty, [$($async_kw:tt)*], [$($aw:tt)*]) => {
        use diesel::prelude::{
            BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper,
            TextExpressionMethods,
        };
        use diesel::upsert::excluded;

        use crate::error::StoreError;
        use crate::planned::PlanEachCall as _;
        use crate::schema::{status_transitions as t, DbTime, UtcTime};
        use super::super::{uptime_daily as d, uptime_heard as h, uptime_rolled_days as rd};
        use super::super::{DailyRow, UptimeRow, ONE_BY_ONE};
        use super::super::groups::{
            uptime_group_daily as g, uptime_group_edges as ge, EdgeRow, GroupRow,
        };

        /// Rows per insert statement (SQLite binds at most 32766 values).
        const CHUNK: usize = 1000;

        /// The rollups of `slugs` (every project's when `None`) for days in `[from, to)`.
        pub(crate) $($async_kw)* fn rollups(
            conn: &mut $conn,
            slugs: Option<Vec<String>>,
            from: chrono::NaiveDate,
            to: chrono::NaiveDate,
        ) -> Result<Vec<DailyRow>, StoreError> {
            let query = d::table
                .filter(d::day.ge(from))
                .filter(d::day.lt(to))
                .select(DailyRow::as_select())
                .into_boxed();
            let query = match slugs {
                Some(s) => query.filter(d::slug.eq_any(s)),
                None => query,
            };
            Ok(query.planned_each_call().load(conn)$($aw)*?)
        }

        /// The days in `[from, to)` rolled up.
        pub(crate) $($async_kw)* fn rolled_days(
            conn: &mut $conn,
            from: chrono::NaiveDate,
            to: chrono::NaiveDate,
        ) -> Result<Vec<chrono::NaiveDate>, StoreError> {
            Ok(rd::table
                .filter(rd::day.ge(from))
                .filter(rd::day.lt(to))
                .order(rd::day.asc())
                .select(rd::day)
                .load(conn)$($aw)*?)
        }

        /// Replaces `day`'s rollups and marks it rolled up (the caller's transaction).
        pub(crate) $($async_kw)* fn save_rollups(
            conn: &mut $conn,
            day: chrono::NaiveDate,
            rows: Vec<DailyRow>,
            now: DbTime,
        ) -> Result<(), StoreError> {
            diesel::delete(d::table.filter(d::day.eq(day)))
                .execute(conn)$($aw)*?;
            for chunk in rows.chunks(CHUNK) {
                diesel::insert_into(d::table)
                    .values(chunk)
                    .execute(conn)$($aw)*?;
            }
            diesel::insert_into(rd::table)
                .values((rd::day.eq(day), rd::rolled_at.eq(now), rd::grouped.eq(false)))
                .on_conflict(rd::day)
                .do_update()
                .set(rd::rolled_at.eq(excluded(rd::rolled_at)))
                .execute(conn)$($aw)*?;
            Ok(())
        }

        /// The days in `[from, to)` grouped.
        pub(crate) $($async_kw)* fn grouped_days(
            conn: &mut $conn,
            from: chrono::NaiveDate,
            to: chrono::NaiveDate,
        ) -> Result<Vec<chrono::NaiveDate>, StoreError> {
            Ok(rd::table
                .filter(rd::day.ge(from))
                .filter(rd::day.lt(to))
                .filter(rd::grouped.eq(true))
                .order(rd::day.asc())
                .select(rd::day)
                .load(conn)$($aw)*?)
        }

        /// The group days of `scope` in `[from, to)` and their edges.
        pub(crate) $($async_kw)* fn group_rollups(
            conn: &mut $conn,
            scope: String,
            from: chrono::NaiveDate,
            to: chrono::NaiveDate,
        ) -> Result<(Vec<GroupRow>, Vec<EdgeRow>), StoreError> {
            let days: Vec<GroupRow> = g::table
                .filter(g::scope.eq(&scope))
                .filter(g::day.ge(from))
                .filter(g::day.lt(to))
                .select(GroupRow::as_select())
                .load(conn)$($aw)*?;
            let edges: Vec<EdgeRow> = ge::table
                .filter(ge::scope.eq(&scope))
                .filter(ge::day.ge(from))
                .filter(ge::day.lt(to))
                .select(EdgeRow::as_select())
                .load(conn)$($aw)*?;
            Ok((days, edges))
        }

        /// Replaces `day`'s group rollups and marks the day grouped (the caller's
        /// transaction; the day is rolled up already).
        pub(crate) $($async_kw)* fn save_groups(
            conn: &mut $conn,
            day: chrono::NaiveDate,
            days: Vec<GroupRow>,
            edges: Vec<EdgeRow>,
        ) -> Result<(), StoreError> {
            diesel::delete(g::table.filter(g::day.eq(day)))
                .execute(conn)$($aw)*?;
            diesel::delete(ge::table.filter(ge::day.eq(day)))
                .execute(conn)$($aw)*?;
            for chunk in days.chunks(CHUNK) {
                diesel::insert_into(g::table)
                    .values(chunk)
                    .execute(conn)$($aw)*?;
            }
            for chunk in edges.chunks(CHUNK) {
                diesel::insert_into(ge::table)
                    .values(chunk)
                    .execute(conn)$($aw)*?;
            }
            diesel::update(rd::table.filter(rd::day.eq(day)))
                .set(rd::grouped.eq(true))
                .execute(conn)$($aw)*?;
            Ok(())
        }

        /// The rows in `(from, to)` of `slugs` (every project's when `None`), each
        /// one's last row at or before `from`, and their maintenance and removal rows
        /// in `[reach, from]`; in no particular order, maybe twice (the caller
        /// de-duplicates by id).
        pub(crate) $($async_kw)* fn rows_between(
            conn: &mut $conn,
            slugs: Option<Vec<String>>,
            reach: DbTime,
            from: DbTime,
            to: DbTime,
        ) -> Result<Vec<UptimeRow>, StoreError> {
            let marks = t::table
                .filter(t::at.ge(reach))
                .filter(t::at.le(from))
                .filter(
                    t::reason
                        .like("maintenance%")
                        .or(t::reason.like("removed%")),
                )
                .select(UptimeRow::as_select())
                .into_boxed();
            let marks = match &slugs {
                Some(s) => marks.filter(t::slug.eq_any(s.clone())),
                None => marks,
            };
            let marked: Vec<UptimeRow> = marks.planned_each_call().load(conn)$($aw)*?;
            let mut rows: Vec<UptimeRow> = match &slugs {
                Some(s) => t::table
                    .filter(t::slug.eq_any(s))
                    .filter(t::at.gt(from))
                    .filter(t::at.lt(to))
                    .select(UptimeRow::as_select())
                    .planned_each_call()
                    .load(conn)$($aw)*?,
                None => t::table
                    .filter(t::at.gt(from))
                    .filter(t::at.lt(to))
                    .select(UptimeRow::as_select())
                    .load(conn)$($aw)*?,
            };
            match slugs {
                Some(s) if s.len() <= ONE_BY_ONE => {
                    for slug in s {
                        let last: Option<UptimeRow> = t::table
                            .filter(t::slug.eq(slug))
                            .filter(t::at.le(from))
                            .order((t::at.desc(), t::id.desc()))
                            .select(UptimeRow::as_select())
                            .first(conn)$($aw)*
                            .optional()?;
                        rows.extend(last);
                    }
                }
                s => {
                    let wanted: Option<std::collections::HashSet<String>> =
                        s.map(|s| s.into_iter().collect());
                    let last: Vec<UptimeRow> = diesel::sql_query(
                        "SELECT id, slug, from_status, to_status, reason, at, last_heartbeat_at \
                         FROM (SELECT *, ROW_NUMBER() OVER \
                               (PARTITION BY slug ORDER BY at DESC, id DESC) AS rn \
                               FROM status_transitions WHERE at <= $1) last_rows \
                         WHERE rn = 1",
                    )
                    .bind::<UtcTime, _>(from)
                    .load(conn)$($aw)*?;
                    rows.extend(last.into_iter().filter(|r| {
                        wanted.as_ref().is_none_or(|w| w.contains(&r.slug))
                    }));
                }
            }
            rows.extend(marked);
            Ok(rows)
        }

        /// The heard spans that overlap `[from, to)`, oldest first.
        pub(crate) $($async_kw)* fn heard(
            conn: &mut $conn,
            from: DbTime,
            to: DbTime,
        ) -> Result<Vec<(DbTime, DbTime)>, StoreError> {
            Ok(h::table
                .filter(h::started_at.lt(to))
                .filter(h::ended_at.gt(from))
                .order(h::started_at.asc())
                .select((h::started_at, h::ended_at))
                .load(conn)$($aw)*?)
        }

        /// Keeps the span starting at `start`, its end moved to `end` if later.
        pub(crate) $($async_kw)* fn record(
            conn: &mut $conn,
            start: DbTime,
            end: DbTime,
        ) -> Result<(), StoreError> {
            let current: Option<DbTime> = h::table
                .filter(h::started_at.eq(start))
                .select(h::ended_at)
                .first(conn)$($aw)*
                .optional()?;
            if current.is_some_and(|c| c >= end) {
                return Ok(());
            }
            diesel::insert_into(h::table)
                .values((h::started_at.eq(start), h::ended_at.eq(end)))
                .on_conflict(h::started_at)
                .do_update()
                .set(h::ended_at.eq(excluded(h::ended_at)))
                .execute(conn)$($aw)*?;
            Ok(())
        }
    };
}

pub(crate) mod pg {
    use diesel_async::{AsyncPgConnection, RunQueryDsl};
    uptime_ops!(AsyncPgConnection, [async], [.await]);
}

pub(crate) mod sqlite {
    use diesel::{RunQueryDsl, SqliteConnection};
    uptime_ops!(SqliteConnection, [], []);
}
