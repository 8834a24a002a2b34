//! Heartbeat publisher for projects that report to the federation service.
//!
//! A project embeds a [`Publisher`]: it sends the federation's heartbeat on
//! `hub.presence.{slug}` over NATS (or `POST /api/fed/projects/{slug}/heartbeat` over
//! HTTP) every interval, the first one at once, each wait jittered by ±10 % so a fleet
//! that restarts together does not beat in lockstep.
//!
//! ```json
//! {"project_slug":"commandcenter","hub_url":"http://localhost:8000",
//!  "mesh_namespace":"hub.commandcenter","timestamp":"2025-11-18T12:00:00.000Z",
//!  "version":"0.9.0"}
//! ```
//!
//! plus `"status":"degraded"` and `"reasons":[…]` while the owner says it is degraded
//! ([`Publisher::set_degraded`]; [`Publisher::set_online`] switches back). A change of
//! status is sent at once, not at the next interval.
//!
//! Over NATS the publisher keeps going across reconnects: [`connect_nats`] makes a
//! client that retries the first connect and reconnects without limit; while the link
//! is down no beat is queued (a burst of stale beats after an outage helps no one), and
//! the first beat after the link is back goes out at once. [`Publisher::stop`] stops
//! the task and flushes what the client still holds.
//!
//! ```no_run
//! use std::time::Duration;
//! use federation_heartbeat::{connect_nats, HeartbeatConfig, NatsAuth, Publisher};
//!
//! # async fn run() -> Result<(), federation_heartbeat::HeartbeatError> {
//! let config = HeartbeatConfig::new("commandcenter", "http://localhost:8000")?
//!     .version("0.9.0")
//!     .interval(Duration::from_secs(30));
//! let client = connect_nats("nats://127.0.0.1:4222", &NatsAuth::default()).await?;
//! let publisher = Publisher::nats(config, client);
//! publisher.set_degraded(["database slow"]);
//! publisher.set_online();
//! let stats = publisher.stop().await;
//! println!("{} heartbeats sent", stats.sent);
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
