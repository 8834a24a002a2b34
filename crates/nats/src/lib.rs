//! NATS adapter of the federation service: heartbeats in, status events out.
//!
//! - Heartbeats arrive on `<presence>.<slug>` (default `hub.presence.*`). The subscriber
//!   only hands each message to a bounded queue and never waits on anything else; an
//!   ingest task decodes and records them (memory only: the presence table is written
//!   behind by the server's ticker). When the queue is full, messages are dropped and
//!   counted, never buffered without bound.
//! - **Every replica receives every heartbeat** (no queue group): each keeps the whole
//!   picture in its presence table, so any replica answers reads with current data and
//!   a replica that restarts loses nothing another one saw.
//! - Status transitions are published on `<events>.<slug>` (default
//!   `hub.federation.status.<slug>`) as JSON `{slug, from, to, reason, at,
//!   last_heartbeat_at}`, after they are stored.
//! - **Canary**: every `canary_interval` each replica publishes a message to itself on
//!   `<presence>._canary-<instance>` (`_` can never start a slug). When more than
//!   [`federation_domain::presence::CANARY_MISSES`] in a row do not come back through the
//!   subscription, the partition guard engages exactly as when the link is down.
//! - The client connects in the background with unlimited reconnects: the service
//!   serves REST while NATS is down, and the guard holds expiry until `offline_after`
//!   after the link is healthy again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, Event, Subject};
use async_trait::async_trait;
use bytes::Bytes;
use federation_domain::{
    EventError, Federation, GuardState, HeartbeatRejected, HeartbeatRelay, Slug, StatusEvents,
    Transition,
};
use futures::StreamExt;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Heartbeats waiting for the ingest task; beyond this, new ones are dropped and counted.
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
/// The prefix of canary subject tokens; slugs cannot start with `_`.
pub const CANARY_PREFIX: &str = "_canary-";
/// How long a status event may wait for the client before it counts as not published.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// Repeated log lines about one slug or one kind of rejection: at most one per this.
const LOG_EVERY: Duration = Duration::from_secs(60);
const LOG_KEYS_MAX: usize = 10_000;

/// How to reach NATS and which subjects to use.
#[derive(Clone)]
pub struct NatsConfig {
    pub url: String,
    pub token: Option<String>,
    pub creds: Option<PathBuf>,
    pub nkey: Option<String>,
    pub presence_subject: String,
    pub events_subject: String,
    pub canary_interval: Duration,
    pub queue_capacity: usize,
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("NatsConfig")
            .field("url", &redacted_url(&self.url))
            .field("token", &masked(&self.token))
            .field("creds", &self.creds)
            .field("nkey", &masked(&self.nkey))
            .field("presence_subject", &self.presence_subject)
            .field("events_subject", &self.events_subject)
            .field("canary_interval", &self.canary_interval)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum NatsError {
    #[error("cannot read NATS credentials file {path}: {source}")]
    Credentials {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up the NATS client: {0}")]
    Connect(String),
    #[error("cannot subscribe to {subject}: {message}")]
    Subscribe { subject: String, message: String },
}

/// Counters of the NATS ingest path (the rejections by kind are counted by the domain).
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Messages taken off the presence subscription (canaries excluded).
    pub received: AtomicU64,
    /// Messages dropped because the ingest queue was full.
    pub dropped: AtomicU64,
    /// Our own canaries seen coming back.
    pub canaries_returned: AtomicU64,
}

/// A connected (or connecting) NATS client with the federation's subjects.
pub struct NatsBus {
    client: Client,
    config: NatsConfig,
    instance: String,
    link_events: watch::Receiver<u64>,
    stats: Arc<IngestStats>,
    connected: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

fn instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

impl NatsBus {
    /// Sets up the client. The connection is made in the background, with unlimited
    /// reconnects, so this returns at once even while NATS is down.
    pub async fn connect(config: NatsConfig) -> Result<Self, NatsError> {
        let (link_tx, link_events) = watch::channel(0u64);
        let link_tx = Arc::new(link_tx);
        let mut options = match &config.creds {
            Some(path) => ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|source| NatsError::Credentials {
                    path: path.display().to_string(),
                    source,
                })?,
            None => ConnectOptions::new(),
        };
        // Credentials in the URL (`nats://user:pass@host`, or `nats://token@host`): the
        // client library ignores them, so they are applied here.
        if let Some((user, password)) = url_credentials(&config.url) {
            options = match password {
                Some(password) => options.user_and_password(user, password),
                None => options.token(user),
            };
        }
        if let Some(token) = &config.token {
            options = options.token(token.clone());
        }
        if let Some(nkey) = &config.nkey {
            options = options.nkey(nkey.clone());
        }
        if config.url.starts_with("tls://") {
            options = options.require_tls(true);
        }
        let instance = instance_id();
        options = options
            .name(format!("federation-{instance}"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(2))
            .ping_interval(Duration::from_secs(10))
            .subscription_capacity(config.queue_capacity.max(1024))
            .event_callback(move |event| {
                let link_tx = link_tx.clone();
                async move {
                    match event {
                        Event::Connected | Event::Disconnected | Event::Closed => {
                            link_tx.send_modify(|n| *n += 1);
                        }
                        Event::ServerError(e) => {
                            tracing::warn!(error = %e, "NATS server error");
                        }
                        Event::SlowConsumer(_) => {
                            tracing::warn!(
                                "NATS reports this client as a slow consumer: heartbeats were lost"
                            );
                        }
                        other => tracing::debug!(event = %other, "NATS event"),
                    }
                }
            });
        let client = options
            .connect(config.url.as_str())
            .await
            .map_err(|e| NatsError::Connect(e.to_string()))?;
        Ok(Self {
            client,
            config,
            instance,
            link_events,
            stats: Arc::new(IngestStats::default()),
            connected: Arc::new(AtomicBool::new(false)),
            tasks: Vec::new(),
        })
    }

