//! The state the concerns share: the registry, the presence table and leadership.

use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};

use crate::model::{PresenceRecord, Project};
use crate::ports::{ChangeLog, Clock};
use crate::presence::Presence;
use crate::replication::{Change, Registry, Role};

/// How many changes one read of the log brings.
pub(super) const LOG_BATCH: u32 = 1000;

#[derive(Debug)]
pub(super) struct Leadership {
    pub(super) role: Role,
    /// Set on promotion: the first flush writes whatever differs between what this
    /// replica's presence table says and what the log recorded (the previous leader's
    /// last moments), instead of the table's own queue.
    pub(super) reconcile: bool,
    /// The outbox cursor: the last revision whose event was published.
    pub(super) published_through: u64,
    /// When the store last confirmed the lease (taken or renewed).
    pub(super) confirmed_at: Option<DateTime<Utc>>,
}

/// Called with every batch of changes applied to the registry, in revision order.
pub type ChangeListener = Box<dyn Fn(&[Change], u64) + Send + Sync>;

/// What every concern shares: the clock and the change log, the registry the log
/// fills, the presence table, and this replica's leadership. Locks are taken through
/// its accessors, which keep serving after a panicking holder (see [`State::presence`]).
pub(super) struct State {
    /// The time.
    pub(super) clock: Arc<dyn Clock>,
    /// The ordered change log replicas follow.
    pub(super) log: Arc<dyn ChangeLog>,
    presence: Mutex<Presence>,
    registry: RwLock<Registry>,
    leadership: Mutex<Leadership>,
    pub(super) on_change: Mutex<Vec<ChangeListener>>,
    /// When the log was last read to its end.
    pub(super) followed_at: Mutex<Option<DateTime<Utc>>>,
}

impl State {
    pub(super) fn new(clock: Arc<dyn Clock>, log: Arc<dyn ChangeLog>, presence: Presence) -> Self {
        Self {
            clock,
            log,
            presence: Mutex::new(presence),
            registry: RwLock::new(Registry::new()),
            leadership: Mutex::new(Leadership {
                role: Role::Follower,
                reconcile: false,
                published_through: 0,
                confirmed_at: None,
            }),
            on_change: Mutex::new(Vec::new()),
            followed_at: Mutex::new(None),
        }
    }

    pub(super) fn presence(&self) -> MutexGuard<'_, Presence> {
        // The table holds no invariant a panicking holder could half-break beyond one
        // entry, so keep serving rather than poisoning every later heartbeat.
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn registry_mut(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn leadership(&self) -> MutexGuard<'_, Leadership> {
        self.leadership.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The liveness the store holds for a project. A project the presence table does not
/// know yet (registered through another replica, or before the table was loaded) is
/// adopted with it, so registering again never resets status or last heartbeat; a
/// known one keeps the table's (newer) liveness. A new project comes back `offline`
/// with no heartbeat, as registering gives.
fn stored_liveness(p: &Project) -> PresenceRecord {
    PresenceRecord {
        slug: p.slug.clone(),
        status: p.status,
        status_reason: p.status_reason.clone(),
        version: p.version.clone(),
        last_heartbeat_at: p.last_heartbeat_at,
    }
}

/// Puts a stored project into the presence table: adopted when new (see
/// [`stored_liveness`]), its registered heartbeat interval taken either way.
pub(super) fn admit(presence: &mut Presence, p: &Project) {
    presence.adopt(stored_liveness(p));
    presence.set_interval(&p.slug, p.heartbeat_interval);
    presence.set_maintenance(&p.slug, p.maintenance.as_ref().map(|m| m.until));
    presence.set_registered_at(&p.slug, p.created_at);
}
