//! SQLite: the shared reads plus the multi-row statements written for SQLite. Everything
//! here is sync diesel, run on the blocking pool by [`crate::Store`].

use std::fmt::Write as _;

use chrono::SubsecRound;
use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::Sqlite;
use diesel::{RunQueryDsl, SqliteConnection};
use federation_domain::{
    ListFilter, MaintenanceChange, PresenceRecord, Project, ProjectPage, ProjectPatch,
    Registration, Slug, Status, Tags, Transition, Upserted,
};

use crate::error::StoreError;
use crate::reads::read_ops;
use crate::rows::{dedupe_presence, PresenceRow, ProjectRow, TransitionRow};
use crate::schema::{projects, DbJson, DbTime, UtcTime};

read_ops!(SqliteConnection, [], []);
crate::log::log_ops!(SqliteConnection, [], []);

/// Applies a patch; `None` when there is no such project. The caller's IMMEDIATE
/// transaction holds the write lock, so nothing changes the row between the read and
/// the update. (PostgreSQL pipelines the same steps: `crate::edit::update`.)
pub(crate) fn update(
    conn: &mut SqliteConnection,
    slug: &str,
    patch: &ProjectPatch,
    now: DbTime,
) -> Result<Option<Project>, StoreError> {
    let stored: Option<(i64, DbJson)> = projects::table
        .filter(projects::slug.eq(slug))
        .select((projects::id, projects::metadata))
        .first(conn)
        .optional()?;
    let Some((id, metadata)) = stored else {
        return Ok(None);
    };
    let changes = crate::rows::ProjectChanges::of(patch, &metadata, now)?;
    diesel::update(projects::table.filter(projects::id.eq(id)))
        .set(&changes)
        .execute(conn)?;
    if let Some(tags) = &patch.tags {
        replace_tags(conn, id, tags)?;
    }
    get(conn, slug)
}

/// Replaces a project's tags, keeping their order.
pub(crate) fn replace_tags(
    conn: &mut SqliteConnection,
    project_id: i64,
    tags: &Tags,
) -> Result<(), StoreError> {
    use crate::schema::project_tags;
    diesel::delete(project_tags::table.filter(project_tags::project_id.eq(project_id)))
        .execute(conn)?;
    if tags.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = tags
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                project_tags::project_id.eq(project_id),
                project_tags::tag.eq(t.as_str()),
                project_tags::position.eq(i32::try_from(i).unwrap_or(i32::MAX)),
            )
        })
        .collect();
    diesel::insert_into(project_tags::table)
        .values(rows)
        .execute(conn)?;
    Ok(())
}

/// The sweeper lease's row (the caller's IMMEDIATE transaction holds the write lock).
pub(crate) fn lease_row(
    conn: &mut SqliteConnection,
) -> Result<Option<crate::log::LeaseRow>, StoreError> {
    Ok(crate::log::lease_query().first(conn).optional()?)
}

/// The slugs among `slugs` that name a project.
/// The stored status of each of these projects that exists (the base the steps of a
/// presence write chain onto, [`federation_domain::chain_onto`]).
pub(crate) fn stored_statuses(
    conn: &mut SqliteConnection,
    slugs: Vec<&str>,
) -> Result<std::collections::HashMap<String, Status>, StoreError> {
    let mut found = Vec::new();
    for chunk in slugs.chunks(MAX_BINDS) {
        let rows: Vec<(String, String)> = projects::table
            .filter(projects::slug.eq_any(chunk))
            .select((projects::slug, projects::status))
            .load(conn)?;
        found.extend(rows);
    }
    crate::rows::statuses(found)
}

/// SQLite refuses statements with more than 32,766 bound values; stay below it.
const MAX_BINDS: usize = 32_000;