    /// The status-event publisher over this client.
    pub fn status_events(&self) -> Arc<dyn StatusEvents> {
        Arc::new(NatsStatusEvents {
            client: self.client.clone(),
            prefix: self.config.events_subject.clone(),
        })
    }

    /// Republishes heartbeats taken over HTTP on the presence subject, so every
    /// replica hears them.
    pub fn heartbeat_relay(&self) -> Arc<dyn HeartbeatRelay> {
        Arc::new(NatsHeartbeatRelay {
            client: self.client.clone(),
            prefix: self.config.presence_subject.clone(),
        })
    }

    /// This replica's instance name (unique per process; also the canary's).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether the link is up right now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// A cheap, shareable view of the link for health checks.
    pub fn link(&self) -> NatsLink {
        NatsLink {
            client: self.client.clone(),
        }
    }

    pub fn stats(&self) -> Arc<IngestStats> {
        self.stats.clone()
    }

    /// The subject our canaries travel on.
    pub fn canary_subject(&self) -> String {
        format!(
            "{}.{CANARY_PREFIX}{}",
            self.config.presence_subject, self.instance
        )
    }

    /// Subscribes to the presence subjects and starts the link watcher, the subscriber,
    /// the ingest task and the canary.
    pub async fn start(&mut self, federation: Arc<Federation>) -> Result<(), NatsError> {
        let subject = format!("{}.*", self.config.presence_subject);
        let subscriber =
            self.client
                .subscribe(subject.clone())
                .await
                .map_err(|e| NatsError::Subscribe {
                    subject: subject.clone(),
                    message: e.to_string(),
                })?;
        let (queue_tx, queue_rx) =
            mpsc::channel::<(Subject, Bytes)>(self.config.queue_capacity.max(1));

        self.tasks.push(tokio::spawn(watch_link(
            self.client.clone(),
            self.link_events.clone(),
            federation.clone(),
            self.connected.clone(),
        )));
        self.tasks.push(tokio::spawn(subscribe_loop(
            subscriber,
            self.config.presence_subject.len() + 1,
            format!("{CANARY_PREFIX}{}", self.instance),
            queue_tx,
            federation.clone(),
            self.stats.clone(),
        )));
        self.tasks.push(tokio::spawn(ingest_loop(
            queue_rx,
            self.config.presence_subject.len() + 1,
            federation.clone(),
        )));
        self.tasks.push(tokio::spawn(canary_loop(
            self.client.clone(),
            self.canary_subject(),
            self.config.canary_interval,
            federation,
        )));
        tracing::info!(
            subject = %subject,
            events = %format!("{}.<slug>", self.config.events_subject),
            canary = %self.canary_subject(),
            "listening for heartbeats on NATS"
        );
        Ok(())
    }

