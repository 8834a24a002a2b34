//! The presence table: every project's liveness, kept in memory, and the status rules.
//!
//! Heartbeats update the table at memory speed; once a tick (every second in the
//! server) [`Presence::tick`] applies the clock — online → degraded → offline — and hands
//! back everything that must be persisted: the transitions (which must never be lost)
//! and the entries whose heartbeat fields changed (written behind, in one batch).
//!
//! Rules (docs/architecture.md § Status rules):
//! - a registered project is `offline` until its first heartbeat;
//! - a valid heartbeat makes it `online`, or `degraded` when it says so itself;
//! - silence for `degraded_after` makes an online project `degraded` (`heartbeat_late`),
//!   silence for `offline_after` makes it `offline` (`heartbeat_timeout`);
//! - **partition guard**: silence counts only while we could have heard it. While our
//!   own link to the bus is down, or our canary stops coming back through the
//!   subscription (counted from the first canary that went unanswered), we are deaf;
//!   a project's silence is the time since its last heartbeat minus the time we were
//!   deaf since then. An outage of 20 ms postpones expiry by 20 ms, not by
//!   `offline_after`; at start the link is down since ever, so a project heard before
//!   we were listening gets a full `offline_after` from the moment we are;
//! - a sweep that would expire more than half of the live projects at once (and at
//!   least [`MASS_EXPIRY_MIN`]) is reported as a mass expiry but still applied: a guard
//!   holds only on evidence that the fault is ours.

use std::borrow::Cow;
use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};
use indexmap::IndexMap;

use crate::heartbeat::{Heartbeat, Reported};
use crate::model::{reason, HeartbeatInterval, PresenceRecord, Slug, Status, Transition};
use crate::policy::StatusPolicy;

mod counts;
mod entry;
mod flush;
mod guard;
#[cfg(test)]
mod tests;

pub use counts::{BeatCounts, ProjectBeats, StatusCounts};
use entry::{record, Entry};
pub use flush::{Flush, MassExpiry};
use guard::{BusLink, Deafness};
pub use guard::{GuardState, CANARY_MISSES, MAX_OUTAGES};

/// The smallest expiry that counts as a mass expiry.
pub const MASS_EXPIRY_MIN: usize = 5;

/// The shortest gap between two sweeps that counts as a stall (see
/// [`Presence::with_sweep_interval`]).
pub const STALL_MIN: TimeDelta = TimeDelta::seconds(1);

/// What a heartbeat did to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// Recorded; `changed` when the project's status changed.
    Recorded {
        /// Whether the project's status changed.
        changed: bool,
    },
    /// No such project is registered.
    UnknownProject,
}

/// The in-memory liveness of every registered project.
#[derive(Debug)]
pub struct Presence {
    policy: StatusPolicy,
    /// Every project's entry: in a map whose rows are one dense vector beside an index
    /// (a row of the hash table is a number), since a hash table of whole entries kept
    /// up to twice its entries' room empty (a million entries: 2²¹ rows of 144 bytes).
    /// Hashed by foldhash (seeded per process), not SipHash: every heartbeat looks its
    /// slug up here (the keys are registered slugs, so a sender cannot flood a bucket).
    entries: IndexMap<Slug, Entry, foldhash::fast::RandomState>,
    /// Entries changed since they were last handed to the store, oldest first (an
    /// entry's flag, not this list, is the truth: a slug may be here after its flag was
    /// cleared, and is then passed over).
    dirty: VecDeque<Slug>,
    /// Entries heard since the registry last took their liveness (the same rule).
    heard: Vec<Slug>,
    pending: Vec<Transition>,
    /// The number of the current tick, as the entries' [`Entry::tick_step`] name it: a
    /// project records at most one transition per tick (the tick's first `from`, its
    /// last `to`). A new number also whenever `pending` is cut or reordered.
    tick: u32,
    /// `None` when no bus is configured (heartbeats over HTTP only).
    bus: Option<BusLink>,
    deafness: Deafness,
    last_mass_expiry: Option<MassExpiry>,
    /// The newest time a heartbeat or the clock was applied at. A caller reads the
    /// clock before it takes the table's lock, so a heartbeat can come in stamped a few
    /// milliseconds before a sweep that took the lock first: it is applied at this time
    /// instead, so the table's transitions never go back in time.
    applied_at: DateTime<Utc>,
    /// A sweep that comes later than this after the one before found a process that did
    /// not run (stopped, starved): the gap is time it could not hear (`None`: no check).
    stall_after: Option<TimeDelta>,
    last_sweep: Option<DateTime<Utc>>,
    /// No project's status can change by the clock before this (the earliest deadline
    /// the last sweep and the heartbeats since found; a lower bound, as a heartbeat only
    /// moves its project's deadline later): the presence task sweeps then, not at its
    /// next tick.
    next_due: Option<DateTime<Utc>>,
}

