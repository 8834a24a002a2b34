//! The service's `/metrics`, read as the bench needs it: the heartbeat counter by
//! outcome and the store flush count, once or polled in the background.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::http::http_get;

/// The service's count of heartbeats by outcome, and of store flushes.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct HeartbeatCounts {
    /// `federation_heartbeats_received_total{outcome="ok"}`
    pub(super) ok: f64,
    /// `federation_heartbeats_received_total{outcome="dropped"}`: the ingest queue was full.
    pub(super) dropped: f64,
    /// `federation_store_flush_duration_seconds_count`
    pub(super) flushes: f64,
}

impl HeartbeatCounts {
    /// `GET /metrics` on the service at `port`.
    pub(super) fn read(port: u16) -> anyhow::Result<Self> {
        let (status, body) = http_get(port, "/metrics")?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(Self::parse(&body))
    }

    /// `federation_heartbeats_received_total{outcome="ok"} 123` → `ok: 123`; what is
    /// missing counts 0.
    pub(super) fn parse(metrics: &str) -> Self {
        let mut counts = Self {
            flushes: value(metrics, "federation_store_flush_duration_seconds_count").unwrap_or(0.0),
            ..Self::default()
        };
        for line in metrics.lines() {
            let Some(rest) = line.strip_prefix("federation_heartbeats_received_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.split_once('}') else {
                continue;
            };
            let Some(outcome) = labels
                .split(',')
                .find_map(|l| l.trim().strip_prefix("outcome="))
            else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            match outcome.trim_matches('"') {
                "ok" => counts.ok = value,
                "dropped" => counts.dropped = value,
                _ => {}
            }
        }
        counts
    }
}

/// The value of an unlabelled metric (`name 12`).
pub(super) fn value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// One `/metrics` reading and when it was taken.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) at: Instant,
    pub(super) counts: HeartbeatCounts,
}

/// Reads `/metrics` every 50 ms, on a thread of its own, until finished.
pub(super) struct CounterPoller {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: JoinHandle<()>,
}

impl CounterPoller {
    pub(super) fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(counts) = HeartbeatCounts::read(port) {
                        let sample = Sample {
                            at: Instant::now(),
                            counts,
                        };
                        lock(&samples).push(sample);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Self {
            stop,
            samples,
            thread,
        }
    }

    pub(super) fn last(&self) -> Option<Sample> {
        lock(&self.samples).last().copied()
    }

    pub(super) fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        Arc::try_unwrap(self.samples)
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .unwrap_or_default()
    }
}

/// The samples, also after a panic on the polling thread (they are only ever pushed).
fn lock(samples: &Mutex<Vec<Sample>>) -> std::sync::MutexGuard<'_, Vec<Sample>> {
    samples.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_services_heartbeat_counter() {
        let metrics = "# TYPE federation_heartbeats_received counter\n\
            federation_heartbeats_received_total{outcome=\"ok\"} 1234\n\
            federation_heartbeats_received_total{outcome=\"dropped\"} 5\n\
            federation_heartbeats_received_total{outcome=\"invalid\"} 7\n\
            federation_nats_messages_received_total 99\n";
        assert_eq!(
            HeartbeatCounts::parse(metrics),
            HeartbeatCounts {
                ok: 1234.0,
                dropped: 5.0,
                flushes: 0.0
            }
        );
    }

    #[test]
    fn reads_the_flush_count_and_other_plain_values() {
        let metrics = "federation_store_flush_duration_seconds_sum 0.5\n\
            federation_store_flush_duration_seconds_count 42\n\
            federation_nats_canaries_returned_total 3\n";
        assert_eq!(HeartbeatCounts::parse(metrics).flushes, 42.0);
        assert_eq!(
            value(metrics, "federation_nats_canaries_returned_total"),
            Some(3.0)
        );
        assert_eq!(value(metrics, "federation_nats_canaries"), None);
    }
}
