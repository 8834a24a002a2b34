//! Heartbeat publisher for projects that report to the federation service.
//!
//! A project that wants the federation to know it is alive embeds a [`Publisher`]: a
//! tokio task that sends the project's heartbeat every interval (the first one at once),
//! each wait jittered by ±10 % so a fleet that restarts together does not beat in
//! lockstep. The service marks a project degraded, then offline, when its beats stop
//! (60 s and 90 s of silence by default, or two and three declared intervals).
//!
//! # Before the first beat
//!
//! The service only tracks projects it knows: register the project first (the catalog
//! file `config/projects.yaml`, `POST /api/fed/projects`, or `federation projects
//! register`). A beat for a project it does not know is counted and dropped.
//!
//! # What a heartbeat is
//!
//! One small JSON object, the type [`HeartbeatWire`] of the `federation-wire` crate,
//! which the service decodes with the same type, so the publisher cannot send a field
//! the service does not read, nor the other way round:
//!
//! ```json
//! {"project_slug":"commandcenter","hub_url":"http://localhost:8000",
//!  "mesh_namespace":"hub.commandcenter","timestamp":"2025-11-18T12:00:00.000Z",
//!  "version":"0.9.0"}
//! ```
//!
//! plus `"interval": 30` when the project declares its interval
//! ([`HeartbeatConfig::declare_interval`]), and `"status":"degraded"` with
//! `"reasons":[…]` while the owner says it is degraded ([`Publisher::set_degraded`];
//! [`Publisher::set_online`] switches back). A change of status is sent at once, not at
//! the next interval. [`HeartbeatConfig::new`] checks the slug and hub URL with the
//! service's own rules, so a bad value fails at start-up rather than at every beat.
//!
//! # Over NATS
//!
//! Beats are published on `hub.presence.<slug>` (the service's
//! `FEDERATION_PRESENCE_SUBJECT`; [`HeartbeatConfig::subject_prefix`] if it is set
//! otherwise). [`connect_nats`] makes a client that retries the first connect and
//! reconnects without limit; while the link is down no beat is queued (a burst of stale
//! beats after an outage helps no one), and the first beat after the link is back goes
//! out at once. [`Publisher::stop`] stops the task and flushes what the client still
//! holds.
//!
//! ```no_run
//! use std::time::Duration;
//! use federation_heartbeat::{connect_nats, HeartbeatConfig, NatsAuth, Publisher};
//!
//! # async fn run() -> Result<(), federation_heartbeat::HeartbeatError> {
//! let config = HeartbeatConfig::new("commandcenter", "http://localhost:8000")?
//!     .version("0.9.0")
//!     .interval(Duration::from_secs(30))
//!     .declare_interval(true);
//! let client = connect_nats("nats://127.0.0.1:4222", &NatsAuth::default()).await?;
//! let publisher = Publisher::nats(config, client);
//! publisher.set_degraded(["database slow"]);
//! publisher.set_online();
//! let stats = publisher.stop().await;
//! println!("{} heartbeats sent", stats.sent);
//! # Ok(()) }
//! ```
//!
//! A project that already has an async-nats client passes it to [`Publisher::nats`]
//! instead. [`NatsAuth`] takes the service's own NATS settings (it is the
//! `federation-nats-options` crate the service uses too): user and password or a token
//! in the URL (`nats://user:pass@host:4222`), `NATS_TOKEN`, a `.creds` file, an NKey
//! seed, and TLS (a `tls://` URL, a CA file, a client certificate and key). Files are
//! checked before anything connects; errors name the setting and the file, never a
//! secret.
//!
//! ```no_run
//! # async fn run() -> Result<(), federation_heartbeat::HeartbeatError> {
//! use federation_heartbeat::{connect_nats, NatsAuth};
//! let auth = NatsAuth {
//!     creds: Some("/etc/federation/project.creds".into()),
//!     tls_ca_file: Some("/etc/federation/nats-ca.pem".into()),
//!     ..NatsAuth::default()
//! };
//! let client = connect_nats("tls://nats.internal:4222", &auth).await?;
//! # drop(client); Ok(()) }
//! ```
//!
//! # Over HTTP
//!
//! Where NATS is out of reach, the publisher posts each beat to
//! `POST {server}/api/fed/projects/{slug}/heartbeat` and expects `202 Accepted`. The
//! key goes in `X-API-Key`: an API key of the service, or the project's own heartbeat
//! key (`fhk_…`). A refusal (`401`, `404` for an
//! unregistered project, `422` for a bad field) is counted in
//! [`PublisherStats::failed`] and logged with the service's answer.
//!
//! ```no_run
//! use federation_heartbeat::{HeartbeatConfig, HttpTarget, Publisher};
//!
//! # async fn run() -> Result<(), federation_heartbeat::HeartbeatError> {
//! let config = HeartbeatConfig::new("commandcenter", "http://localhost:8000")?;
//! let target = HttpTarget::new("https://federation.internal:8001")
//!     .api_key(std::env::var("FEDERATION_HEARTBEAT_KEY").ok());
//! let publisher = Publisher::http(config, target)?;
//! // … the project runs …
//! publisher.stop().await;
//! # Ok(()) }
//! ```
//!
//! # Once
//!
//! [`send_once`] sends one beat and waits until it has left (flushed to NATS, or
//! answered 202): what `federation heartbeat --once` does, and what a cron job or a
//! deploy script would use.
//!
//! ```no_run
//! use federation_heartbeat::{send_once, Health, HeartbeatConfig, HttpTarget, Sink};
//!
//! # async fn run() -> Result<(), federation_heartbeat::HeartbeatError> {
//! let config = HeartbeatConfig::new("nightly-batch", "http://batch.internal")?;
//! let sink = Sink::http(HttpTarget::new("http://127.0.0.1:8001"))?;
//! send_once(&config, &sink, &Health::degraded(["two jobs failed"])).await?;
//! # Ok(()) }
//! ```
//!
//! `examples/publisher.rs` is a runnable version (`cargo run -p federation-heartbeat
//! --example publisher -- nats://127.0.0.1:4222 my-project`).

#![warn(missing_docs)]

mod error;
mod payload;
mod publisher;
mod sink;

pub use error::HeartbeatError;
pub use federation_nats_options::{NatsAuth, NatsOptionsError};
pub use federation_wire::{HeartbeatWire, WireStatus};
pub use payload::{Health, HeartbeatConfig, HeartbeatPayload, DEFAULT_INTERVAL, DEFAULT_JITTER};
pub use publisher::{jittered, Publisher, PublisherStats};
pub use sink::{connect_nats, HttpTarget, Sink};

/// The default subject prefix: heartbeats go to `hub.presence.{slug}`.
pub const DEFAULT_SUBJECT_PREFIX: &str = federation_wire::DEFAULT_PRESENCE_SUBJECT;

/// Sends one heartbeat for `config` with `health` and waits until it has left (NATS:
/// flushed to the server; HTTP: answered with 202). What `federation heartbeat --once`
/// does.
pub async fn send_once(
    config: &HeartbeatConfig,
    sink: &Sink,
    health: &Health,
) -> Result<(), HeartbeatError> {
    let payload = config.payload(health, chrono::Utc::now());
    sink.send(config, &payload).await?;
    sink.flush().await
}
