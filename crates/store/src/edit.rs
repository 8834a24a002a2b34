//! A project's patch and removal on PostgreSQL, each in two round trips under the
//! change log's lock.
//!
//! Every write holds the log's lock from its first statement to its commit, so the
//! catalog's writers queue behind each other and the lock's hold time sets their rate.
//! One statement at a time, a `PATCH` held it for seven round trips and a parse (the
//! lock, the update, parsed anew as its text followed the patched columns, the tags'
//! two, the project and its tags read back, the log's append) and a `DELETE` for six
//! (the lock, the project and its tags, the history row, the removal, the append).
//! Here the statements go in pipelines (the server runs each in order): the lock with
//! what the write must know first, then the rest together.

use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use federation_domain::{reason, Project, ProjectPatch};

use crate::error::StoreError;
use crate::log::NewChange;
use crate::pg::{append_statement, lock_statement};
use crate::prepared::{Bind, Prepared};
use crate::rows::{assemble, ProjectChanges, ProjectRow};
use crate::schema::{DbJson, DbTime};
use crate::upsert::{run, tag_statements};

/// Applies a patch and logs it; `None` when there is no such project.
///
/// 1. The lock, and the row's id and metadata (a metadata patch merges into them).
/// 2. The update ([`update_statement`]), the tags' replacement, the project and its
///    tags as written, and the log's append.
pub(crate) async fn update(
    conn: &mut AsyncPgConnection,
    slug: &str,
    patch: &ProjectPatch,
    now: DbTime,
) -> Result<Option<Project>, StoreError> {
    use crate::schema::{project_tags, projects};
    let shared: &AsyncPgConnection = conn;
    let (mut a, mut b, mut c, mut d, mut e, mut f) =
        (shared, shared, shared, shared, shared, shared);
    let (_, stored) = futures::try_join!(
        async { Ok::<_, StoreError>(lock_statement().execute(&mut a).await?) },
        async {
            Ok(projects::table
                .filter(projects::slug.eq(slug))
                .select((projects::id, projects::metadata))
                .first::<(i64, DbJson)>(&mut b)
                .await
                .optional()?)
        },
    )?;
    let Some((id, metadata)) = stored else {
        return Ok(None);
    };
    let changes = ProjectChanges::of(patch, &metadata, now)?;
    let (delete, insert) = match &patch.tags {
        Some(tags) => tag_statements(vec![id], [(id, tags)]),
        None => (None, None),
    };
    let logged = [NewChange::catalog("updated", slug, now)];
    let (_, _, _, row, tags, _) = futures::try_join!(
        run(Some(update_statement(id, &changes)), &mut a),
        run(delete, &mut b),
        run(insert, &mut c),
        async {
            Ok(projects::table
                .filter(projects::id.eq(id))
                .select(ProjectRow::as_select())
                .first::<ProjectRow>(&mut d)
                .await?)
        },
        async {
            Ok(project_tags::table
                .filter(project_tags::project_id.eq(id))
                .order(project_tags::position.asc())
                .select((project_tags::project_id, project_tags::tag))
                .load::<(i64, String)>(&mut e)
                .await?)
        },
        run(append_statement(&logged), &mut f),
    )?;
    Ok(assemble(vec![row], tags)?.pop())
}

/// The update of project `id` with `changes`, in one text whatever the patch changes
/// (so each connection parses it once): a column the patch leaves alone is set to
/// itself.
fn update_statement<'a>(id: i64, changes: &'a ProjectChanges<'a>) -> Prepared<'a> {
    // Every field, so that one the patch gains cannot be left out here.
    let ProjectChanges {
        name,
        hub_url,
        metadata,
        heartbeat_interval_seconds,
        heartbeat_key_sha256,
        updated_at,
    } = changes;
    Prepared::new(
        "UPDATE projects SET \
             name = COALESCE($?, name), \
             hub_url = COALESCE($?, hub_url), \
             metadata = COALESCE($?::jsonb, metadata), \
             heartbeat_interval_seconds = \
                 CASE WHEN $? THEN $? ELSE heartbeat_interval_seconds END, \
             heartbeat_key_sha256 = CASE WHEN $? THEN $? ELSE heartbeat_key_sha256 END, \
             updated_at = $? \
         WHERE id = $?",
        vec![
            Bind::OptText(*name),
            Bind::OptText(*hub_url),
            Bind::OptText(metadata.as_ref().map(|m| m.0.as_str())),
            Bind::Bool(heartbeat_interval_seconds.is_some()),
            Bind::OptInt(heartbeat_interval_seconds.flatten()),
            Bind::Bool(heartbeat_key_sha256.is_some()),
            Bind::OptBytes(heartbeat_key_sha256.flatten()),
            Bind::Time(updated_at.0),
            Bind::BigInt(id),
        ],
    )
}

/// How many projects [`remove`]'s statement removed.
#[derive(diesel::QueryableByName)]
struct Removed {
    #[diesel(sql_type = BigInt)]
    removed: i64,
}

/// Removes a project and logs it; `false` when there is no such project. Its tags go
/// with it (`ON DELETE CASCADE`), and its history stays, reachable by slug, ending with
/// a row that records the removal (from its status to the same), written without a
/// project as the others are left by the removal (`ON DELETE SET NULL`).
///
/// 1. The lock, and the removal with its history row in one statement.
/// 2. The log's append, when a project was removed.
pub(crate) async fn remove(
    conn: &mut AsyncPgConnection,
    slug: &str,
    why: &str,
    now: DbTime,
) -> Result<bool, StoreError> {
    let shared: &AsyncPgConnection = conn;
    let (mut a, mut b) = (shared, shared);
    let noted = reason::removed_for(why);
    let removal = Prepared::new(
        "WITH gone AS ( \
             DELETE FROM projects WHERE slug = $? \
             RETURNING slug, status, last_heartbeat_at), \
         noted AS ( \
             INSERT INTO status_transitions \
                 (project_id, slug, from_status, to_status, reason, at, last_heartbeat_at) \
             SELECT NULL, slug, status, status, $?, $?, last_heartbeat_at FROM gone) \
         SELECT count(*) AS removed FROM gone",
        vec![Bind::Text(slug), Bind::Text(&noted), Bind::Time(now.0)],
    );
    let (_, removed) = futures::try_join!(
        async { Ok::<_, StoreError>(lock_statement().execute(&mut a).await?) },
        async { Ok(removal.get_result::<Removed>(&mut b).await?) },
    )?;
    if removed.removed == 0 {
        return Ok(false);
    }
    run(
        append_statement(&[NewChange::removal(slug, why, now)]),
        &mut a,
    )
    .await?;
    Ok(true)
}
