//! PostgreSQL's registration: projects and their tags in one statement, prepared once
//! per connection; for a registration through the API, the log's rows and the
//! notification in the same statement, sent right behind the log's lock.

use std::collections::HashMap;

use diesel::sql_types::{BigInt, Bool};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use federation_domain::{Registration, Upserted};

use crate::commits::Logged;
use crate::error::StoreError;
use crate::prepared::{Bind, Prepared};
use crate::rows::ProjectRow;
use crate::schema::DbTime;

/// The rows: projects by `INSERT … ON CONFLICT` over `UNNEST` arrays (in slug order,
/// so two concurrent batches lock rows in one order and cannot deadlock; `xmax = 0`
/// holds only for a row this statement inserted, which tells an insert from an update
/// without a race), and tags compared, not rewritten: only tags no longer listed are
/// deleted, only new or moved ones written, so registering again with the same tags
/// touches no tag row. Binds: [`upsert_binds`].
macro_rules! upsert_cte {
    () => {
        "WITH up AS ( \
             INSERT INTO projects \
                 (slug, name, hub_url, mesh_namespace, metadata, heartbeat_interval_seconds, \
                  origin, created_at, updated_at) \
             SELECT r.slug, r.name, r.hub_url, r.mesh_namespace, r.metadata::jsonb, r.interval, \
                 r.origin, $?, $? \
             FROM UNNEST($?::text[], $?::text[], $?::text[], $?::text[], $?::text[], \
                         $?::int4[], $?::text[]) WITH ORDINALITY \
                 AS r(slug, name, hub_url, mesh_namespace, metadata, interval, origin, ord) \
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
             RETURNING projects.*, (xmax = 0) AS created), \
         wanted AS ( \
             SELECT up.id AS project_id, w.tag, w.position \
             FROM UNNEST($?::text[], $?::text[], $?::int4[]) AS w(slug, tag, position) \
             JOIN up ON up.slug = w.slug), \
         dropped AS ( \
             DELETE FROM project_tags AS pt USING up \
             WHERE pt.project_id = up.id AND NOT EXISTS ( \
                 SELECT 1 FROM wanted \
                 WHERE wanted.project_id = pt.project_id AND wanted.tag = pt.tag)), \
         written AS ( \
             INSERT INTO project_tags (project_id, tag, position) \
             SELECT project_id, tag, position FROM wanted \
             ON CONFLICT (project_id, tag) DO UPDATE SET position = EXCLUDED.position \
             WHERE project_tags.position <> EXCLUDED.position)"
    };
}

/// The registrations in slug order, or `None` when one slug comes twice (one
/// `INSERT … ON CONFLICT` cannot touch a row twice).
fn in_slug_order(regs: &[Registration]) -> Option<Vec<&Registration>> {
    let mut order: Vec<&Registration> = regs.iter().collect();
    order.sort_by(|a, b| a.slug.cmp(&b.slug));
    let twice = order
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.slug == b.slug));
    (!twice).then_some(order)
}

/// The binds of [`upsert_cte`] for registrations in slug order.
fn upsert_binds<'a>(sorted: &[&'a Registration], now: DbTime) -> Vec<Bind<'a>> {
    let (mut tag_slugs, mut tags, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    for reg in sorted {
        for (i, tag) in reg.tags.iter().enumerate() {
            tag_slugs.push(reg.slug.as_str());
            tags.push(tag.as_str());
            positions.push(i32::try_from(i).unwrap_or(i32::MAX));
        }
    }
    let each = || sorted.iter().copied();
    vec![
        Bind::Time(now.0),
        Bind::Time(now.0),
        Bind::Texts(each().map(|r| r.slug.as_str()).collect()),
        Bind::Texts(each().map(|r| r.name.as_str()).collect()),
        Bind::Texts(each().map(|r| r.hub_url.as_str()).collect()),
        Bind::Texts(each().map(|r| r.mesh_namespace.as_str()).collect()),
        Bind::OwnedTexts(each().map(|r| r.metadata.to_json_string()).collect()),
        Bind::OptInts(
            each()
                .map(|r| r.heartbeat_interval.map(crate::rows::interval_column))
                .collect(),
        ),
        Bind::Texts(each().map(|r| r.origin.as_str()).collect()),
        Bind::Texts(tag_slugs),
        Bind::Texts(tags),
        Bind::Ints(positions),
    ]
}

#[derive(QueryableByName)]
struct UpsertRow {
    #[diesel(embed)]
    project: ProjectRow,
    #[diesel(sql_type = Bool)]
    created: bool,
}