/// Inserts or updates one registration. Run inside an IMMEDIATE transaction: the write
/// lock is held from BEGIN, so the existence check and the upsert see the same database
/// and `created` is exact.
pub(crate) fn upsert(
    conn: &mut SqliteConnection,
    reg: &Registration,
    now: DbTime,
) -> Result<Upserted, StoreError> {
    let existed: Option<i64> = projects::table
        .filter(projects::slug.eq(reg.slug.as_str()))
        .select(projects::id)
        .first(conn)
        .optional()?;
    let metadata = reg.metadata.to_json_string();
    let mut row: ProjectRow = diesel::insert_into(projects::table)
        .values((
            projects::slug.eq(reg.slug.as_str()),
            projects::name.eq(reg.name.as_str()),
            projects::hub_url.eq(reg.hub_url.as_str()),
            projects::mesh_namespace.eq(reg.mesh_namespace.as_str()),
            projects::metadata.eq(DbJson(metadata.clone())),
            projects::heartbeat_interval_seconds
                .eq(reg.heartbeat_interval.map(crate::rows::interval_column)),
            projects::origin.eq(reg.origin.as_str()),
            projects::created_at.eq(now),
            projects::updated_at.eq(now),
        ))
        .on_conflict(projects::slug)
        .do_update()
        .set((
            projects::name.eq(reg.name.as_str()),
            projects::hub_url.eq(reg.hub_url.as_str()),
            projects::mesh_namespace.eq(reg.mesh_namespace.as_str()),
            projects::metadata.eq(DbJson(metadata)),
            projects::origin.eq(reg.origin.as_str()),
            projects::updated_at.eq(now),
        ))
        .returning(ProjectRow::as_returning())
        .get_result(conn)?;
    // Registering again without an interval keeps the one the project had.
    if let (Some(_), Some(interval)) = (existed, reg.heartbeat_interval) {
        let seconds = crate::rows::interval_column(interval);
        diesel::update(projects::table.find(row.id))
            .set(projects::heartbeat_interval_seconds.eq(seconds))
            .execute(conn)?;
        row.heartbeat_interval_seconds = Some(seconds);
    }
    replace_tags(conn, row.id, &reg.tags)?;
    // The tags are the ones just written; no need to read them back.
    let tags: Vec<&str> = reg.tags.iter().map(|t| t.as_str()).collect();
    Ok(Upserted {
        project: row.into_project(tags)?,
        created: existed.is_none(),
        revision: None,
        written: None,
    })
}

/// `(?, ?, …)` rows for a multi-row VALUES list.
fn values_rows(rows: usize, columns: usize) -> String {
    let mut row = String::from("(?");
    for _ in 1..columns {
        row.push_str(", ?");
    }
    row.push(')');
    let mut out = String::with_capacity(rows * (row.len() + 2));
    for i in 0..rows {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&row);
    }
    out
}

