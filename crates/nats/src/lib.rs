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
//!   `<canary>.<instance>` (default `hub.federation.canary.<instance>`: a subject of
//!   the service's own, so no other listener of `hub.presence.*` receives it). When more
//!   than [`federation_domain::presence::CANARY_MISSES`] in a row do not come back, the
//!   partition guard engages exactly as when the link is down.
//! - **Permissions**: a publish or subscription the server refuses (a permissions
//!   violation) is reported to the domain (`/ready`, metrics) and logged once a minute
//!   (`permissions`). A refused canary stops counting, so the guard follows the link
//!   state; a refused presence subscription makes the link read down.
//! - The client connects in the background with unlimited reconnects: the service
//!   serves REST while NATS is down, and the guard holds expiry until `offline_after`
//!   after the link is healthy again.
//! - **Self-healing**: when the client itself dies (its connection task ends for any
//!   reason, so the subscription ends) or canaries stay lost on a live link, the link
//!   reads down at once (`/ready`, `federation_nats_connected`, the partition guard) and
//!   a new client is built with backoff until it is connected and subscribed again.
//!
//! Modules: `config` (settings, credentials, URL handling), `events` (status events
//! out), `ingest` (presence subscription, bounded queue, batch ingest), `link` (the
//! client's life: canary, rebuilding), `shared` (the client slot and the link's state the
//! publishers and health checks read), `wire` (subject token, header and log pace the
//! others agree on).

mod config;
mod echo;
mod events;
mod ingest;
mod link;
mod permissions;
mod shared;
mod wire;

pub use config::{NatsConfig, NatsError};
pub use events::{FlappingEvent, StatusEvent, FLAPPING_TOKEN};
pub use ingest::{IngestStats, DEFAULT_QUEUE_CAPACITY};
pub use link::{NatsBus, NatsLink, BACKOFF_FIRST, BACKOFF_MAX, LOST_CANARY_TICKS_BEFORE_REBUILD};
pub use wire::CANARY_PREFIX;
