//! When a replica is ready, and when one may not run at all: rules the adapters ask
//! about (`/ready`, start-up) instead of deciding themselves.

use chrono::TimeDelta;

use crate::presence::GuardState;
use crate::replication::Role;

/// A replica that has not read the change log to its end for longer is `behind`.
pub const FOLLOWER_BEHIND: TimeDelta = TimeDelta::seconds(5);

/// What a replica's readiness is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadinessInput {
    /// The store answered in time.
    pub store_answers: bool,
    /// NATS is configured and its link is down.
    pub bus_down: bool,
    /// How long since this replica last read the change log to its end (`None`: never).
    pub follower_lag: Option<TimeDelta>,
    /// The partition guard.
    pub guard: GuardState,
    /// The bus server refuses a publish or a subscription of ours (see
    /// [`crate::bus_permissions`]).
    pub bus_denied: bool,
    /// The replica was told to stop (SIGTERM) and drains: it still serves, but takes no
    /// new traffic.
    pub stopping: bool,
}

/// A replica's readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Everything answers.
    Ok,
    /// REST works, but heartbeats over NATS may not arrive or the log is behind: still
    /// ready (200), said so.
    Degraded,
    /// The store does not answer: not ready (503).
    Unavailable,
    /// The replica is stopping: not ready (503) first, while in-flight work finishes.
    Stopping,
}

impl Readiness {
    /// `ok`, `degraded` or `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Ok => "ok",
            Readiness::Degraded => "degraded",
            Readiness::Unavailable => "unavailable",
            Readiness::Stopping => "stopping",
        }
    }

    /// Whether it takes traffic.
    pub fn is_ready(self) -> bool {
        !matches!(self, Readiness::Unavailable | Readiness::Stopping)
    }
}

impl ReadinessInput {
    /// Whether this replica follows the log closely enough (within [`FOLLOWER_BEHIND`]).
    pub fn following(&self) -> bool {
        self.follower_lag.is_some_and(|lag| lag <= FOLLOWER_BEHIND)
    }

    /// The verdict. `recovering` (the hold after the link came back, also right after
    /// start) is normal and stays `ok`.
    pub fn judge(&self) -> Readiness {
        if self.stopping {
            Readiness::Stopping
        } else if !self.store_answers {
            Readiness::Unavailable
        } else if self.bus_down
            || self.bus_denied
            || !self.following()
            || matches!(self.guard, GuardState::LinkDown | GuardState::CanaryLost)
        {
            Readiness::Degraded
        } else {
            Readiness::Ok
        }
    }
}

/// Whether this replica may run: a second replica on a shared store without a bus would
/// never hear the heartbeats the other takes (nor the other its), so it must not start.
/// `shared_store`: the store can be shared by replicas (PostgreSQL; an embedded file
/// cannot).
pub fn may_run(role: Role, has_bus: bool, shared_store: bool) -> bool {
    has_bus || role != Role::Follower || !shared_store
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ReadinessInput {
        ReadinessInput {
            store_answers: true,
            bus_down: false,
            follower_lag: Some(TimeDelta::seconds(1)),
            guard: GuardState::Inactive,
            bus_denied: false,
            stopping: false,
        }
    }

    #[test]
    fn readiness_rules() {
        assert_eq!(input().judge(), Readiness::Ok);
        let down = ReadinessInput {
            store_answers: false,
            ..input()
        };
        assert_eq!(
            (down.judge(), down.judge().is_ready()),
            (Readiness::Unavailable, false)
        );
        for degraded in [
            ReadinessInput {
                bus_down: true,
                ..input()
            },
            ReadinessInput {
                follower_lag: Some(FOLLOWER_BEHIND + TimeDelta::milliseconds(1)),
                ..input()
            },
            ReadinessInput {
                follower_lag: None,
                ..input()
            },
            ReadinessInput {
                guard: GuardState::CanaryLost,
                ..input()
            },
            ReadinessInput {
                guard: GuardState::LinkDown,
                ..input()
            },
            ReadinessInput {
                bus_denied: true,
                ..input()
            },
        ] {
            assert_eq!(degraded.judge(), Readiness::Degraded, "{degraded:?}");
            assert!(degraded.judge().is_ready());
        }
        // Stopping wins over everything: the balancer must stop sending first.
        let stopping = ReadinessInput {
            stopping: true,
            bus_down: true,
            ..input()
        };
        assert_eq!(
            (stopping.judge(), stopping.judge().is_ready()),
            (Readiness::Stopping, false)
        );
        // Exactly at the bound still follows.
        let at_bound = ReadinessInput {
            follower_lag: Some(FOLLOWER_BEHIND),
            ..input()
        };
        assert_eq!(at_bound.judge(), Readiness::Ok);
    }

    #[test]
    fn a_second_replica_without_a_bus_on_a_shared_store_may_not_run() {
        assert!(!may_run(Role::Follower, false, true));
        assert!(may_run(Role::Follower, true, true));
        assert!(may_run(
            Role::Leader(crate::replication::Term(1)),
            false,
            true
        ));
        assert!(may_run(Role::Follower, false, false));
    }
}
