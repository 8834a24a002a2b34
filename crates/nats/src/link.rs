//! The link to NATS: a supervisor owns the client, tells the domain and the health
//! checks whether the link is up, runs the canary, and replaces the client when it dies.
//!
//! A *session* is one client with its presence subscription, its subscriber, its canary
//! and its link watcher, and a second client for the status-event outbox, so that its
//! confirmation markers ([`crate::echo`]) never queue behind a flood of heartbeats on
//! the first. Within a session each client reconnects by itself (subscribing again)
//! after a network cut or a server restart, and the link reads down while the first
//! does. The session ends, and the link reads down at once, when:
//! - the presence subscription, or the outbox's marker subscription, ends, which
//!   happens only when that client's connection task is gone (a panic in it, its
//!   command channel closed, or [`MAX_RECONNECTS`] failed reconnects in a row);
//! - the client's event channel closes (the same fault, seen from its other side);
//! - a canary cannot be handed to the client because its command channel is closed;
//! - our canaries stay lost on a live link for [`LOST_CANARY_TICKS_BEFORE_REBUILD`]
//!   intervals (the server no longer delivers to our subscription; only a new SUB
//!   brings it back);
//! - the server refuses the presence subscription (a permissions violation: nothing is
//!   heard, and the link reads down from the refusal on), or the canary's subscription
//!   for [`LOST_CANARY_TICKS_BEFORE_REBUILD`] intervals (a new SUB once it is allowed).
//!
//! Refusals are sorted and reported by [`crate::permissions`]; a refused canary
//! (publish or subscription) stops counting, so the partition guard follows the link
//! state instead of holding for ever.
//!
//! A new client is then built, with a backoff of [`BACKOFF_FIRST`] doubling to
//! [`BACKOFF_MAX`], until one is connected and its subscription has reached the server;
//! only then does the link read up again (`bus_connected`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::client::PublishErrorKind;
use async_nats::connection::State;
use async_nats::{Client, Event};
use bytes::Bytes;
use federation_domain::{DeniedUse, Federation, GuardState, HeartbeatRelay, StatusEvents};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::config::{self, redacted_url, NatsConfig, NatsError};
use crate::events::{NatsHeartbeatRelay, NatsStatusEvents};
use crate::ingest::{ingest_loop, IngestStats, Queued, Subscriber};
use crate::permissions::{OurSubjects, PermissionWatch, SessionDenials};
use crate::shared::Shared;
use crate::wire::LOG_EVERY;

