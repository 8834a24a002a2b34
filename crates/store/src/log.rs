//! The change log, the sweeper lease and the outbox cursor, written once for both
//! backends (expanded like [`crate::reads`]: `[async] [.await]` or `[] []`).
//!
//! Every function runs inside the caller's transaction. PostgreSQL callers take the
//! log's advisory lock before appending (so revisions commit in order), and the append
//! notifies listeners ([`crate::pg::log_changes`]); SQLite has one writer at a time
//! anyway.

use chrono::{DateTime, Utc};
use federation_domain::{ChangeKind, Status, Transition};

use crate::schema::DbTime;

/// The one lease: the sweeper's.
pub(crate) const SWEEPER_LEASE: &str = "sweeper";

/// The sweeper lease's holder, term and expiry.
pub(crate) type LeaseRow = (String, i64, DbTime);

/// The query of [`lease_query`].
type LeaseQuery = diesel::dsl::Select<
    diesel::dsl::Filter<
        crate::schema::leases::table,
        diesel::dsl::Eq<crate::schema::leases::name, &'static str>,
    >,
    LeaseColumns,
>;

/// The columns of a [`LeaseRow`].
type LeaseColumns = (
    crate::schema::leases::holder,
    crate::schema::leases::term,
    crate::schema::leases::expires_at,
);

/// The query of the sweeper lease's row (its holder, term and expiry), on either
/// backend.
pub(crate) fn lease_query() -> LeaseQuery {
    use crate::schema::leases as l;
    use diesel::prelude::{ExpressionMethods, QueryDsl};
    l::table
        .filter(l::name.eq(SWEEPER_LEASE))
        .select((l::holder, l::term, l::expires_at))
}

/// Projects read per page of a snapshot: the rows and tags held at once.
pub const SNAPSHOT_PAGE: i64 = 10_000;

/// The text of [`CHANGES_CHANNEL`], for statements built with `concat!`.
macro_rules! changes_channel {
    () => {
        "federation_changes"
    };
}
pub(crate) use changes_channel;

/// The channel `NOTIFY` wakes followers on (PostgreSQL).
pub const CHANGES_CHANNEL: &str = changes_channel!();

/// One change to append.
#[derive(Debug, Clone)]
pub(crate) struct NewChange<'a> {
    pub kind: &'static str,
    pub slug: &'a str,
    pub at: DbTime,
    pub from_status: Option<&'static str>,
    pub to_status: Option<&'static str>,
    pub reason: Option<&'a str>,
    pub last_heartbeat_at: Option<DbTime>,
}

impl<'a> NewChange<'a> {
    /// The removal of `slug`, with why (`deleted`, `expired`).
    pub fn removal(slug: &'a str, why: &'a str, at: DbTime) -> Self {
        Self {
            reason: Some(why),
            ..Self::catalog("deleted", slug, at)
        }
    }

    /// A project's registration: `registered` when it was created, `updated` otherwise.
    pub fn registration(slug: &'a str, created: bool, at: DbTime) -> Self {
        Self::catalog(ChangeKind::registration(created).as_str(), slug, at)
    }

    /// A catalog change (registered, updated, deleted) of `slug`.
    pub fn catalog(kind: &'static str, slug: &'a str, at: DbTime) -> Self {
        Self {
            kind,
            slug,
            at,
            from_status: None,
            to_status: None,
            reason: None,
            last_heartbeat_at: None,
        }
    }

    /// A start (`flapping`) or end (`stable`) of flapping.
    pub fn flap(mark: &'a federation_domain::FlapMark) -> Self {
        use chrono::SubsecRound;
        let kind = if mark.flapping { "flapping" } else { "stable" };
        Self::catalog(kind, mark.slug.as_str(), DbTime(mark.at.trunc_subsecs(6)))
    }

    /// A status transition.
    pub fn transition(t: &'a Transition) -> Self {
        use chrono::SubsecRound;
        Self {
            kind: "transition",
            slug: t.slug.as_str(),
            at: DbTime(t.at.trunc_subsecs(6)),
            from_status: Some(t.from.as_str()),
            to_status: Some(t.to.as_str()),
            reason: t.reason.as_deref(),
            last_heartbeat_at: t.last_heartbeat_at.map(|b| DbTime(b.trunc_subsecs(6))),
        }
    }
}

