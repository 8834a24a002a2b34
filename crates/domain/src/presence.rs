//! The presence table: every project's liveness, kept in memory, and the status rules.
//!
//! Heartbeats update the table at memory speed; once a tick (every second in the
//! server) [`Presence::tick`] applies the clock — online → degraded → offline — and hands
//! back everything that must be persisted: the transitions (which must never be lost)
//! and the entries whose heartbeat fields changed (written behind, in one batch).
//!
//! Rules (the house plan's "Status rules"):
//! - a registered project is `offline` until its first heartbeat;
//! - a valid heartbeat makes it `online`, or `degraded` when it says so itself;
//! - silence for `degraded_after` makes an online project `degraded` (`heartbeat_late`),
//!   silence for `offline_after` makes it `offline` (`heartbeat_timeout`);
//! - **partition guard**: while our own link to the bus is down, or our canary stops
//!   coming back through the subscription, nothing expires for silence, and the hold
//!   lasts until `offline_after` after the bus is healthy again — silence we could not
//!   have heard is no evidence against a project;
//! - a sweep that would expire more than half of the live projects at once (and at
//!   least [`MASS_EXPIRY_MIN`]) is reported as a mass expiry but still applied: a guard
//!   holds only on evidence that the fault is ours.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::heartbeat::{Heartbeat, Reported};
use crate::model::{reason, PresenceRecord, Slug, Status, Transition, Version};
use crate::policy::StatusPolicy;

/// Canaries that may go unanswered in a row before the link counts as broken.
pub const CANARY_MISSES: u32 = 3;
/// The smallest expiry that counts as a mass expiry.
pub const MASS_EXPIRY_MIN: usize = 5;

#[derive(Debug, Clone)]
struct Entry {
    status: Status,
    reason: Option<String>,
    version: Option<Version>,
    last_heartbeat_at: Option<DateTime<Utc>>,
    dirty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BusLink {
    connected: bool,
    unanswered_canaries: u32,
}

impl BusLink {
    fn canary_lost(&self) -> bool {
        self.unanswered_canaries > CANARY_MISSES
    }

    fn healthy(&self) -> bool {
        self.connected && !self.canary_lost()
    }
}

/// Whether silence may currently expire projects, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardState {
    /// Silence counts.
    Inactive,
    /// Our link to the bus is down.
    LinkDown,
    /// Our own canaries stopped coming back through the subscription.
    CanaryLost,
    /// The bus is healthy again; silence counts from `until` on.
    Recovering { until: DateTime<Utc> },
}

impl GuardState {
    pub fn is_active(&self) -> bool {
        !matches!(self, GuardState::Inactive)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            GuardState::Inactive => "inactive",
            GuardState::LinkDown => "link_down",
            GuardState::CanaryLost => "canary_lost",
            GuardState::Recovering { .. } => "recovering",
        }
    }
}

/// A sweep that expired a large share of the live projects at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MassExpiry {
    pub at: DateTime<Utc>,
    /// Projects that went offline in this sweep.
    pub expired: usize,
    /// Projects that were online or degraded before it.
    pub live: usize,
}

/// What a heartbeat did to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// Recorded; `changed` when the project's status changed.
    Recorded { changed: bool },
    /// No such project is registered.
    UnknownProject,
}

/// Everything one tick hands to the store (and, after it is stored, to the bus).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flush {
    /// Status changes, oldest first.
    pub transitions: Vec<Transition>,
    /// The current liveness fields of every entry changed since the last flush.
    pub updates: Vec<PresenceRecord>,
    /// Set when this tick's sweep was a mass expiry.
    pub mass_expiry: Option<MassExpiry>,
}

impl Flush {
    pub fn is_empty(&self) -> bool {
        self.transitions.is_empty() && self.updates.is_empty()
    }
}

/// Number of projects in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub online: usize,
    pub degraded: usize,
    pub offline: usize,
}

/// The in-memory liveness of every registered project.
#[derive(Debug)]
pub struct Presence {
    policy: StatusPolicy,
    entries: HashMap<Slug, Entry>,
    dirty: Vec<Slug>,
    pending: Vec<Transition>,
    /// `None` when no bus is configured (heartbeats over HTTP only).
    bus: Option<BusLink>,
    hold_until: Option<DateTime<Utc>>,
    last_mass_expiry: Option<MassExpiry>,
}

