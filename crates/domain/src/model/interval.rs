//! How often a project says it sends a heartbeat.

use std::num::NonZeroU32;

use chrono::TimeDelta;
use serde::Serialize;

use crate::error::ValidationError;

/// How often a project says it sends a heartbeat: whole seconds,
/// 1..=[`HeartbeatInterval::MAX_SECONDS`]. Its thresholds then follow it (see
/// [`crate::StatusPolicy::thresholds`]) instead of the service-wide defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct HeartbeatInterval(NonZeroU32);

impl HeartbeatInterval {
    /// The longest interval a project may declare (a day).
    pub const MAX_SECONDS: u32 = 86_400;

    /// Validates a number of seconds; errors name `field`.
    pub fn from_seconds(seconds: i64, field: &str) -> Result<Self, ValidationError> {
        u32::try_from(seconds)
            .ok()
            .filter(|&s| s <= Self::MAX_SECONDS)
            .and_then(NonZeroU32::new)
            .map(Self)
            .ok_or_else(|| {
                ValidationError::new(
                    field,
                    format!(
                        "must be a whole number of seconds between 1 and {}",
                        Self::MAX_SECONDS
                    ),
                )
            })
    }

    /// The interval in seconds.
    pub fn seconds(self) -> u32 {
        self.0.get()
    }

    /// The interval as a duration.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.0.get()))
    }
}
