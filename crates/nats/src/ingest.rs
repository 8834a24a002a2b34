//! Heartbeats in: the presence subscription hands each message to a bounded queue, and
//! one ingest task records them a batch at a time.
//!
//! The subscriber never waits on anything but the subscription: when the queue is full,
//! messages are dropped and counted, never buffered without bound. The ingest task
//! lives as long as the adapter; the subscriber lives as long as one client (the link
//! supervisor starts a new one with each client it builds).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_nats::Subject;
use bytes::Bytes;
use federation_domain::{Federation, HeartbeatRejected};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::shared::Shared;
use crate::wire::{CANARY_PREFIX, LOG_EVERY, RELAYED_BY};

/// Heartbeats waiting for the ingest task; beyond this, new ones are dropped and counted.
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
const LOG_KEYS_MAX: usize = 10_000;

/// Heartbeats recorded under one lock of the presence table.
const BATCH: usize = 1024;

/// A message on its way from the subscriber to the ingest task: the subject as it came
/// (no copy; the ingest task cuts the slug out) and the payload.
pub(crate) type Queued = (Subject, Bytes);

/// Counters of the NATS ingest path (the rejections by kind are counted by the domain).
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Messages taken off the presence subscription (canaries excluded).
    pub received: AtomicU64,
    /// Messages dropped because the ingest queue was full.
    pub dropped: AtomicU64,
    /// Our own canaries seen coming back.
    pub canaries_returned: AtomicU64,
    /// Messages the NATS client dropped because a subscription's buffer was full, as its
    /// slow-consumer events report them (one each; under a burst the client reports
    /// fewer than it drops): heartbeats, most likely, lost before the ingest queue.
    pub slow_consumer_events: AtomicU64,
    /// When a slow consumer was last logged (at most once per [`LOG_EVERY`]).
    pub(crate) slow_consumer_logged: std::sync::Mutex<Option<Instant>>,
}

impl IngestStats {
    /// Counts a slow-consumer event of the client, and logs the count since the last
    /// line at most once per [`LOG_EVERY`] (the client reports dropped messages one by
    /// one: thousands a second under a burst).
    pub(crate) fn slow_consumer(&self) {
        let total = self.slow_consumer_events.fetch_add(1, Ordering::Relaxed) + 1;
        let mut logged = self
            .slow_consumer_logged
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if logged.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            *logged = Some(Instant::now());
            drop(logged);
            tracing::warn!(
                slow_consumer_events = total,
                "the NATS client dropped messages: a subscription's buffer was full (heartbeats \
                 arrive faster than this replica takes them; logged at most once a minute, \
                 counted in federation_nats_slow_consumer_events_total)"
            );
        }
    }
}

/// What the subscriber needs besides the subscription itself.
pub(crate) struct Subscriber {
    /// Length of `<presence>.`: the slug starts there.
    pub(crate) prefix_len: usize,
    /// This replica's instance name: a heartbeat it relayed itself (taken over HTTP,
    /// already recorded) carries it in [`RELAYED_BY`] and is not recorded twice.
    pub(crate) instance: String,
    pub(crate) queue: mpsc::Sender<Queued>,
    pub(crate) federation: Arc<Federation>,
    pub(crate) stats: Arc<IngestStats>,
}

impl Subscriber {
    /// Whether the queue is at least half full.
    fn crowded(&self) -> bool {
        self.queue.capacity() <= self.queue.max_capacity() / 2
    }

    /// Takes messages off the subscription until it ends (which only happens when the
    /// client behind it is gone).
    ///
    /// Outside tokio's cooperative budget: within it, each wake-up took at most 128
    /// messages off the client's channel and yielded, while the client's connection
    /// task, whose budget counts socket reads, put up to 128 reads' worth (tens of
    /// thousands) in per turn; under a burst the channel filled and the client dropped
    /// heartbeats (a slow consumer) that the queue had room for. The subscriber's work per
    /// message is a few lookups, and it waits again as soon as the channel is empty.
    pub(crate) async fn run(self, subscription: async_nats::Subscriber) {
        tokio::task::coop::unconstrained(self.take(subscription)).await;
    }

