//! Counters the use cases keep for metrics and health: plain atomics, no I/O.

use std::sync::atomic::{AtomicU64, Ordering};

/// Every outcome of a heartbeat, as metric labels. `dropped` counts heartbeats an
/// adapter could not even queue (overload); the others are decided by the domain.
pub const HEARTBEAT_OUTCOMES: [&str; 8] = [
    "ok",
    "unknown_project",
    "malformed",
    "slug_mismatch",
    "bad_namespace",
    "replay",
    "oversize",
    "dropped",
];

/// Heartbeats by outcome, whichever way they arrived.
#[derive(Debug, Default)]
pub struct HeartbeatCounters {
    counts: [AtomicU64; HEARTBEAT_OUTCOMES.len()],
}

impl HeartbeatCounters {
    fn index(outcome: &str) -> usize {
        HEARTBEAT_OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or_else(|| {
                debug_assert!(false, "unknown heartbeat outcome {outcome}");
                // Unknown labels are folded into `malformed` rather than lost.
                2
            })
    }

    pub fn add(&self, outcome: &str) {
        self.counts[Self::index(outcome)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, outcome: &str) -> u64 {
        self.counts[Self::index(outcome)].load(Ordering::Relaxed)
    }

    /// Every outcome with its count, in [`HEARTBEAT_OUTCOMES`] order.
    pub fn snapshot(&self) -> [(&'static str, u64); HEARTBEAT_OUTCOMES.len()] {
        std::array::from_fn(|i| {
            (
                HEARTBEAT_OUTCOMES[i],
                self.counts[i].load(Ordering::Relaxed),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_outcome_apart() {
        let c = HeartbeatCounters::default();
        c.add("ok");
        c.add("ok");
        c.add("replay");
        assert_eq!(c.get("ok"), 2);
        assert_eq!(c.get("replay"), 1);
        assert_eq!(c.get("dropped"), 0);
        let snap = c.snapshot();
        assert_eq!(snap[0], ("ok", 2));
        assert_eq!(snap.iter().map(|(_, n)| n).sum::<u64>(), 3);
    }
}
