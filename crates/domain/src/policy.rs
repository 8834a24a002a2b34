//! The thresholds of the status rules.

use std::time::Duration;

use chrono::TimeDelta;

use crate::error::ValidationError;

/// Silence after which a project is degraded, unless configured otherwise.
pub const DEFAULT_DEGRADED_AFTER: Duration = Duration::from_secs(60);
/// Silence after which a project is offline, unless configured otherwise.
pub const DEFAULT_OFFLINE_AFTER: Duration = Duration::from_secs(90);
/// How far ahead of our clock a heartbeat's own timestamp may be.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::seconds(300);
/// How old a heartbeat's own timestamp may be before it is taken for a replay. Liveness
/// is measured on our clock (when a heartbeat arrives), so a sender whose clock is
/// behind by up to this much has no effect on its status.
pub const MAX_HEARTBEAT_AGE: TimeDelta = TimeDelta::seconds(3600);
/// The shortest offline threshold a declared heartbeat interval can give, by default.
pub const DEFAULT_DEADLINE_MIN: Duration = Duration::from_secs(5);
/// The longest offline threshold a declared heartbeat interval can give, by default.
pub const DEFAULT_DEADLINE_MAX: Duration = Duration::from_secs(24 * 3600);
/// A project that declares its interval is offline after this many intervals of silence
/// (degraded after two thirds of that: two intervals).
pub const INTERVALS_TO_OFFLINE: i32 = 3;
/// Healthy heartbeats in a row that end a self-reported degradation, unless configured
/// otherwise ([`StatusPolicy::with_recover_after`]).
pub const DEFAULT_RECOVER_AFTER: u32 = 1;
/// How long a project may stay offline before it is removed, unless configured
/// otherwise: zero, for ever ([`StatusPolicy::with_deregister_after`]).
pub const DEFAULT_DEREGISTER_AFTER: Duration = Duration::ZERO;

// The other defaults of the service's settings that `config/default.toml` writes out
// (a test of federation-server checks the file against every constant here).

/// How often the sweeper looks for silent projects, unless configured otherwise.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How often each replica sends itself a canary over NATS, unless configured otherwise.
pub const DEFAULT_CANARY_INTERVAL: Duration = Duration::from_secs(5);
/// Where heartbeats arrive (`<prefix>.<slug>`), unless configured otherwise: the wire
/// format's own default, which the publisher uses too.
pub use federation_wire::DEFAULT_PRESENCE_SUBJECT;
/// Where status events go, unless configured otherwise.
pub const DEFAULT_EVENTS_SUBJECT: &str = "hub.federation.status";
/// Where each replica's canaries go (`<prefix>.<instance>`), unless configured
/// otherwise: outside the presence subjects, so heartbeat listeners never see them.
pub const DEFAULT_CANARY_SUBJECT: &str = "hub.federation.canary";

/// When silence turns a project degraded, then offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusPolicy {
    degraded_after: Option<TimeDelta>,
    offline_after: TimeDelta,
    deadline_min: TimeDelta,
    deadline_max: TimeDelta,
    deregister_after: Option<TimeDelta>,
    recover_after: u32,
}

impl Default for StatusPolicy {
    fn default() -> Self {
        // What `new` makes of the defaults (a test checks it), built without its checks.
        Self {
            degraded_after: Some(TimeDelta::seconds(DEFAULT_DEGRADED_AFTER.as_secs() as i64)),
            offline_after: TimeDelta::seconds(DEFAULT_OFFLINE_AFTER.as_secs() as i64),
            deadline_min: TimeDelta::seconds(DEFAULT_DEADLINE_MIN.as_secs() as i64),
            deadline_max: TimeDelta::seconds(DEFAULT_DEADLINE_MAX.as_secs() as i64),
            deregister_after: None,
            recover_after: DEFAULT_RECOVER_AFTER,
        }
    }
}

impl StatusPolicy {
    /// `degraded_after` of zero turns lateness-degraded off; otherwise it must be shorter
    /// than `offline_after`, which must be positive.
    pub fn new(degraded_after: Duration, offline_after: Duration) -> Result<Self, ValidationError> {
        let offline = to_delta(offline_after, "offline_after")?;
        if offline <= TimeDelta::zero() {
            return Err(ValidationError::new("offline_after", "must be positive"));
        }
        let degraded = if degraded_after.is_zero() {
            None
        } else {
            let d = to_delta(degraded_after, "degraded_after")?;
            if d >= offline {
                return Err(ValidationError::new(
                    "degraded_after",
                    format!(
                        "must be shorter than offline_after ({}s), or 0 to turn it off",
                        offline_after.as_secs_f64()
                    ),
                ));
            }
            Some(d)
        };
        let defaults = Self::default();
        Ok(Self {
            degraded_after: degraded,
            offline_after: offline,
            deadline_min: defaults.deadline_min,
            deadline_max: defaults.deadline_max,
            deregister_after: None,
            recover_after: DEFAULT_RECOVER_AFTER,
        })
    }

    /// Bounds the offline threshold that a declared heartbeat interval gives
    /// (`3 × interval`, kept within `min..=max`).
    pub fn with_deadline_bounds(
        mut self,
        min: Duration,
        max: Duration,
    ) -> Result<Self, ValidationError> {
        let min_delta = to_delta(min, "deadline_min")?;
        let max_delta = to_delta(max, "deadline_max")?;
        if min_delta < TimeDelta::seconds(2) {
            return Err(ValidationError::new("deadline_min", "must be at least 2s"));
        }
        if max_delta < min_delta {
            return Err(ValidationError::new(
                "deadline_max",
                format!(
                    "must not be shorter than deadline_min ({}s)",
                    min.as_secs_f64()
                ),
            ));
        }
        self.deadline_min = min_delta;
        self.deadline_max = max_delta;
        Ok(self)
    }