    async fn take(self, mut subscription: async_nats::Subscriber) {
        let mut last_drop_log: Option<Instant> = None;
        let mut last_stranger_log: Option<Instant> = None;
        let mut strangers: u64 = 0;
        while let Some(message) = subscription.next().await {
            let token = message.subject.get(self.prefix_len..).unwrap_or("");
            if let Some(instance) = token.strip_prefix(CANARY_PREFIX) {
                // A replica of an older version, which sent canaries here.
                tracing::trace!(instance, "canary of another replica");
                continue;
            }
            self.stats.received.fetch_add(1, Ordering::Relaxed);
            let relayed_by = message.headers.as_ref().and_then(|h| h.get(RELAYED_BY));
            if relayed_by.is_some_and(|by| by.as_str() == self.instance) {
                continue;
            }
            // Members before strangers: once the queue is half full, a heartbeat for an
            // unknown slug takes no place in it (its log line limited overall, not per
            // slug), so strangers never hold more than half the room members may need.
            // While there is room, the ingest task refuses them instead: the registry's
            // search for every message was the largest share of this loop's time.
            if self.crowded() && !self.federation.is_member(token) {
                self.federation.count_unknown_heartbeat();
                strangers += 1;
                if last_stranger_log.is_none_or(|t: Instant| t.elapsed() >= LOG_EVERY) {
                    last_stranger_log = Some(Instant::now());
                    let sample: String = token.chars().take(64).collect();
                    // Warning, in the original's words (its operators grep for them).
                    tracing::warn!(
                        strangers,
                        sample = %sample.escape_debug(),
                        "Heartbeat for unknown project '{}': Project must be registered via \
                         config/projects.yaml or API first (heartbeats for unregistered \
                         projects are logged once a minute)",
                        sample.escape_debug()
                    );
                    strangers = 0;
                }
                continue;
            }
            if let Err(mpsc::error::TrySendError::Full(_)) =
                self.queue.try_send((message.subject, message.payload))
            {
                let dropped = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                self.federation.count_dropped_heartbeat();
                if last_drop_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                    last_drop_log = Some(Instant::now());
                    tracing::warn!(dropped, "heartbeat queue full: heartbeats dropped");
                }
            }
        }
    }
}

/// Counts our own canaries as they come back on their subscription, and records the
/// confirmation markers that travel there too ([`crate::echo`]); ends with it.
pub(crate) async fn canaries_returned(
    mut subscription: async_nats::Subscriber,
    shared: Arc<Shared>,
    federation: Arc<Federation>,
    stats: Arc<IngestStats>,
) -> &'static str {
    while let Some(message) = subscription.next().await {
        if shared.echo.take(message.headers.as_ref()) {
            continue;
        }
        shared.echo.set_refused(false);
        stats.canaries_returned.fetch_add(1, Ordering::Relaxed);
        federation.canary_received();
    }
    "the canary subscription ended"
}

/// Takes the outbox's confirmation markers back on its own connection (which hears our
/// canaries too: they count on the first connection only). Ends when the outbox
/// client's connection task is gone.
pub(crate) async fn markers_returned(
    mut subscription: async_nats::Subscriber,
    shared: Arc<Shared>,
) -> &'static str {
    while let Some(message) = subscription.next().await {
        shared.echo.take(message.headers.as_ref());
    }
    "the outbox's marker subscription ended"
}

/// Logs a repeated condition at most once per key per [`LOG_EVERY`].
#[derive(Default)]
struct LogLimiter {
    last: HashMap<String, Instant>,
}

