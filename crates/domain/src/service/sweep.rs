//! The sweep: each tick applies the clock, and the leader writes the batch, publishes
//! the events, ends due maintenance windows and removes expired projects.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::error::RepositoryError;
use crate::model::{reason, MaintenanceChange, PresenceRecord, Slug, Status, Transition};
use crate::ports::{ProjectRepository, StatusEvents};
use crate::presence::{Flush, MassExpiry};
use crate::replication::{ChangeKind, ChangesSince, Role, Term};
use crate::stats::TransitionCounters;

use super::state::{State, LOG_BATCH};

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Transitions stored (and then published).
    pub transitions: usize,
    /// Liveness rows written.
    pub updates: usize,
    /// Transitions stored whose event is still to be published (the bus refused it;
    /// it is retried, in order, on the next tick).
    pub unpublished: usize,
    /// Set when this tick's sweep was a mass expiry.
    pub mass_expiry: Option<MassExpiry>,
    /// This replica does not hold the sweeper lease: it wrote nothing.
    pub follower: bool,
    /// Projects removed for being offline longer than `deregister_after`.
    pub expired: usize,
}

/// A tick whose batch the store refused; the batch was put back for the next tick.
#[derive(Debug, Error)]
#[error(
    "presence batch of {transitions} transitions and {updates} updates kept for retry: {source}"
)]
pub struct FlushFailed {
    /// Transitions in the batch.
    pub transitions: usize,
    /// Liveness rows in the batch.
    pub updates: usize,
    #[source]
    /// Why the store refused it.
    pub source: RepositoryError,
}

/// The most rows (transitions, or updates) one store transaction of a tick writes: a
/// backlog (after an outage, or the first beat of a large fleet) goes in parts, so no
/// transaction holds the change log's lock for long.
const FLUSH_PART: usize = 2_000;
/// The most parts one tick writes; a larger backlog waits for the next ticks, so a tick
/// (and the lease renewal of the round it is in) never takes long.
const FLUSH_PARTS_PER_TICK: usize = 3;
/// The most heartbeat times one hold of the registry's lock applies (about a
/// millisecond's work).
const LIVENESS_PART: usize = 2_000;
/// The most status events one tick publishes; the rest follow in the next ticks.
const PUBLISH_PER_TICK: usize = 10_000;
/// How long an early round goes on taking what heartbeats changed while it writes (a
/// part at a time, each written while the one before is announced), so
/// a storm (a fleet coming up) flows through one round without a pause between rounds
/// for the last part's events; then the round ends and a due tick gets its turn.
pub(super) const EARLY_ROUND_TAKES_FOR: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// Whether the outbox publishes this change (transitions, starts and ends of flapping).
fn published_kind(change: &crate::replication::Change) -> bool {
    matches!(
        change.kind,
        ChangeKind::Transition(_) | ChangeKind::Flapping | ChangeKind::Stable
    )
}

/// A batch's parts of at most [`FLUSH_PART`] rows, the ones with transitions first.
fn parts_of(flush: Flush) -> std::collections::VecDeque<Flush> {
    flush
        .split(FLUSH_PART)
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect()
}

/// How a round ends early: as a follower (fenced), or with the batch kept for retry.
enum Stop {
    Fenced,
    Failed(FlushFailed),
}

impl Stop {
    fn into_result(self) -> Result<TickReport, FlushFailed> {
        match self {
            Stop::Fenced => Ok(TickReport {
                follower: true,
                ..TickReport::default()
            }),
            Stop::Failed(e) => Err(e),
        }
    }
}

/// The sweep: the tick, the leader's writes, its outbox, due windows and expiry.
pub(super) struct Sweep {
    state: Arc<State>,
    /// Where batches, window ends and removals are written.
    repo: Arc<dyn ProjectRepository>,
    /// Where transitions are announced.
    events: Arc<dyn StatusEvents>,
    transitions: TransitionCounters,
    /// Projects this replica removed by expiry.
    expired: std::sync::atomic::AtomicU64,
}

/// The reason recorded for a status this replica's table holds but the log does not.
fn reconciled_reason(record: &PresenceRecord) -> String {
    match (&record.status_reason, record.status) {
        (Some(r), _) => r.clone(),
        (None, Status::Online) => reason::HEARTBEAT.to_owned(),
        (None, Status::Degraded) => reason::HEARTBEAT_LATE.to_owned(),
        (None, Status::Offline) => reason::HEARTBEAT_TIMEOUT.to_owned(),
    }
}

