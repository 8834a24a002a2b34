//! PostgreSQL: the shared reads plus the statements that use PostgreSQL's own SQL
//! (`xmax`, `UNNEST`).

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use federation_domain::{
    ListFilter, PresenceRecord, Project, ProjectPage, ProjectPatch, Registration, Slug, Tags,
    Transition, Upserted,
};

use crate::error::StoreError;
use crate::reads::read_ops;
use crate::rows::{dedupe_presence, PresenceRow, ProjectRow, TransitionRow};
use crate::schema::{DbTime, UtcTime};

read_ops!(AsyncPgConnection, [async], [.await]);

#[derive(QueryableByName)]
struct UpsertRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Bool)]
    created: bool,
}

/// Inserts or updates one registration. `xmax = 0` holds only for a row this statement
/// inserted, which tells an insert from an update without a race.
pub(crate) async fn upsert(
    conn: &mut AsyncPgConnection,
    reg: &Registration,
    now: DbTime,
) -> Result<Upserted, StoreError> {
    let row: UpsertRow = diesel::sql_query(
        "INSERT INTO projects (slug, name, hub_url, mesh_namespace, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (slug) DO UPDATE SET \
             name = EXCLUDED.name, \
             hub_url = EXCLUDED.hub_url, \
             mesh_namespace = EXCLUDED.mesh_namespace, \
             updated_at = EXCLUDED.updated_at \
         RETURNING id, (xmax = 0) AS created",
    )
    .bind::<Text, _>(reg.slug.as_str())
    .bind::<Text, _>(reg.name.as_str())
    .bind::<Text, _>(reg.hub_url.as_str())
    .bind::<Text, _>(reg.mesh_namespace.as_str())
    .bind::<UtcTime, _>(now)
    .get_result(conn)
    .await?;
    replace_tags(conn, row.id, &reg.tags).await?;
    let project = get(conn, reg.slug.as_str())
        .await?
        .ok_or_else(|| StoreError::Corrupt("an upserted project vanished".into()))?;
    Ok(Upserted {
        project,
        created: row.created,
    })
}

/// Writes a batch of presence updates with one `UPDATE … FROM UNNEST(…)` and appends the
/// transitions with one `INSERT … SELECT … FROM UNNEST(…)`. Run inside a transaction.
pub(crate) async fn write_presence(
    conn: &mut AsyncPgConnection,
    updates: &[PresenceRecord],
    transitions: &[Transition],
) -> Result<(), StoreError> {
    let updates = dedupe_presence(updates);
    if !updates.is_empty() {
        let mut slugs = Vec::with_capacity(updates.len());
        let mut statuses = Vec::with_capacity(updates.len());
        let mut reasons = Vec::with_capacity(updates.len());
        let mut versions = Vec::with_capacity(updates.len());
        let mut beats = Vec::with_capacity(updates.len());
        for u in &updates {
            slugs.push(u.slug);
            statuses.push(u.status);
            reasons.push(u.status_reason);
            versions.push(u.version);
            beats.push(u.last_heartbeat_at);
        }
        // Rows whose values would not change are left alone (no dead tuples for them).
        diesel::sql_query(
            "UPDATE projects AS p SET \
                 status = u.status, \
                 status_reason = u.status_reason, \
                 version = u.version, \
                 last_heartbeat_at = GREATEST(p.last_heartbeat_at, u.last_heartbeat_at) \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
                 AS u(slug, status, status_reason, version, last_heartbeat_at) \
             WHERE p.slug = u.slug AND ( \
                 p.status IS DISTINCT FROM u.status \
                 OR p.status_reason IS DISTINCT FROM u.status_reason \
                 OR p.version IS DISTINCT FROM u.version \
                 OR u.last_heartbeat_at > p.last_heartbeat_at \
                 OR (p.last_heartbeat_at IS NULL AND u.last_heartbeat_at IS NOT NULL))",
        )
        .bind::<Array<Text>, _>(slugs)
        .bind::<Array<Text>, _>(statuses)
        .bind::<Array<Nullable<Text>>, _>(reasons)
        .bind::<Array<Nullable<Text>>, _>(versions)
        .bind::<Array<Nullable<Timestamptz>>, _>(beats)
        .execute(conn)
        .await?;
    }
    if !transitions.is_empty() {
        let n = transitions.len();
        let mut slugs = Vec::with_capacity(n);
        let mut froms = Vec::with_capacity(n);
        let mut tos = Vec::with_capacity(n);
        let mut reasons = Vec::with_capacity(n);
        let mut ats: Vec<DateTime<Utc>> = Vec::with_capacity(n);
        let mut beats: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
        for t in transitions {
            slugs.push(t.slug.as_str());
            froms.push(t.from.as_str());
            tos.push(t.to.as_str());
            reasons.push(t.reason.as_deref());
            ats.push(t.at.trunc_subsecs(6));
            beats.push(t.last_heartbeat_at.map(|b| b.trunc_subsecs(6)));
        }
        // WITH ORDINALITY + ORDER BY: ids follow the batch order, so equal times read
        // back newest (last written) first.
        diesel::sql_query(
            "INSERT INTO status_transitions \
                 (project_id, from_status, to_status, reason, at, last_heartbeat_at) \
             SELECT p.id, t.from_status, t.to_status, t.reason, t.at, t.last_heartbeat_at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
                         $5::timestamptz[], $6::timestamptz[]) WITH ORDINALITY \
                 AS t(slug, from_status, to_status, reason, at, last_heartbeat_at, ord) \
             JOIN projects p ON p.slug = t.slug \
             ORDER BY t.ord",
        )
        .bind::<Array<Text>, _>(slugs)
        .bind::<Array<Text>, _>(froms)
        .bind::<Array<Text>, _>(tos)
        .bind::<Array<Nullable<Text>>, _>(reasons)
        .bind::<Array<Timestamptz>, _>(ats)
        .bind::<Array<Nullable<Timestamptz>>, _>(beats)
        .execute(conn)
        .await?;
    }
    Ok(())
}