impl LogLimiter {
    /// Whether a line for `key` may be logged at `now` (at most one per key per
    /// [`LOG_EVERY`]; at most `LOG_KEYS_MAX` keys remembered).
    fn allow(&mut self, key: &str, now: Instant) -> bool {
        if let Some(t) = self.last.get(key) {
            if now.duration_since(*t) < LOG_EVERY {
                return false;
            }
        }
        if self.last.len() >= LOG_KEYS_MAX {
            self.last.retain(|_, t| now.duration_since(*t) < LOG_EVERY);
            if self.last.len() >= LOG_KEYS_MAX {
                return false;
            }
        }
        self.last.insert(key.to_owned(), now);
        true
    }
}

/// Records the queued heartbeats a batch at a time: decoded outside the presence lock,
/// then recorded under one lock per batch. Ends when every sender is gone.
pub(crate) async fn ingest_loop(
    mut queue: mpsc::Receiver<Queued>,
    prefix_len: usize,
    federation: Arc<Federation>,
) {
    let mut limiter = LogLimiter::default();
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let rejected =
            federation.record_heartbeats(batch.iter().map(|(subject, payload)| {
                (subject.get(prefix_len..).unwrap_or(""), payload.as_ref())
            }));
        for (token, rejected) in &rejected {
            log_rejection(&mut limiter, token, rejected, Instant::now());
        }
        drop(rejected);
        batch.clear();
    }
}

fn log_rejection(
    limiter: &mut LogLimiter,
    token: &str,
    rejected: &HeartbeatRejected,
    now: Instant,
) {
    match rejected {
        HeartbeatRejected::UnknownProject(slug) => {
            // Deregistered while queued (the subscriber drops the others): one key for
            // all, so a churn of slugs cannot fill the log.
            if limiter.allow("unknown", now) {
                tracing::warn!(
                    slug = %slug.escape_debug(),
                    "Heartbeat for unknown project '{}': Project must be registered via \
                     config/projects.yaml or API first",
                    slug.escape_debug()
                );
            }
        }
        HeartbeatRejected::Invalid(e) => {
            if limiter.allow(e.kind(), now) {
                let subject_token: String = token.chars().take(64).collect();
                tracing::warn!(kind = e.kind(), subject_token = %subject_token, error = %e, "invalid heartbeat dropped");
            }
        }
        // Judged on the HTTP route only; the bus has its own authorization.
        HeartbeatRejected::KeyRequired(_) | HeartbeatRejected::KeyInvalid(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_log_limiter_allows_one_line_per_key_per_minute() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut l = LogLimiter::default();
        assert!(l.allow("a", at(0)));
        assert!(!l.allow("a", at(0)));
        assert!(l.allow("b", at(1)));
        assert!(!l.allow("a", at(59)), "within the minute");
        assert!(l.allow("a", at(60)), "a minute later");
        assert!(!l.allow("a", at(61)));
        assert!(!l.allow("b", at(60)), "b's minute started at 1 s");
        assert!(l.allow("b", at(61)));
    }

    #[test]
    fn slow_consumer_events_are_each_counted_and_logged_once_a_minute() {
        let stats = IngestStats::default();
        stats.slow_consumer();
        let first = *stats.slow_consumer_logged.lock().unwrap();
        assert!(first.is_some(), "the first is logged");
        for _ in 0..999 {
            stats.slow_consumer();
        }
        assert_eq!(stats.slow_consumer_events.load(Ordering::Relaxed), 1000);
        assert_eq!(
            *stats.slow_consumer_logged.lock().unwrap(),
            first,
            "no other line within the minute"
        );
    }

    #[test]
    fn the_log_limiter_forgets_old_keys_and_bounds_new_ones() {
        let t0 = Instant::now();
        let mut l = LogLimiter::default();
        for i in 0..LOG_KEYS_MAX {
            assert!(l.allow(&format!("k{i}"), t0));
        }
        assert!(
            !l.allow("one-too-many", t0),
            "at most LOG_KEYS_MAX keys at once"
        );
        assert!(
            l.allow("one-too-many", t0 + LOG_EVERY),
            "once the others are a minute old they are forgotten"
        );
    }
}
