//! PostgreSQL: the shared reads plus the statements that use PostgreSQL's own SQL: the
//! log's lock (alone, or with a write's first statement pipelined behind it), the
//! log's append with its head and notification, and the batched presence write
//! (`UNNEST`). Registrations: [`crate::pgupsert`]; patches and removals:
//! [`crate::pgwrite`].

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use federation_domain::{
    ListFilter, MaintenanceChange, PresenceRecord, Project, ProjectPage, Slug, Transition,
};

use crate::commits::Logged;
use crate::error::StoreError;
use crate::prepared::{Bind, Prepared};
use crate::reads::read_ops;
use crate::rows::{dedupe_presence, PresenceRow, ProjectRow, TransitionRow};
use crate::schema::DbTime;

read_ops!(AsyncPgConnection, [async], [.await]);
crate::log::log_ops!(AsyncPgConnection, [async], [.await]);

/// An arbitrary, fixed key for the advisory lock every writer of the change log takes
/// first in its transaction: revisions then commit in the order they were drawn, so a
/// follower that read revision N never misses a smaller one committed later.
const LOG_LOCK_KEY: i64 = 0x6665_645f_6c6f_6721; // "fed_log!"

/// Takes the log's advisory lock until the end of the transaction.
const LOCK_SQL: &str = "SELECT pg_advisory_xact_lock($?::bigint)";

/// Takes the log's advisory lock until the end of the transaction. Every writing
/// transaction takes it before touching any row, so locks are always taken in one order.
pub(crate) async fn lock_log(conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
    Prepared::new(LOCK_SQL, vec![Bind::BigInt(LOG_LOCK_KEY)])
        .execute(conn)
        .await?;
    Ok(())
}

/// [`lock_log`], with the transaction's first statement sent right behind it (one
/// round trip: the connection pipelines them). PostgreSQL runs a connection's
/// statements in the order they arrive, so `first` runs holding the lock, on a snapshot
/// taken after it; if the lock fails, `first` fails with it and the transaction rolls
/// back. The lock is sent first: its future is made, and polled, before `first`'s.
pub(crate) async fn locked<'c, T, F>(
    conn: &'c AsyncPgConnection,
    first: impl FnOnce(&'c AsyncPgConnection) -> F,
) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>>,
{
    let lock = Prepared::new(LOCK_SQL, vec![Bind::BigInt(LOG_LOCK_KEY)]).execute(&mut &*conn);
    let lock = async { lock.await.map_err(StoreError::from) };
    let (_, out) = futures::future::try_join(lock, first(conn)).await?;
    Ok(out)
}

/// The log's head as a statement's snapshot sees it (the revision the next change
/// follows), as a `WITH` entry named `head`.
macro_rules! head_cte {
    () => {
        "head AS MATERIALIZED ( \
             SELECT GREATEST(COALESCE((SELECT max(revision) FROM change_log), 0), \
                             (SELECT trimmed_through FROM change_log_state)) AS revision)"
    };
}
pub(crate) use head_cte;

/// What a statement that appended `appended` (with `RETURNING revision`) adds to its
/// `FROM`: one `pg_notify` with the last revision, run once (delivered at commit).
macro_rules! notify_join {
    () => {
        concat!(
            " CROSS JOIN (SELECT pg_notify('",
            crate::log::changes_channel!(),
            "', (SELECT max(revision) FROM appended)::text)) AS woken"
        )
    };
}
pub(crate) use notify_join;