impl Presence {
    /// A table for a service without a message bus: nothing can partition it.
    pub fn new(policy: StatusPolicy) -> Self {
        Self {
            policy,
            entries: IndexMap::default(),
            dirty: VecDeque::new(),
            heard: Vec::new(),
            pending: Vec::new(),
            tick: 0,
            bus: None,
            deafness: Deafness::default(),
            last_mass_expiry: None,
            applied_at: DateTime::<Utc>::MIN_UTC,
            stall_after: None,
            last_sweep: None,
            next_due: None,
        }
    }

    /// A table fed by a message bus. The link starts down (deaf since ever): silence
    /// counts from the moment it is up.
    pub fn with_bus(policy: StatusPolicy) -> Self {
        Self {
            bus: Some(BusLink {
                connected: false,
                unanswered_canaries: 0,
                first_unanswered: None,
                canary_denied: false,
            }),
            deafness: Deafness::since_ever(),
            ..Self::new(policy)
        }
    }

    /// Sweeps come every `interval`: a gap between two of more than three intervals
    /// (and at least [`STALL_MIN`]) is time this process did not run (SIGSTOP, a paused
    /// VM, a starved runtime), so it heard nothing, and heartbeats waiting in its socket
    /// are not read yet. The gap counts as unheard like a bus outage, instead of
    /// expiring every project at the first sweep after it.
    pub fn with_sweep_interval(mut self, interval: TimeDelta) -> Self {
        self.stall_after = Some(
            interval
                .checked_mul(3)
                .unwrap_or(TimeDelta::MAX)
                .max(STALL_MIN),
        );
        self
    }

    /// The status thresholds.
    pub fn policy(&self) -> &StatusPolicy {
        &self.policy
    }

    /// Replaces the table with what the store holds (at start).
    pub fn load(&mut self, records: Vec<PresenceRecord>) {
        self.entries.clear();
        self.dirty.clear();
        self.heard.clear();
        self.pending.clear();
        self.end_tick();
        for r in records {
            self.adopt(r);
        }
    }

    /// Starts a new tick for [`Entry::tick_step`]: no transition waiting is merged into.
    fn end_tick(&mut self) {
        self.tick = self.tick.wrapping_add(1);
    }

    /// Makes room for `additional` more projects at once (a table filled one project at
    /// a time grows by doubling, holding the old rows beside the new at each step).
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Adds a newly registered project (`offline`); a known one is left as it is.
    /// Returns whether it was added.
    pub fn register(&mut self, slug: &Slug) -> bool {
        if self.entries.contains_key(slug) {
            return false;
        }
        self.entries.insert(
            slug.clone(),
            Entry::known(Status::Offline, None, None, None),
        );
        true
    }

    /// Sets the heartbeat interval a project registered (`None`: the default thresholds,
    /// unless its heartbeats declare one).
    pub fn set_interval(&mut self, slug: &Slug, interval: Option<HeartbeatInterval>) {
        if let Some(entry) = self.entries.get_mut(slug) {
            entry.registered = interval;
        }
    }

    /// Sets the end of a project's maintenance window (`None`: no window). Until then
    /// silence and self-reported trouble change nothing; from then the rules apply at
    /// once.
    pub fn set_maintenance(&mut self, slug: &Slug, until: Option<DateTime<Utc>>) {
        if let Some(entry) = self.entries.get_mut(slug) {
            entry.maintenance_until = until;
        }
    }

