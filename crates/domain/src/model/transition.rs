//! Status changes and the liveness a presence table persists.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::slug::Slug;
use super::status::Status;
use super::version::Version;

/// A change of a project's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The project.
    pub slug: Slug,
    /// The status before.
    pub from: Status,
    /// The status after.
    pub to: Status,
    /// Why (see [`reason`]).
    pub reason: Option<String>,
    /// When it changed (our clock).
    pub at: DateTime<Utc>,
    /// The last heartbeat known when the change happened (published with the event).
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// A project's liveness as persisted: what the presence table is loaded from at start
/// and what it writes back in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    /// The project.
    pub slug: Slug,
    /// Its status.
    pub status: Status,
    /// Why it has that status.
    pub status_reason: Option<String>,
    /// The version its last heartbeat reported.
    pub version: Option<Version>,
    /// When its last heartbeat arrived.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}
