//! Projects counted by status.

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