    /// Projects whose maintenance window has ended by `now` but is still recorded, with
    /// its end (for the leader to record the end).
    pub fn maintenance_due(&self, now: DateTime<Utc>) -> Vec<(Slug, DateTime<Utc>)> {
        self.entries
            .iter()
            .filter_map(|(slug, e)| match e.maintenance_until {
                Some(until) if until <= now => Some((slug.clone(), until)),
                _ => None,
            })
            .collect()
    }

    /// Records when a project was registered (offline since then until heard).
    pub fn set_registered_at(&mut self, slug: &Slug, at: DateTime<Utc>) {
        if let Some(entry) = self.entries.get_mut(slug) {
            entry.registered_at = Some(at);
        }
    }

    /// Projects offline for longer than the policy's `deregister_after` at `now` (none
    /// when it is off): offline since their last heartbeat plus their own offline
    /// threshold, or since registration when never heard. Projects in maintenance, and
    /// every project while the partition guard holds, are kept.
    pub fn expired(&self, now: DateTime<Utc>) -> Vec<Slug> {
        let Some(after) = self.policy.deregister_after() else {
            return Vec::new();
        };
        if self.guard(now).is_active() {
            return Vec::new();
        }
        self.entries
            .iter()
            .filter(|(_, e)| e.status == Status::Offline && !e.in_maintenance(now))
            .filter_map(|(slug, e)| {
                let (_, offline_after) = self.policy.thresholds(e.interval());
                let since = e
                    .last_heartbeat_at
                    .map(|t| t + offline_after)
                    .or(e.registered_at)?;
                (now - since > after).then(|| slug.clone())
            })
            .collect()
    }

    /// How many projects are in an open maintenance window at `now`.
    pub fn in_maintenance(&self, now: DateTime<Utc>) -> usize {
        self.entries
            .values()
            .filter(|e| e.in_maintenance(now))
            .count()
    }

    /// The thresholds (degraded, offline) the project is judged by.
    pub fn thresholds(&self, slug: &Slug) -> Option<(Option<TimeDelta>, TimeDelta)> {
        self.entries
            .get(slug)
            .map(|e| self.policy.thresholds(e.interval()))
    }

    /// Takes the recorded status of a known project as its own, without a transition
    /// (a new leader that could not hear the bus trusts the log over its own table).
    pub fn assume(&mut self, slug: &Slug, status: Status, reason: Option<String>) {
        if let Some(entry) = self.entries.get_mut(slug) {
            entry.status = status;
            entry.reason = reason.map(String::into_boxed_str);
        }
        self.pending.retain(|t| &t.slug != slug);
        self.end_tick();
    }

    /// Adds a project known to the store but not to this table (registered through
    /// another replica), with its stored liveness. Returns whether it was added.
    pub fn adopt(&mut self, record: PresenceRecord) -> bool {
        if self.entries.contains_key(&record.slug) {
            return false;
        }
        self.entries.insert(
            record.slug,
            Entry::known(
                record.status,
                record.status_reason,
                record.version,
                record.last_heartbeat_at,
            ),
        );
        true
    }

    /// The slugs of every project in the table.
    pub fn slugs(&self) -> impl Iterator<Item = &Slug> {
        self.entries.keys()
    }

    /// Forgets a deregistered project, with its unflushed changes.
    pub fn remove(&mut self, slug: &Slug) -> bool {
        self.pending.retain(|t| &t.slug != slug);
        self.end_tick();
        // Its places in the dirty list stay: the flag of the entry, not the list, says
        // what is written (a slug registered again is written once), and the list can
        // hold every project of a large catalog, too long to walk for each removal.
        self.entries.swap_remove(slug).is_some()
    }

    /// Whether the project is in the table.
    pub fn contains(&self, slug: &Slug) -> bool {
        self.entries.contains_key(slug)
    }

    /// How many projects are in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No project is in the table.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A project's current liveness.
    pub fn get(&self, slug: &Slug) -> Option<PresenceRecord> {
        self.entries.get(slug).map(|e| record(slug, e))
    }

