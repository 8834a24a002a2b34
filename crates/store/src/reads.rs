//! Reads, written once for both backends.
//!
//! PostgreSQL runs them with `diesel_async::RunQueryDsl` (`.await`), SQLite with the sync
//! `diesel::RunQueryDsl` inside one blocking task per operation. [`read_ops!`] expands the
//! same bodies in each backend module; the caller passes `[async] [.await]` or `[] []`
//! and imports the matching `RunQueryDsl`.

/// Expands the read operations for one connection type. See the module docs.
macro_rules! read_ops {
    ($conn:ty, [$($async_kw:tt)*], [$($aw:tt)*]) => {
        /// The `(project_id, tag)` pairs of these projects, in stored order.
        pub(crate) $($async_kw)* fn tags_of(
            conn: &mut $conn,
            ids: Vec<i64>,
        ) -> Result<Vec<(i64, String)>, StoreError> {
            use crate::planned::PlanEachCall as _;
            use crate::schema::project_tags;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            Ok(project_tags::table
                .filter(project_tags::project_id.eq_any(ids))
                .order((project_tags::project_id.asc(), project_tags::position.asc()))
                .select((project_tags::project_id, project_tags::tag))
                .planned_each_call()
                .load(conn)$($aw)*?)
        }

        /// The `(project_id, tag)` pairs of the projects whose ids are in `(after, last]`,
        /// in stored order: one range of the tags' key, where a list of ids costs a
        /// lookup each.
        pub(crate) $($async_kw)* fn tags_in_range(
            conn: &mut $conn,
            after: i64,
            last: i64,
        ) -> Result<Vec<(i64, String)>, StoreError> {
            use crate::schema::project_tags;
            Ok(project_tags::table
                .filter(project_tags::project_id.gt(after))
                .filter(project_tags::project_id.le(last))
                .order((project_tags::project_id.asc(), project_tags::position.asc()))
                .select((project_tags::project_id, project_tags::tag))
                .load(conn)$($aw)*?)
        }

        /// One project by slug, with its tags.
        pub(crate) $($async_kw)* fn get(
            conn: &mut $conn,
            slug: &str,
        ) -> Result<Option<Project>, StoreError> {
            use crate::schema::projects;
            let row: Option<ProjectRow> = projects::table
                .filter(projects::slug.eq(slug))
                .select(ProjectRow::as_select())
                .first(conn)$($aw)*
                .optional()?;
            let Some(row) = row else {
                return Ok(None);
            };
            let tags = tags_of(conn, vec![row.id])$($aw)*?;
            Ok(crate::rows::assemble(vec![row], tags)?.pop())
        }

        /// A page of projects and the total matching the filter (counted, unless a
        /// recent `known_total` is given). Callers run it in one transaction so the two
        /// agree when counted.
        pub(crate) $($async_kw)* fn list(
            conn: &mut $conn,
            filter: &ListFilter,
            known_total: Option<i64>,
        ) -> Result<ProjectPage, StoreError> {
            use crate::schema::{project_tags, projects};
            macro_rules! filtered {
                () => {{
                    let mut q = projects::table.into_boxed();
                    if let Some(status) = filter.status {
                        q = q.filter(projects::status.eq(status.as_str()));
                    }
                    if let Some(tag) = &filter.tag {
                        q = q.filter(
                            projects::id.eq_any(
                                project_tags::table
                                    .filter(
                                        crate::reads::lower(project_tags::tag)
                                            .eq(tag.as_str().to_lowercase()),
                                    )
                                    .select(project_tags::project_id),
                            ),
                        );
                    }
                    q
                }};
            }
            let total: i64 = match known_total {
                Some(total) => total,
                None => filtered!().count().get_result(conn)$($aw)*?,
            };
            let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
            let rows: Vec<ProjectRow> = if offset >= total {
                Vec::new()
            } else {
                let mut q = filtered!();
                if let Some(after) = &filter.after {
                    q = q.filter(projects::slug.gt(after.as_str()));
                }
                q.order(projects::slug.asc())
                    .limit(filter.limit.map_or(i64::MAX, i64::from))
                    .offset(offset)
                    .select(ProjectRow::as_select())
                    .load(conn)$($aw)*?
            };
            let tags = tags_of(conn, rows.iter().map(|r| r.id).collect())$($aw)*?;
            Ok(ProjectPage {
                items: crate::rows::assemble(rows, tags)?,
                total: u64::try_from(total).unwrap_or(0),
                // The store's own reads are not tied to a revision (the registry's are).
                revision: 0,
            })
        }

        /// Removes a project; tags and history go with it (ON DELETE CASCADE).
        pub(crate) $($async_kw)* fn delete(
            conn: &mut $conn,
            slug: &str,
            why: &str,
            now: DbTime,
        ) -> Result<bool, StoreError> {
            use crate::schema::projects;
            let Some(gone) = get(conn, slug)$($aw)*? else {
                return Ok(false);
            };
            // The history's last row; the rows stay, with no project, reachable by slug.
            let why = federation_domain::reason::removed_for(why);
            note_in_history(conn, &gone, &why, now)$($aw)*?;
            let n = diesel::delete(projects::table.filter(projects::id.eq(gone.id)))
                .execute(conn)$($aw)*?;
            Ok(n > 0)
        }

        /// Removes (reason `pruned`, as [`delete`] does) every project the catalog file
        /// registered last that `listed` does not name; returns their slugs. The caller
        /// holds the write lock and appends the removals to the log.
        pub(crate) $($async_kw)* fn prune(
            conn: &mut $conn,
            listed: &std::collections::HashSet<&str>,
            now: DbTime,
        ) -> Result<Vec<String>, StoreError> {
            use crate::schema::projects;
            let file: Vec<String> = projects::table
                .filter(projects::origin.eq(federation_domain::Origin::File.as_str()))
                .select(projects::slug)
                .load(conn)$($aw)*?;
            let mut removed = Vec::new();
            for slug in file.into_iter().filter(|s| !listed.contains(s.as_str())) {
                if delete(conn, &slug, federation_domain::reason::PRUNED, now)$($aw)*? {
                    removed.push(slug);
                }
            }
            Ok(removed)
        }

        /// Every project's liveness, in slug order.
        pub(crate) $($async_kw)* fn presence_snapshot(
            conn: &mut $conn,
        ) -> Result<Vec<PresenceRecord>, StoreError> {
            use crate::schema::projects;
            let rows: Vec<PresenceRow> = projects::table
                .order(projects::slug.asc())
                .select((
                    projects::slug,
                    projects::status,
                    projects::status_reason,
                    projects::version,
                    projects::last_heartbeat_at,
                ))
                .load(conn)$($aw)*?;
            rows.into_iter().map(PresenceRow::into_record).collect()
        }

        /// A project's transitions by slug, newest first (ties: last written first),
        /// also after it was removed; `None` when there are none and no such project.
        pub(crate) $($async_kw)* fn history(
            conn: &mut $conn,
            slug: &Slug,
            limit: u32,
        ) -> Result<Option<Vec<Transition>>, StoreError> {
            use crate::schema::{projects, status_transitions};
            let rows: Vec<TransitionRow> = status_transitions::table
                .filter(status_transitions::slug.eq(slug.as_str()))
                .order((status_transitions::at.desc(), status_transitions::id.desc()))
                .limit(i64::from(limit))
                .select(TransitionRow::as_select())
                .load(conn)$($aw)*?;
            if rows.is_empty() {
                let exists: Option<i64> = projects::table
                    .filter(projects::slug.eq(slug.as_str()))
                    .select(projects::id)
                    .first(conn)$($aw)*
                    .optional()?;
                if exists.is_none() {
                    return Ok(None);
                }
            }
            rows.into_iter()
                .map(|r| r.into_transition(slug))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }

        /// A history row that records an event without a status change (from the
        /// project's status to the same): a maintenance window, a removal.
        pub(crate) $($async_kw)* fn note_in_history(
            conn: &mut $conn,
            project: &Project,
            why: &str,
            at: DbTime,
        ) -> Result<(), StoreError> {
            use crate::schema::status_transitions;
            diesel::insert_into(status_transitions::table)
                .values((
                    status_transitions::project_id.eq(project.id),
                    status_transitions::slug.eq(project.slug.as_str()),
                    status_transitions::from_status.eq(project.status.as_str()),
                    status_transitions::to_status.eq(project.status.as_str()),
                    status_transitions::reason.eq(why),
                    status_transitions::at.eq(at),
                    status_transitions::last_heartbeat_at.eq(project.last_heartbeat_at.map(DbTime)),
                ))
                .execute(conn)$($aw)*?;
            Ok(())
        }

        /// Starts or ends a maintenance window, with its history row (from the
        /// project's status to the same status). `None`: no such project; `false`:
        /// nothing to end. The caller holds the write lock and appends to the log.
        pub(crate) $($async_kw)* fn set_maintenance(
            conn: &mut $conn,
            slug: &str,
            change: &MaintenanceChange,
            now: DbTime,
        ) -> Result<Option<(Project, bool)>, StoreError> {
            use crate::schema::projects;
            let Some(current) = get(conn, slug)$($aw)*? else {
                return Ok(None);
            };
            let (window, at, why) = match change {
                MaintenanceChange::Start(m) => {
                    (Some(m), m.since, federation_domain::maintenance_started(m))
                }
                MaintenanceChange::End { at, reason, due } => {
                    match &current.maintenance {
                        Some(m) if !*due || m.until <= *at => {}
                        _ => return Ok(Some((current, false))),
                    }
                    (None, *at, reason.clone())
                }
            };
            diesel::update(projects::table.filter(projects::id.eq(current.id)))
                .set((
                    projects::maintenance.eq(window.map(crate::rows::maintenance_column)),
                    projects::updated_at.eq(now),
                ))
                .execute(conn)$($aw)*?;
            note_in_history(conn, &current, &why, DbTime(at))$($aw)*?;
            Ok(get(conn, slug)$($aw)*?.map(|p| (p, true)))
        }

        /// Answers when the database does.
        pub(crate) $($async_kw)* fn ping(conn: &mut $conn) -> Result<(), StoreError> {
            diesel::sql_query("SELECT 1").execute(conn)$($aw)*?;
            Ok(())
        }
    };
}

pub(crate) use read_ops;

diesel::define_sql_function! {
    /// SQL `lower()`: tag filters ignore case (ASCII case in SQLite).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}
