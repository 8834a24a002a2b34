//! The change stream (`GET /api/fed/events`, Server-Sent Events) and the wake-up of
//! blocking queries (`?index=N&wait=30s`).
//!
//! [`ChangeHub`] is fed by [`Federation::on_change`] with every batch of changes this
//! replica applies to its registry, in revision order. It encodes each change's event
//! once, when it has streams open, and fans the batch out to every open stream through
//! a per-client queue bounded in batches and in bytes: the events' bytes are shared,
//! each client holds a place in the queue and a cursor into the batch it is sending.
//! Publishing never waits: a client whose queue is full (it does not read, or reads
//! slower than changes come) is dropped and counted, its queue emptied at once (its
//! connection may hold it for longer), and it resumes with `Last-Event-ID` when it
//! reads again; the service and the other clients go on. A client resuming with
//! `Last-Event-ID` is first served from the change log, then live.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use federation_domain::{
    Change, ChangeFilter, ChangeKind, ChangeListener, ChangesSince, Federation,
};
use serde::Serialize;
use tokio::sync::watch;

use crate::dto::{rfc3339, ProjectDto};

mod queue;
use crate::metrics::Metrics;
use queue::{Batch, Encoded, Queue, Refused};

/// The settings of the change stream and of blocking queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// A comment line is sent this often on an idle stream.
    pub keep_alive: Duration,
    /// At most this many streams at once; beyond, 503 with `Retry-After`.
    pub max_streams: usize,
    /// Batches of changes a client may have waiting; beyond, it is dropped.
    pub buffer: usize,
    /// Bytes of events a client may have waiting (shared with the other clients, but
    /// kept alive by it); beyond, it is dropped. A single batch larger than this is
    /// still taken by a client that has nothing waiting.
    pub buffer_bytes: usize,
    /// The longest `wait` of a blocking query.
    pub max_wait: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(15),
            max_streams: 1000,
            buffer: 1024,
            buffer_bytes: 4 * 1024 * 1024,
            max_wait: Duration::from_secs(300),
        }
    }
}

/// How many changes one read of the log brings while a stream catches up.
const REPLAY_BATCH: u32 = 1000;

/// The `retry:` field sent first: how long a client waits before reconnecting (ms).
const RETRY_MS: u32 = 2000;
/// The `retry:` field sent last when the service stops (SIGTERM, after the drain): the
/// client reconnects soon, through the balancer to another replica, and resumes with
/// `Last-Event-ID`.
pub const RETRY_ON_STOP_MS: u32 = 250;

/// One stream's place among the open ones, given back once (closed or dropped).
struct Slot {
    released: AtomicBool,
    hub: Arc<HubShared>,
}

impl Slot {
    fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.hub.open.fetch_sub(1, Ordering::AcqRel);
            self.hub.metrics.stream_closed();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

struct Client {
    queue: Arc<Queue>,
    slot: Arc<Slot>,
}

struct HubShared {
    options: StreamOptions,
    open: AtomicUsize,
    metrics: Arc<Metrics>,
}

/// The fan-out of applied changes to change streams and blocking queries.
pub struct ChangeHub {
    shared: Arc<HubShared>,
    revision: watch::Sender<u64>,
    closed: watch::Sender<bool>,
    clients: Mutex<Vec<Client>>,
}

impl std::fmt::Debug for ChangeHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeHub")
            .field("options", &self.shared.options)
            .field("open", &self.open_streams())
            .finish_non_exhaustive()
    }
}