    /// Stops the tasks and flushes what the client still buffers.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
    }
}

/// The URL with any user, password or token in it masked, for logs.
fn redacted_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if !url.username().is_empty() => {
            let _ = url.set_username("***");
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// The user and password (or token, when there is no password) in a NATS URL, decoded.
fn url_credentials(raw: &str) -> Option<(String, Option<String>)> {
    let url = url::Url::parse(raw).ok()?;
    if url.username().is_empty() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some((decode(url.username()), url.password().map(decode)))
}

/// A view of the link's state for health checks.
#[derive(Clone)]
pub struct NatsLink {
    client: Client,
}

impl NatsLink {
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }
}

/// Publishes transitions on `<prefix>.<slug>`.
struct NatsStatusEvents {
    client: Client,
    prefix: String,
}

struct NatsHeartbeatRelay {
    client: Client,
    prefix: String,
}

#[async_trait]
impl HeartbeatRelay for NatsHeartbeatRelay {
    async fn relay(&self, slug: &Slug, body: &[u8]) -> Result<(), EventError> {
        if self.client.connection_state() != State::Connected {
            return Err(EventError("the NATS link is down".into()));
        }
        let subject = format!("{}.{}", self.prefix, slug);
        let publish = self
            .client
            .publish(subject, bytes::Bytes::copy_from_slice(body));
        tokio::time::timeout(PUBLISH_TIMEOUT, publish)
            .await
            .map_err(|_| EventError("timed out".into()))?
            .map_err(|e| EventError(e.to_string()))
    }
}

/// The JSON of a status event.
#[derive(Debug, Serialize)]
pub struct StatusEvent<'a> {
    pub slug: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub reason: Option<&'a str>,
    pub at: chrono::DateTime<chrono::Utc>,
    pub last_heartbeat_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The transition's place in the change log: an id to de-duplicate on (also sent
    /// as the `Nats-Msg-Id` header).
    pub revision: u64,
}

impl<'a> StatusEvent<'a> {
    /// The event of `t`, stored at `revision`.
    pub fn new(t: &'a Transition, revision: u64) -> Self {
        Self {
            slug: t.slug.as_str(),
            from: t.from.as_str(),
            to: t.to.as_str(),
            reason: t.reason.as_deref(),
            at: t.at,
            last_heartbeat_at: t.last_heartbeat_at,
            revision,
        }
    }
}

#[async_trait]
impl StatusEvents for NatsStatusEvents {
    async fn publish(&self, transition: &Transition, revision: u64) -> Result<(), EventError> {
        if self.client.connection_state() != State::Connected {
            return Err(EventError("the NATS link is down".into()));
        }
        let body = serde_json::to_vec(&StatusEvent::new(transition, revision))
            .map_err(|e| EventError(e.to_string()))?;
        let subject = format!("{}.{}", self.prefix, transition.slug);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", revision.to_string().as_str());
        let publish = self
            .client
            .publish_with_headers(subject, headers, body.into());
        tokio::time::timeout(PUBLISH_TIMEOUT, publish)
            .await
            .map_err(|_| EventError("timed out".into()))?
            .map_err(|e| EventError(e.to_string()))
    }
}

async fn watch_link(
    client: Client,
    mut events: watch::Receiver<u64>,
    federation: Arc<Federation>,
    connected: Arc<AtomicBool>,
) {
    // Events say when to look; the state itself is read from the client, and polled
    // as well in case an event was missed.
    let mut poll = tokio::time::interval(Duration::from_millis(250));
    loop {
        let up = client.connection_state() == State::Connected;
        let was = connected.swap(up, Ordering::SeqCst);
        if up && !was {
            tracing::info!("NATS link up");
            federation.bus_connected();
        } else if !up && was {
            tracing::warn!("NATS link down: no project expires for silence until it is back");
            federation.bus_disconnected();
        }
        tokio::select! {
            changed = events.changed() => if changed.is_err() { return },
            _ = poll.tick() => {}
        }
    }
}

async fn subscribe_loop(
    mut subscriber: async_nats::Subscriber,
    prefix_len: usize,
    own_canary: String,
    queue: mpsc::Sender<(Subject, Bytes)>,
    federation: Arc<Federation>,
    stats: Arc<IngestStats>,
) {
    let mut last_drop_log: Option<Instant> = None;
    while let Some(message) = subscriber.next().await {
        let token = message.subject.get(prefix_len..).unwrap_or("");
        if let Some(instance) = token.strip_prefix(CANARY_PREFIX) {
            if token == own_canary {
                stats.canaries_returned.fetch_add(1, Ordering::Relaxed);
                federation.canary_received();
            } else {
                tracing::trace!(instance, "canary of another replica");
            }
            continue;
        }
        stats.received.fetch_add(1, Ordering::Relaxed);
        // The subject goes as it is (no copy); the ingest task cuts the slug out.
        if let Err(mpsc::error::TrySendError::Full(_)) =
            queue.try_send((message.subject, message.payload))
        {
            let dropped = stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            federation.count_dropped_heartbeat();
            if last_drop_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                last_drop_log = Some(Instant::now());
                tracing::warn!(dropped, "heartbeat queue full: heartbeats dropped");
            }
        }
    }
    tracing::warn!("the NATS presence subscription ended");
}

