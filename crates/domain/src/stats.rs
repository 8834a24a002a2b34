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
    fn counter(&self, outcome: &str) -> &AtomicU64 {
        let found = HEARTBEAT_OUTCOMES
            .iter()
            .zip(&self.counts)
            .find_map(|(o, count)| (*o == outcome).then_some(count));
        match found {
            Some(count) => count,
            None => {
                debug_assert!(false, "unknown heartbeat outcome {outcome}");
                // Unknown labels are folded into `malformed` rather than lost.
                let [_, _, malformed, ..] = &self.counts;
                malformed
            }
        }
    }

    /// Counts one heartbeat with this outcome.
    pub fn add(&self, outcome: &str) {
        self.counter(outcome).fetch_add(1, Ordering::Relaxed);
    }

    /// Heartbeats counted with this outcome.
    pub fn get(&self, outcome: &str) -> u64 {
        self.counter(outcome).load(Ordering::Relaxed)
    }

    /// Every outcome with its count, in [`HEARTBEAT_OUTCOMES`] order.
    pub fn snapshot(&self) -> [(&'static str, u64); HEARTBEAT_OUTCOMES.len()] {
        // Same length by type, so `next()` never runs out.
        let mut counts = self.counts.iter();
        HEARTBEAT_OUTCOMES.map(|o| (o, counts.next().map_or(0, |c| c.load(Ordering::Relaxed))))
    }
}

/// Status transitions stored, by (from, to), since start.
#[derive(Debug, Default)]
pub struct TransitionCounters {
    counts: [[AtomicU64; Status::ALL.len()]; Status::ALL.len()],
}

impl TransitionCounters {
    fn counter(&self, from: Status, to: Status) -> &AtomicU64 {
        let [online, degraded, offline] = &self.counts;
        let [to_online, to_degraded, to_offline] = match from {
            Status::Online => online,
            Status::Degraded => degraded,
            Status::Offline => offline,
        };
        match to {
            Status::Online => to_online,
            Status::Degraded => to_degraded,
            Status::Offline => to_offline,
        }
    }

    /// Counts one transition.
    pub fn add(&self, from: Status, to: Status) {
        self.counter(from, to).fetch_add(1, Ordering::Relaxed);
    }

    /// Transitions counted from `from` to `to`.
    pub fn get(&self, from: Status, to: Status) -> u64 {
        self.counter(from, to).load(Ordering::Relaxed)
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