impl Presence {
    /// A table for a service without a message bus: nothing can partition it.
    pub fn new(policy: StatusPolicy) -> Self {
        Self {
            policy,
            entries: HashMap::new(),
            dirty: Vec::new(),
            pending: Vec::new(),
            bus: None,
            hold_until: None,
            last_mass_expiry: None,
        }
    }

    /// A table fed by a message bus. The link starts down: until it is up, and for
    /// `offline_after` after, silence is no evidence.
    pub fn with_bus(policy: StatusPolicy) -> Self {
        Self {
            bus: Some(BusLink {
                connected: false,
                unanswered_canaries: 0,
            }),
            ..Self::new(policy)
        }
    }

    pub fn policy(&self) -> &StatusPolicy {
        &self.policy
    }

    /// Replaces the table with what the store holds (at start).
    pub fn load(&mut self, records: Vec<PresenceRecord>) {
        self.entries.clear();
        self.dirty.clear();
        self.pending.clear();
        for r in records {
            self.adopt(r);
        }
    }

    /// Adds a newly registered project (`offline`); a known one is left as it is.
    /// Returns whether it was added.
    pub fn register(&mut self, slug: &Slug) -> bool {
        if self.entries.contains_key(slug) {
            return false;
        }
        self.entries.insert(
            slug.clone(),
            Entry {
                status: Status::Offline,
                reason: None,
                version: None,
                last_heartbeat_at: None,
                dirty: false,
            },
        );
        true
    }

    /// Adds a project known to the store but not to this table (registered through
    /// another replica), with its stored liveness. Returns whether it was added.
    pub fn adopt(&mut self, record: PresenceRecord) -> bool {
        if self.entries.contains_key(&record.slug) {
            return false;
        }
        self.entries.insert(
            record.slug,
            Entry {
                status: record.status,
                reason: record.status_reason,
                version: record.version,
                last_heartbeat_at: record.last_heartbeat_at,
                dirty: false,
            },
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
        self.entries.remove(slug).is_some()
    }

    pub fn contains(&self, slug: &Slug) -> bool {
        self.entries.contains_key(slug)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A project's current liveness.
    pub fn get(&self, slug: &Slug) -> Option<PresenceRecord> {
        self.entries.get(slug).map(|e| record(slug, e))
    }

    /// Applies a heartbeat received at `now` (our clock, not the sender's).
    pub fn heartbeat(&mut self, hb: &Heartbeat, now: DateTime<Utc>) -> HeartbeatOutcome {
        let Some(entry) = self.entries.get_mut(&hb.slug) else {
            return HeartbeatOutcome::UnknownProject;
        };
        // Never backwards: a heartbeat delayed in a queue does not undo a newer one.
        if entry.last_heartbeat_at.is_none_or(|t| t < now) {
            entry.last_heartbeat_at = Some(now);
        }
        if let Some(v) = &hb.version {
            if entry.version.as_ref() != Some(v) {
                entry.version = Some(v.clone());
            }
        }
        let (status, status_reason, transition_reason) = match &hb.reported {
            Reported::Online => (Status::Online, None, reason::HEARTBEAT.to_owned()),
            Reported::Degraded { reasons } => {
                let r = if reasons.is_empty() {
                    reason::SELF_REPORTED.to_owned()
                } else {
                    format!("{}: {}", reason::SELF_REPORTED, reasons.join("; "))
                };
                (Status::Degraded, Some(r.clone()), r)
            }
        };
        let changed = entry.status != status;
        if changed {
            self.pending.push(Transition {
                slug: hb.slug.clone(),
                from: entry.status,
                to: status,
                reason: Some(transition_reason),
                at: now,
                last_heartbeat_at: entry.last_heartbeat_at,
            });
            entry.status = status;
        }
        entry.reason = status_reason;
        if !entry.dirty {
            entry.dirty = true;
            self.dirty.push(hb.slug.clone());
        }
        HeartbeatOutcome::Recorded { changed }
    }

    /// Our link to the bus came up (first connect or reconnect).
    pub fn bus_connected(&mut self, now: DateTime<Utc>) {
        let Some(bus) = &mut self.bus else { return };
        if !bus.connected {
            bus.connected = true;
            bus.unanswered_canaries = 0;
            self.extend_hold(now);
        }
    }

    /// Our link to the bus went down.
    pub fn bus_disconnected(&mut self, _now: DateTime<Utc>) {
        if let Some(bus) = &mut self.bus {
            bus.connected = false;
        }
    }

    /// We published a canary to ourselves.
    pub fn canary_sent(&mut self, _now: DateTime<Utc>) {
        if let Some(bus) = &mut self.bus {
            bus.unanswered_canaries = bus.unanswered_canaries.saturating_add(1);
        }
    }

    /// One of our canaries came back through the subscription.
    pub fn canary_received(&mut self, now: DateTime<Utc>) {
        let Some(bus) = &mut self.bus else { return };
        let was_lost = bus.canary_lost();
        bus.unanswered_canaries = 0;
        if was_lost && bus.connected {
            self.extend_hold(now);
        }
    }

    fn extend_hold(&mut self, now: DateTime<Utc>) {
        let until = now + self.policy.offline_after();
        if self.hold_until.is_none_or(|h| h < until) {
            self.hold_until = Some(until);
        }
    }

    /// Whether silence may expire projects at `now`.
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
        match self.hold_until {
            Some(until) if now < until => GuardState::Recovering { until },
            _ => GuardState::Inactive,
        }
    }

    /// The most recent mass expiry, if any sweep ever was one.
    pub fn last_mass_expiry(&self) -> Option<MassExpiry> {
        self.last_mass_expiry
    }

    pub fn counts(&self) -> StatusCounts {
        let mut c = StatusCounts::default();
        for e in self.entries.values() {
            match e.status {
                Status::Online => c.online += 1,
                Status::Degraded => c.degraded += 1,
                Status::Offline => c.offline += 1,
            }
        }
        c
    }

    /// Applies the clock (unless the guard holds) and takes everything to persist.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Flush {
        let mut mass_expiry = None;
        if !self.guard(now).is_active() {
            mass_expiry = self.sweep(now);
        }
        let updates = self
            .dirty
            .drain(..)
            .filter_map(|slug| {
                let entry = self.entries.get_mut(&slug)?;
                entry.dirty = false;
                Some(record(&slug, entry))
            })
            .collect();
        Flush {
            transitions: std::mem::take(&mut self.pending),
            updates,
            mass_expiry,
        }
    }

