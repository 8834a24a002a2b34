//! What the subscriber, the publishers and the supervisor agree on: the canary's
//! subject token, the relay header, and how often a repeated condition is logged.

use std::time::Duration;

/// The prefix of canary subject tokens; slugs cannot start with `_`.
pub const CANARY_PREFIX: &str = "_canary-";
/// Repeated log lines about one slug or one kind of rejection: at most one per this.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(60);
/// The header of a heartbeat a replica took over HTTP and republished: its instance.
pub(crate) const RELAYED_BY: &str = "Federation-Relayed-By";