/// One `change_log` row as read.
#[derive(Debug, diesel::Queryable)]
pub(crate) struct ChangeRow {
    pub revision: i64,
    pub kind: String,
    pub slug: String,
    pub at: DbTime,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub reason: Option<String>,
    pub last_heartbeat_at: Option<DbTime>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> crate::StoreError {
    crate::StoreError::Corrupt(format!("change_log {what}: {e}"))
}

impl ChangeRow {
    /// The domain's change kind (the transition's slug is the row's).
    pub fn kind(&self, slug: &federation_domain::Slug) -> Result<ChangeKind, crate::StoreError> {
        Ok(match self.kind.as_str() {
            "registered" => ChangeKind::Registered,
            "updated" => ChangeKind::Updated,
            "deleted" => ChangeKind::Deleted {
                reason: self.reason.clone(),
            },
            "flapping" => ChangeKind::Flapping,
            "stable" => ChangeKind::Stable,
            "transition" => {
                let status = |s: &Option<String>| {
                    Status::parse(s.as_deref().unwrap_or_default())
                        .map_err(|e| corrupt("status", e))
                };
                ChangeKind::Transition(Transition {
                    slug: slug.clone(),
                    from: status(&self.from_status)?,
                    to: status(&self.to_status)?,
                    reason: self.reason.clone(),
                    at: self.at.0,
                    last_heartbeat_at: self.last_heartbeat_at.map(|t| t.0),
                })
            }
            other => return Err(corrupt("kind", other)),
        })
    }
}

/// A revision as stored (the column is signed).
pub(crate) fn to_db(revision: u64) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

/// A stored revision (never negative).
pub(crate) fn from_db(revision: i64) -> u64 {
    u64::try_from(revision).unwrap_or(0)
}

/// When a lease taken or renewed now ends.
pub(crate) fn lease_end(now: DateTime<Utc>, ttl: std::time::Duration) -> DbTime {
    let ttl = chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::MAX);
    DbTime(
        now.checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

/// A read of the log after `after` (rows in revision order, the log trimmed through
/// `trimmed`), before its projects are read: the answer already when the log no longer
/// holds every change after `after` or holds none.
pub(crate) fn answered(
    after: i64,
    trimmed: i64,
    rows: &[ChangeRow],
) -> Option<federation_domain::ChangesSince> {
    use federation_domain::ChangesSince;
    if after < trimmed {
        return Some(ChangesSince::Trimmed);
    }
    rows.is_empty().then(|| ChangesSince::Changes(Vec::new()))
}

/// The slugs whose projects to read for `rows`, each once.
pub(crate) fn slugs_of(rows: &[ChangeRow]) -> Vec<&str> {
    let mut slugs: Vec<&str> = rows.iter().map(|r| r.slug.as_str()).collect();
    slugs.sort_unstable();
    slugs.dedup();
    slugs
}

/// The changes of `rows`, each with its project as `project_rows` and `tags` hold it
/// (read in the same snapshot as the rows).
pub(crate) fn changes(
    rows: Vec<ChangeRow>,
    project_rows: Vec<crate::rows::ProjectRow>,
    tags: Vec<(i64, String)>,
) -> Result<federation_domain::ChangesSince, crate::StoreError> {
    use federation_domain::{Change, ChangesSince, Project};
    let mut current: std::collections::HashMap<String, Project> =
        crate::rows::assemble(project_rows, tags)?
            .into_iter()
            .map(|p| (p.slug.to_string(), p))
            .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let slug = federation_domain::Slug::parse(&row.slug)
            .map_err(|e| crate::StoreError::Corrupt(format!("change_log slug: {e}")))?;
        out.push(Change {
            revision: from_db(row.revision),
            kind: row.kind(&slug)?,
            at: row.at.0,
            project: current.get(slug.as_str()).cloned(),
            slug,
        });
    }
    // Each project is cloned per change; drop the map's copies now.
    current.clear();
    Ok(ChangesSince::Changes(out))
}

/// Expands the change-log operations for one connection type. See the module docs.
macro_rules! log_ops {
    ($conn:ty, [$($async_kw:tt)*], [$($aw:tt)*]) => {
        /// Records starts and ends of flapping on the projects (`flapping_since`) and
        /// returns the changes to append: one per mark that changed its project (a
        /// start for a project already flapping, or an end for one that is not, or an
        /// unknown slug, changes nothing). Fence first.
        pub(crate) $($async_kw)* fn mark_flapping<'m>(
            conn: &mut $conn,
            marks: &'m [federation_domain::FlapMark],
        ) -> Result<Vec<crate::log::NewChange<'m>>, StoreError> {
            use crate::schema::projects as p;
            use chrono::SubsecRound;
            let mut changes = Vec::new();
            for mark in marks {
                let row = p::table.filter(p::slug.eq(mark.slug.as_str()));
                let n = if mark.flapping {
                    diesel::update(row.filter(p::flapping_since.is_null()))
                        .set(p::flapping_since.eq(Some(DbTime(mark.at.trunc_subsecs(6)))))
                        .execute(conn)$($aw)*?
                } else {
                    diesel::update(row.filter(p::flapping_since.is_not_null()))
                        .set(p::flapping_since.eq(None::<DbTime>))
                        .execute(conn)$($aw)*?
                };
                if n > 0 {
                    changes.push(crate::log::NewChange::flap(mark));
                }
            }
            Ok(changes)
        }

