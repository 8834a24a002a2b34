//! PostgreSQL's registration write: one `INSERT … ON CONFLICT` for a whole group, its
//! tags, and (for [`register`]) the log's lock and append, pipelined so a group costs
//! two round trips inside its transaction instead of four.

use std::collections::HashMap;

use diesel::sql_types::Bool;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use federation_domain::{Registration, Tags, Upserted};

use crate::backend::upserted_changes;
use crate::error::StoreError;
use crate::pg::{append_statement, lock_statement, Appended};
use crate::prepared::{Bind, Prepared};
use crate::rows::ProjectRow;
use crate::schema::DbTime;

#[derive(QueryableByName)]
struct UpsertRow {
    #[diesel(embed)]
    project: ProjectRow,
    #[diesel(sql_type = Bool)]
    created: bool,
}

/// Inserts or updates registrations (one statement for all of them) and replaces their
/// tags (two more at most: none to delete for a new project, none to insert without
/// tags). `xmax = 0` holds only for a row this statement inserted, which tells
/// an insert from an update without a race. Rows are written in slug order, so two
/// concurrent batches lock rows in the same order and cannot deadlock. Run inside a
/// transaction that holds the log's lock.
pub(crate) async fn upsert_many(
    conn: &mut AsyncPgConnection,
    regs: &[Registration],
    now: DbTime,
) -> Result<Vec<Upserted>, StoreError> {
    if regs.is_empty() {
        return Ok(Vec::new());
    }
    let Some(order) = slug_order(regs) else {
        // One INSERT … ON CONFLICT cannot touch a row twice: apply them one by one.
        let mut out = Vec::with_capacity(regs.len());
        for reg in regs {
            out.extend(Box::pin(upsert_many(conn, std::slice::from_ref(reg), now)).await?);
        }
        return Ok(out);
    };
    let rows: Vec<UpsertRow> = upsert_statement(&order, now).load(conn).await?;
    let upserted = answers(rows, regs)?;
    let (delete, insert) = registered_tags(&upserted, regs);
    for statement in [delete, insert].into_iter().flatten() {
        statement.execute(conn).await?;
    }
    Ok(upserted)
}

/// Registers a group and logs it, in a transaction: the log's lock and the upsert in one
/// round trip (the server runs them in order, so the upsert waits for the lock), then
/// the tags and the log's append with its notification in another. Revisions follow the
/// registrations' order.
pub(crate) async fn register(
    conn: &mut AsyncPgConnection,
    regs: &[Registration],
    now: DbTime,
) -> Result<Vec<Upserted>, StoreError> {
    let Some(order) = slug_order(regs).filter(|_| !regs.is_empty()) else {
        crate::pg::lock_log(conn).await?;
        let upserted = upsert_many(conn, regs, now).await?;
        crate::pg::log_changes(conn, &upserted_changes(&upserted, now)).await?;
        return Ok(upserted);
    };
    let shared: &AsyncPgConnection = conn;
    let (mut a, mut b, mut c) = (shared, shared, shared);
    let (_, rows) = futures::try_join!(
        lock_statement().execute(&mut a),
        upsert_statement(&order, now).load::<UpsertRow>(&mut b),
    )?;
    let upserted = answers(rows, regs)?;
    let changes = upserted_changes(&upserted, now);
    let (delete, insert) = registered_tags(&upserted, regs);
    let append = append_statement(&changes).ok_or_else(not_returned)?;
    let appended = async {
        let row: Appended = append.get_result(&mut c).await?;
        Ok::<_, StoreError>(row)
    };
    let (_, _, appended) = futures::try_join!(run(delete, &mut a), run(insert, &mut b), appended)?;
    Ok(numbered(upserted, &appended))
}

/// Each registration's revision: the append drew them in the registrations' order,
/// one each and none between (under the log's lock), unless the count says otherwise;
/// then none is told and the writer reads the log back.
fn numbered(mut upserted: Vec<Upserted>, appended: &Appended) -> Vec<Upserted> {
    if let Some(first) = appended.first_of(upserted.len()) {
        for (i, u) in (0u64..).zip(&mut upserted) {
            u.revision = Some(first + i);
        }
    }
    upserted
}

/// Runs a statement of a pipeline, if there is one.
pub(crate) async fn run(
    statement: Option<Prepared<'_>>,
    conn: &mut &AsyncPgConnection,
) -> Result<(), StoreError> {
    if let Some(statement) = statement {
        statement.execute(conn).await?;
    }
    Ok(())
}

/// The registrations in slug order, or `None` when a slug comes twice.
fn slug_order(regs: &[Registration]) -> Option<Vec<&Registration>> {
    let mut order: Vec<&Registration> = regs.iter().collect();
    order.sort_by(|a, b| a.slug.cmp(&b.slug));
    let twice = order
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.slug == b.slug));
    (!twice).then_some(order)
}