/// Writes a batch of presence updates and appends transitions, each as one multi-row
/// statement per chunk (the chunks keep under SQLite's bound-parameter limit). Run inside
/// a transaction.
pub(crate) fn write_presence(
    conn: &mut SqliteConnection,
    updates: &[PresenceRecord],
    transitions: &[Transition],
) -> Result<(), StoreError> {
    let updates = dedupe_presence(updates);
    const UPDATE_COLUMNS: usize = 5;
    for chunk in updates.chunks(MAX_BINDS / UPDATE_COLUMNS) {
        let mut sql = String::with_capacity(chunk.len() * 20 + 800);
        let _ = write!(
            sql,
            "WITH u(slug, status, status_reason, version, last_heartbeat_at) AS (VALUES {}) \
             UPDATE projects SET \
                 status = u.status, \
                 status_reason = u.status_reason, \
                 version = u.version, \
                 last_heartbeat_at = CASE \
                     WHEN projects.last_heartbeat_at IS NULL \
                       OR u.last_heartbeat_at > projects.last_heartbeat_at \
                     THEN u.last_heartbeat_at ELSE projects.last_heartbeat_at END \
             FROM u \
             WHERE projects.slug = u.slug AND ( \
                 projects.status IS NOT u.status \
                 OR projects.status_reason IS NOT u.status_reason \
                 OR projects.version IS NOT u.version \
                 OR u.last_heartbeat_at > projects.last_heartbeat_at \
                 OR (projects.last_heartbeat_at IS NULL AND u.last_heartbeat_at IS NOT NULL))",
            values_rows(chunk.len(), UPDATE_COLUMNS)
        );
        let mut query = diesel::sql_query(sql).into_boxed::<Sqlite>();
        for u in chunk {
            query = query
                .bind::<Text, _>(u.slug)
                .bind::<Text, _>(u.status)
                .bind::<Nullable<Text>, _>(u.status_reason)
                .bind::<Nullable<Text>, _>(u.version)
                .bind::<Nullable<UtcTime>, _>(u.last_heartbeat_at.map(DbTime));
        }
        query.execute(conn)?;
    }

    const TRANSITION_COLUMNS: usize = 7;
    let chunk_rows = MAX_BINDS / TRANSITION_COLUMNS;
    for (c, chunk) in transitions.chunks(chunk_rows).enumerate() {
        let sql = format!(
            "WITH t(ord, slug, from_status, to_status, reason, at, last_heartbeat_at) \
                 AS (VALUES {}) \
             INSERT INTO status_transitions \
                 (project_id, slug, from_status, to_status, reason, at, last_heartbeat_at) \
             SELECT p.id, p.slug, t.from_status, t.to_status, t.reason, t.at, t.last_heartbeat_at \
             FROM t JOIN projects p ON p.slug = t.slug \
             ORDER BY t.ord",
            values_rows(chunk.len(), TRANSITION_COLUMNS)
        );
        let mut query = diesel::sql_query(sql).into_boxed::<Sqlite>();
        for (i, t) in chunk.iter().enumerate() {
            let ord = i64::try_from(c * chunk_rows + i).unwrap_or(i64::MAX);
            query = query
                .bind::<BigInt, _>(ord)
                .bind::<Text, _>(t.slug.as_str())
                .bind::<Text, _>(t.from.as_str())
                .bind::<Text, _>(t.to.as_str())
                .bind::<Nullable<Text>, _>(t.reason.as_deref())
                .bind::<UtcTime, _>(DbTime(t.at.trunc_subsecs(6)))
                .bind::<Nullable<UtcTime>, _>(
                    t.last_heartbeat_at.map(|b| DbTime(b.trunc_subsecs(6))),
                );
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// Appends changes, in order (PostgreSQL: [`crate::pg::log_changes`]).
pub(crate) fn append(
    conn: &mut diesel::SqliteConnection,
    changes: &[crate::log::NewChange<'_>],
) -> Result<(), StoreError> {
    use crate::schema::change_log as c;
    if changes.is_empty() {
        return Ok(());
    }
    // Bounded statements: SQLite caps bound values per statement.
    for chunk in changes.chunks(2000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|n| {
                (
                    c::kind.eq(n.kind),
                    c::slug.eq(n.slug),
                    c::at.eq(n.at),
                    c::from_status.eq(n.from_status),
                    c::to_status.eq(n.to_status),
                    c::reason.eq(n.reason),
                    c::last_heartbeat_at.eq(n.last_heartbeat_at),
                )
            })
            .collect();
        diesel::insert_into(c::table).values(rows).execute(conn)?;
    }
    Ok(())
}

/// Changes after `revision` with the projects as they are now (none unless
/// `with_projects`); `Trimmed` when the log no longer holds all of them.
pub(crate) fn changes_since(
    conn: &mut SqliteConnection,
    revision: u64,
    limit: u32,
    with_projects: bool,
) -> Result<federation_domain::ChangesSince, StoreError> {
    use crate::schema::{change_log as c, change_log_state as st, projects};
    let trimmed: i64 = st::table.select(st::trimmed_through).first(conn)?;
    let after = crate::log::to_db(revision);
    let rows: Vec<crate::log::ChangeRow> = c::table
        .filter(c::revision.gt(after))
        .order(c::revision.asc())
        .limit(i64::from(limit))
        .load(conn)?;
    if let Some(answer) = crate::log::answered(after, trimmed, &rows) {
        return Ok(answer);
    }
    if !with_projects {
        return crate::log::changes(rows, Vec::new(), Vec::new());
    }
    let slugs = crate::log::slugs_of(&rows);
    let project_rows: Vec<ProjectRow> = projects::table
        .filter(projects::slug.eq_any(slugs))
        .select(ProjectRow::as_select())
        .load(conn)?;
    let ids = project_rows.iter().map(|p| p.id).collect();
    let tags = tags_of(conn, ids)?;
    crate::log::changes(rows, project_rows, tags)
}
