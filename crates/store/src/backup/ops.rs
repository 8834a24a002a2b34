//! The export's page reads and the import's batch writes, written once for both
//! backends (expanded like [`crate::reads`]: `[async] [.await]` or `[] []`, plus the
//! module with that backend's change-log operations). Each runs inside the caller's
//! transaction.

/// Expands the backup operations for one connection type.
macro_rules! backup_ops {
    ($conn:ty, [$($async_kw:tt)*], [$($aw:tt)*], $log:path) => {
        use std::collections::HashMap;

        use crate::planned::PlanEachCall as _;

        use diesel::prelude::{
            BoolExpressionMethods, ExpressionMethods, QueryDsl, SelectableHelper,
        };
        use $log as log_ops;

        use crate::backup::export::Lines;
        use crate::backup::records::{
            ChannelRecord, CursorRecord, DailyRecord, DeliveryRecord, HeardRecord, LogRecord,
            ProjectRecord, Record, RolledDayRecord, TransitionRecord,
        };
        use crate::backup::{BackupError, PAGE};
        use crate::notify::rows::{ChannelRow, DeliveryRow};
        use crate::notify::schema::{
            notify_channels as ch, notify_cursors as cu, notify_deliveries as dl,
        };
        use crate::rows::ProjectRow;
        use crate::schema::{
            change_log as cl, change_log_state as cs, project_tags as pt, projects as p,
            status_transitions as st, DbTime,
        };
        use crate::uptime::{uptime_daily as d, uptime_heard as h, uptime_rolled_days as rd};

        /// Rows per statement.
        const LIMIT: i64 = PAGE as i64;

        /// The first table that holds rows (or the log's state, once it moved), with
        /// its count: an import goes into an empty database only.
        pub(crate) $($async_kw)* fn first_filled(
            conn: &mut $conn,
        ) -> Result<Option<(&'static str, i64)>, BackupError> {
            let counts: [(&'static str, i64); 10] = [
                ("projects", p::table.count().get_result(conn)$($aw)*?),
                ("project_tags", pt::table.count().get_result(conn)$($aw)*?),
                ("status_transitions", st::table.count().get_result(conn)$($aw)*?),
                ("change_log", cl::table.count().get_result(conn)$($aw)*?),
                ("notify_channels", ch::table.count().get_result(conn)$($aw)*?),
                ("notify_cursors", cu::table.count().get_result(conn)$($aw)*?),
                ("notify_deliveries", dl::table.count().get_result(conn)$($aw)*?),
                ("uptime_heard", h::table.count().get_result(conn)$($aw)*?),
                ("uptime_daily", d::table.count().get_result(conn)$($aw)*?),
                ("uptime_rolled_days", rd::table.count().get_result(conn)$($aw)*?),
            ];
            if let Some(filled) = counts.into_iter().find(|(_, n)| *n > 0) {
                return Ok(Some(filled));
            }
            let (trimmed, published): (i64, i64) = cs::table
                .select((cs::trimmed_through, cs::published_through))
                .first(conn)$($aw)*?;
            Ok((trimmed > 0 || published > 0).then_some(("change_log_state", 1)))
        }

        /// Writes every record, kind after kind in file order, page by page.
        pub(crate) $($async_kw)* fn export_all<W: std::io::Write>(
            conn: &mut $conn,
            out: &mut Lines<W>,
        ) -> Result<(), BackupError> {
            out.put(&Record::Log(LogRecord {
                head: log_ops::head(conn)$($aw)*?,
                published_through: log_ops::published_through(conn)$($aw)*?,
            }))?;

            let mut after = String::new();
            loop {
                let rows: Vec<ProjectRow> = p::table
                    .filter(p::slug.gt(&after))
                    .order(p::slug.asc())
                    .limit(LIMIT)
                    .select(ProjectRow::as_select())
                    .load(conn)$($aw)*?;
                let Some(last) = rows.last() else { break };
                after = last.slug.clone();
                let full = rows.len() == PAGE;
                let ids = rows.iter().map(|r| r.id).collect();
                let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
                for (id, tag) in log_ops::tags_of(conn, ids)$($aw)*? {
                    tags.entry(id).or_default().push(tag);
                }
                for row in rows {
                    let t = tags.remove(&row.id).unwrap_or_default();
                    out.put(&Record::Project(ProjectRecord::from_row(row, t)?))?;
                }
                if !full {
                    break;
                }
            }

            let mut after = i64::MIN;
            loop {
                let rows: Vec<(
                    i64,
                    Option<i64>,
                    String,
                    String,
                    String,
                    Option<String>,
                    DbTime,
                    Option<DbTime>,
                )> = st::table
                    .filter(st::id.gt(after))
                    .order(st::id.asc())
                    .limit(LIMIT)
                    .select((
                        st::id,
                        st::project_id,
                        st::slug,
                        st::from_status,
                        st::to_status,
                        st::reason,
                        st::at,
                        st::last_heartbeat_at,
                    ))
                    .load(conn)$($aw)*?;
                let full = rows.len() == PAGE;
                for (id, project, slug, from_status, to_status, reason, at, lhb) in rows {
                    after = id;
                    out.put(&Record::Transition(TransitionRecord {
                        slug,
                        attached: project.is_some(),
                        from_status,
                        to_status,
                        reason,
                        at: at.0,
                        last_heartbeat_at: lhb.map(|t| t.0),
                    }))?;
                }
                if !full {
                    break;
                }
            }

            let mut after = String::new();
            loop {
                let rows: Vec<ChannelRow> = ch::table
                    .filter(ch::name.gt(&after))
                    .order(ch::name.asc())
                    .limit(LIMIT)
                    .select(ChannelRow::as_select())
                    .load(conn)$($aw)*?;
                let full = rows.len() == PAGE;
                for row in rows {
                    after = row.name.clone();
                    out.put(&Record::Channel(ChannelRecord::from_row(row)))?;
                }
                if !full {
                    break;
                }
            }

            let mut after = String::new();
            loop {
                let rows: Vec<(String, i64)> = cu::table
                    .filter(cu::channel.gt(&after))
                    .order(cu::channel.asc())
                    .limit(LIMIT)
                    .select((cu::channel, cu::revision))
                    .load(conn)$($aw)*?;
                let full = rows.len() == PAGE;
                for (channel, revision) in rows {
                    after = channel.clone();
                    out.put(&Record::ChannelCursor(CursorRecord {
                        channel,
                        revision: crate::log::from_db(revision),
                    }))?;
                }
                if !full {
                    break;
                }
            }

            let mut after = i64::MIN;
            loop {
                let rows: Vec<DeliveryRow> = dl::table
                    .filter(dl::id.gt(after))
                    .order(dl::id.asc())
                    .limit(LIMIT)
                    .select(DeliveryRow::as_select())
                    .load(conn)$($aw)*?;
                let full = rows.len() == PAGE;
                for row in rows {
                    after = row.id;
                    out.put(&Record::Delivery(DeliveryRecord::from_row(row)?))?;
                }
                if !full {
                    break;
                }
            }

            let mut after: Option<DbTime> = None;
            loop {
                let mut query = h::table.select((h::started_at, h::ended_at)).into_boxed();
                if let Some(a) = after {
                    query = query.filter(h::started_at.gt(a));
                }
                let rows: Vec<(DbTime, DbTime)> = query
                    .order(h::started_at.asc())
                    .limit(LIMIT)
                    .load(conn)$($aw)*?;
                let full = rows.len() == PAGE;
                for (started_at, ended_at) in rows {
                    after = Some(started_at);
                    out.put(&Record::UptimeHeard(HeardRecord {
                        started_at: started_at.0,
                        ended_at: ended_at.0,
                    }))?;
                }
                if !full {
                    break;
                }
            }

            let mut after: Option<(chrono::NaiveDate, String)> = None;
            loop {
                let mut query = d::table.select(DailyRecord::as_select()).into_boxed();
                if let Some((day, slug)) = after.take() {
                    query = query.filter(d::day.gt(day).or(d::day.eq(day).and(d::slug.gt(slug))));
                }
                let rows: Vec<DailyRecord> = query
                    .order((d::day.asc(), d::slug.asc()))
                    .limit(LIMIT)
                    .load(conn)$($aw)*?;
                let full = rows.len() == PAGE;
                for row in rows {
                    after = Some((row.day, row.slug.clone()));
                    out.put(&Record::UptimeDaily(row))?;
                }
                if !full {
                    break;
                }
            }

            let mut after: Option<chrono::NaiveDate> = None;
            loop {
                let mut query = rd::table.select((rd::day, rd::rolled_at)).into_boxed();
                if let Some(a) = after {
                    query = query.filter(rd::day.gt(a));
                }
                let rows: Vec<(chrono::NaiveDate, DbTime)> = query
                    .order(rd::day.asc())
                    .limit(LIMIT)
                    .load(conn)$($aw)*?;
                let full = rows.len() == PAGE;
                for (day, rolled_at) in rows {
                    after = Some(day);
                    out.put(&Record::UptimeRolledDay(RolledDayRecord {
                        day,
                        rolled_at: rolled_at.0,
                    }))?;
                }
                if !full {
                    break;
                }
            }
            Ok(())
        }

        /// Writes one batch of records of one kind (lines `first..=last`); `ids` maps
        /// the slugs imported so far to their new project ids.
        pub(crate) $($async_kw)* fn insert_batch(
            conn: &mut $conn,
            batch: Vec<(u64, Record)>,
            ids: &mut HashMap<String, i64>,
        ) -> Result<(), BackupError> {
            let (Some(first), Some(last)) = (
                batch.iter().next().map(|(l, _)| *l),
                batch.last().map(|(l, _)| *l),
            ) else {
                return Ok(());
            };
            let span = |e: diesel::result::Error| {
                BackupError::Line {
                    line: first,
                    message: if first == last {
                        format!("the database refused the record: {e}")
                    } else {
                        format!("(or a line up to {last}) the database refused the records: {e}")
                    },
                }
            };
            let mut projects = Vec::new();
            let mut tags = Vec::new();
            let mut transitions = Vec::new();
            let mut channels = Vec::new();
            let mut cursors = Vec::new();
            let mut deliveries = Vec::new();
            let mut heard = Vec::new();
            let mut daily = Vec::new();
            let mut rolled = Vec::new();
            for (line, record) in batch {
                let bad = |m: String| BackupError::line(line, m);
                match record {
                    Record::Project(r) => {
                        let row = r.to_row().map_err(bad)?;
                        tags.push((row.slug.clone(), r.tags));
                        projects.push((
                            p::slug.eq(row.slug),
                            p::name.eq(row.name),
                            p::hub_url.eq(row.hub_url),
                            p::mesh_namespace.eq(row.mesh_namespace),
                            p::status.eq(row.status),
                            p::status_reason.eq(row.status_reason),
                            p::version.eq(row.version),
                            p::last_heartbeat_at.eq(row.last_heartbeat_at),
                            p::created_at.eq(row.created_at),
                            p::updated_at.eq(row.updated_at),
                            p::metadata.eq(row.metadata),
                            p::heartbeat_interval_seconds.eq(row.heartbeat_interval_seconds),
                            p::maintenance.eq(row.maintenance),
                            p::origin.eq(row.origin),
                            p::heartbeat_key_sha256.eq(row.heartbeat_key_sha256),
                        ));
                    }
                    Record::Transition(r) => {
                        r.check().map_err(bad)?;
                        let project = match (r.attached, ids.get(&r.slug)) {
                            (false, _) => None,
                            (true, Some(id)) => Some(*id),
                            (true, None) => {
                                return Err(bad(format!(
                                    "attached to project {:?}, which the file does not hold",
                                    r.slug
                                )))
                            }
                        };
                        transitions.push((
                            st::project_id.eq(project),
                            st::slug.eq(r.slug),
                            st::from_status.eq(r.from_status),
                            st::to_status.eq(r.to_status),
                            st::reason.eq(r.reason),
                            st::at.eq(DbTime(r.at)),
                            st::last_heartbeat_at.eq(r.last_heartbeat_at.map(DbTime)),
                        ));
                    }
                    Record::Channel(r) => channels.push(r.to_row().map_err(bad)?),
                    Record::ChannelCursor(r) => cursors.push((
                        cu::channel.eq(r.channel),
                        cu::revision.eq(crate::log::to_db(r.revision)),
                    )),
                    Record::Delivery(r) => deliveries.push(r.to_row().map_err(bad)?),
                    Record::UptimeHeard(r) => {
                        if r.ended_at < r.started_at {
                            return Err(bad("ended_at is before started_at".to_owned()));
                        }
                        heard.push((
                            h::started_at.eq(DbTime(r.started_at)),
                            h::ended_at.eq(DbTime(r.ended_at)),
                        ));
                    }
                    Record::UptimeDaily(r) => {
                        federation_domain::Slug::parse(&r.slug)
                            .map_err(|e| bad(format!("slug: {e}")))?;
                        daily.push(r);
                    }
                    Record::UptimeRolledDay(r) => rolled.push((
                        rd::day.eq(r.day),
                        rd::rolled_at.eq(DbTime(r.rolled_at)),
                    )),
                    Record::Log(_) | Record::End(_) => {
                        return Err(bad("a log or end record in a batch".to_owned()))
                    }
                }
            }
            if !projects.is_empty() {
                diesel::insert_into(p::table)
                    .values(projects)
                    .execute(conn)$($aw)*
                    .map_err(span)?;
                let slugs: Vec<&str> = tags.iter().map(|(s, _)| s.as_str()).collect();
                let new: Vec<(i64, String)> = p::table
                    .filter(p::slug.eq_any(slugs))
                    .select((p::id, p::slug))
                    .planned_each_call()
                    .load(conn)$($aw)*?;
                ids.extend(new.into_iter().map(|(id, slug)| (slug, id)));
                let mut rows = Vec::new();
                for (slug, list) in tags {
                    let Some(id) = ids.get(&slug).copied() else { continue };
                    for (i, tag) in list.into_iter().enumerate() {
                        rows.push((
                            pt::project_id.eq(id),
                            pt::tag.eq(tag),
                            pt::position.eq(i32::try_from(i).unwrap_or(i32::MAX)),
                        ));
                    }
                }
                for chunk in rows.chunks(PAGE) {
                    diesel::insert_into(pt::table)
                        .values(chunk)
                        .execute(conn)$($aw)*
                        .map_err(span)?;
                }
            }
            if !transitions.is_empty() {
                diesel::insert_into(st::table)
                    .values(transitions)
                    .execute(conn)$($aw)*
                    .map_err(span)?;
            }
            if !channels.is_empty() {
                diesel::insert_into(ch::table)
                    .values(channels)
                    .execute(conn)$($aw)*
                    .map_err(span)?;
            }
            if !cursors.is_empty() {
                diesel::insert_into(cu::table)
                    .values(cursors)
                    .execute(conn)$($aw)*
                    .map_err(span)?;
            }
            if !deliveries.is_empty() {
                diesel::insert_into(dl::table)
                    .values(deliveries)
                    .execute(conn)$($aw)*
                    .map_err(span)?;
            }
            if !heard.is_empty() {
                diesel::insert_into(h::table)
                    .values(heard)
                    .execute(conn)$($aw)*
                    .map_err(span)?;
            }
            if !daily.is_empty() {
                diesel::insert_into(d::table)
                    .values(daily)
                    .execute(conn)$($aw)*
                    .map_err(span)?;
            }
            if !rolled.is_empty() {
                diesel::insert_into(rd::table)
                    .values(rolled)
                    .execute(conn)$($aw)*
                    .map_err(span)?;
            }
            Ok(())
        }

        /// The log's state after an import: trimmed at the head (its rows are not
        /// carried), the outbox cursor as exported, and revisions going on from the head.
        pub(crate) $($async_kw)* fn set_log(
            conn: &mut $conn,
            log: &LogRecord,
        ) -> Result<(), BackupError> {
            let head = crate::log::to_db(log.head);
            diesel::update(cs::table)
                .set((
                    cs::trimmed_through.eq(head),
                    cs::published_through.eq(crate::log::to_db(log.published_through)),
                ))
                .execute(conn)$($aw)*?;
            if head > 0 {
                continue_revisions(conn, head)$($aw)*?;
            }
            Ok(())
        }
    };
}

/// PostgreSQL.
pub(crate) mod pg {
    use diesel::sql_types::BigInt;
    use diesel_async::{AsyncPgConnection, RunQueryDsl};

    backup_ops!(AsyncPgConnection, [async], [.await], crate::pg);

    /// The next revision drawn is `head + 1`.
    async fn continue_revisions(
        conn: &mut AsyncPgConnection,
        head: i64,
    ) -> Result<(), BackupError> {
        diesel::sql_query("SELECT setval(pg_get_serial_sequence('change_log', 'revision'), $1)")
            .bind::<BigInt, _>(head)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// SQLite.
pub(crate) mod sqlite {
    use diesel::sql_types::BigInt;
    use diesel::{RunQueryDsl, SqliteConnection};

    backup_ops!(SqliteConnection, [], [], crate::sqlite);

    /// The next revision drawn is `head + 1` (AUTOINCREMENT keeps its counter in
    /// `sqlite_sequence`).
    fn continue_revisions(conn: &mut SqliteConnection, head: i64) -> Result<(), BackupError> {
        diesel::sql_query("DELETE FROM sqlite_sequence WHERE name = 'change_log'").execute(conn)?;
        diesel::sql_query("INSERT INTO sqlite_sequence (name, seq) VALUES ('change_log', ?)")
            .bind::<BigInt, _>(head)
            .execute(conn)?;
        Ok(())
    }
}