fn not_returned() -> StoreError {
    StoreError::Corrupt("an upserted project was not returned".into())
}

/// The upsert of registrations given in slug order.
fn upsert_statement<'a>(order: &[&'a Registration], now: DbTime) -> Prepared<'a> {
    let sorted = || order.iter().copied();
    Prepared::new(
        "INSERT INTO projects \
             (slug, name, hub_url, mesh_namespace, metadata, heartbeat_interval_seconds, origin, \
              created_at, updated_at) \
         SELECT r.slug, r.name, r.hub_url, r.mesh_namespace, r.metadata::jsonb, r.interval, \
             r.origin, $?, $? \
         FROM UNNEST($?::text[], $?::text[], $?::text[], $?::text[], $?::text[], $?::int4[], \
             $?::text[]) \
             WITH ORDINALITY AS r(slug, name, hub_url, mesh_namespace, metadata, interval, origin, ord) \
         ORDER BY r.ord \
         ON CONFLICT (slug) DO UPDATE SET \
             name = EXCLUDED.name, \
             hub_url = EXCLUDED.hub_url, \
             mesh_namespace = EXCLUDED.mesh_namespace, \
             metadata = EXCLUDED.metadata, \
             heartbeat_interval_seconds = COALESCE(EXCLUDED.heartbeat_interval_seconds, \
                 projects.heartbeat_interval_seconds), \
             origin = EXCLUDED.origin, \
             updated_at = EXCLUDED.updated_at \
         RETURNING projects.*, (xmax = 0) AS created",
        vec![
            Bind::Time(now.0),
            Bind::Time(now.0),
            Bind::Texts(sorted().map(|r| r.slug.as_str()).collect()),
            Bind::Texts(sorted().map(|r| r.name.as_str()).collect()),
            Bind::Texts(sorted().map(|r| r.hub_url.as_str()).collect()),
            Bind::Texts(sorted().map(|r| r.mesh_namespace.as_str()).collect()),
            Bind::OwnedTexts(sorted().map(|r| r.metadata.to_json_string()).collect()),
            Bind::OptInts(
                sorted()
                    .map(|r| r.heartbeat_interval.map(crate::rows::interval_column))
                    .collect(),
            ),
            Bind::Texts(sorted().map(|r| r.origin.as_str()).collect()),
        ],
    )
}

/// The statements replacing the upserted projects' tags by their registrations' (a
/// project the upsert created has none to delete).
fn registered_tags<'a>(
    upserted: &[Upserted],
    regs: &'a [Registration],
) -> (Option<Prepared<'a>>, Option<Prepared<'a>>) {
    let kept = upserted
        .iter()
        .filter(|u| !u.created)
        .map(|u| u.project.id)
        .collect();
    let tagged = upserted
        .iter()
        .zip(regs)
        .map(|(u, r)| (u.project.id, &r.tags));
    tag_statements(kept, tagged)
}

/// The statements replacing projects' tags: deleting those of the `kept` projects (a
/// project just created has none), inserting the `tagged` ones' in their order.
pub(crate) fn tag_statements<'a>(
    kept: Vec<i64>,
    tagged: impl IntoIterator<Item = (i64, &'a Tags)>,
) -> (Option<Prepared<'a>>, Option<Prepared<'a>>) {
    let delete = (!kept.is_empty()).then(|| {
        Prepared::new(
            "DELETE FROM project_tags WHERE project_id = ANY($?)",
            vec![Bind::BigInts(kept)],
        )
    });
    let (mut tag_ids, mut tags, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    for (id, written) in tagged {
        for (i, tag) in written.iter().enumerate() {
            tag_ids.push(id);
            tags.push(tag.as_str());
            positions.push(i32::try_from(i).unwrap_or(i32::MAX));
        }
    }
    let insert = (!tags.is_empty()).then(|| {
        Prepared::new(
            "INSERT INTO project_tags (project_id, tag, position) \
             SELECT * FROM UNNEST($?::bigint[], $?::text[], $?::int[])",
            vec![
                Bind::BigInts(tag_ids),
                Bind::Texts(tags),
                Bind::Ints(positions),
            ],
        )
    });
    (delete, insert)
}

/// Each registration's project as written, in the registrations' order (the tags are
/// the ones just written; no need to read them back).
fn answers(rows: Vec<UpsertRow>, regs: &[Registration]) -> Result<Vec<Upserted>, StoreError> {
    let mut rows: HashMap<String, UpsertRow> = rows
        .into_iter()
        .map(|r| (r.project.slug.clone(), r))
        .collect();
    regs.iter()
        .map(|reg| {
            let row = rows.remove(reg.slug.as_str()).ok_or_else(not_returned)?;
            let tags: Vec<&str> = reg.tags.iter().map(|t| t.as_str()).collect();
            Ok(Upserted {
                project: row.project.into_project(tags)?,
                created: row.created,
                revision: None,
                written: None,
            })
        })
        .collect()
}
