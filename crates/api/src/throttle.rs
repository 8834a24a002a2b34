//! Log lines that may repeat with every request (a refused key, a heartbeat for an
//! unknown project) are written at most once a minute each, saying how many were
//! left out since, so a flood of bad requests cannot flood the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often one throttled line may be written.
pub const EVERY: Duration = Duration::from_secs(60);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// One throttled log line.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    /// When it was last written, in milliseconds since [`epoch`] plus one (0: never).
    last: AtomicU64,
    /// Occurrences since it was last written.
    count: AtomicU64,
}

impl Throttle {
    pub(crate) const fn new() -> Self {
        Self {
            last: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Counts one occurrence; `Some(n)` when the line is due now, `n` the occurrences it
    /// speaks for (this one included).
    pub(crate) fn due(&self) -> Option<u64> {
        let now = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
        self.due_at(now)
    }

    /// [`Throttle::due`] at `now`, in milliseconds since [`epoch`].
    fn due_at(&self, now: u64) -> Option<u64> {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let now = now.saturating_add(1);
        let last = self.last.load(Ordering::Relaxed);
        let every = u64::try_from(EVERY.as_millis()).unwrap_or(u64::MAX);
        let is_due = last == 0 || now.saturating_sub(last) >= every;
        if is_due
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.count.fetch_sub(n, Ordering::Relaxed);
            return Some(n);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;

    #[test]
    fn the_first_is_due_and_the_next_within_a_minute_are_counted_for_later() {
        let t = Throttle::new();
        assert_eq!(t.due_at(1_000), Some(1));
        for ms in [1_001, 30_000, 60_999] {
            assert_eq!(t.due_at(ms), None);
        }
        assert_eq!(t.due_at(61_000), Some(4));
        assert_eq!(t.due_at(61_001), None);
    }
}
