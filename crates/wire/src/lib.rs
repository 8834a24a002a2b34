//! The federation heartbeat's wire format, written once.
//!
//! A heartbeat is a small JSON object, published on NATS (`hub.presence.<slug>`) or
//! posted over HTTP (`POST /api/fed/projects/<slug>/heartbeat`):
//!
//! ```json
//! {"project_slug":"commandcenter","hub_url":"http://localhost:8000",
//!  "mesh_namespace":"hub.commandcenter","timestamp":"2025-11-18T12:00:00.000Z",
//!  "version":"0.9.0","interval":30,"status":"degraded","reasons":["db slow"]}
//! ```
//!
//! [`HeartbeatWire`] is that object, field for field. The publisher
//! (`federation-heartbeat`) fills one in and [`HeartbeatWire::encode`]s it; the service
//! (`federation-domain`'s `heartbeat::decode`) [`HeartbeatWire::decode`]s the bytes and
//! then checks each field with its own rules. Neither can send or read a field the
//! other does not know.
//!
//! Nothing here does I/O; the crate depends on serde, serde_json, chrono and thiserror
//! only, so any project can embed it.

#![warn(missing_docs)]

mod cow;
mod heartbeat;
pub mod rules;
mod time;

pub use heartbeat::{declared_seconds, whole_seconds, HeartbeatWire, WireError, WireStatus};
pub use time::{format_timestamp, parse_timestamp, RFC3339_PATTERN, TIMESTAMP_PATTERN};

/// Where heartbeats go unless the service is configured otherwise: `<this>.<slug>`
/// (`FEDERATION_PRESENCE_SUBJECT`).
pub const DEFAULT_PRESENCE_SUBJECT: &str = "hub.presence";
/// The largest heartbeat the service reads, in bytes.
pub const MAX_HEARTBEAT_BYTES: usize = 8 * 1024;
/// At most this many self-reported reasons are kept, each cut to [`MAX_REASON_CHARS`].
pub const MAX_REASONS: usize = 16;
/// Self-reported reasons are cut to this many characters.
pub const MAX_REASON_CHARS: usize = 200;
/// The longest `interval` a heartbeat may declare, in seconds (a day).
pub const MAX_INTERVAL_SECONDS: u32 = 86_400;