impl Sweep {
    pub(super) fn new(
        state: Arc<State>,
        repo: Arc<dyn ProjectRepository>,
        events: Arc<dyn StatusEvents>,
    ) -> Self {
        Self {
            state,
            repo,
            events,
            transitions: TransitionCounters::default(),
            expired: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A tick (`early` false): the clock applied to every project, then the batch
    /// written. An early round (`early` true): only the statuses heartbeats changed
    /// since the last one, written at once; no sweep, no maintenance ends, no expiry.
    pub(super) async fn tick(&self, early: bool) -> Result<TickReport, FlushFailed> {
        let now = self.state.clock.now();
        if !early && matches!(self.state.role(), Role::Leader(_)) {
            // Before the sweep, so the history reads "window closed", then what follows.
            self.end_due_maintenance(now).await;
        }
        let (mut flush, heard) = {
            let mut presence = self.state.presence();
            let flush = if early {
                presence.take_changed(FLUSH_PART * FLUSH_PARTS_PER_TICK)
            } else {
                presence.tick_at_most(now, FLUSH_PART * FLUSH_PARTS_PER_TICK)
            };
            (flush, presence.take_heard())
        };
        // In parts, the registry's lock taken for each: a million projects beating every
        // 30 s are 33,000 a tick, and reads wait while it is held.
        for part in heard.chunks(LIVENESS_PART) {
            self.state.registry_mut().apply_liveness(part);
        }
        let (role, reconcile) = {
            let l = self.state.leadership();
            (l.role, l.reconcile)
        };
        let Role::Leader(term) = role else {
            // Kept until the log confirms them: a promotion writes them with their times.
            let transitions = std::mem::take(&mut flush.transitions);
            if !transitions.is_empty() {
                let registry = self.state.registry();
                self.state
                    .unconfirmed()
                    .keep(transitions, |slug| registry.get(slug).map(|p| p.status));
            }
            return Ok(TickReport {
                follower: true,
                ..TickReport::default()
            });
        };
        if reconcile {
            // What this replica saw while it followed, then this tick's.
            let mut queued = self.state.unconfirmed().take();
            queued.append(&mut flush.transitions);
            let (transitions, updates) = self.reconcile(now, queued);
            flush.transitions = transitions;
            for u in updates {
                if !flush.updates.iter().any(|have| have.slug == u.slug) {
                    flush.updates.push(u);
                }
            }
        }
        if let Some(later) = flush.cut(FLUSH_PART * FLUSH_PARTS_PER_TICK) {
            // Not a failure: the rest is the next ticks', in order.
            self.state.presence().requeue(later);
        }
        let mut report = TickReport {
            transitions: flush.transitions.len(),
            updates: flush.updates.len(),
            unpublished: 0,
            mass_expiry: flush.mass_expiry,
            follower: false,
            expired: 0,
        };
        let flush = match self.record_flapping(flush, term).await {
            Ok(flush) => flush,
            Err(stop) => return stop.into_result(),
        };
        // The parts with transitions come first, and each is applied (as written, when
        // the store numbered its steps, else read back) and published while the next
        // one is written: the first events of a storm (a fleet coming
        // up, thousands a round) leave while the next part is written, and the rows of
        // quiet projects (heartbeat times, up to thousands a tick in a large fleet),
        // written last, never delay a status event. One announcement at a time, in
        // the order the parts were written. An early round, its parts written, takes
        // what heartbeats changed meanwhile (for [`EARLY_ROUND_TAKES_FOR`]), so the
        // next part is written while the last one is announced, not after it.
        let mut announced = false;
        let mut unannounced = false;
        // A written part the registry does not have yet: the announcement reads the log.
        let mut unread = false;
        let mut parts = parts_of(flush);
        loop {
            let Some(part) = parts.pop_front() else {
                if !early || self.state.clock.now() - now >= EARLY_ROUND_TAKES_FOR {
                    break;
                }
                let more = self.state.presence().take_changed(FLUSH_PART);
                if more.is_empty() {
                    break;
                }
                report.transitions += more.transitions.len();
                report.updates += more.updates.len();
                match self.record_flapping(more, term).await {
                    Ok(more) => parts = parts_of(more),
                    Err(stop) => return stop.into_result(),
                }
                continue;
            };
            let write = self
                .repo
                .write_presence(&part.updates, &part.transitions, term);
            let written = if std::mem::take(&mut unannounced) {
                let announce = self.announce(term, std::mem::take(&mut unread));
                let (written, unpublished) = futures::join!(write, announce);
                report.unpublished = unpublished;
                written
            } else {
                write.await
            };
            match written {
                Ok(logged) => {
                    for t in &part.transitions {
                        self.transitions.add(t.from, t.to);
                    }
                    // What a reconciliation found is written or queued below: doing it
                    // again before the log brings the written parts here would
                    // record them twice (unless a newer term began meanwhile).
                    if reconcile {
                        self.end_reconcile(term);
                    }
                    if !part.transitions.is_empty() {
                        announced = true;
                        unannounced = true;
                        unread |= !self.state.absorb_written(&part.updates, &logged);
                    }
                }
                Err(RepositoryError::Fenced(why)) => {
                    if self.state.fenced_in(term, &why) {
                        // Promoted again, in a newer term, while this write was in
                        // flight: the batch is that term's to write (its reconciliation
                        // starts from the log), not lost.
                        let rest = Flush::join(std::iter::once(part).chain(parts));
                        self.requeue(rest);
                    }
                    return Ok(TickReport {
                        follower: true,
                        ..TickReport::default()
                    });
                }
                Err(source) => {
                    // The parts written stay written (and announced); this one and the
                    // rest wait.
                    let rest = Flush::join(std::iter::once(part).chain(parts));
                    return Err(self.kept_for_retry(rest, source));
                }
            }
        }
        if unannounced {
            report.unpublished = self.announce(term, unread).await;
        }
        if reconcile {
            self.end_reconcile(term);
        }
        let settled = if early {
            false
        } else {
            self.settle_flapping(now, term).await
        };
        if settled {
            self.state.catch_up().await;
        }
        if !announced || settled {
            report.unpublished = self.publish_pending(term).await;
        }
        if !early {
            report.expired = self.expire(now).await;
        }
        Ok(report)
    }

    /// Records the start of flapping of every project these transitions make flap,
    /// before they are written, so a channel meets the `flapping` change before the
    /// transition that made it (and holds its message). Gives the batch back to write.
    async fn record_flapping(&self, flush: Flush, term: Term) -> Result<Flush, Stop> {
        let starts = self.state.flaps().judge(&flush.transitions);
        if starts.is_empty() {
            return Ok(flush);
        }
        match self.repo.write_flapping(&starts, term).await {
            Ok(()) => Ok(flush),
            Err(RepositoryError::Fenced(why)) => {
                if self.state.fenced_in(term, &why) {
                    self.requeue(flush);
                }
                Err(Stop::Fenced)
            }
            Err(source) => Err(Stop::Failed(self.kept_for_retry(flush, source))),
        }
    }

    /// On promotion: every project whose status in this replica's table differs from
    /// the one recorded gets the transitions the previous leader did not write: the
    /// table's own queued ones when they lead from the recorded status to the current
    /// one (they carry their real times), else one transition now.
    /// A new leader whose partition guard holds (it could not hear the bus, so its
    /// table is no evidence of what it did not see happen) invents nothing: where its
    /// table differs from the log without a queued chain of its own, it takes the
    /// recorded status, and its next sweeps and heartbeats go on from there.
    pub(super) fn reconcile(
        &self,
        now: DateTime<Utc>,
        queued: Vec<Transition>,
    ) -> (Vec<Transition>, Vec<PresenceRecord>) {
        let registry = self.state.registry();
        let mut presence = self.state.presence();
        let heard_the_bus = !presence.guard(now).is_active();
        // Each project's chain; each step with its place in `queued` (the order things
        // happened).
        let mut chains: std::collections::HashMap<Slug, Vec<(usize, Transition)>> =
            std::collections::HashMap::new();
        for (i, t) in queued.into_iter().enumerate() {
            chains.entry(t.slug.clone()).or_default().push((i, t));
        }
        let mut kept: Vec<(usize, Transition)> = Vec::new();
        let mut synthesized = Vec::new();
        let mut updates = Vec::new();
        for (slug, recorded) in registry.statuses() {
            let Some(held) = presence.get(slug) else {
                continue;
            };
            let chain = chains.get(slug).map(Vec::as_slice).unwrap_or_default();
            // What happened since the recorded status: the chain from its first step
            // out of it (steps before it the log already had when this replica's own
            // tick saw them).
            let since = chain
                .iter()
                .position(|(_, t)| t.from == recorded)
                .and_then(|i| chain.get(i..))
                .unwrap_or_default();
            let leads_here = since.last().is_some_and(|(_, t)| t.to == held.status)
                && since
                    .windows(2)
                    .all(|w| matches!(w, [(_, a), (_, b)] if a.to == b.from));
            if leads_here {
                kept.extend(since.iter().cloned());
                updates.push(held);
            } else if held.status != recorded && !heard_the_bus {
                // No evidence either way: the log's word stands.
                let reason = registry.get(slug).and_then(|p| p.status_reason.clone());
                presence.assume(slug, recorded, reason);
            } else if held.status != recorded {
                synthesized.push(Transition {
                    slug: slug.clone(),
                    from: recorded,
                    to: held.status,
                    reason: Some(reconciled_reason(&held)),
                    at: now,
                    last_heartbeat_at: held.last_heartbeat_at,
                });
                updates.push(held);
            }
        }
        // The kept ones in the order they happened, then the rest.
        kept.sort_by_key(|(i, _)| *i);
        let mut transitions: Vec<Transition> = kept.into_iter().map(|(_, t)| t).collect();
        transitions.extend(synthesized);
        if !transitions.is_empty() {
            tracing::info!(
                transitions = transitions.len(),
                "recording the status changes the previous leader had not written"
            );
        }
        (transitions, updates)
    }

    /// Publishes what was written, first read back into the registry when `read` (the
    /// registry has not taken it as written): how many status events are still to be
    /// published.
    async fn announce(&self, term: Term, read: bool) -> usize {
        if read {
            self.state.catch_up().await;
        }
        self.publish_pending(term).await
    }

    /// The outbox: publishes, in revision order, the transitions in the log after the
    /// cursor (at most [`PUBLISH_PER_TICK`]), waits for the bus to confirm them, then
    /// moves the cursor. Stops at the first the bus refuses (retried next tick); when
    /// the bus does not confirm, the cursor stays and all are published again. Returns
    /// how many are still to be published (past the cap: how many changes are left to
    /// look at).
    pub(super) async fn publish_pending(&self, term: Term) -> usize {
        let head = self.state.revision();
        let start = self.state.leadership().published_through;
        let mut through = start;
        let mut pending = 0;
        let mut published = 0;
        while through < head && pending == 0 {
            if published >= PUBLISH_PER_TICK {
                // The rest in the next ticks (counted as still to publish).
                pending = usize::try_from(head - through).unwrap_or(usize::MAX);
                break;
            }
            let changes = match self.state.log.events_since(through, LOG_BATCH).await {
                Ok(ChangesSince::Changes(changes)) if !changes.is_empty() => changes,
                Ok(ChangesSince::Changes(_)) => break,
                Ok(ChangesSince::Trimmed) => {
                    tracing::warn!(
                        through,
                        "status events trimmed from the log before they were published"
                    );
                    through = head;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the outbox");
                    break;
                }
            };
            for (i, change) in changes.iter().enumerate() {
                let sent = match &change.kind {
                    ChangeKind::Transition(t) => {
                        Some(self.events.publish(t, change.revision).await)
                    }
                    ChangeKind::Flapping | ChangeKind::Stable => Some(
                        self.events
                            .publish_flapping(
                                &change.slug,
                                change.kind == ChangeKind::Flapping,
                                change.at,
                                change.revision,
                            )
                            .await,
                    ),
                    _ => None,
                };
                match sent {
                    Some(Err(e)) => {
                        pending = changes.iter().skip(i).filter(|c| published_kind(c)).count();
                        tracing::warn!(slug = %change.slug, revision = change.revision, kind = change.kind.as_str(), error = %e, pending, "status event not published; retried next tick");
                        break;
                    }
                    Some(Ok(())) => published += 1,
                    None => {}
                }
                through = change.revision;
            }
        }
        if published > 0 {
            if let Err(e) = self.events.confirm().await {
                // Not known to have reached the bus: all of them again next tick.
                tracing::warn!(error = %e, published, "status events not confirmed by the bus; published again next tick");
                return published + pending;
            }
        }
        if through > start {
            match self.state.log.mark_published(through, term).await {
                Ok(()) => self.set_published_through(term, through),
                Err(RepositoryError::Fenced(why)) => {
                    self.state.fenced_in(term, &why);
                }
                Err(e) => {
                    // Published but not marked: a later tick (or leader) publishes them
                    // again, with the same revision as the id.
                    tracing::warn!(error = %e, "outbox cursor not stored");
                    self.set_published_through(term, through);
                }
            }
        }
        pending
    }

    /// Records the end of flapping of every project stable for the window by `now`;
    /// whether any was written. A failed write is tried again next tick.
    async fn settle_flapping(&self, now: DateTime<Utc>, term: Term) -> bool {
        let ends = {
            let mut flaps = self.state.flaps();
            flaps.forget_quiet(now);
            flaps.settled(now)
        };
        if ends.is_empty() {
            return false;
        }
        match self.repo.write_flapping(&ends, term).await {
            Ok(()) => true,
            Err(RepositoryError::Fenced(why)) => {
                self.state.fenced_in(term, &why);
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, projects = ends.len(), "could not record the end of flapping; trying again next tick");
                false
            }
        }
    }

    /// Gives a batch back to this replica's table for the next tick (its mass expiry,
    /// already reported, stays behind).
    fn requeue(&self, flush: Flush) {
        self.state.presence().requeue(Flush {
            mass_expiry: None,
            ..flush
        });
    }

    /// Gives a batch the store refused back for the next tick, and the error that says
    /// so.
    fn kept_for_retry(&self, flush: Flush, source: RepositoryError) -> FlushFailed {
        let err = FlushFailed {
            transitions: flush.transitions.len(),
            updates: flush.updates.len(),
            source,
        };
        self.requeue(flush);
        err
    }

    /// The reconciliation of `term`'s promotion is done; a newer term's is not.
    fn end_reconcile(&self, term: Term) {
        let mut leadership = self.state.leadership();
        if leadership.role == Role::Leader(term) {
            leadership.reconcile = false;
        }
    }

    /// Moves the outbox cursor for `term` (a newer term read its own from the store).
    fn set_published_through(&self, term: Term, through: u64) {
        let mut leadership = self.state.leadership();
        if leadership.role == Role::Leader(term) {
            leadership.published_through = through;
        }
    }

    pub(super) fn advance(&self) -> Option<MassExpiry> {
        let now = self.state.clock.now();
        self.state.presence().advance(now)
    }

    /// The leader records the end of every window whose time has come (at its own end
    /// time). The presence table already applies the normal rules from then; a failed
    /// write is tried again next tick.
    pub(super) async fn end_due_maintenance(&self, now: DateTime<Utc>) {
        let due = self.state.presence().maintenance_due(now);
        if due.is_empty() {
            return;
        }
        for (slug, until) in due {
            let change = MaintenanceChange::End {
                at: until,
                reason: format!("{}: its window closed", reason::MAINTENANCE_ENDED),
                due: true,
            };
            match self.repo.set_maintenance(&slug, &change).await {
                Ok(_) => self.state.presence().set_maintenance(&slug, None),
                Err(e) => {
                    tracing::warn!(slug = %slug, error = %e, "could not record the end of a maintenance window; trying again next tick");
                }
            }
        }
        self.state.catch_up().await;
    }

    /// The leader removes every project offline for longer than `deregister_after`
    /// (recorded as removed with reason `expired`; its history stays readable). Returns
    /// how many were removed; a failed removal is tried again next tick.
    pub(super) async fn expire(&self, now: DateTime<Utc>) -> usize {
        let expired = self.state.presence().expired(now);
        let mut removed = 0;
        for slug in expired {
            match self.repo.delete(&slug, reason::EXPIRED).await {
                Ok(gone) => {
                    self.state.presence().remove(&slug);
                    if gone {
                        removed += 1;
                        tracing::info!(slug = %slug, "project removed: offline for longer than deregister_after");
                    }
                }
                Err(e) => {
                    tracing::warn!(slug = %slug, error = %e, "could not remove an expired project; trying again next tick");
                }
            }
        }
        if removed > 0 {
            self.expired
                .fetch_add(removed as u64, std::sync::atomic::Ordering::Relaxed);
            self.state.catch_up().await;
        }
        removed
    }

    pub(super) fn expired_total(&self) -> u64 {
        self.expired.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn in_maintenance(&self) -> usize {
        self.state.presence().in_maintenance(self.state.clock.now())
    }

    pub(super) fn transition_counters(&self) -> &TransitionCounters {
        &self.transitions
    }

    pub(super) fn longest_offline(&self) -> Option<chrono::TimeDelta> {
        let now = self.state.clock.now();
        self.state.presence().longest_offline(now)
    }

    pub(super) fn last_mass_expiry(&self) -> Option<MassExpiry> {
        self.state.presence().last_mass_expiry()
    }
}
