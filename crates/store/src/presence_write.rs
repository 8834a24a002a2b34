//! The leader's presence write on PostgreSQL, in two round trips.
//!
//! Under a storm (a fleet's first beats) the leader writes part after part while the
//! heartbeats themselves keep the machine busy, and every round trip waits for the
//! service and the server to be scheduled again: the statements go in two pipelines
//! (the server runs each in order) instead of one trip each.
//!
//! 1. The log's lock, the lease's term (a stale term fails before any write) and the
//!    stored statuses of the projects with steps, read under the lock, so the steps
//!    chain onto them ([`federation_domain::chain_onto`]).
//! 2. The rows' liveness, the history, the log's rows, and the lease's row `FOR SHARE`
//!    last: the fence, taken once the writes are done, as the commit follows.

use std::collections::HashMap;

use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use federation_domain::{PresenceRecord, Status, Term, Transition};

use crate::backend::transition_changes;
use crate::error::StoreError;
use crate::log::{lease_query, LeaseRow};
use crate::pg::{append_statement, check_term, lock_statement, Appended};
use crate::planned::PlanEachCall;
use crate::prepared::{Bind, Prepared};
use crate::rows::dedupe_presence;
use crate::upsert::run;

/// Takes the log's lock, checks `term` and chains the steps onto the stored statuses;
/// the steps to write (only projects that exist, times in microseconds). One round trip.
pub(crate) async fn lock_and_chain(
    conn: &mut AsyncPgConnection,
    transitions: &[Transition],
    term: Term,
) -> Result<Vec<Transition>, StoreError> {
    use crate::schema::projects;
    let shared: &AsyncPgConnection = conn;
    let (mut a, mut b, mut c) = (shared, shared, shared);
    let slugs: Vec<&str> = transitions.iter().map(|t| t.slug.as_str()).collect();
    let statuses = async {
        if slugs.is_empty() {
            return Ok::<_, diesel::result::Error>(Vec::new());
        }
        projects::table
            .filter(projects::slug.eq_any(&slugs))
            .select((projects::slug, projects::status))
            .planned_each_call()
            .load::<(String, String)>(&mut c)
            .await
    };
    let (_, lease, found) = futures::try_join!(
        async { Ok::<_, StoreError>(lock_statement().execute(&mut a).await?) },
        async { Ok(lease_query().first::<LeaseRow>(&mut b).await.optional()?) },
        async { Ok(statuses.await?) },
    )?;
    check_term(lease, term)?;
    if transitions.is_empty() {
        return Ok(Vec::new());
    }
    let mut stored: HashMap<String, Status> = crate::rows::statuses(found)?;
    Ok(federation_domain::chain_onto(transitions, &mut stored))
}

/// Writes the liveness rows, the steps' history and their log rows, then takes the
/// lease's row `FOR SHARE` and checks `term` (the fence). One round trip; run after
/// [`lock_and_chain`], with its steps, in its transaction. Returns the first step's
/// revision when the log numbered them all in one run (see [`Appended::first_of`]).
pub(crate) async fn write(
    conn: &mut AsyncPgConnection,
    updates: &[PresenceRecord],
    transitions: &[Transition],
    term: Term,
) -> Result<Option<u64>, StoreError> {
    let changes = transition_changes(transitions);
    let shared: &AsyncPgConnection = conn;
    let (mut a, mut b, mut c, mut d) = (shared, shared, shared, shared);
    let (_, _, appended, lease) = futures::try_join!(
        run(liveness_statement(updates), &mut a),
        run(history_statement(transitions), &mut b),
        async {
            match append_statement(&changes) {
                Some(append) => Ok(Some(append.get_result::<Appended>(&mut c).await?)),
                None => Ok::<_, StoreError>(None),
            }
        },
        async {
            let row = lease_query().for_share().first::<LeaseRow>(&mut d).await;
            Ok::<_, StoreError>(row.optional()?)
        },
    )?;
    check_term(lease, term)?;
    Ok(appended.and_then(|a| a.first_of(changes.len())))
}

/// One `UPDATE … FROM UNNEST(…)` for a batch of liveness rows (none for none). Rows
/// whose values would not change are left alone (no dead tuples for them).
fn liveness_statement(updates: &[PresenceRecord]) -> Option<Prepared<'_>> {
    let updates = dedupe_presence(updates);
    if updates.is_empty() {
        return None;
    }
    Some(Prepared::new(
        "UPDATE projects AS p SET \
             status = u.status, \
             status_reason = u.status_reason, \
             version = u.version, \
             last_heartbeat_at = GREATEST(p.last_heartbeat_at, u.last_heartbeat_at) \
         FROM UNNEST($?::text[], $?::text[], $?::text[], $?::text[], $?::timestamptz[]) \
             AS u(slug, status, status_reason, version, last_heartbeat_at) \
         WHERE p.slug = u.slug AND ( \
             p.status IS DISTINCT FROM u.status \
             OR p.status_reason IS DISTINCT FROM u.status_reason \
             OR p.version IS DISTINCT FROM u.version \
             OR u.last_heartbeat_at > p.last_heartbeat_at \
             OR (p.last_heartbeat_at IS NULL AND u.last_heartbeat_at IS NOT NULL))",
        vec![
            Bind::Texts(updates.iter().map(|u| u.slug).collect()),
            Bind::Texts(updates.iter().map(|u| u.status).collect()),
            Bind::OptTexts(updates.iter().map(|u| u.status_reason).collect()),
            Bind::OptTexts(updates.iter().map(|u| u.version).collect()),
            Bind::OptTimes(updates.iter().map(|u| u.last_heartbeat_at).collect()),
        ],
    ))
}

/// One `INSERT … SELECT … FROM UNNEST(…)` of the steps (as [`lock_and_chain`] gives
/// them) into the history (none for none). WITH ORDINALITY + ORDER BY: ids follow the
/// batch order, so equal times read back newest (last written) first.
fn history_statement(transitions: &[Transition]) -> Option<Prepared<'_>> {
    if transitions.is_empty() {
        return None;
    }
    Some(Prepared::new(
        "INSERT INTO status_transitions \
             (project_id, slug, from_status, to_status, reason, at, last_heartbeat_at) \
         SELECT p.id, p.slug, t.from_status, t.to_status, t.reason, t.at, t.last_heartbeat_at \
         FROM UNNEST($?::text[], $?::text[], $?::text[], $?::text[], \
                     $?::timestamptz[], $?::timestamptz[]) WITH ORDINALITY \
             AS t(slug, from_status, to_status, reason, at, last_heartbeat_at, ord) \
         JOIN projects p ON p.slug = t.slug \
         ORDER BY t.ord",
        vec![
            Bind::Texts(transitions.iter().map(|t| t.slug.as_str()).collect()),
            Bind::Texts(transitions.iter().map(|t| t.from.as_str()).collect()),
            Bind::Texts(transitions.iter().map(|t| t.to.as_str()).collect()),
            Bind::OptTexts(transitions.iter().map(|t| t.reason.as_deref()).collect()),
            Bind::Times(transitions.iter().map(|t| t.at).collect()),
            Bind::OptTimes(transitions.iter().map(|t| t.last_heartbeat_at).collect()),
        ],
    ))
}