/// Appends changes to the log, in order, reads the head they follow and wakes every
/// follower when the transaction commits (`NOTIFY` with the last revision), all in one
/// statement; `None` for no changes. Run after [`lock_log`], in the same transaction:
/// the statement's snapshot then holds every change committed before this one, so
/// `after` is the revision this write comes right after (see [`crate::commits`]).
pub(crate) async fn log_changes(
    conn: &mut AsyncPgConnection,
    changes: &[crate::log::NewChange<'_>],
) -> Result<Option<Logged>, StoreError> {
    if changes.is_empty() {
        return Ok(None);
    }
    let n = changes.len();
    let (mut kinds, mut slugs, mut ats) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut froms, mut tos, mut reasons, mut beats) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for c in changes {
        kinds.push(c.kind);
        slugs.push(c.slug);
        ats.push(c.at.0);
        froms.push(c.from_status);
        tos.push(c.to_status);
        reasons.push(c.reason);
        beats.push(c.last_heartbeat_at.map(|t| t.0));
    }
    let row: LoggedRow = Prepared::new(
        concat!(
            "WITH ",
            head_cte!(),
            ", appended AS ( \
                 INSERT INTO change_log \
                     (kind, slug, at, from_status, to_status, reason, last_heartbeat_at) \
                 SELECT n.kind, n.slug, n.at, n.from_status, n.to_status, n.reason, \
                     n.last_heartbeat_at \
                 FROM UNNEST($?::text[], $?::text[], $?::timestamptz[], $?::text[], \
                             $?::text[], $?::text[], $?::timestamptz[]) WITH ORDINALITY \
                     AS n(kind, slug, at, from_status, to_status, reason, last_heartbeat_at, ord) \
                 ORDER BY n.ord \
                 RETURNING revision) \
             SELECT (SELECT revision FROM head) AS after, \
                    (SELECT array_agg(revision ORDER BY revision) FROM appended) AS revisions \
             FROM (SELECT 1) AS one",
            notify_join!()
        ),
        vec![
            Bind::Texts(kinds),
            Bind::Texts(slugs),
            Bind::Times(ats),
            Bind::OptTexts(froms),
            Bind::OptTexts(tos),
            Bind::OptTexts(reasons),
            Bind::OptTimes(beats),
        ],
    )
    .get_result(conn)
    .await?;
    if row.revisions.len() != n {
        return Err(StoreError::Corrupt(format!(
            "change_log: {n} changes appended, {} revisions returned",
            row.revisions.len()
        )));
    }
    Ok(Some(Logged {
        after: crate::log::from_db(row.after),
        revisions: row.revisions.into_iter().map(crate::log::from_db).collect(),
    }))
}

#[derive(QueryableByName)]
struct LoggedRow {
    #[diesel(sql_type = BigInt)]
    after: i64,
    #[diesel(sql_type = Array<BigInt>)]
    revisions: Vec<i64>,
}

/// The sweeper lease's row, locked: `FOR UPDATE` to change it, `FOR SHARE` to fence a
/// write on it (a replica taking the lease waits for fenced writes in flight to end).
pub(crate) async fn lease_row(
    conn: &mut AsyncPgConnection,
    for_update: bool,
) -> Result<Option<(String, i64, DbTime)>, StoreError> {
    use crate::schema::leases as l;
    let q = l::table
        .filter(l::name.eq(crate::log::SWEEPER_LEASE))
        .select((l::holder, l::term, l::expires_at));
    let row = if for_update {
        q.for_update().first(conn).await.optional()?
    } else {
        q.for_share().first(conn).await.optional()?
    };
    Ok(row)
}

/// The sweeper lease's row as it is now, without a lock (a fast check before a fenced
/// write does its work; the fence is [`lease_row`] `FOR SHARE` as it commits).
pub(crate) async fn lease_term(
    conn: &mut AsyncPgConnection,
) -> Result<Option<(String, i64, DbTime)>, StoreError> {
    use crate::schema::leases as l;
    Ok(l::table
        .filter(l::name.eq(crate::log::SWEEPER_LEASE))
        .select((l::holder, l::term, l::expires_at))
        .first(conn)
        .await
        .optional()?)
}

/// The slugs among `slugs` that name a project.
pub(crate) async fn existing_slugs(
    conn: &mut AsyncPgConnection,
    slugs: Vec<&str>,
) -> Result<std::collections::HashSet<String>, StoreError> {
    use crate::schema::projects;
    let found: Vec<String> = projects::table
        .filter(projects::slug.eq_any(slugs))
        .select(projects::slug)
        .load(conn)
        .await?;
    Ok(found.into_iter().collect())
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
                 (project_id, slug, from_status, to_status, reason, at, last_heartbeat_at) \
             SELECT p.id, p.slug, t.from_status, t.to_status, t.reason, t.at, t.last_heartbeat_at \
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