    /// Counts a refused heartbeat that named a registered project; `false` when the
    /// slug is no project here.
    pub fn count_refused(&mut self, slug: &Slug) -> bool {
        match self.entries.get_mut(slug) {
            Some(entry) => {
                entry.beats.refused = entry.beats.refused.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// Each project's heartbeat counts and last heartbeat.
    pub fn beats(&self) -> impl Iterator<Item = ProjectBeats> + '_ {
        self.entries.iter().map(|(slug, e)| ProjectBeats {
            slug: slug.to_string(),
            counts: e.beats,
            last_heartbeat_at: e.last_heartbeat_at,
        })
    }

    /// Applies a heartbeat received at `now` (our clock, not the sender's).
    pub fn heartbeat(&mut self, hb: &Heartbeat, now: DateTime<Utc>) -> HeartbeatOutcome {
        let Some(entry) = self.entries.get_mut(&hb.slug) else {
            return HeartbeatOutcome::UnknownProject;
        };
        // As `applied`, beside the entry's borrow.
        self.applied_at = self.applied_at.max(now);
        let now = self.applied_at;
        entry.beats.recorded = entry.beats.recorded.saturating_add(1);
        // Never backwards: a heartbeat delayed in a queue does not undo a newer one.
        if entry.last_heartbeat_at.is_none_or(|t| t < now) {
            entry.last_heartbeat_at = Some(now);
        }
        if let Some(v) = &hb.version {
            if entry.version.as_ref() != Some(v) {
                entry.version = Some(v.clone());
            }
        }
        if let Some(interval) = hb.interval {
            entry.declared = Some(interval);
        }
        let (mut status, mut status_reason, mut transition_reason) = match &hb.reported {
            // Borrowed: most beats change nothing, and their reason is never written.
            Reported::Online => (Status::Online, None, Cow::Borrowed(reason::HEARTBEAT)),
            Reported::Degraded { reasons } => {
                let r = if reasons.is_empty() {
                    reason::SELF_REPORTED.to_owned()
                } else {
                    format!("{}: {}", reason::SELF_REPORTED, reasons.join("; "))
                };
                (Status::Degraded, Some(r.as_str().into()), Cow::Owned(r))
            }
        };
        // Anti-flap: a self-reported degradation ends after `recover_after` healthy
        // heartbeats in a row, not on the first.
        let self_degraded = entry.status == Status::Degraded
            && entry
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with(reason::SELF_REPORTED));
        if status == Status::Online && self_degraded {
            entry.healthy_streak = entry.healthy_streak.saturating_add(1);
            if entry.healthy_streak < self.policy.recover_after() {
                status = Status::Degraded;
                status_reason = entry.reason.clone();
                transition_reason = Cow::Borrowed("");
            }
        } else {
            entry.healthy_streak = 0;
        }
        // In maintenance a project's own word on trouble records nothing either.
        let status = if entry.in_maintenance(now) && status == Status::Degraded {
            entry.status
        } else {
            status
        };
        let changed = entry.status != status;
        if changed {
            let tick = self.tick;
            let merged = entry
                .tick_step
                .filter(|&(t, _)| t == tick)
                .and_then(|(_, i)| self.pending.get_mut(usize::try_from(i).ok()?))
                .filter(|t| t.slug == hb.slug);
            match merged {
                // Already changed this tick: one transition, from the first `from` to
                // this `to` (dropped at the tick if that is no change at all).
                Some(t) => {
                    t.to = status;
                    t.reason = Some(transition_reason.into_owned());
                    t.at = now;
                    t.last_heartbeat_at = entry.last_heartbeat_at;
                }
                None => {
                    entry.tick_step = u32::try_from(self.pending.len()).ok().map(|i| (tick, i));
                    self.pending.push(Transition {
                        slug: hb.slug.clone(),
                        from: entry.status,
                        to: status,
                        reason: Some(transition_reason.into_owned()),
                        at: now,
                        last_heartbeat_at: entry.last_heartbeat_at,
                    });
                }
            }
            entry.status = status;
        }
        entry.reason = status_reason;
        let thresholds = self.policy.thresholds(entry.interval());
        keep_earliest(
            &mut self.next_due,
            now + next_threshold(thresholds, entry.status, TimeDelta::zero()),
        );
        if !entry.dirty {
            entry.dirty = true;
            self.dirty.push_back(hb.slug.clone());
        }
        if !entry.heard {
            entry.heard = true;
            self.heard.push(hb.slug.clone());
        }
        HeartbeatOutcome::Recorded { changed }
    }

    /// How many statuses heartbeats changed since the last tick: the server ticks at
    /// once for a few instead of waiting for the next tick, so the change shows within
    /// milliseconds rather than up to a tick later.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Our link to the bus came up (first connect or reconnect).
    pub fn bus_connected(&mut self, now: DateTime<Utc>) {
        let Some(bus) = &mut self.bus else { return };
        if !bus.connected {
            bus.connected = true;
            bus.unanswered_canaries = 0;
            bus.first_unanswered = None;
            self.deafness.end(now);
        }
    }

    /// Our link to the bus went down.
    pub fn bus_disconnected(&mut self, now: DateTime<Utc>) {
        if let Some(bus) = &mut self.bus {
            bus.connected = false;
            self.deafness.begin(now);
        }
    }

    /// We published a canary to ourselves (not counted while the server refuses it).
    pub fn canary_sent(&mut self, now: DateTime<Utc>) {
        let Some(bus) = &mut self.bus else { return };
        if bus.canary_denied {
            return;
        }
        let was_lost = bus.canary_lost();
        if bus.unanswered_canaries == 0 {
            bus.first_unanswered = Some(now);
        }
        bus.unanswered_canaries = bus.unanswered_canaries.saturating_add(1);
        if !was_lost && bus.canary_lost() {
            // Deaf since the first of them went unanswered, not since we noticed.
            self.deafness.begin(bus.first_unanswered.unwrap_or(now));
        }
    }

    /// One of our canaries came back through the subscription.
    pub fn canary_received(&mut self, now: DateTime<Utc>) {
        let Some(bus) = &mut self.bus else { return };
        let was_lost = bus.canary_lost();
        bus.unanswered_canaries = 0;
        bus.first_unanswered = None;
        bus.canary_denied = false;
        if was_lost && bus.connected {
            self.deafness.end(now);
        }
    }

    /// The server refused our canary (its publish or its subscription): canaries stop
    /// counting, and the guard follows the link alone, until one comes back. A lost
    /// canary's outage ends here if the link is up.
    pub fn canary_denied(&mut self, now: DateTime<Utc>) {
        let Some(bus) = &mut self.bus else { return };
        let was_lost = bus.canary_lost();
        bus.canary_denied = true;
        bus.unanswered_canaries = 0;
        bus.first_unanswered = None;
        if was_lost && bus.connected {
            self.deafness.end(now);
        }
    }

    /// Whether silence may expire projects at `now`, and what the table may lack.
    pub fn guard(&self, now: DateTime<Utc>) -> GuardState {
        if let Some(bus) = &self.bus {
            if !bus.connected {
                return GuardState::LinkDown;
            }
            if bus.canary_lost() {
                return GuardState::CanaryLost;
            }
            debug_assert!(bus.healthy());
        }
        match self.deafness.last_end() {
            Some(end) if now < end + self.policy.offline_after() => GuardState::Recovering {
                until: end + self.policy.offline_after(),
            },
            _ => GuardState::Inactive,
        }
    }

    /// The time within `[from, to]` this table could not hear the bus (its deafness,
    /// while it is remembered): a silence that spans it may be the service's fault.
    pub fn unheard(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        self.deafness.within(from, to)
    }

    /// The most recent mass expiry, if any sweep ever was one.
    pub fn last_mass_expiry(&self) -> Option<MassExpiry> {
        self.last_mass_expiry
    }

    /// How long the project offline the longest has been so: `now` minus its last
    /// heartbeat minus `offline_after`, at least zero. Projects that never sent a
    /// heartbeat (registered, never seen) are not counted.
    pub fn longest_offline(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        self.entries
            .values()
            .filter(|e| e.status == Status::Offline && !e.in_maintenance(now))
            .filter_map(|e| {
                let (_, offline_after) = self.policy.thresholds(e.interval());
                e.last_heartbeat_at
                    .map(|at| (now - at - offline_after).max(TimeDelta::zero()))
            })
            .max()
    }

    /// Number of projects in each status.
    pub fn counts(&self) -> StatusCounts {
        self.entries.values().map(|e| e.status).collect()
    }

    /// Applies the clock (crediting unheard time) and keeps what it changes for the
    /// next [`Presence::tick`]. While the store refuses batches the server keeps
    /// advancing every tick, so each transition still happens, and is stamped, on time.
    pub fn advance(&mut self, now: DateTime<Utc>) -> Option<MassExpiry> {
        let now = self.applied(now);
        // The tick ends here: changes of one tick that came back to where they started
        // are no change, and the next heartbeat starts a new transition.
        self.end_tick();
        self.pending.retain(|t| t.from != t.to);
        if let (Some(last), Some(stall)) = (self.last_sweep, self.stall_after) {
            if now - last > stall {
                self.deafness.credit(last, now);
            }
        }
        self.last_sweep = Some(now);
        self.deafness.prune(now, self.policy.offline_after());
        self.sweep(now)
    }

    /// Whether some project's status may change by the clock at `now` (see `next_due`):
    /// a sweep now would find it, where the next tick could be most of an interval late.
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        self.next_due.is_some_and(|d| now >= d)
    }