    /// Removes projects offline for longer than `after` (Consul's
    /// `deregister_critical_service_after`); zero turns it off (the default).
    pub fn with_deregister_after(mut self, after: Duration) -> Result<Self, ValidationError> {
        self.deregister_after = if after.is_zero() {
            None
        } else {
            Some(to_delta(after, "deregister_after")?)
        };
        Ok(self)
    }

    /// How long a project may stay offline before it is removed; `None`: for ever.
    pub fn deregister_after(&self) -> Option<TimeDelta> {
        self.deregister_after
    }

    /// The thresholds (degraded, offline) for a project with this declared interval; the
    /// service-wide ones without. With an interval: offline after
    /// [`INTERVALS_TO_OFFLINE`] intervals within the deadline bounds, degraded after two
    /// thirds of that (two intervals), unless lateness-degraded is turned off.
    pub fn thresholds(&self, interval: Option<TimeDelta>) -> (Option<TimeDelta>, TimeDelta) {
        let Some(interval) = interval else {
            return (self.degraded_after, self.offline_after);
        };
        let offline = (interval * INTERVALS_TO_OFFLINE).clamp(self.deadline_min, self.deadline_max);
        let degraded = self.degraded_after.map(|_| offline * 2 / 3);
        (degraded, offline)
    }

    /// The anti-flap rule (Consul's `success_before_passing`): a project that reported
    /// itself degraded is online again only after `n` healthy heartbeats in a row (at
    /// least 1, the default: the first one).
    pub fn with_recover_after(mut self, n: u32) -> Self {
        self.recover_after = n.max(1);
        self
    }

    /// Healthy heartbeats in a row a self-reported degraded project needs to be online.
    pub fn recover_after(&self) -> u32 {
        self.recover_after
    }

    /// Silence after which a project is degraded; `None` when lateness does not degrade.
    pub fn degraded_after(&self) -> Option<TimeDelta> {
        self.degraded_after
    }

    /// Silence after which a project is offline.
    pub fn offline_after(&self) -> TimeDelta {
        self.offline_after
    }
}

fn to_delta(d: Duration, field: &str) -> Result<TimeDelta, ValidationError> {
    // A year is far beyond any sensible threshold and keeps date arithmetic safe.
    const MAX: Duration = Duration::from_secs(365 * 24 * 3600);
    if d > MAX {
        return Err(ValidationError::new(field, "must be at most 365 days"));
    }
    TimeDelta::from_std(d).map_err(|_| ValidationError::new(field, "is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sixty_and_ninety_seconds() {
        let p = StatusPolicy::default();
        assert_eq!(p.degraded_after(), Some(TimeDelta::seconds(60)));
        assert_eq!(p.offline_after(), TimeDelta::seconds(90));
        assert_eq!(
            Ok(p),
            StatusPolicy::new(DEFAULT_DEGRADED_AFTER, DEFAULT_OFFLINE_AFTER)
        );
    }

    #[test]
    fn a_declared_interval_gives_two_and_three_intervals_within_the_bounds() {
        let p = StatusPolicy::default();
        let secs = TimeDelta::seconds;
        assert_eq!(p.thresholds(None), (Some(secs(60)), secs(90)));
        assert_eq!(p.thresholds(Some(secs(5))), (Some(secs(10)), secs(15)));
        assert_eq!(p.thresholds(Some(secs(30))), (Some(secs(60)), secs(90)));
        // 3 × 1 s is below the 5 s floor: the floor, degraded at two thirds of it.
        let (degraded, offline) = p.thresholds(Some(secs(1)));
        assert_eq!(offline, secs(5));
        assert!(degraded.is_some_and(|d| d < offline && d > TimeDelta::zero()));
        let bounded = p
            .with_deadline_bounds(Duration::from_secs(20), Duration::from_secs(60))
            .unwrap();
        assert_eq!(bounded.thresholds(Some(secs(5))).1, secs(20));
        assert_eq!(
            bounded.thresholds(Some(secs(3600))),
            (Some(secs(40)), secs(60))
        );
        let no_lateness = StatusPolicy::new(Duration::ZERO, Duration::from_secs(90)).unwrap();
        assert_eq!(no_lateness.thresholds(Some(secs(5))), (None, secs(15)));
    }

    #[test]
    fn deadline_bounds_are_checked() {
        let p = StatusPolicy::default();
        let e = p
            .with_deadline_bounds(Duration::from_secs(1), Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(e.field, "deadline_min");
        let e = p
            .with_deadline_bounds(Duration::from_secs(60), Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(e.field, "deadline_max");
    }

    #[test]
    fn zero_degraded_after_turns_lateness_off() {
        let p = StatusPolicy::new(Duration::ZERO, Duration::from_secs(90)).unwrap();
        assert_eq!(p.degraded_after(), None);
    }

    #[test]
    fn degraded_after_must_be_shorter_than_offline_after() {
        let err = StatusPolicy::new(Duration::from_secs(90), Duration::from_secs(90)).unwrap_err();
        assert_eq!(err.field, "degraded_after");
        assert!(StatusPolicy::new(Duration::from_secs(91), Duration::from_secs(90)).is_err());
        assert!(StatusPolicy::new(Duration::from_secs(89), Duration::from_secs(90)).is_ok());
    }

    #[test]
    fn offline_after_must_be_positive_and_bounded() {
        assert_eq!(
            StatusPolicy::new(Duration::ZERO, Duration::ZERO)
                .unwrap_err()
                .field,
            "offline_after"
        );
        assert!(StatusPolicy::new(Duration::ZERO, Duration::from_secs(400 * 86400)).is_err());
    }
}
