//! Why a status changed. Stored and published as its string form.

/// A heartbeat arrived.
pub const HEARTBEAT: &str = "heartbeat";
/// The project itself reported it is degraded (reasons follow after `: `).
pub const SELF_REPORTED: &str = "self_reported";
/// No heartbeat for `degraded_after`.
pub const HEARTBEAT_LATE: &str = "heartbeat_late";
/// No heartbeat for `offline_after`.
pub const HEARTBEAT_TIMEOUT: &str = "heartbeat_timeout";
/// A maintenance window started (details follow after `: `); the status is unchanged.
pub const MAINTENANCE_STARTED: &str = "maintenance_started";
/// A maintenance window ended (how follows after `: `); the status is unchanged.
pub const MAINTENANCE_ENDED: &str = "maintenance_ended";
/// The project was removed (why follows after `: `: [`DELETED`] or [`EXPIRED`]);
/// the last row of its history.
pub const REMOVED: &str = "removed";
/// Removed on request.
pub const DELETED: &str = "deleted";
/// Removed by the sweeper: offline for longer than `FEDERATION_DEREGISTER_AFTER`.
pub const EXPIRED: &str = "expired";
/// Removed by the catalog file: it registered the project and no longer lists it.
pub const PRUNED: &str = "pruned";

/// The history's last row for a project removed for `why` ([`DELETED`], [`EXPIRED`],
/// [`PRUNED`]): `removed: {why}`.
pub fn removed_for(why: &str) -> String {
    format!("{REMOVED}: {why}")
}
