//! One project's row of the presence table.

use chrono::{DateTime, TimeDelta, Utc};

use super::counts::BeatCounts;
use crate::model::{HeartbeatInterval, PresenceRecord, Slug, Status, Version};

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) status: Status,
    /// Why it has its status, when the status says more than itself (most entries:
    /// none). Boxed, not a `String`: a row of a million is the table's size.
    pub(super) reason: Option<Box<str>>,
    pub(super) version: Option<Version>,
    pub(super) last_heartbeat_at: Option<DateTime<Utc>>,
    /// Changed since it was last handed to the store (and in [`super::Presence`]'s list
    /// of such entries).
    pub(super) dirty: bool,
    /// Heard since the registry last took its liveness (and in the list of such entries).
    pub(super) heard: bool,
    /// The interval the project registered.
    pub(super) registered: Option<HeartbeatInterval>,
    /// The interval its heartbeats declare (held in memory only; wins over `registered`).
    pub(super) declared: Option<HeartbeatInterval>,
    /// The end of its maintenance window, while one is recorded.
    pub(super) maintenance_until: Option<DateTime<Utc>>,
    /// When it was registered (a project never heard is offline since then).
    pub(super) registered_at: Option<DateTime<Utc>>,
    /// Healthy heartbeats in a row while self-reported degraded (the anti-flap rule).
    pub(super) healthy_streak: u32,
    /// Heartbeats for it since start, for the per-project metrics.
    pub(super) beats: BeatCounts,
    /// Its transition of a tick: the tick's number and the transition's place in the
    /// waiting list (valid while the number is the table's current tick).
    pub(super) tick_step: Option<(u32, u32)>,
}

impl Entry {
    /// A project's entry with this liveness and nothing else known yet (no interval, no
    /// maintenance, no heartbeats counted).
    pub(super) fn known(
        status: Status,
        reason: Option<String>,
        version: Option<Version>,
        last_heartbeat_at: Option<DateTime<Utc>>,
    ) -> Self {
        Entry {
            status,
            reason: reason.map(String::into_boxed_str),
            version,
            last_heartbeat_at,
            dirty: false,
            heard: false,
            registered: None,
            declared: None,
            maintenance_until: None,
            registered_at: None,
            healthy_streak: 0,
            beats: BeatCounts::default(),
            tick_step: None,
        }
    }

    pub(super) fn interval(&self) -> Option<TimeDelta> {
        self.declared
            .or(self.registered)
            .map(HeartbeatInterval::as_delta)
    }

    pub(super) fn in_maintenance(&self, now: DateTime<Utc>) -> bool {
        self.maintenance_until.is_some_and(|until| now < until)
    }
}

/// What the store keeps of an entry.
pub(super) fn record(slug: &Slug, e: &Entry) -> PresenceRecord {
    record_of(slug.clone(), e)
}

/// [`record`] with the slug given, not cloned.
pub(super) fn record_of(slug: Slug, e: &Entry) -> PresenceRecord {
    PresenceRecord {
        slug,
        status: e.status,
        status_reason: e.reason.as_deref().map(str::to_owned),
        version: e.version.clone(),
        last_heartbeat_at: e.last_heartbeat_at,
    }
}
