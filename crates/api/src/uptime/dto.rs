//! What the uptime routes answer: a window's figures, its daily buckets, per project
//! and rolled up.

use federation_domain::uptime::{DayFigures, DegradedCounts, Figures, ProjectUptime, Window};
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::rfc3339;

fn seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// The figures of one stretch of time. Times are in seconds; unknown time (the service
/// could not hear the bus or was not running, or no history tells) and maintenance are
/// left out of `uptime_percent`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = UptimeFigures)]
pub struct FiguresDto {
    #[schema(example = 86000.0)]
    pub online_seconds: f64,
    pub degraded_seconds: f64,
    pub offline_seconds: f64,
    pub maintenance_seconds: f64,
    pub unknown_seconds: f64,
    /// Available over (online + degraded + offline), in percent; degraded time counts
    /// as available or not as `degraded_counts_as` says. Null when no time counts.
    #[schema(example = 99.5)]
    pub uptime_percent: Option<f64>,
    /// Offline stretches (maintenance or unknown time ends one; one at the window's
    /// edge counts, cut there).
    pub outages: u64,
    /// Offline time over outages; null without outages.
    pub mttr_seconds: Option<f64>,
    /// The longest outage (cut at the window's edges); 0 without outages.
    pub longest_outage_seconds: f64,
}

impl FiguresDto {
    pub fn new(f: &Figures, degraded: DegradedCounts) -> Self {
        Self {
            online_seconds: seconds(f.online),
            degraded_seconds: seconds(f.degraded),
            offline_seconds: seconds(f.offline),
            maintenance_seconds: seconds(f.maintenance),
            unknown_seconds: seconds(f.unknown),
            uptime_percent: f.uptime_percent(degraded),
            outages: f.outages,
            mttr_seconds: f.mttr().map(seconds),
            longest_outage_seconds: seconds(f.longest_outage),
        }
    }
}

/// One UTC day's figures, cut to the window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = UptimeDay)]
pub struct DayDto {
    /// The day, `YYYY-MM-DD` (UTC).
    #[schema(example = "2026-11-30")]
    pub day: String,
    #[serde(flatten)]
    pub figures: FiguresDto,
}

impl DayDto {
    pub fn new(d: &DayFigures, degraded: DegradedCounts) -> Self {
        Self {
            day: d.day.format("%Y-%m-%d").to_string(),
            figures: FiguresDto::new(&d.figures, degraded),
        }
    }
}

/// A project's uptime over a window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = ProjectUptime)]
pub struct ProjectUptimeDto {
    #[schema(example = "commandcenter")]
    pub slug: String,
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    /// `up` or `down` (`FEDERATION_UPTIME_DEGRADED`).
    #[schema(example = "up")]
    pub degraded_counts_as: &'static str,
    #[serde(flatten)]
    pub figures: FiguresDto,
    /// One per UTC day the window touches, oldest first.
    pub days: Vec<DayDto>,
}

impl ProjectUptimeDto {
    pub fn new(r: &ProjectUptime, window: Window, degraded: DegradedCounts) -> Self {
        Self {
            slug: r.slug.as_str().to_owned(),
            from: rfc3339(window.from),
            to: rfc3339(window.to),
            degraded_counts_as: degraded.as_str(),
            figures: FiguresDto::new(&r.figures, degraded),
            days: r.days.iter().map(|d| DayDto::new(d, degraded)).collect(),
        }
    }
}

/// One project's line in a roll-up.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = UptimeLine)]
pub struct LineDto {
    pub slug: String,
    #[serde(flatten)]
    pub figures: FiguresDto,
}

/// Several projects' uptime over a window (a tag, or the fleet): times add up over
/// projects, so `uptime_percent` weighs each project by its counted time.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = GroupUptime)]
pub struct GroupUptimeDto {
    /// The tag asked for; null for the whole fleet.
    pub tag: Option<String>,
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    #[schema(example = "up")]
    pub degraded_counts_as: &'static str,
    /// How many projects it has now (registered, and tagged for a tag). Whole days
    /// rolled up count the members of that day (docs/uptime.md).
    pub project_count: usize,
    #[serde(flatten)]
    pub figures: FiguresDto,
    /// The projects' figures added up per UTC day, oldest first.
    pub days: Vec<DayDto>,
    /// Each project's figures over the window (the members now), in slug order; only
    /// with `projects=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<LineDto>>,
}