/// Logs a repeated condition at most once per key per [`LOG_EVERY`].
#[derive(Default)]
struct LogLimiter {
    last: HashMap<String, Instant>,
}

impl LogLimiter {
    fn allow(&mut self, key: &str) -> bool {
        let now = Instant::now();
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
/// then recorded under one lock per batch.
async fn ingest_loop(
    mut queue: mpsc::Receiver<(Subject, Bytes)>,
    prefix_len: usize,
    federation: Arc<Federation>,
) {
    let mut limiter = LogLimiter::default();
    let mut batch = Vec::with_capacity(1024);
    while queue.recv_many(&mut batch, 1024).await > 0 {
        let rejected =
            federation.record_heartbeats(batch.iter().map(|(subject, payload)| {
                (subject.get(prefix_len..).unwrap_or(""), payload.as_ref())
            }));
        for (token, rejected) in &rejected {
            log_rejection(&mut limiter, token, rejected);
        }
        drop(rejected);
        batch.clear();
    }
}

fn log_rejection(limiter: &mut LogLimiter, token: &str, rejected: &HeartbeatRejected) {
    match rejected {
        HeartbeatRejected::UnknownProject(slug) => {
            if limiter.allow(&format!("unknown:{slug}")) {
                tracing::info!(slug = %slug, "heartbeat for an unregistered project dropped");
            }
        }
        HeartbeatRejected::Invalid(e) => {
            if limiter.allow(e.kind()) {
                let subject_token: String = token.chars().take(64).collect();
                tracing::warn!(kind = e.kind(), subject_token = %subject_token, error = %e, "invalid heartbeat dropped");
            }
        }
    }
}

/// While canaries stay lost on a link that is up, reconnect every this many intervals:
/// a subscription the server dropped (permissions changed, say) comes back only when the
/// client subscribes again, which a reconnect does.
const RECONNECT_EVERY_LOST_CANARIES: u32 = 5;

async fn canary_loop(
    client: Client,
    subject: String,
    interval: Duration,
    federation: Arc<Federation>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lost_ticks: u32 = 0;
    loop {
        ticks.tick().await;
        if client.connection_state() != State::Connected {
            lost_ticks = 0;
            continue; // the link-down guard already holds
        }
        if federation.guard() == GuardState::CanaryLost {
            lost_ticks += 1;
            if lost_ticks == 1 {
                tracing::warn!("our canaries stopped coming back through the presence subscription: no project expires for silence until they do");
            }
            if lost_ticks.is_multiple_of(RECONNECT_EVERY_LOST_CANARIES) {
                tracing::warn!("canaries still lost: reconnecting to NATS to subscribe again");
                if let Err(e) = client.force_reconnect().await {
                    tracing::warn!(error = %e, "NATS reconnect failed");
                }
                continue;
            }
        } else {
            lost_ticks = 0;
        }
        federation.canary_sent();
        if let Err(e) = client
            .publish(subject.clone(), Bytes::from_static(b"{}"))
            .await
        {
            tracing::debug!(error = %e, "canary not published");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_limiter_allows_one_line_per_key_per_minute() {
        let mut l = LogLimiter::default();
        assert!(l.allow("a"));
        assert!(!l.allow("a"));
        assert!(l.allow("b"));
    }

    #[test]
    fn credentials_come_from_the_url() {
        assert_eq!(url_credentials("nats://127.0.0.1:4222"), None);
        assert_eq!(
            url_credentials("nats://svc:p%40ss@127.0.0.1:4222"),
            Some(("svc".into(), Some("p@ss".into())))
        );
        assert_eq!(
            url_credentials("tls://s3cret@nats.example.com"),
            Some(("s3cret".into(), None))
        );
    }

    #[test]
    fn debug_output_masks_every_secret() {
        let config = NatsConfig {
            url: "nats://svc:hunter2@127.0.0.1:4222".into(),
            token: Some("tok-secret".into()),
            creds: None,
            nkey: Some("SUAseed".into()),
            presence_subject: "hub.presence".into(),
            events_subject: "hub.federation.status".into(),
            canary_interval: Duration::from_secs(5),
            queue_capacity: 10,
        };
        let shown = format!("{config:?}");
        for secret in ["hunter2", "svc", "tok-secret", "SUAseed"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("127.0.0.1:4222"), "{shown}");
    }

    #[test]
    fn canary_tokens_can_never_be_slugs() {
        assert!(
            federation_domain::Slug::parse(&format!("{CANARY_PREFIX}{}", instance_id())).is_err()
        );
    }
}