    fn sweep(&mut self, now: DateTime<Utc>) -> Option<MassExpiry> {
        let offline_after = self.policy.offline_after();
        let degraded_after = self.policy.degraded_after();
        let mut live = 0usize;
        let mut expired = 0usize;
        for (slug, entry) in &mut self.entries {
            if entry.status == Status::Offline {
                continue;
            }
            live += 1;
            let silence = entry.last_heartbeat_at.map(|t| now - t);
            let (to, why) = match silence {
                Some(s) if s < offline_after => match degraded_after {
                    Some(d) if s >= d && entry.status == Status::Online => {
                        (Status::Degraded, reason::HEARTBEAT_LATE)
                    }
                    _ => continue,
                },
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
            entry.reason = Some(why.to_owned());
            if !entry.dirty {
                entry.dirty = true;
                self.dirty.push(slug.clone());
            }
        }
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

    /// Puts back a flush the store could not take, so the next tick writes it again.
    /// Transitions keep their order ahead of newer ones; updates are re-read from the
    /// table then, so they carry the newest values.
    pub fn requeue(&mut self, flush: Flush) {
        let mut transitions: Vec<Transition> = flush
            .transitions
            .into_iter()
            .filter(|t| self.entries.contains_key(&t.slug))
            .collect();
        transitions.append(&mut self.pending);
        self.pending = transitions;
        for update in flush.updates {
            if let Some(entry) = self.entries.get_mut(&update.slug) {
                if !entry.dirty {
                    entry.dirty = true;
                    self.dirty.push(update.slug);
                }
            }
        }
    }
}

fn record(slug: &Slug, e: &Entry) -> PresenceRecord {
    PresenceRecord {
        slug: slug.clone(),
        status: e.status,
        status_reason: e.reason.clone(),
        version: e.version.clone(),
        last_heartbeat_at: e.last_heartbeat_at,
    }
}
