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

/// When silence turns a project degraded, then offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusPolicy {
    degraded_after: Option<TimeDelta>,
    offline_after: TimeDelta,
    recover_after: u32,
}

impl Default for StatusPolicy {
    fn default() -> Self {
        // What `new` makes of the defaults (a test checks it), built without its checks.
        Self {
            degraded_after: Some(TimeDelta::seconds(DEFAULT_DEGRADED_AFTER.as_secs() as i64)),
            offline_after: TimeDelta::seconds(DEFAULT_OFFLINE_AFTER.as_secs() as i64),
            recover_after: 1,
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
        Ok(Self {
            degraded_after: degraded,
            offline_after: offline,
            recover_after: 1,
        })
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
