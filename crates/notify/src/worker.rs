//! One channel's sender task: its messages in order, each retried with exponential
//! backoff and jitter until it is taken or its deadline passes, then recorded. A slow
//! or failing channel only ever waits in its own task.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use federation_domain::notify::{
    ChannelSpec, Delivery, DeliveryLog, DeliveryStatus, Message, Sender,
};
use tokio::sync::mpsc;

use crate::metrics::DeliveryMetrics;

/// Retry limits.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// No attempt starts after this long from the first.
    pub deadline: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(500),
            max: Duration::from_secs(30),
            deadline: Duration::from_secs(300),
        }
    }
}

impl Retry {
    /// The wait before attempt `n + 1` (`n` ≥ 1 attempts made): `first · 2^(n-1)`, at
    /// most `max`, then "full jitter" between half and all of it (AWS's advice), so
    /// retries of many messages do not arrive together.
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .first
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(20)));
        let capped = exp.min(self.max);
        let half = capped / 2;
        half + Duration::from_nanos(fastrand::u64(
            0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX),
        ))
    }
}

/// Revisions whose messages are queued or being sent (a count per revision): the
/// channel's cursor stays below the lowest.
#[derive(Debug, Default, Clone)]
pub(crate) struct InFlight(Arc<Mutex<BTreeMap<u64, usize>>>);

impl InFlight {
    pub(crate) fn add(&self, revision: u64) {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(revision)
            .or_default() += 1;
    }

    pub(crate) fn done(&self, revision: u64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&revision) {
            *n -= 1;
            if *n == 0 {
                m.remove(&revision);
            }
        }
    }

    pub(crate) fn lowest(&self) -> Option<u64> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .next()
            .copied()
    }
}

/// What a worker uses.
pub(crate) struct Worker {
    pub spec: Arc<RwLock<ChannelSpec>>,
    pub sender: Arc<dyn Sender>,
    pub log: Arc<dyn DeliveryLog>,
    pub metrics: Arc<dyn DeliveryMetrics>,
    pub retry: Retry,
    pub in_flight: InFlight,
    /// Whether this replica still leads: no attempt starts once it does not.
    pub leads: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl Worker {
    pub(crate) async fn run(self, mut rx: mpsc::Receiver<Message>) {
        while let Some(message) = rx.recv().await {
            self.deliver(&message).await;
            self.in_flight.done(message.revision);
        }
    }

    async fn deliver(&self, message: &Message) {
        let started = tokio::time::Instant::now();
        let name = message.channel.as_str().to_owned();
        let mut attempts = 0u32;
        loop {
            if !(self.leads)() {
                tracing::info!(channel = %name, revision = message.revision, "no longer the leader: delivery left to the next one");
                return;
            }
            let spec = self.spec.read().unwrap_or_else(|p| p.into_inner()).clone();
            attempts += 1;
            let attempt = self.sender.send(&spec, message).await;
            let latency = Duration::from_millis(attempt.latency_ms);
            let wait = self.retry.backoff(attempts);
            let give_up = !attempt.delivered()
                && (!attempt.retryable || started.elapsed() + wait > self.retry.deadline);
            if attempt.delivered() || give_up {
                let status = if attempt.delivered() {
                    self.metrics.sent(&name, latency);
                    DeliveryStatus::Sent
                } else {
                    self.metrics.failed(&name);
                    tracing::warn!(channel = %name, revision = message.revision, attempts, error = attempt.error.as_deref().unwrap_or(""), "notification failed");
                    DeliveryStatus::Failed
                };
                let record = Delivery {
                    id: 0,
                    channel: name.clone(),
                    revision: message.revision,
                    event: message.event.as_str().to_owned(),
                    slug: message.subject.as_ref().map(|s| s.slug.clone()),
                    status,
                    attempts,
                    http_status: attempt.http_status,
                    last_error: attempt.error.clone(),
                    latency_ms: attempt.latency_ms,
                    at: chrono::Utc::now(),
                };
                if let Err(e) = self.log.record_delivery(&record).await {
                    tracing::warn!(channel = %name, error = %e, "recording a delivery failed");
                }
                return;
            }
            self.metrics.retried(&name);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let r = Retry {
            first: Duration::from_millis(100),
            max: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
        };
        for _ in 0..200 {
            let b1 = r.backoff(1);
            assert!(
                b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100),
                "{b1:?}"
            );
            let b3 = r.backoff(3);
            assert!(
                b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400),
                "{b3:?}"
            );
            let b20 = r.backoff(20);
            assert!(
                b20 >= Duration::from_millis(500) && b20 <= Duration::from_secs(1),
                "{b20:?}"
            );
        }
    }

    #[test]
    fn in_flight_keeps_the_lowest_revision_until_done() {
        let f = InFlight::default();
        assert_eq!(f.lowest(), None);
        f.add(7);
        f.add(7);
        f.add(9);
        f.done(7);
        assert_eq!(f.lowest(), Some(7));
        f.done(7);
        assert_eq!(f.lowest(), Some(9));
    }
}
