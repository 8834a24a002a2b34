use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{Health, HeartbeatConfig, HeartbeatError, HttpTarget, Sink};

/// How often a publisher whose NATS link is down looks whether it is back.
const LINK_POLL: Duration = Duration::from_millis(100);

/// The wait before the next beat: `interval` times a uniform factor in
/// `[1 - jitter, 1 + jitter]`.
pub fn jittered(interval: Duration, jitter: f64, rng: &mut fastrand::Rng) -> Duration {
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    interval.mul_f64(1.0 + jitter * (2.0 * rng.f64() - 1.0))
}

/// What a publisher did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Beats handed to NATS, or accepted (202) by the service.
    pub sent: u64,
    /// Beats the client or the service refused.
    pub failed: u64,
    /// Beats that fell due while the NATS link was down, and were not queued.
    pub skipped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> PublisherStats {
        PublisherStats {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }
}

/// A running heartbeat: a tokio task that beats at once, then every jittered interval,
/// and at once again whenever the health changes or the NATS link comes back.
///
/// Dropping it stops the task too; [`Publisher::stop`] also flushes the client.
pub struct Publisher {
    health: watch::Sender<Health>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    sink: Sink,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("sink", &self.sink)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Publisher {
    /// Publishes over NATS with `client` (see [`crate::connect_nats`]). Must be called
    /// inside a tokio runtime.
    pub fn nats(config: HeartbeatConfig, client: async_nats::Client) -> Self {
        Self::start(config, Sink::nats(client))
    }

    /// Posts heartbeats to the service over HTTP.
    pub fn http(config: HeartbeatConfig, target: HttpTarget) -> Result<Self, HeartbeatError> {
        Ok(Self::start(config, Sink::http(target)?))
    }

    /// Starts beating into `sink`, online.
    pub fn start(config: HeartbeatConfig, sink: Sink) -> Self {
        Self::start_with(config, sink, Health::Online)
    }

    /// Starts beating into `sink`, the first beat already saying `health`.
    pub fn start_with(config: HeartbeatConfig, sink: Sink, health: Health) -> Self {
        let (health, health_rx) = watch::channel(health);
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run(
            config,
            sink.clone(),
            health_rx,
            stop_rx,
            counters.clone(),
        ));
        Self {
            health,
            stop,
            task: Some(task),
            counters,
            sink,
        }
    }

    /// Reports degraded with `reasons` from now on; the change is sent at once.
    pub fn set_degraded<I, S>(&self, reasons: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_health(Health::degraded(reasons));
    }

    /// Reports online again; sent at once when it was degraded.
    pub fn set_online(&self) {
        self.set_health(Health::Online);
    }

    /// Sets what the beats say; a change is sent at once.
    pub fn set_health(&self, health: Health) {
        self.health.send_if_modified(|current| {
            if *current == health {
                false
            } else {
                *current = health;
                true
            }
        });
    }

    /// The health the next heartbeat reports.
    pub fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// What the publisher has done so far.
    pub fn stats(&self) -> PublisherStats {
        self.counters.snapshot()
    }

    /// Stops beating, flushes the client (at most 5 s), and returns what was done.
    pub async fn stop(mut self) -> PublisherStats {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.counters.snapshot()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn run(
    config: HeartbeatConfig,
    sink: Sink,
    mut health: watch::Receiver<Health>,
    mut stop: watch::Receiver<bool>,
    counters: Arc<Counters>,
) {
    let mut rng = fastrand::Rng::new();
    let interval = config.interval_value();
    let jitter = config.jitter_value();
    let mut next = Instant::now(); // the first beat at once
    'beats: loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            changed = health.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep_until(next) => {}
        }
        if *stop.borrow() {
            break;
        }
        // While the link is down nothing is queued: each beat that falls due is counted
        // as skipped, and the first beat after the link is back goes out at once.
        if !sink.is_connected() {
            counters.skipped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(slug = config.slug(), "NATS link down: heartbeat skipped");
            let mut due = Instant::now() + jittered(interval, jitter, &mut rng);
            while !sink.is_connected() {
                tokio::select! {
                    _ = stop.changed() => break 'beats,
                    _ = tokio::time::sleep(LINK_POLL) => {}
                }
                if Instant::now() >= due {
                    counters.skipped.fetch_add(1, Ordering::Relaxed);
                    due = Instant::now() + jittered(interval, jitter, &mut rng);
                }
            }
        }
        let current = health.borrow_and_update().clone();
        let payload = config.payload(&current, chrono::Utc::now());
        tokio::select! {
            sent = sink.send(&config, &payload) => match sent {
                Ok(()) => {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(slug = config.slug(), error = %e, "heartbeat not sent");
                }
            },
            _ = stop.changed() => break,
        }
        next = Instant::now() + jittered(interval, jitter, &mut rng);
    }
    if let Err(e) = sink.flush().await {
        tracing::debug!(error = %e, "heartbeat client not flushed at stop");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bounds_and_spreads() {
        let mut rng = fastrand::Rng::with_seed(7);
        let interval = Duration::from_secs(30);
        let waits: Vec<Duration> = (0..10_000)
            .map(|_| jittered(interval, 0.1, &mut rng))
            .collect();
        let lo = Duration::from_secs(27);
        let hi = Duration::from_secs(33);
        assert!(waits.iter().all(|w| *w >= lo && *w <= hi));
        let min = waits.iter().min().unwrap();
        let max = waits.iter().max().unwrap();
        assert!(*min < Duration::from_millis(27_300), "{min:?}");
        assert!(*max > Duration::from_millis(32_700), "{max:?}");
        let mean = waits.iter().map(Duration::as_secs_f64).sum::<f64>() / waits.len() as f64;
        assert!((mean - 30.0).abs() < 0.2, "{mean}");
        assert_eq!(jittered(interval, 0.0, &mut rng), interval);
    }
}
