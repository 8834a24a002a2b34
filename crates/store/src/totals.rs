//! Recent list totals, so a list does not count every matching row on each request.
//!
//! `X-Total-Count` over a filter that matches thousands of projects costs a `count(*)`
//! that visits every one of those rows (the heartbeat flush rewrites them each second, so
//! the count cannot stay in the index). Totals are kept for [`TOTALS_TTL`], the same
//! second the liveness fields are written behind, and dropped at once by every write of
//! this store (registrations, updates, deletions, presence batches). Another replica's
//! writes show within the TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use federation_domain::{ListFilter, Status};

/// How long a total is reused.
pub const TOTALS_TTL: Duration = Duration::from_secs(1);
/// Distinct filters remembered at once (status × tag); past it, the oldest go.
const MAX_FILTERS: usize = 1024;

type Key = (Option<Status>, Option<String>);

#[derive(Debug, Default)]
pub(crate) struct Totals {
    entries: Mutex<HashMap<Key, (Instant, i64)>>,
}

fn key(filter: &ListFilter) -> Key {
    (
        filter.status,
        filter.tag.as_ref().map(|t| t.as_str().to_lowercase()),
    )
}

impl Totals {
    /// A total computed less than [`TOTALS_TTL`] ago, with no write since.
    pub(crate) fn get(&self, filter: &ListFilter) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&key(filter))
            .filter(|(at, _)| at.elapsed() < TOTALS_TTL)
            .map(|(_, total)| *total)
    }

    /// Remembers a total computed when the read that produced it began (`started`).
    pub(crate) fn put(&self, filter: &ListFilter, started: Instant, total: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_FILTERS {
            entries.retain(|_, (at, _)| at.elapsed() < TOTALS_TTL);
            if entries.len() >= MAX_FILTERS {
                entries.clear();
            }
        }
        entries.insert(key(filter), (started, total));
    }

    /// Forgets every total: a write may have changed any of them.
    pub(crate) fn invalidate(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(status: Option<Status>) -> ListFilter {
        ListFilter {
            status,
            ..ListFilter::default()
        }
    }

    #[test]
    fn totals_are_kept_per_filter_until_invalidated_or_stale() {
        let t = Totals::default();
        assert_eq!(t.get(&f(None)), None);
        t.put(&f(None), Instant::now(), 7);
        t.put(&f(Some(Status::Online)), Instant::now(), 3);
        assert_eq!(t.get(&f(None)), Some(7));
        assert_eq!(t.get(&f(Some(Status::Online))), Some(3));
        assert_eq!(t.get(&f(Some(Status::Offline))), None);
        t.invalidate();
        assert_eq!(t.get(&f(None)), None);
        let long_ago = Instant::now() - TOTALS_TTL - Duration::from_millis(1);
        t.put(&f(None), long_ago, 7);
        assert_eq!(t.get(&f(None)), None);
    }
}
