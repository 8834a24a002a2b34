//! Counters the use cases keep for metrics and health: plain atomics, no I/O.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::Status;

/// Every outcome of a heartbeat, as metric labels. `dropped` counts heartbeats an
/// adapter could not even queue (overload); the others are decided by the domain.
pub const HEARTBEAT_OUTCOMES: [&str; 10] = [
    "ok",
    "unknown_project",
    "malformed",
    "slug_mismatch",
    "bad_namespace",
    "replay",
    "oversize",
    "dropped",
    "key_required",
    "key_invalid",
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

/// Upper bounds, in seconds, of the buckets of [`ClockSkew`] (absolute skew).
pub const CLOCK_SKEW_BUCKETS: [f64; 9] = [0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

/// How far senders' clocks are from ours (`|now - timestamp|` of accepted heartbeats
/// that carry one), as a histogram: counts per bucket, the sum and the count.
#[derive(Debug, Default)]
pub struct ClockSkew {
    buckets: [AtomicU64; CLOCK_SKEW_BUCKETS.len()],
    /// Sum of the observations, in microseconds.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl ClockSkew {
    /// Records one observation, in seconds (its absolute value).
    pub fn observe(&self, seconds: f64) {
        let s = seconds.abs();
        for (bound, bucket) in CLOCK_SKEW_BUCKETS.iter().zip(&self.buckets) {
            if s <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "bounded, non-negative"
        )]
        let micros = (s * 1e6).min(u64::MAX as f64) as u64;
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// `(upper bound, observations in that bucket alone)` per bucket; observations past
    /// the last bound are only in the count.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        CLOCK_SKEW_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect()
    }

    /// The sum of the observations, in seconds.
    pub fn sum(&self) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "a metric")]
        let micros = self.sum_micros.load(Ordering::Relaxed) as f64;
        micros / 1e6
    }

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}
