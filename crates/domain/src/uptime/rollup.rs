//! Daily rollups: each project's figures per closed UTC day, kept by the leader so
//! reports need not read the raw history (which retention trims) for whole days.
//! Figures of adjacent days combine exactly ([`Figures::then`]), so a report built
//! from rollups equals one recomputed from the raw rows.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::figures::{Class, Figures};
use super::group::Member;
use super::timeline::{micros, Span};
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

/// The rollups of `day` from each member's figures over exactly that day. A member
/// not known for the whole day (registered later, or the service did not hear the bus
/// at all that day) gets no row: every reader takes a rolled day's missing row for a
/// whole day unknown, so the row would only cost space. A new deployment's 90-day
/// backfill so writes the groups' rows and nothing per project.
pub fn rollups_of_day(day: NaiveDate, members: &[(&Member, Figures)]) -> Vec<DailyRollup> {
    let span = day_span(day);
    let unknown = Figures::of(Class::Unknown, micros(span.end - span.start));
    members
        .iter()
        .filter(|(_, f)| *f != unknown)
        .map(|(m, f)| DailyRollup {
            slug: m.slug.clone(),
            day,
            figures: *f,
        })
        .collect()
}
