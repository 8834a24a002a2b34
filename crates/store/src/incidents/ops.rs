//! The incident statements, written once for both backends (expanded like
//! [`crate::notify`]'s: `[async] [.await]` or `[] []`).

/// Expands the incident operations for one connection type.
macro_rules! incident_ops {
    ($conn:ty, [$($async_kw:tt)*], [$($aw:tt)*]) => {
        use diesel::prelude::{
            BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper,
        };
        use federation_domain::incident::{Incident, IncidentEvent, IncidentState};

        use crate::error::StoreError;
        use crate::incidents::rows::{revision, time, IncidentRow, MemberRow};
        use crate::incidents::schema::{incident_members as m, incidents as i};

        /// Rows per multi-row insert (well under PostgreSQL's 65 535 parameters).
        const CHUNK: usize = 1000;

        /// Records the events; each is idempotent.
        pub(crate) $($async_kw)* fn record(
            conn: &mut $conn,
            events: &[IncidentEvent],
        ) -> Result<(), StoreError> {
            for e in events {
                match e {
                    IncidentEvent::Opened(incident) => {
                        let exists: Option<i64> = i::table
                            .filter(i::id.eq(revision(incident.id)))
                            .select(i::id)
                            .first(conn)$($aw)*
                            .optional()?;
                        if exists.is_some() {
                            continue;
                        }
                        diesel::insert_into(i::table)
                            .values(IncidentRow::new(incident))
                            .execute(conn)$($aw)*?;
                        let rows: Vec<MemberRow> = incident
                            .members
                            .iter()
                            .map(|mm| MemberRow::new(incident.id, mm))
                            .collect();
                        for chunk in rows.chunks(CHUNK) {
                            diesel::insert_into(m::table)
                                .values(chunk.to_vec())
                                .execute(conn)$($aw)*?;
                        }
                    }
                    IncidentEvent::Joined { id, member } => {
                        diesel::delete(
                            m::table
                                .filter(m::incident_id.eq(revision(*id)))
                                .filter(m::slug.eq(&member.slug)),
                        )
                        .execute(conn)$($aw)*?;
                        diesel::insert_into(m::table)
                            .values(MemberRow::new(*id, member))
                            .execute(conn)$($aw)*?;
                    }
                    IncidentEvent::Back { id, slug, at } => {
                        diesel::update(
                            m::table
                                .filter(m::incident_id.eq(revision(*id)))
                                .filter(m::slug.eq(slug))
                                .filter(m::back_at.is_null()),
                        )
                        .set(m::back_at.eq(Some(time(*at))))
                        .execute(conn)$($aw)*?;
                    }
                    IncidentEvent::Resolved { id, at, revision: r } => {
                        diesel::update(i::table.filter(i::id.eq(revision(*id))).filter(i::ended_at.is_null()))
                            .set((
                                i::ended_at.eq(Some(time(*at))),
                                i::resolved_revision.eq(Some(revision(*r))),
                            ))
                            .execute(conn)$($aw)*?;
                    }
                }
            }
            Ok(())
        }

        $($async_kw)* fn with_members(
            conn: &mut $conn,
            rows: Vec<IncidentRow>,
        ) -> Result<Vec<Incident>, StoreError> {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let mut members: Vec<MemberRow> = Vec::new();
            for chunk in ids.chunks(CHUNK) {
                members.extend(
                    m::table
                        .filter(m::incident_id.eq_any(chunk.to_vec()))
                        .select(MemberRow::as_select())
                        .load(conn)$($aw)*?,
                );
            }
            let mut by: std::collections::HashMap<i64, Vec<MemberRow>> = std::collections::HashMap::new();
            for row in members {
                by.entry(row.incident_id).or_default().push(row);
            }
            rows.into_iter()
                .map(|r| {
                    let ms = by.remove(&r.id).unwrap_or_default();
                    r.into_incident(ms)
                })
                .collect()
        }

        pub(crate) $($async_kw)* fn list(
            conn: &mut $conn,
            state: Option<IncidentState>,
            limit: u32,
        ) -> Result<Vec<Incident>, StoreError> {
            let mut q = i::table.into_boxed();
            match state {
                Some(IncidentState::Open) => q = q.filter(i::ended_at.is_null()),
                Some(IncidentState::Resolved) => q = q.filter(i::ended_at.is_not_null()),
                None => {}
            }
            let rows: Vec<IncidentRow> = q
                .order(i::id.desc())
                .limit(i64::from(limit))
                .select(IncidentRow::as_select())
                .load(conn)$($aw)*?;
            with_members(conn, rows)$($aw)*
        }

        pub(crate) $($async_kw)* fn get(
            conn: &mut $conn,
            id: u64,
        ) -> Result<Option<Incident>, StoreError> {
            let row: Option<IncidentRow> = i::table
                .filter(i::id.eq(revision(id)))
                .select(IncidentRow::as_select())
                .first(conn)$($aw)*
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            Ok(with_members(conn, vec![row])$($aw)*?.pop())
        }

        pub(crate) $($async_kw)* fn after(
            conn: &mut $conn,
            after: u64,
        ) -> Result<Vec<Incident>, StoreError> {
            let rows: Vec<IncidentRow> = i::table
                .filter(
                    i::resolved_revision
                        .is_null()
                        .or(i::resolved_revision.gt(revision(after))),
                )
                .order(i::id.asc())
                .select(IncidentRow::as_select())
                .load(conn)$($aw)*?;
            with_members(conn, rows)$($aw)*
        }
    };
}

/// PostgreSQL.
pub(crate) mod pg {
    use diesel_async::{AsyncPgConnection, RunQueryDsl};
    incident_ops!(AsyncPgConnection, [async], [.await]);
}

/// SQLite.
pub(crate) mod sqlite {
    use diesel::{RunQueryDsl, SqliteConnection};
    incident_ops!(SqliteConnection, [], []);
}
