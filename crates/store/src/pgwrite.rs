//! PostgreSQL's single-statement writes of one project: a patch (the row and its tags)
//! and a removal (the row and its history's last line), each prepared once per
//! connection. The caller sends them right behind the log's lock (`pg::locked`) and
//! appends the change.

use diesel::sql_types::{Array, BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use federation_domain::{Project, ProjectPatch};

use crate::error::StoreError;
use crate::prepared::{Bind, Prepared};
use crate::rows::ProjectRow;
use crate::schema::DbTime;

#[derive(QueryableByName)]
struct PatchedRow {
    #[diesel(embed)]
    project: ProjectRow,
    /// The tags as they were before this statement (its snapshot).
    #[diesel(sql_type = Array<Text>)]
    stored_tags: Vec<String>,
}

/// Applies a patch in one statement; `None` when there is no such project. A metadata
/// patch merges into the stored keys, which are read first (the caller holds the log's
/// lock, and every writer does, so nothing changes them in between). Tags are
/// compared, not rewritten: only tags no longer listed are deleted, and only new or
/// moved ones written.
pub(crate) async fn update(
    mut conn: &AsyncPgConnection,
    slug: &str,
    patch: &ProjectPatch,
    now: DbTime,
) -> Result<Option<Project>, StoreError> {
    let metadata = match &patch.metadata {
        None => None,
        Some(meta_patch) => {
            let Some(stored) = stored_metadata(conn, slug).await? else {
                return Ok(None);
            };
            let current = federation_domain::Metadata::from_stored(&stored.0)
                .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?;
            let merged = meta_patch.apply(&current).map_err(StoreError::Rejected)?;
            Some(merged.to_json_string())
        }
    };
    let tags: Vec<&str> = patch
        .tags
        .iter()
        .flat_map(|t| t.iter().map(|t| t.as_str()))
        .collect();
    let row: Option<PatchedRow> = Prepared::new(
        "WITH p AS ( \
             UPDATE projects SET \
                 name = COALESCE($?::text, name), \
                 hub_url = COALESCE($?::text, hub_url), \
                 metadata = COALESCE($?::text::jsonb, metadata), \
                 heartbeat_interval_seconds = CASE WHEN $?::bool THEN $?::int4 \
                     ELSE heartbeat_interval_seconds END, \
                 heartbeat_key_sha256 = CASE WHEN $?::bool THEN $?::bytea \
                     ELSE heartbeat_key_sha256 END, \
                 updated_at = $? \
             WHERE slug = $? \
             RETURNING *), \
         wanted AS ( \
             SELECT p.id AS project_id, w.tag, (w.ord - 1)::int4 AS position \
             FROM p, UNNEST($?::text[]) WITH ORDINALITY AS w(tag, ord)), \
         dropped AS ( \
             DELETE FROM project_tags AS pt USING p \
             WHERE $?::bool AND pt.project_id = p.id \
                 AND NOT EXISTS (SELECT 1 FROM wanted WHERE wanted.tag = pt.tag)), \
         written AS ( \
             INSERT INTO project_tags (project_id, tag, position) \
             SELECT project_id, tag, position FROM wanted \
             ON CONFLICT (project_id, tag) DO UPDATE SET position = EXCLUDED.position \
             WHERE project_tags.position <> EXCLUDED.position) \
         SELECT p.*, ARRAY(SELECT tag FROM project_tags AS t WHERE t.project_id = p.id \
             ORDER BY t.position) AS stored_tags \
         FROM p",
        vec![
            Bind::OptText(patch.name.as_ref().map(|n| n.as_str())),
            Bind::OptText(patch.hub_url.as_ref().map(|u| u.as_str())),
            Bind::OptOwnedText(metadata),
            Bind::Bool(patch.heartbeat_interval.is_some()),
            Bind::OptInt(
                patch
                    .heartbeat_interval
                    .flatten()
                    .map(crate::rows::interval_column),
            ),
            Bind::Bool(patch.heartbeat_key.is_some()),
            Bind::OptBytes(
                patch
                    .heartbeat_key
                    .as_ref()
                    .and_then(|k| k.as_ref().map(|d| d.as_bytes().as_slice())),
            ),
            Bind::Time(now.0),
            Bind::Text(slug),
            Bind::Texts(tags),
            Bind::Bool(patch.tags.is_some()),
        ],
    )
    .get_result(&mut conn)
    .await
    .map(Some)
    .or_else(|e| match e {
        diesel::result::Error::NotFound => Ok(None),
        e => Err(e),
    })?;
    let Some(row) = row else {
        return Ok(None);
    };
    match &patch.tags {
        Some(tags) => row
            .project
            .into_project(tags.iter().map(|t| t.as_str()).collect()),
        None => row.project.into_project(row.stored_tags),
    }
    .map(Some)
}

/// A project's stored metadata (`None`: no such project).
async fn stored_metadata(
    mut conn: &AsyncPgConnection,
    slug: &str,
) -> Result<Option<crate::schema::DbJson>, StoreError> {
    use crate::schema::projects;
    use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
    Ok(projects::table
        .filter(projects::slug.eq(slug))
        .select(projects::metadata)
        .first(&mut conn)
        .await
        .optional()?)
}

#[derive(QueryableByName)]
struct Removed {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Removes a project in one statement: the row (its tags go with it) and a last
/// history line, from its status to the same, saying why (the history stays, with no
/// project, reachable by slug). `false` when there is no such project.
pub(crate) async fn delete(
    mut conn: &AsyncPgConnection,
    slug: &str,
    why: &str,
    now: DbTime,
) -> Result<bool, StoreError> {
    let why = format!("{}: {why}", federation_domain::reason::REMOVED);
    let removed: Removed = Prepared::new(
        "WITH gone AS ( \
             DELETE FROM projects WHERE slug = $? \
             RETURNING slug, status, last_heartbeat_at), \
         noted AS ( \
             INSERT INTO status_transitions \
                 (project_id, slug, from_status, to_status, reason, at, last_heartbeat_at) \
             SELECT NULL, gone.slug, gone.status, gone.status, $?, $?, gone.last_heartbeat_at \
             FROM gone) \
         SELECT count(*) AS n FROM gone",
        vec![Bind::Text(slug), Bind::Text(&why), Bind::Time(now.0)],
    )
    .get_result(&mut conn)
    .await?;
    Ok(removed.n > 0)
}
