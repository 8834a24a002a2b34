//! Daily rollups: each project's figures per closed UTC day, kept by the leader so
//! reports need not read the raw history (which retention trims) for whole days.
//! Figures of adjacent days combine exactly ([`Figures::then`]), so a report built
//! from rollups equals one recomputed from the raw rows.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::figures::Figures;
use super::report::ProjectUptime;
use super::timeline::Span;
use crate::model::Slug;

/// How long after midnight a day is rolled up: transitions are written behind by a
/// tick, so the day's last ones are stored by then.
pub const ROLLUP_GRACE: TimeDelta = TimeDelta::minutes(5);

/// How many closed days back the leader fills in.
pub const ROLLUP_BACKFILL_DAYS: i64 = 90;

/// One project's figures for one closed UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyRollup {
    /// The project.
    pub slug: Slug,
    /// The day.
    pub day: NaiveDate,
    /// Its figures over the whole day.
    pub figures: Figures,
}

/// The whole UTC day `day`.
pub fn day_span(day: NaiveDate) -> Span {
    let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
    Span::new(start, start + TimeDelta::days(1))
}

/// The closed days from [`ROLLUP_BACKFILL_DAYS`] ago to yesterday that `rolled`
/// lacks and whose grace has passed at `now`, newest first (yesterday matters most).
pub fn pending_days(now: DateTime<Utc>, rolled: &[NaiveDate]) -> Vec<NaiveDate> {
    let today = now.date_naive();
    (1..=ROLLUP_BACKFILL_DAYS)
        .filter_map(|back| today.checked_sub_signed(TimeDelta::days(back)))
        .filter(|d| now >= day_span(*d).end + ROLLUP_GRACE)
        .filter(|d| !rolled.contains(d))
        .collect()
}

/// The rollups of `day` from each project's report over exactly that day.
pub fn rollups_of_day(day: NaiveDate, reports: &[ProjectUptime]) -> Vec<DailyRollup> {
    reports
        .iter()
        .map(|r| DailyRollup {
            slug: r.slug.clone(),
            day,
            figures: r.figures,
        })
        .collect()
}
