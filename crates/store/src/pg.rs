//! PostgreSQL: the shared reads plus the statements that use PostgreSQL's own SQL
//! (`xmax`, `UNNEST`).

use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use federation_domain::{
    ListFilter, MaintenanceChange, PresenceRecord, Project, ProjectPage, Slug, Transition,
};

use crate::error::StoreError;
use crate::planned::PlanEachCall;
use crate::prepared::{Bind, Prepared};
use crate::reads::read_ops;
use crate::rows::{PresenceRow, ProjectRow, TransitionRow};
use crate::schema::DbTime;

read_ops!(AsyncPgConnection, [async], [.await]);
crate::log::log_ops!(AsyncPgConnection, [async], [.await]);

/// An arbitrary, fixed key for the advisory lock every writer of the change log takes
/// first in its transaction: revisions then commit in the order they were drawn, so a
/// follower that read revision N never misses a smaller one committed later.
const LOG_LOCK_KEY: i64 = 0x6665_645f_6c6f_6721; // "fed_log!"

/// Takes the log's advisory lock until the end of the transaction. Every writing
/// transaction takes it before touching any row, so locks are always taken in one order.
pub(crate) async fn lock_log(conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
    lock_statement().execute(conn).await?;
    Ok(())
}

/// The statement of [`lock_log`], to send in a pipeline ahead of the statements it
/// guards (the server runs them in order, so they wait for the lock).
pub(crate) fn lock_statement() -> Prepared<'static> {
    Prepared::new(
        "SELECT pg_advisory_xact_lock($?)",
        vec![Bind::BigInt(LOG_LOCK_KEY)],
    )
}

/// Appends changes to the log, in order, and wakes every follower when the transaction
/// commits, in one statement (nothing for none). The wake-up carries the last revision
/// appended, so a follower that has applied it already need not read the log
/// ([`crate::ChangeNotifications::next`]).
pub(crate) async fn log_changes(
    conn: &mut AsyncPgConnection,
    changes: &[crate::log::NewChange<'_>],
) -> Result<(), StoreError> {
    if let Some(append) = append_statement(changes) {
        append.execute(conn).await?;
    }
    Ok(())
}

/// The statement of [`log_changes`] (none for no change).
pub(crate) fn append_statement<'a>(changes: &[crate::log::NewChange<'a>]) -> Option<Prepared<'a>> {
    if changes.is_empty() {
        return None;
    }
    // UNNEST yields the rows in the arrays' order, and each draws its revision as it is
    // inserted: revisions follow the order given.
    Some(Prepared::new(
        concat!(
            "WITH appended AS ( \
                 INSERT INTO change_log \
                     (kind, slug, at, from_status, to_status, reason, last_heartbeat_at) \
                 SELECT * FROM UNNEST($?::text[], $?::text[], $?::timestamptz[], $?::text[], \
                     $?::text[], $?::text[], $?::timestamptz[]) \
                 RETURNING revision) \
             SELECT MIN(revision) AS first_revision, MAX(revision) AS last_revision, \
                 pg_notify('",
            crate::log::changes_channel!(),
            "', MAX(revision)::text) FROM appended"
        ),
        vec![
            Bind::Texts(changes.iter().map(|c| c.kind).collect()),
            Bind::Texts(changes.iter().map(|c| c.slug).collect()),
            Bind::Times(changes.iter().map(|c| c.at.0).collect()),
            Bind::OptTexts(changes.iter().map(|c| c.from_status).collect()),
            Bind::OptTexts(changes.iter().map(|c| c.to_status).collect()),
            Bind::OptTexts(changes.iter().map(|c| c.reason).collect()),
            Bind::OptTimes(
                changes
                    .iter()
                    .map(|c| c.last_heartbeat_at.map(|t| t.0))
                    .collect(),
            ),
        ],
    ))
}

/// The revisions the log's append drew (see [`append_statement`]).
#[derive(diesel::QueryableByName)]
pub(crate) struct Appended {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    first_revision: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    last_revision: Option<i64>,
}

impl Appended {
    /// The first revision, when the append drew exactly `n`, one after another (under
    /// the log's lock, none between); then the `i`th change has the first's + `i`.
    pub(crate) fn first_of(&self, n: usize) -> Option<u64> {
        let (first, last) = (self.first_revision?, self.last_revision?);
        let drawn = usize::try_from(last - first + 1).ok()?;
        (drawn == n).then(|| crate::log::from_db(first))
    }
}

/// The sweeper lease's row, locked: `FOR UPDATE` to change it, `FOR SHARE` to fence a
/// write on it (a replica taking the lease waits for fenced writes in flight to end).
pub(crate) async fn lease_row(
    conn: &mut AsyncPgConnection,
    for_update: bool,
) -> Result<Option<crate::log::LeaseRow>, StoreError> {
    let q = crate::log::lease_query();
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
) -> Result<Option<crate::log::LeaseRow>, StoreError> {
    Ok(crate::log::lease_query().first(conn).await.optional()?)
}

/// Changes after `revision` with the projects as they are now (none unless
/// `with_projects`); `Trimmed` when the log no longer holds all of them. Run in one
/// read transaction. Two round trips: the trim mark and the rows are sent together,
/// then the projects and their tags together (pipelined on the one connection; the
/// server runs them in order); one without the projects.
pub(crate) async fn changes_since(
    conn: &mut AsyncPgConnection,
    revision: u64,
    limit: u32,
    with_projects: bool,
) -> Result<federation_domain::ChangesSince, StoreError> {
    use crate::schema::{change_log as c, change_log_state as st, project_tags, projects};
    let after = crate::log::to_db(revision);
    let shared: &AsyncPgConnection = conn;
    let (mut a, mut b) = (shared, shared);
    let (trimmed, rows) = futures::try_join!(
        st::table.select(st::trimmed_through).first::<i64>(&mut a),
        c::table
            .filter(c::revision.gt(after))
            .order(c::revision.asc())
            .limit(i64::from(limit))
            .load::<crate::log::ChangeRow>(&mut b),
    )?;
    if let Some(answer) = crate::log::answered(after, trimmed, &rows) {
        return Ok(answer);
    }
    if !with_projects {
        return crate::log::changes(rows, Vec::new(), Vec::new());
    }
    let slugs = crate::log::slugs_of(&rows);
    let (project_rows, tags) = futures::try_join!(
        projects::table
            .filter(projects::slug.eq_any(&slugs))
            .select(ProjectRow::as_select())
            .planned_each_call()
            .load::<ProjectRow>(&mut a),
        project_tags::table
            .inner_join(projects::table)
            .filter(projects::slug.eq_any(&slugs))
            .order((project_tags::project_id.asc(), project_tags::position.asc()))
            .select((project_tags::project_id, project_tags::tag))
            .planned_each_call()
            .load::<(i64, String)>(&mut b),
    )?;
    crate::log::changes(rows, project_rows, tags)
}