impl ChangeHub {
    /// A hub at `revision` (the registry's, once loaded); streams are counted in
    /// `metrics`.
    pub fn new(options: StreamOptions, revision: u64, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            shared: Arc::new(HubShared {
                options,
                open: AtomicUsize::new(0),
                metrics,
            }),
            revision: watch::channel(revision).0,
            closed: watch::channel(false).0,
            clients: Mutex::new(Vec::new()),
        })
    }

    /// The listener to give [`Federation::on_change`].
    pub fn listener(self: &Arc<Self>) -> ChangeListener {
        let hub = Arc::clone(self);
        Box::new(move |changes, revision| hub.publish(changes, revision))
    }

    /// The settings.
    pub fn options(&self) -> StreamOptions {
        self.shared.options
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.shared.open.load(Ordering::Acquire)
    }

    /// Ends every stream and every blocking wait (the service stops), and refuses new
    /// streams.
    pub fn close(&self) {
        self.closed.send_replace(true);
        let clients = std::mem::take(&mut *self.clients.lock().unwrap_or_else(|p| p.into_inner()));
        for c in clients {
            c.queue.close();
        }
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    fn publish(&self, changes: &[Change], revision: u64) {
        self.revision.send_replace(revision);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.is_empty() {
            return;
        }
        // An empty batch: the registry was replaced by a snapshot. Each change is
        // encoded here, once, for every client.
        let batch = if changes.is_empty() {
            Batch::Reset(revision)
        } else {
            Batch::Changes(Arc::new(Encoded::new(changes, change_frame)))
        };
        let options = &self.shared.options;
        clients.retain(|c| match c.queue.put(&batch, options) {
            Ok(()) => true,
            Err(Refused::Full) => {
                c.queue.close();
                c.slot.release();
                self.shared.metrics.stream_client_dropped();
                tracing::info!(
                    buffer = options.buffer,
                    buffer_bytes = options.buffer_bytes,
                    "change stream client dropped: it did not keep up"
                );
                false
            }
            Err(Refused::Closed) => false,
        });
    }

    /// Takes a place for a new stream, or `None` at the limit (or once closed).
    fn open(self: &Arc<Self>) -> Option<(Arc<Queue>, Arc<Slot>)> {
        if self.is_closed() {
            return None;
        }
        let max = self.shared.options.max_streams;
        self.shared
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        self.shared.metrics.stream_opened();
        let slot = Arc::new(Slot {
            released: AtomicBool::new(false),
            hub: Arc::clone(&self.shared),
        });
        let queue = Arc::new(Queue::default());
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Client {
                queue: Arc::clone(&queue),
                slot: Arc::clone(&slot),
            });
        Some((queue, slot))
    }

    /// Waits until `federation`'s revision passes `index`, at most `wait` (capped by
    /// the setting) or until the hub closes. Returns at once when it already has.
    pub async fn wait_past(&self, federation: &Federation, index: u64, wait: Duration) {
        let wait = wait.min(self.shared.options.max_wait);
        let mut revision = self.revision.subscribe();
        let mut closed = self.closed.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        while federation.revision() <= index && !*closed.borrow() {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                changed = revision.changed() => if changed.is_err() { return },
                changed = closed.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// A change stream that could not be opened: too many are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyStreams;

/// The JSON of a `registered`, `updated`, `deleted`, `flapping` or `stable` event.
#[derive(Debug, Serialize)]
struct CatalogEvent<'a> {
    revision: u64,
    slug: &'a str,
    at: String,
    /// Why a project was removed: `deleted`, `expired` or `pruned`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<ProjectDto>,
}

/// The JSON of a `transition` event: the status event published on NATS, plus the
/// project as it now is.
#[derive(Debug, Serialize)]
struct TransitionEvent<'a> {
    slug: &'a str,
    from: &'static str,
    to: &'static str,
    reason: Option<&'a str>,
    at: String,
    last_heartbeat_at: Option<String>,
    revision: u64,
    project: Option<ProjectDto>,
}

/// The JSON of `reset` and `ready`.
#[derive(Debug, Serialize)]
struct RevisionEvent {
    revision: u64,
}

/// Every event name the stream sends.
pub const EVENT_NAMES: [&str; 8] = [
    "registered",
    "updated",
    "deleted",
    "transition",
    "flapping",
    "stable",
    "reset",
    "ready",
];

/// One event of the stream as the description shows it (Server-Sent Events fields; the
/// first event carries only `retry`). `data` is JSON, described by the response.
pub struct SseEvent;

impl utoipa::PartialSchema for SseEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "event",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(EVENT_NAMES)),
            )
            .property(
                "id",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]+$"))
                    .description(Some("The revision")),
            )
            .property(
                "data",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type("application/json")
                    .description(Some("The event's JSON")),
            )
            .property(
                "retry",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .description(Some("How long to wait before reconnecting, ms")),
            )
            .into()
    }
}

impl utoipa::ToSchema for SseEvent {}

fn frame(id: u64, event: &str, data: &impl Serialize) -> Bytes {
    debug_assert!(EVENT_NAMES.contains(&event), "{event}");
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Bytes::from(format!("id: {id}\nevent: {event}\ndata: {json}\n\n"))
}

/// One change as an SSE frame.
fn change_frame(c: &Change) -> Bytes {
    let project = c.project.as_ref().map(ProjectDto::from);
    match &c.kind {
        ChangeKind::Transition(t) => frame(
            c.revision,
            "transition",
            &TransitionEvent {
                slug: c.slug.as_str(),
                from: t.from.as_str(),
                to: t.to.as_str(),
                reason: t.reason.as_deref(),
                at: rfc3339(t.at),
                last_heartbeat_at: t.last_heartbeat_at.map(rfc3339),
                revision: c.revision,
                project,
            },
        ),
        kind => frame(
            c.revision,
            kind.as_str(),
            &CatalogEvent {
                revision: c.revision,
                slug: c.slug.as_str(),
                at: rfc3339(c.at),
                reason: match kind {
                    ChangeKind::Deleted { reason } => reason.as_deref(),
                    _ => None,
                },
                project: if matches!(kind, ChangeKind::Deleted { .. }) {
                    None
                } else {
                    project
                },
            },
        ),
    }
}

struct Session {
    federation: Arc<Federation>,
    metrics: Arc<Metrics>,
    queue: Arc<Queue>,
    /// The live batch being sent, and the place of its next change.
    current: Option<(Arc<Encoded>, usize)>,
    slot: Arc<Slot>,
    closed: watch::Receiver<bool>,
    filter: ChangeFilter,
    /// The last revision read (sent or filtered out).
    last: u64,
    /// Set while catching up from the log.
    replaying: bool,
    /// A `Last-Event-ID` past this replica's registry: the client comes from a replica
    /// further along (a rolling restart moved it here). Read the log to its end first;
    /// only an id past the log's end too is another history (a reset).
    ahead: Option<u64>,
    keep_alive: tokio::time::Interval,
    out: VecDeque<Bytes>,
    done: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.queue.close();
        self.slot.release();
    }
}

