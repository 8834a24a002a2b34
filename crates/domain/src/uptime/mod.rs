//! Uptime: how available projects were over a window, honestly.
//!
//! A project's time is online, degraded, offline, in maintenance, or unknown (before
//! its history starts, after its removal, or while the service could not hear the bus
//! or was not running: see [`Timeline`]). Uptime is available time over the window
//! less maintenance and unknown; whether degraded time is available is a setting
//! ([`DegradedCounts`]). Outages are offline stretches.
//!
//! Nothing here does I/O: [`UptimeSource`] is the port the stores implement, and
//! [`Uptime`] the use case over it.

mod figures;
mod group;
mod group_report;
#[cfg(any(test, feature = "mock"))]
mod memory;
mod port;
mod report;
mod rollup;
mod roster;
mod service;
mod slo;
mod slo_board;
mod slo_store;
mod timeline;
mod window;

#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod tests;

pub use figures::{Class, DegradedCounts, Figures};
pub use group::{Edge, GroupDay, GroupDays, GroupFold, Member, Scope};
#[cfg(any(test, feature = "mock"))]
pub use memory::MemoryUptime;
#[cfg(any(test, feature = "mock"))]
pub use port::MockUptimeSource;
pub use port::UptimeSource;
pub use report::{figures_over, project_reports, roll_up, ProjectUptime, RolledUp};
pub use rollup::{
    day_span, pending_days, DailyRollup, DayRoll, ROLLUP_BACKFILL_DAYS, ROLLUP_GRACE,
};
pub use roster::{each_member, Roster, ROSTER_PAGE};
pub use service::{read_chunks, HeardRecorder, Uptime, ROLLUP_ROWS_PER_READ};
pub use slo::{
    ErrorBudget, Objective, ObjectiveInput, SloSubject, SLO_PERCENT_EXCLUSIVE, SLO_WINDOWS,
};
pub use slo_board::{sli_now, SloBoard, SloStatus};
pub use slo_store::{
    merge_objectives, SloStore, SloWrite, SLOS_MAX, SLO_DECLARED_IN_FILE, SLO_LIMIT,
    SLO_SUBJECT_TAKEN,
};
pub use timeline::{
    days, maintenance_spans, maintenance_until, merge_spans, micros, DayFigures, Span, Timeline,
};
pub use window::{
    named_window, Window, WindowInput, DEFAULT_WINDOW, UPTIME_HORIZON, UPTIME_MAX_WINDOW, WINDOWS,
};
