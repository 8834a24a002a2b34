//! The use cases: what the API, the NATS adapter and the server's tasks call.
//!
//! One [`Federation`] per replica, its use cases split by concern: `catalog`
//! (registrations, reads, maintenance windows), `heartbeats` (heartbeats in, the bus
//! link's signals), `sweep` (the tick: the leader writes, publishes, expires) and
//! `replica` (following the change log, the sweeper lease). What they all read (the
//! registry, the presence table, leadership) is one type of its own, in `state`.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::ports::{ChangeLog, Clock, HeartbeatRelay, Lease, ProjectRepository, StatusEvents};
use crate::presence::Presence;
use crate::stats::{ClockSkew, HeartbeatCounters, TransitionCounters};

mod catalog;
mod heartbeats;
mod replica;
mod state;
mod sweep;
#[cfg(test)]
mod tests;

pub use heartbeats::HeartbeatRejected;
pub use replica::ReplicaOptions;
pub use state::ChangeListener;
pub use sweep::{FlushFailed, TickReport};

use heartbeats::{Intake, SkewLog};
use replica::Replica;
use state::State;
use sweep::Sweep;

/// The ports a [`Federation`] drives.
#[derive(Clone)]
pub struct Ports {
    /// The catalog and its history.
    pub repo: Arc<dyn ProjectRepository>,
    /// The ordered change log replicas follow.
    pub log: Arc<dyn ChangeLog>,
    /// The sweeper lease.
    pub lease: Arc<dyn Lease>,
    /// Where transitions are announced.
    pub events: Arc<dyn StatusEvents>,
    /// How heartbeats taken over HTTP reach the other replicas.
    pub relay: Arc<dyn HeartbeatRelay>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

/// The federation's use cases over the ports.
pub struct Federation {
    /// The registry, the presence table and leadership: what every concern reads.
    state: State,
    /// The catalog and its history.
    repo: Arc<dyn ProjectRepository>,
    replica: Replica,
    intake: Intake,
    sweep: Sweep,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").finish_non_exhaustive()
    }
}

impl Federation {
    /// The use cases over the ports, with the presence table and this replica's place
    /// among the others.
    pub fn new(ports: Ports, presence: Presence, replica: ReplicaOptions) -> Self {
        Self {
            intake: Intake {
                policy: *presence.policy(),
                relay: ports.relay,
                counters: HeartbeatCounters::default(),
                clock_skew: ClockSkew::default(),
                skew_logged: Mutex::new(SkewLog::default()),
            },
            state: State::new(ports.clock, ports.log, presence),
            repo: ports.repo,
            replica: Replica {
                lease: ports.lease,
                options: replica,
            },
            sweep: Sweep {
                events: ports.events,
                transitions: TransitionCounters::default(),
                expired: std::sync::atomic::AtomicU64::new(0),
            },
        }
    }

    /// Calls `listener` with every batch of changes this replica applies, after the
    /// registry holds them (the change stream, blocking queries).
    pub fn on_change(&self, listener: ChangeListener) {
        self.state
            .on_change
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// The current time, by the clock the use cases run on.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }
}