/// The first wait before building a new client; it doubles with each failure.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between two attempts to build a client.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Canary intervals with our canaries lost on a live link before the client is replaced.
pub const LOST_CANARY_TICKS_BEFORE_REBUILD: u32 = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Failed reconnects in a row after which a client gives up (its task ends, and with it
/// the subscription, so the supervisor builds a new one, reading the credentials file
/// again). With the client's own delays (0, 2, 4 … ms, at most 4 s) that is 80 s or more.
const MAX_RECONNECTS: usize = 30;
/// How long the server may take to confirm the subscription (a flush round trip).
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// The link watcher reads the client's state on every event, and this often besides.
const LINK_POLL: Duration = Duration::from_millis(250);
const FLUSH_ON_SHUTDOWN: Duration = Duration::from_secs(2);
/// The outbox client's subscription buffer: it hears one marker per outbox round and
/// one canary per canary interval.
const OUTBOX_CAPACITY: usize = 1024;

/// A view of the link's state for health checks.
#[derive(Clone)]
pub struct NatsLink {
    shared: Arc<Shared>,
}

impl NatsLink {
    /// Whether a client is connected with its presence subscription in place.
    pub fn is_connected(&self) -> bool {
        self.shared.is_connected()
    }
}

fn instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

/// The NATS adapter: heartbeats in, status events out, over a client it keeps alive.
pub struct NatsBus {
    config: NatsConfig,
    instance: String,
    stats: Arc<IngestStats>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl NatsBus {
    /// Checks the settings (the credentials file is read) and returns at once: the
    /// client is built by [`NatsBus::start`], in the background, so the service serves
    /// REST while NATS is down.
    pub async fn connect(config: NatsConfig) -> Result<Self, NatsError> {
        config::auth_options(&config).await?;
        Ok(Self {
            config,
            instance: instance_id(),
            stats: Arc::new(IngestStats::default()),
            shared: Arc::new(Shared::new()),
            tasks: Vec::new(),
        })
    }

    /// The status-event publisher; it uses whichever client is current.
    pub fn status_events(&self) -> Arc<dyn StatusEvents> {
        Arc::new(NatsStatusEvents {
            shared: self.shared.clone(),
            prefix: self.config.events_subject.clone(),
            confirm_subject: self.canary_subject(),
        })
    }

    /// Republishes heartbeats taken over HTTP on the presence subject, so every
    /// replica hears them; it uses whichever client is current.
    pub fn heartbeat_relay(&self) -> Arc<dyn HeartbeatRelay> {
        Arc::new(NatsHeartbeatRelay {
            shared: self.shared.clone(),
            prefix: self.config.presence_subject.clone(),
            instance: self.instance.clone(),
        })
    }

    /// This replica's instance name (unique per process; also its canary's).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether the link is up right now.
    pub fn is_connected(&self) -> bool {
        self.shared.is_connected()
    }

    /// A cheap, shareable view of the link for health checks.
    pub fn link(&self) -> NatsLink {
        NatsLink {
            shared: self.shared.clone(),
        }
    }

    pub fn stats(&self) -> Arc<IngestStats> {
        self.stats.clone()
    }

    /// The subject our canaries travel on: `<canary_subject>.<instance>`, outside the
    /// presence subjects, so nobody else who listens for heartbeats receives them.
    pub fn canary_subject(&self) -> String {
        format!("{}.{}", self.config.canary_subject, self.instance)
    }

    /// Starts the ingest task and the link supervisor, which builds the client,
    /// subscribes to the presence subjects and keeps both alive.
    pub async fn start(&mut self, federation: Arc<Federation>) -> Result<(), NatsError> {
        let prefix_len = self.config.presence_subject.len() + 1;
        let (queue, queue_rx) = mpsc::channel::<Queued>(self.config.queue_capacity.max(1));
        self.tasks.push(tokio::spawn(ingest_loop(
            queue_rx,
            prefix_len,
            federation.clone(),
        )));
        let permissions = Arc::new(PermissionWatch::new(
            OurSubjects {
                canary: self.canary_subject(),
                presence: self.config.presence_subject.clone(),
                events: self.config.events_subject.clone(),
            },
            federation.clone(),
            self.shared.clone(),
        ));
        let supervisor = Supervisor {
            config: self.config.clone(),
            instance: self.instance.clone(),
            canary_subject: self.canary_subject(),
            shared: self.shared.clone(),
            permissions,
            federation,
            stats: self.stats.clone(),
            queue,
        };
        tracing::info!(
            url = %redacted_url(&self.config.url),
            subject = %supervisor.presence_wildcard(),
            events = %format!("{}.<slug>", self.config.events_subject),
            canary = %self.canary_subject(),
            "listening for heartbeats on NATS"
        );
        self.tasks.push(tokio::spawn(supervisor.run()));
        Ok(())
    }

    /// Stops the tasks and flushes what the client still buffers.
    pub async fn shutdown(self) {
        self.abort_tasks();
        let flushes = [self.shared.client(), self.shared.outbox_client()]
            .into_iter()
            .flatten()
            .map(|client| async move { client.flush().await });
        let _ = tokio::time::timeout(FLUSH_ON_SHUTDOWN, futures::future::join_all(flushes)).await;
    }

    fn abort_tasks(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        // The supervisor's session tasks live in a JoinSet it owns: aborting it ends them.
        self.abort_tasks();
    }
}

/// One client with its presence subscription, confirmed by the server, and the outbox's
/// client beside it.
struct Session {
    client: Client,
    subscription: async_nats::Subscriber,
    /// Our own canaries come back on it.
    canaries: async_nats::Subscriber,
    /// Publishes status events and their confirmation markers.
    outbox: Client,
    /// The outbox's markers come back on it (the canary subject, on the outbox's
    /// connection).
    markers: async_nats::Subscriber,
    /// Bumped on each connection event of the client; closed when its task is gone.
    link_events: watch::Receiver<u64>,
    /// What the server refused this session.
    denials: Arc<SessionDenials>,
}

struct Supervisor {
    config: NatsConfig,
    instance: String,
    canary_subject: String,
    shared: Arc<Shared>,
    permissions: Arc<PermissionWatch>,
    federation: Arc<Federation>,
    stats: Arc<IngestStats>,
    queue: mpsc::Sender<Queued>,
}

impl Supervisor {
    fn presence_wildcard(&self) -> String {
        format!("{}.*", self.config.presence_subject)
    }

    /// Builds clients for ever: one session at a time, with backoff between them.
    async fn run(self) {
        let mut delay = BACKOFF_FIRST;
        let mut failing_since: Option<Instant> = None;
        let mut last_failure_log: Option<Instant> = None;
        // A session the server keeps refusing (its presence subscription) ends every few
        // seconds: the same reason is logged at warning level once a minute.
        let mut last_lost_log: Option<(&'static str, Instant)> = None;
        loop {
            match self.open_session().await {
                Ok(session) => {
                    if let Some(since) = failing_since.take() {
                        tracing::info!(after = ?since.elapsed(), "NATS client connected and subscribed");
                    }
                    last_failure_log = None;
                    let started = Instant::now();
                    let why = self.run_session(session).await;
                    if last_lost_log.is_none_or(|(r, t)| r != why || t.elapsed() >= LOG_EVERY) {
                        last_lost_log = Some((why, Instant::now()));
                        tracing::warn!(reason = why, "NATS client lost: building a new one");
                    } else {
                        tracing::debug!(reason = why, "NATS client lost: building a new one");
                    }
                    if started.elapsed() >= BACKOFF_MAX {
                        delay = BACKOFF_FIRST;
                    }
                }
                Err(e) => {
                    failing_since.get_or_insert_with(Instant::now);
                    if last_failure_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                        last_failure_log = Some(Instant::now());
                        tracing::warn!(error = %e, retry_in = ?delay, "NATS client not ready; retrying with backoff");
                    } else {
                        tracing::debug!(error = %e, retry_in = ?delay, "NATS client not ready");
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(BACKOFF_MAX);
        }
    }

    /// Connects the session's two clients and subscribes; done when the server confirmed
    /// the SUBs.
    async fn open_session(&self) -> Result<Session, NatsError> {
        let (link_tx, link_events) = watch::channel(0u64);
        let link_tx = Arc::new(link_tx);
        let denials = Arc::new(SessionDenials::default());
        let client = self
            .connect_client("", self.config.queue_capacity.max(1024), &link_tx, &denials)
            .await?;
        let subscription = self.subscribe(&client, self.presence_wildcard()).await?;
        let canaries = self.subscribe(&client, self.canary_subject.clone()).await?;
        self.confirm_subscriptions(&client, self.presence_wildcard())
            .await?;
        // Markers return on the outbox's own connection, through the same canary subject
        // (it also hears the canaries, and ignores them).
        let outbox = self
            .connect_client("-outbox", OUTBOX_CAPACITY, &link_tx, &denials)
            .await?;
        let markers = self.subscribe(&outbox, self.canary_subject.clone()).await?;
        self.confirm_subscriptions(&outbox, self.canary_subject.clone())
            .await?;
        Ok(Session {
            client,
            subscription,
            canaries,
            outbox,
            markers,
            link_events,
            denials,
        })
    }

    /// Connects one client of a session, named `federation-<instance><suffix>`.
    async fn connect_client(
        &self,
        suffix: &str,
        capacity: usize,
        link_tx: &Arc<watch::Sender<u64>>,
        denials: &Arc<SessionDenials>,
    ) -> Result<Client, NatsError> {
        let (link_tx, permissions, denials) =
            (link_tx.clone(), self.permissions.clone(), denials.clone());
        let stats = self.stats.clone();
        config::auth_options(&self.config)
            .await?
            .name(format!("federation-{}{suffix}", self.instance))
            .max_reconnects(Some(MAX_RECONNECTS))
            .connection_timeout(CONNECT_TIMEOUT)
            .ping_interval(PING_INTERVAL)
            .subscription_capacity(capacity)
            .event_callback(move |event| {
                let link_tx = link_tx.clone();
                let permissions = permissions.clone();
                let denials = denials.clone();
                let stats = stats.clone();
                async move { on_event(&link_tx, &permissions, &denials, &stats, event) }
            })
            .connect(config::connect_url(&self.config.url).as_str())
            .await
            .map_err(|e| NatsError::Connect(e.to_string()))
    }

    async fn subscribe(
        &self,
        client: &Client,
        subject: String,
    ) -> Result<async_nats::Subscriber, NatsError> {
        client
            .subscribe(subject.clone())
            .await
            .map_err(|e| NatsError::Subscribe {
                subject,
                message: e.to_string(),
            })
    }

    /// A flush round trip: the server has the client's SUBs once it answers.
    async fn confirm_subscriptions(
        &self,
        client: &Client,
        subject: String,
    ) -> Result<(), NatsError> {
        let failed = |message: String| NatsError::Subscribe {
            subject: subject.clone(),
            message,
        };
        tokio::time::timeout(SUBSCRIBE_TIMEOUT, client.flush())
            .await
            .map_err(|_| failed("the server did not confirm in time".into()))?
            .map_err(|e| failed(e.to_string()))
    }

    /// Runs one session until any of its tasks ends; returns why. The link reads down
    /// when this returns.
    async fn run_session(&self, session: Session) -> &'static str {
        let Session {
            client,
            subscription,
            canaries,
            outbox,
            markers,
            link_events,
            denials,
        } = session;
        self.shared
            .set_clients(Some((client.clone(), outbox.clone())));
        let mut tasks = JoinSet::new();
        let subscriber = Subscriber {
            prefix_len: self.config.presence_subject.len() + 1,
            instance: self.instance.clone(),
            queue: self.queue.clone(),
            federation: self.federation.clone(),
            stats: self.stats.clone(),
        };
        tasks.spawn(async move {
            subscriber.run(subscription).await;
            "the presence subscription ended"
        });
        tasks.spawn(crate::ingest::canaries_returned(
            canaries,
            self.shared.clone(),
            self.federation.clone(),
            self.stats.clone(),
        ));
        tasks.spawn(crate::ingest::markers_returned(
            markers,
            self.shared.clone(),
        ));
        tasks.spawn(watch_link(
            client.clone(),
            link_events,
            denials.clone(),
            self.shared.clone(),
            self.federation.clone(),
        ));
        tasks.spawn(canary_loop(
            client,
            self.canary_subject.clone(),
            self.config.canary_interval,
            denials,
            self.federation.clone(),
        ));
        let why = match tasks.join_next().await {
            Some(Ok(why)) => why,
            Some(Err(e)) if e.is_panic() => "a task of the NATS session panicked",
            Some(Err(_)) => "a task of the NATS session was cancelled",
            None => "the NATS session had no task",
        };
        // Wait for the others to stop, so none reports the link up after this.
        tasks.shutdown().await;
        self.shared.set_clients(None);
        self.shared.report(false, &self.federation);
        why
    }
}

fn on_event(
    link_tx: &watch::Sender<u64>,
    permissions: &PermissionWatch,
    denials: &SessionDenials,
    stats: &IngestStats,
    event: Event,
) {
    match event {
        Event::Connected | Event::Disconnected | Event::Closed => {
            link_tx.send_modify(|n| *n = n.wrapping_add(1));
        }
        Event::ServerError(async_nats::ServerError::Other(message))
            if permissions.on_server_error(&message, denials) =>
        {
            // Reported (and logged once a minute); the link watcher looks again.
            link_tx.send_modify(|n| *n = n.wrapping_add(1));
        }
        Event::ServerError(e) => {
            tracing::warn!(error = %e, "NATS server error");
        }
        Event::SlowConsumer(_) => stats.slow_consumer(),
        other => tracing::debug!(event = %other, "NATS event"),
    }
}

/// Reports the client's state as the link's: on every event, and polled as well in
/// case one was missed. Ends when the client's event channel closes (its task is gone),
/// or when the server refused the presence subscription (a new session subscribes
/// again, with backoff). A session that has heard for [`SUBSCRIBE_TIMEOUT`] without a
/// refusal clears a presence refusal reported before.
async fn watch_link(
    client: Client,
    mut events: watch::Receiver<u64>,
    denials: Arc<SessionDenials>,
    shared: Arc<Shared>,
    federation: Arc<Federation>,
) -> &'static str {
    let mut poll = tokio::time::interval(LINK_POLL);
    let started = Instant::now();
    let mut cleared = false;
    loop {
        if denials.presence.load(Ordering::SeqCst) {
            return "the NATS server refused the presence subscription";
        }
        let connected = client.connection_state() == State::Connected;
        shared.report(connected, &federation);
        if connected && !cleared && started.elapsed() >= SUBSCRIBE_TIMEOUT {
            cleared = true;
            federation.bus_permission_works(DeniedUse::Presence);
        }
        tokio::select! {
            changed = events.changed() => if changed.is_err() {
                return "the NATS client's event channel closed";
            },
            _ = poll.tick() => {}
        }
    }
}

/// Publishes a canary every `interval`; ends when the client can no longer take one, or
/// when canaries stay lost on a live link (only a new subscription can help then).
async fn canary_loop(
    client: Client,
    subject: String,
    interval: Duration,
    denials: Arc<SessionDenials>,
    federation: Arc<Federation>,
) -> &'static str {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lost_ticks: u32 = 0;
    let mut refused_ticks: u32 = 0;
    loop {
        ticks.tick().await;
        if client.connection_state() != State::Connected {
            lost_ticks = 0;
            continue; // the link-down guard already holds
        }
        if denials.canary_subscription.load(Ordering::SeqCst) {
            // The guard no longer counts canaries; subscribe again now and then, in
            // case the permission came back.
            refused_ticks += 1;
            if refused_ticks >= LOST_CANARY_TICKS_BEFORE_REBUILD {
                return "the NATS server refused our canary's subscription";
            }
        }
        if federation.guard() == GuardState::CanaryLost {
            lost_ticks += 1;
            if lost_ticks == 1 {
                tracing::warn!("our canaries stopped coming back through the presence subscription: no project expires for silence until they do");
            }
            if lost_ticks >= LOST_CANARY_TICKS_BEFORE_REBUILD {
                return "our canaries stayed lost on a live link";
            }
        } else {
            lost_ticks = 0;
        }
        federation.canary_sent();
        match client
            .publish(subject.clone(), Bytes::from_static(b"{}"))
            .await
        {
            Ok(()) => {}
            Err(e) if e.kind() == PublishErrorKind::Send => {
                return "the NATS client's command channel closed";
            }
            Err(e) => tracing::debug!(error = %e, "canary not published"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_are_single_subject_tokens() {
        let id = instance_id();
        assert!(
            !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
    }
}
