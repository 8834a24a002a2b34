//! Incidents: many projects going offline together are one incident, told once.
//!
//! Rules (docs/notifications.md § Incidents):
//! - an offline transition *counts* when the service heard the whole silence that led
//!   to it: the project was heard before (`last_heartbeat_at`) and no time between that
//!   heartbeat and the transition was time the service could not hear (the partition
//!   guard's deafness, which also covers the time before this replica listened). Mass
//!   expiry after a partition or a restart is therefore never an incident;
//! - an incident *opens* when, within [`IncidentSettings::window`], at least
//!   [`IncidentSettings::min_projects`] counted offline transitions happened whose
//!   projects are still offline (the fleet trigger), or at least
//!   [`IncidentSettings::tag_percent`] % of a tag's projects (a tag with at least
//!   [`IncidentSettings::tag_min_projects`] projects; at least 2 projects always);
//! - at most one incident is open; while it is, every counted offline transition
//!   *joins* it (a member that comes back and goes offline again rejoins);
//! - it *resolves* when every member is back (no longer offline) or deleted: at the
//!   time of the last one's return.
//!
//! An incident's id is the change-log revision that opened it.

mod model;
mod ports;
mod settings;
mod tag_table;
mod tracker;

pub use model::{
    Incident, IncidentEvent, IncidentState, IncidentTrigger, Member, INCIDENTS_LIST_MAX,
};
pub use ports::IncidentLog;
pub use settings::{IncidentSettings, INCIDENT_DEFAULTS};
pub use tracker::IncidentTracker;

#[cfg(test)]
mod tests;
