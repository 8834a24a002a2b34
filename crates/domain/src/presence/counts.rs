//! Projects counted by status, and each project's heartbeats counted.

use chrono::{DateTime, Utc};

use crate::model::Status;

/// Number of projects in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Projects online.
    pub online: usize,
    /// Projects degraded.
    pub degraded: usize,
    /// Projects offline.
    pub offline: usize,
}

impl StatusCounts {
    /// Counts one more project in `status`.
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Online => self.online += 1,
            Status::Degraded => self.degraded += 1,
            Status::Offline => self.offline += 1,
        }
    }
}

impl FromIterator<Status> for StatusCounts {
    fn from_iter<I: IntoIterator<Item = Status>>(statuses: I) -> Self {
        let mut c = StatusCounts::default();
        for status in statuses {
            c.add(status);
        }
        c
    }
}

/// One project's heartbeats, for the per-project metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectBeats {
    /// The project.
    pub slug: String,
    /// Its heartbeats since start.
    pub counts: BeatCounts,
    /// Its last heartbeat, on our clock.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// A project's heartbeats since this replica started: recorded, and refused although
/// they named it (malformed, wrong namespace, a replay, a wrong key). Each saturates
/// at `u32::MAX` (a beat a second for 136 years): a row of a million, 8 bytes not 16.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BeatCounts {
    /// Recorded.
    pub recorded: u32,
    /// Refused.
    pub refused: u32,
}
