//! What the subscriber, the publishers and the supervisor agree on: the canary's
//! subject token, the relay header, and how often a repeated condition is logged.

use std::time::Duration;

/// The prefix of the canary subject tokens older versions published under the presence
/// subject (`<presence>._canary-<instance>`); slugs cannot start with `_`. The subscriber
/// still skips them, for mixed versions during a rolling upgrade.
pub const CANARY_PREFIX: &str = "_canary-";
/// Repeated log lines about one slug or one kind of rejection: at most one per this.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(60);
/// The header of a heartbeat a replica took over HTTP and republished: its instance.
pub(crate) const RELAYED_BY: &str = "Federation-Relayed-By";