impl Session {
    fn push(&mut self, frame: Bytes) {
        self.metrics.stream_event_sent();
        self.out.push_back(frame);
    }

    fn reset(&mut self, revision: u64) {
        self.last = revision;
        self.push(frame(revision, "reset", &RevisionEvent { revision }));
    }

    fn take(&mut self, changes: &[Change]) {
        for c in changes {
            if c.revision <= self.last {
                continue;
            }
            self.last = c.revision;
            if self.filter.matches(c) {
                self.push(change_frame(c));
            }
        }
    }

    /// The next frame of the live batch being sent that passes the filter.
    fn next_live(&mut self) -> Option<Bytes> {
        let (batch, at) = self.current.as_mut()?;
        while let Some(c) = batch.changes.get(*at) {
            let i = *at;
            *at += 1;
            if c.revision <= self.last {
                continue;
            }
            self.last = c.revision;
            if self.filter.matches(c) {
                let frame = batch.frames.get(i).cloned();
                self.metrics.stream_event_sent();
                return frame;
            }
        }
        self.current = None;
        None
    }

    async fn replay(&mut self) {
        match self.federation.changes_since(self.last, REPLAY_BATCH).await {
            Ok(ChangesSince::Trimmed) => {
                self.reset(self.federation.revision());
                self.replaying = false;
            }
            Ok(ChangesSince::Changes(changes)) => {
                let more = changes.len() >= REPLAY_BATCH as usize;
                self.take(&changes);
                if !more {
                    self.replaying = false;
                }
            }
            Err(e) => {
                // Headers are sent: end the stream; the client resumes from its last id.
                tracing::warn!(error = %e, "change stream: could not read the change log");
                self.done = true;
                return;
            }
        }
        if !self.replaying {
            self.ready();
        }
    }

    fn ready(&mut self) {
        let revision = self.last;
        self.push(frame(revision, "ready", &RevisionEvent { revision }));
    }

    async fn live(&mut self) {
        tokio::select! {
            biased;
            // `next` sees the hub closed and ends with the retry hint.
            _ = self.closed.changed() => {}
            batch = self.queue.take() => match batch {
                Some(Batch::Changes(encoded)) => self.current = Some((encoded, 0)),
                Some(Batch::Reset(revision)) => self.reset(revision),
                // Dropped for not keeping up, or the hub closed.
                None => self.done = true,
            },
            _ = self.keep_alive.tick() => self.out.push_back(Bytes::from_static(b": keep-alive\n\n")),
        }
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.out.pop_front() {
                return Some(b);
            }
            if let Some(b) = self.next_live() {
                return Some(b);
            }
            if let Some(id) = self.ahead.take() {
                if let Err(e) = self.federation.follow().await {
                    tracing::debug!(error = %e, "change stream: could not read the change log to its end");
                }
                let current = self.federation.revision();
                if id > current {
                    self.reset(current);
                } else {
                    self.last = id;
                    self.replaying = true;
                }
                continue;
            }
            if self.done {
                return None;
            }
            if *self.closed.borrow() {
                // The service stops: a last hint to reconnect soon (elsewhere).
                self.done = true;
                self.out
                    .push_back(Bytes::from(format!("retry: {RETRY_ON_STOP_MS}\n\n")));
                continue;
            }
            if self.replaying {
                self.replay().await;
            } else {
                self.live().await;
            }
        }
    }
}

/// Opens a stream of the changes after `last_event_id` (or from now) that pass
/// `filter`, as SSE frames.
pub(crate) fn open_stream(
    hub: &Arc<ChangeHub>,
    federation: Arc<Federation>,
    filter: ChangeFilter,
    last_event_id: Option<u64>,
) -> Result<
    impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + 'static,
    TooManyStreams,
> {
    let (queue, slot) = hub.open().ok_or(TooManyStreams)?;
    let current = federation.revision();
    let period = hub.shared.options.keep_alive;
    let mut session = Session {
        metrics: Arc::clone(&hub.shared.metrics),
        queue,
        current: None,
        slot,
        closed: hub.closed.subscribe(),
        filter,
        last: current,
        replaying: false,
        ahead: None,
        keep_alive: tokio::time::interval_at(tokio::time::Instant::now() + period, period),
        out: VecDeque::new(),
        done: false,
        federation,
    };
    session
        .out
        .push_back(Bytes::from(format!("retry: {RETRY_MS}\n\n")));
    match last_event_id {
        // Past this registry: a replica further along, or another history (another
        // cluster, a reset database); `next` reads the log to tell them apart.
        Some(id) if id > current => session.ahead = Some(id),
        Some(id) => {
            session.last = id;
            session.replaying = true;
        }
        None => session.ready(),
    }
    Ok(futures::stream::unfold(session, |mut s| async move {
        s.next().await.map(|b| (Ok(b), s))
    }))
}