        /// The last revision appended (0 for an empty log).
        pub(crate) $($async_kw)* fn head(conn: &mut $conn) -> Result<u64, StoreError> {
            use crate::schema::{change_log as c, change_log_state as st};
            let max: Option<i64> = c::table
                .select(diesel::dsl::max(c::revision))
                .first(conn)$($aw)*?;
            let trimmed: i64 = st::table.select(st::trimmed_through).first(conn)$($aw)*?;
            Ok(crate::log::from_db(max.unwrap_or(0).max(trimmed)))
        }

        /// Every project (in no particular order) and the revision they reflect. Run in
        /// one read transaction. Read in pages of [`crate::log::SNAPSHOT_PAGE`] by id,
        /// each with its tags as one range of their key, and assembled before the next
        /// is read: the rows and tags of a million projects are never held beside the
        /// projects made from them.
        pub(crate) $($async_kw)* fn snapshot(
            conn: &mut $conn,
        ) -> Result<federation_domain::Snapshot, StoreError> {
            use crate::schema::projects;
            let revision = head(conn)$($aw)*?;
            let count: i64 = projects::table.count().get_result(conn)$($aw)*?;
            let mut all = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
            let mut after = i64::MIN;
            loop {
                let rows: Vec<ProjectRow> = projects::table
                    .filter(projects::id.gt(after))
                    .order(projects::id.asc())
                    .limit(crate::log::SNAPSHOT_PAGE)
                    .select(ProjectRow::as_select())
                    .load(conn)$($aw)*?;
                let Some(last) = rows.last().map(|r| r.id) else {
                    break;
                };
                let last_page =
                    i64::try_from(rows.len()).unwrap_or(i64::MAX) < crate::log::SNAPSHOT_PAGE;
                let tags = tags_in_range(conn, after, last)$($aw)*?;
                after = last;
                all.extend(crate::rows::assemble(rows, tags)?.into_iter().map(Box::new));
                if last_page {
                    break;
                }
            }
            Ok(federation_domain::Snapshot {
                revision,
                projects: all,
            })
        }

        /// The outbox cursor.
        pub(crate) $($async_kw)* fn published_through(conn: &mut $conn) -> Result<u64, StoreError> {
            use crate::schema::change_log_state as st;
            let p: i64 = st::table.select(st::published_through).first(conn)$($aw)*?;
            Ok(crate::log::from_db(p))
        }

        /// Moves the outbox cursor forward (never back). Fence first.
        pub(crate) $($async_kw)* fn set_published(
            conn: &mut $conn,
            revision: u64,
        ) -> Result<(), StoreError> {
            use crate::schema::change_log_state as st;
            let revision = crate::log::to_db(revision);
            diesel::update(st::table.filter(st::published_through.lt(revision)))
                .set(st::published_through.eq(revision))
                .execute(conn)$($aw)*?;
            Ok(())
        }

        /// Deletes old changes (see `ChangeLog::trim`). Returns how many went.
        pub(crate) $($async_kw)* fn trim(
            conn: &mut $conn,
            before: DbTime,
            keep: u64,
        ) -> Result<u64, StoreError> {
            use crate::schema::{change_log as c, change_log_state as st};
            let max: Option<i64> = c::table
                .select(diesel::dsl::max(c::revision))
                .first(conn)$($aw)*?;
            let Some(max) = max else { return Ok(0) };
            let old: Option<i64> = c::table
                .filter(c::at.lt(before))
                .select(diesel::dsl::max(c::revision))
                .first(conn)$($aw)*?;
            let beyond_keep = max.saturating_sub(crate::log::to_db(keep));
            let published: i64 = st::table.select(st::published_through).first(conn)$($aw)*?;
            // The newest row stays (it carries the head), and so does every change whose
            // event is still to be published.
            let cutoff = old.unwrap_or(0).max(beyond_keep).min(max - 1).min(published);
            if cutoff <= 0 {
                return Ok(0);
            }
            let n = diesel::delete(c::table.filter(c::revision.le(cutoff)))
                .execute(conn)$($aw)*?;
            diesel::update(st::table.filter(st::trimmed_through.lt(cutoff)))
                .set(st::trimmed_through.eq(cutoff))
                .execute(conn)$($aw)*?;
            Ok(n as u64)
        }