/// The results in the registrations' order, with the tags just written (no need to
/// read them back).
fn in_given_order(
    regs: &[Registration],
    rows: impl IntoIterator<Item = (ProjectRow, bool)>,
) -> Result<Vec<Upserted>, StoreError> {
    let mut rows: HashMap<String, (ProjectRow, bool)> = rows
        .into_iter()
        .map(|(p, created)| (p.slug.clone(), (p, created)))
        .collect();
    regs.iter()
        .map(|reg| {
            let (project, created) = rows.remove(reg.slug.as_str()).ok_or_else(|| {
                StoreError::Corrupt("an upserted project was not returned".into())
            })?;
            let tags: Vec<&str> = reg.tags.iter().map(|t| t.as_str()).collect();
            Ok(Upserted {
                project: project.into_project(tags)?,
                created,
            })
        })
        .collect()
}

/// Inserts or updates registrations with their tags, one statement for all of them
/// (see [`upsert_cte`]). Run inside a transaction that holds the log's lock; the
/// caller appends the changes.
pub(crate) async fn upsert_many(
    conn: &mut AsyncPgConnection,
    regs: &[Registration],
    now: DbTime,
) -> Result<Vec<Upserted>, StoreError> {
    if regs.is_empty() {
        return Ok(Vec::new());
    }
    let Some(sorted) = in_slug_order(regs) else {
        // Apply them one by one.
        let mut out = Vec::with_capacity(regs.len());
        for reg in regs {
            out.extend(Box::pin(upsert_many(conn, std::slice::from_ref(reg), now)).await?);
        }
        return Ok(out);
    };
    let rows: Vec<UpsertRow> = Prepared::new(
        concat!(upsert_cte!(), " SELECT * FROM up"),
        upsert_binds(&sorted, now),
    )
    .load(conn)
    .await?;
    in_given_order(regs, rows.into_iter().map(|r| (r.project, r.created)))
}

#[derive(QueryableByName)]
struct LoggedUpsertRow {
    #[diesel(embed)]
    project: ProjectRow,
    #[diesel(sql_type = Bool)]
    created: bool,
    #[diesel(sql_type = BigInt)]
    revision: i64,
    #[diesel(sql_type = BigInt)]
    after: i64,
}

/// [`upsert_many`] with the change log's rows (`registered` or `updated`, in the
/// registrations' order), the head they follow and the notification, all in the same
/// statement: a registration's whole write. Send it right behind the log's lock
/// (`pg::locked`). `None` when one slug comes twice: use [`upsert_many`].
pub(crate) async fn upsert_logged(
    mut conn: &AsyncPgConnection,
    regs: &[Registration],
    now: DbTime,
) -> Result<Option<(Vec<Upserted>, Logged)>, StoreError> {
    let Some(sorted) = in_slug_order(regs).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    // Each registration's place in the order given, in slug order.
    let index: HashMap<&str, usize> = regs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.slug.as_str(), i))
        .collect();
    let given: Vec<i32> = sorted
        .iter()
        .map(|reg| {
            index
                .get(reg.slug.as_str())
                .and_then(|i| i32::try_from(*i).ok())
                .unwrap_or(i32::MAX)
        })
        .collect();
    let mut binds = upsert_binds(&sorted, now);
    binds.extend([
        Bind::Time(now.0),
        Bind::Texts(sorted.iter().map(|r| r.slug.as_str()).collect()),
        Bind::Ints(given),
    ]);
    let rows: Vec<LoggedUpsertRow> = Prepared::new(
        concat!(
            upsert_cte!(),
            ", ",
            crate::pg::head_cte!(),
            ", appended AS ( \
                 INSERT INTO change_log (kind, slug, at) \
                 SELECT CASE WHEN up.created THEN 'registered' ELSE 'updated' END, up.slug, $? \
                 FROM up JOIN UNNEST($?::text[], $?::int4[]) AS o(slug, given) \
                     ON o.slug = up.slug \
                 ORDER BY o.given \
                 RETURNING revision, slug) \
             SELECT up.*, appended.revision, (SELECT revision FROM head) AS after \
             FROM up JOIN appended ON appended.slug = up.slug",
            crate::pg::notify_join!()
        ),
        binds,
    )
    .load(&mut conn)
    .await?;
    let after = <[LoggedUpsertRow]>::first(&rows)
        .map(|r| crate::log::from_db(r.after))
        .ok_or_else(|| StoreError::Corrupt("an upserted project was not returned".into()))?;
    let mut revisions: Vec<(String, u64)> = rows
        .iter()
        .map(|r| (r.project.slug.clone(), crate::log::from_db(r.revision)))
        .collect();
    revisions.sort_by_key(|(_, revision)| *revision);
    let upserted = in_given_order(regs, rows.into_iter().map(|r| (r.project, r.created)))?;
    // Revisions were drawn in the registrations' order.
    let in_order = upserted
        .iter()
        .zip(&revisions)
        .all(|(u, (slug, _))| u.project.slug.as_str() == slug);
    if !in_order {
        return Err(StoreError::Corrupt(
            "change_log: revisions out of the registrations' order".into(),
        ));
    }
    let logged = Logged {
        after,
        revisions: revisions.into_iter().map(|(_, r)| r).collect(),
    };
    Ok(Some((upserted, logged)))
}
