//! Daily rollups: each project's figures per closed UTC day, kept by the leader so
//! reports need not read the raw history (which retention trims) for whole days.
//! Figures of adjacent days combine exactly ([`Figures::then`]), so a report built
//! from rollups equals one recomputed from the raw rows.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::figures::{Class, Figures};
use super::group::{GroupDay, GroupDays, Member};
use super::timeline::{merge_spans, micros, Span, Timeline};
use crate::model::{Slug, Transition};

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

/// `day` being rolled up from the day's raw history `rows` (every project's, as
/// [`UptimeSource::history_between`] reads them) and the `heard` spans, for the members
/// given ([`DayRoll::add`]: every project registered now, a page at a time): each
/// member's rollup and each group's (the fleet, each tag). One member at a time, so a
/// large fleet's figures are never all held at once.
///
/// A member not known for the whole day (registered later, or the service did not
/// hear the bus at all that day) gets no rollup: every reader takes a rolled day's
/// missing row for a whole day unknown, so the row would only cost space. A new
/// deployment's 90-day backfill so writes the groups' rows and nothing per project.
///
/// [`UptimeSource::history_between`]: super::UptimeSource::history_between
#[derive(Debug)]
pub struct DayRoll {
    day: NaiveDate,
    span: Span,
    unknown: Figures,
    by_slug: HashMap<Slug, Vec<Transition>>,
    heard: Vec<Span>,
    groups: GroupDays,
    rollups: Vec<DailyRollup>,
}

impl DayRoll {
    /// No member counted yet.
    pub fn new(day: NaiveDate, rows: Vec<Transition>, heard: Vec<Span>) -> Self {
        let span = day_span(day);
        let mut by_slug: HashMap<Slug, Vec<Transition>> = HashMap::new();
        for row in rows {
            by_slug.entry(row.slug.clone()).or_default().push(row);
        }
        Self {
            day,
            span,
            unknown: Figures::of(Class::Unknown, micros(span.end - span.start)),
            by_slug,
            heard: merge_spans(heard),
            groups: GroupDays::new(day),
            rollups: Vec::new(),
        }
    }

    /// Counts `member` (each member once).
    pub fn add(&mut self, member: &Member) {
        let history = self.by_slug.remove(&member.slug).unwrap_or_default();
        let figures =
            Timeline::new(&history, self.heard.clone()).figures(self.span.start, self.span.end);
        self.groups.add(member, &figures);
        if figures != self.unknown {
            self.rollups.push(DailyRollup {
                slug: member.slug.clone(),
                day: self.day,
                figures,
            });
        }
    }

    /// The members' rollups and the groups'.
    pub fn finish(self) -> (Vec<DailyRollup>, Vec<GroupDay>) {
        (self.rollups, self.groups.finish())
    }
}