        /// The history's retention (see `ProjectRepository::trim_history`).
        pub(crate) $($async_kw)* fn trim_history(
            conn: &mut $conn,
            before: DbTime,
            per_project: u32,
        ) -> Result<u64, StoreError> {
            use crate::schema::status_transitions as t;
            use diesel::dsl::count_star;
            use diesel::{BoolExpressionMethods as _, OptionalExtension as _};
            let mut gone = diesel::delete(t::table.filter(t::at.lt(before)))
                .execute(conn)$($aw)*? as u64;
            let keep = i64::from(per_project);
            // Per project = per slug: a removed project's history stays, with no project.
            let crowded: Vec<String> = t::table
                .group_by(t::slug)
                .having(count_star().gt(keep))
                .select(t::slug)
                .load(conn)$($aw)*?;
            for slug in crowded {
                // The newest `keep` stay: everything at or before the next one in
                // (at, id) order goes.
                let cut: Option<(DbTime, i64)> = t::table
                    .filter(t::slug.eq(&slug))
                    .order((t::at.desc(), t::id.desc()))
                    .offset(keep)
                    .select((t::at, t::id))
                    .first(conn)$($aw)*
                    .optional()?;
                let Some((at, id)) = cut else { continue };
                gone += diesel::delete(
                    t::table
                        .filter(t::slug.eq(&slug))
                        .filter(t::at.lt(at).or(t::at.eq(at).and(t::id.le(id)))),
                )
                .execute(conn)$($aw)*? as u64;
            }
            Ok(gone)
        }

        /// Takes, renews or refuses the sweeper lease (see `Lease::acquire`). The lease
        /// row must be locked by the caller's transaction where the backend allows it.
        pub(crate) $($async_kw)* fn acquire(
            conn: &mut $conn,
            current: Option<crate::log::LeaseRow>,
            holder: &str,
            now: chrono::DateTime<chrono::Utc>,
            ttl: std::time::Duration,
        ) -> Result<Option<federation_domain::Term>, StoreError> {
            use crate::schema::leases as l;
            let until = crate::log::lease_end(now, ttl);
            let term = match current {
                None => {
                    let n = diesel::insert_into(l::table)
                        .values((
                            l::name.eq(crate::log::SWEEPER_LEASE),
                            l::holder.eq(holder),
                            l::term.eq(1i64),
                            l::expires_at.eq(until),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)$($aw)*?;
                    if n == 0 {
                        return Ok(None);
                    }
                    1
                }
                Some((held_by, term, _)) if held_by == holder => {
                    diesel::update(l::table.filter(l::name.eq(crate::log::SWEEPER_LEASE)))
                        .set(l::expires_at.eq(until))
                        .execute(conn)$($aw)*?;
                    term
                }
                Some((_, term, expires)) if expires.0 <= now => {
                    diesel::update(l::table.filter(l::name.eq(crate::log::SWEEPER_LEASE)))
                        .set((l::holder.eq(holder), l::term.eq(term + 1), l::expires_at.eq(until)))
                        .execute(conn)$($aw)*?;
                    term + 1
                }
                Some(_) => return Ok(None),
            };
            Ok(Some(federation_domain::Term(crate::log::from_db(term))))
        }

        /// Ends `holder`'s lease now (its term stays, so the next holder's is newer).
        pub(crate) $($async_kw)* fn release(
            conn: &mut $conn,
            holder: &str,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), StoreError> {
            use crate::schema::leases as l;
            diesel::update(
                l::table
                    .filter(l::name.eq(crate::log::SWEEPER_LEASE))
                    .filter(l::holder.eq(holder)),
            )
            .set(l::expires_at.eq(DbTime(now)))
            .execute(conn)$($aw)*?;
            Ok(())
        }

        /// Refuses (`StoreError::Fenced`) unless `term` is the lease's current term.
        pub(crate) fn check_term(
            current: Option<crate::log::LeaseRow>,
            term: federation_domain::Term,
        ) -> Result<(), StoreError> {
            match current {
                Some((_, t, _)) if crate::log::from_db(t) == term.0 => Ok(()),
                Some((holder, t, _)) => Err(StoreError::Fenced(format!(
                    "the sweeper lease is in term {t} (held by {holder}); this write carried term {term}"
                ))),
                None => Err(StoreError::Fenced(format!(
                    "no sweeper lease is held; this write carried term {term}"
                ))),
            }
        }
    };
}

pub(crate) use log_ops;
