//! Counters the use cases keep for metrics and health: plain atomics, no I/O.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::Status;

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

/// Status transitions stored, by (from, to), since start.
#[derive(Debug, Default)]
pub struct TransitionCounters {
    counts: [[AtomicU64; Status::ALL.len()]; Status::ALL.len()],
}

fn status_index(s: Status) -> usize {
    match s {
        Status::Online => 0,
        Status::Degraded => 1,
        Status::Offline => 2,
    }
}

impl TransitionCounters {
    pub fn add(&self, from: Status, to: Status) {
        self.counts[status_index(from)][status_index(to)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, from: Status, to: Status) -> u64 {
        self.counts[status_index(from)][status_index(to)].load(Ordering::Relaxed)
    }

    /// Every (from, to) pair of different statuses with its count (zeros included, so a
    /// metric exists before the first transition).
    pub fn snapshot(&self) -> Vec<(Status, Status, u64)> {
        let mut out = Vec::with_capacity(6);
        for from in Status::ALL {
            for to in Status::ALL {
                if from != to {
                    out.push((from, to, self.get(from, to)));
                }
            }
        }
        out
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

    #[test]
    fn counts_transitions_by_pair() {
        let c = TransitionCounters::default();
        c.add(Status::Offline, Status::Online);
        c.add(Status::Offline, Status::Online);
        c.add(Status::Online, Status::Degraded);
        assert_eq!(c.get(Status::Offline, Status::Online), 2);
        assert_eq!(c.get(Status::Online, Status::Offline), 0);
        let snap = c.snapshot();
        assert_eq!(snap.len(), 6);
        assert_eq!(snap.iter().map(|(_, _, n)| n).sum::<u64>(), 3);
    }
}