    /// `now`, or the newest time already applied when that is later (see `applied_at`).
    fn applied(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.applied_at = self.applied_at.max(now);
        self.applied_at
    }

    fn sweep(&mut self, now: DateTime<Utc>) -> Option<MassExpiry> {
        let mut live = 0usize;
        let mut expired = 0usize;
        let mut next_due = None;
        for (slug, entry) in &mut self.entries {
            if entry.status == Status::Offline || entry.in_maintenance(now) {
                continue;
            }
            live += 1;
            let thresholds = self.policy.thresholds(entry.interval());
            let (degraded_after, offline_after) = thresholds;
            let silence = entry
                .last_heartbeat_at
                .map(|t| self.deafness.heard_since(t, now));
            let (to, why) = match silence {
                Some(s) if s < offline_after => {
                    let late =
                        entry.status == Status::Online && degraded_after.is_some_and(|d| s >= d);
                    // Silence grows no faster than the clock: the status can change no
                    // sooner than its next threshold minus the silence heard so far.
                    let status = if late { Status::Degraded } else { entry.status };
                    keep_earliest(
                        &mut next_due,
                        now + (next_threshold(thresholds, status, s) - s),
                    );
                    if !late {
                        continue;
                    }
                    (Status::Degraded, reason::HEARTBEAT_LATE)
                }
                // Past offline_after, or live without any heartbeat on record.
                _ => (Status::Offline, reason::HEARTBEAT_TIMEOUT),
            };
            if to == Status::Offline {
                expired += 1;
            }
            self.pending.push(Transition {
                slug: slug.clone(),
                from: entry.status,
                to,
                reason: Some(why.to_owned()),
                at: now,
                last_heartbeat_at: entry.last_heartbeat_at,
            });
            entry.status = to;
            entry.reason = Some(why.into());
            if !entry.dirty {
                entry.dirty = true;
                self.dirty.push_back(slug.clone());
            }
        }
        self.next_due = next_due;
        let mass = (expired >= MASS_EXPIRY_MIN && expired * 2 > live).then_some(MassExpiry {
            at: now,
            expired,
            live,
        });
        if mass.is_some() {
            self.last_mass_expiry = mass;
        }
        mass
    }
}

/// The silence at which the clock next changes a project of `status` that has been
/// silent for `silence`: lateness while online (when `degraded_after` is set and not yet
/// reached), else expiry. `thresholds` as [`StatusPolicy::thresholds`] gives them.
fn next_threshold(
    (degraded_after, offline_after): (Option<TimeDelta>, TimeDelta),
    status: Status,
    silence: TimeDelta,
) -> TimeDelta {
    match degraded_after {
        Some(d) if status == Status::Online && silence < d => d,
        _ => offline_after,
    }
}

/// `slot` becomes `at` when it is empty or later.
fn keep_earliest(slot: &mut Option<DateTime<Utc>>, at: DateTime<Utc>) {
    if slot.is_none_or(|d| at < d) {
        *slot = Some(at);
    }
}
