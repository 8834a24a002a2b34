//! The uptime use case over [`UptimeSource`]: reports from the daily rollups where a
//! whole day was rolled up, from the raw history elsewhere; the leader's rollups; and
//! the record of the time the leader heard the bus.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::figures::{Class, DegradedCounts, Figures};
use super::group::{GroupDay, GroupDays, Scope};
use super::port::UptimeSource;
use super::report::{figures_over, roll_up, ProjectUptime, RolledUp};
use super::rollup::{day_span, pending_days, DayRoll, ROLLUP_BACKFILL_DAYS};
use super::roster::{each_member, Roster};
use super::timeline::{days, micros, DayFigures, Span};
use super::window::{named_window, Window};
use crate::error::RepositoryError;
use crate::model::{Project, Slug};
use crate::presence::GuardState;

/// About this many rollup rows are read at a time (projects × days).
pub const ROLLUP_ROWS_PER_READ: usize = 100_000;

/// Uptime reports over the store, the leader's rollups, and its record of the time it
/// heard.
#[derive(Clone)]
pub struct Uptime {
    pub(super) source: Arc<dyn UptimeSource>,
    pub(super) degraded: DegradedCounts,
    pub(super) slos: super::slo_board::SloBoard,
    pub(super) file_slos: Vec<super::slo::Objective>,
    pub(super) slo_store: Option<Arc<dyn super::slo_store::SloStore>>,
}

impl std::fmt::Debug for Uptime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uptime")
            .field("degraded", &self.degraded)
            .finish_non_exhaustive()
    }
}

/// The day ranges `[first, end)` is read in for `projects` projects: a few days at a
/// time for many projects (about [`ROLLUP_ROWS_PER_READ`] rows each), so that every
/// read stays well within the store's deadline.
pub fn read_chunks(
    first: NaiveDate,
    end: NaiveDate,
    projects: usize,
) -> Vec<(NaiveDate, NaiveDate)> {
    let per_read = i64::try_from(ROLLUP_ROWS_PER_READ / projects.max(1))
        .unwrap_or(i64::MAX)
        .clamp(1, 366);
    let mut out = Vec::new();
    let mut from = first;
    while from < end {
        let to = (from + TimeDelta::days(per_read)).min(end);
        out.push((from, to));
        from = to;
    }
    out
}

/// Contiguous runs of `spans` (ascending): each run is read from the store at once.
fn runs(spans: &[Span]) -> Vec<&[Span]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=spans.len() {
        let breaks = match (spans.get(i.wrapping_sub(1)), spans.get(i)) {
            (Some(a), Some(b)) => a.end != b.start,
            _ => true,
        };
        if breaks {
            if let Some(run) = spans.get(start..i) {
                if !run.is_empty() {
                    out.push(run);
                }
            }
            start = i;
        }
    }
    out
}

impl Uptime {
    /// Reports over `source`, degraded time counting as `degraded` says.
    pub fn new(source: Arc<dyn UptimeSource>, degraded: DegradedCounts) -> Self {
        Self {
            source,
            degraded,
            slos: Default::default(),
            file_slos: Vec::new(),
            slo_store: None,
        }
    }

    /// The same, keeping `objectives` (the catalog file's `slos:`).
    pub fn with_objectives(mut self, objectives: Vec<super::slo::Objective>) -> Self {
        self.slos = super::slo_board::SloBoard::new(objectives.clone());
        self.file_slos = objectives;
        self
    }

    /// The objectives and where they stand.
    pub fn slos(&self) -> &super::slo_board::SloBoard {
        &self.slos
    }

    /// Computes each objective's budget over its window ending at `now`: a project's
    /// from its report, a tag's from the tag's report (its group rollups: see
    /// [`Uptime::scope_report`] for who counts), among `projects` (registered now).
    pub async fn refresh_budgets(
        &self,
        projects: &[Project],
        now: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        let objectives: Vec<_> = self
            .slos
            .statuses()
            .into_iter()
            .map(|s| s.objective)
            .collect();
        for objective in &objectives {
            let Some(span) = named_window(&objective.window) else {
                continue;
            };
            let window = Window {
                from: now - span,
                to: now,
            };
            let slugs: Vec<_> = super::slo_board::members(&objective.subject, projects)
                .map(|p| p.slug.clone())
                .collect();
            let rolled = match &objective.subject {
                super::slo::SloSubject::Tag(tag) => {
                    self.scope_report(&Scope::of_tag(tag), &slugs, window)
                        .await?
                }
                super::slo::SloSubject::Project(_) => self.group(&slugs, false, window).await?.0,
            };
            let budget = objective.budget(&rolled.figures, self.degraded());
            self.slos.set_budget(objective, budget, now);
        }
        Ok(())
    }

    /// How degraded time counts.
    pub fn degraded(&self) -> DegradedCounts {
        self.degraded
    }

    /// Each project's figures over each of `spans` from the raw history (one read per
    /// contiguous run of spans).
    pub(super) async fn raw(
        &self,
        slugs: &[Slug],
        fleet: bool,
        spans: &[Span],
    ) -> Result<Vec<Vec<Figures>>, RepositoryError> {
        let mut out: Vec<Vec<Figures>> = vec![Vec::with_capacity(spans.len()); slugs.len()];
        if slugs.is_empty() {
            return Ok(out);
        }
        // The runs, and each run's history and heard spans, are read at once: a report's
        // time is then about one read's, not the sum of its reads.
        let reads = runs(spans).into_iter().filter_map(|run| {
            let (first, last) = (run.first()?, run.last()?);
            let filter = (!fleet).then(|| slugs.to_vec());
            Some(async move {
                futures::try_join!(
                    self.source.history_between(filter, first.start, last.end),
                    self.source.heard(first.start, last.end),
                )
                .map(|(rows, heard)| (run, rows, heard))
            })
        });
        for (run, rows, heard) in futures::future::try_join_all(reads).await? {
            for (acc, figures) in out.iter_mut().zip(figures_over(slugs, rows, heard, run)) {
                acc.extend(figures);
            }
        }
        Ok(out)
    }

    /// The rollups of `slugs` (every project when `fleet`) over the `rolled` days, by
    /// project and day.
    async fn stored_rollups(
        &self,
        slugs: &[Slug],
        fleet: bool,
        rolled: &HashSet<NaiveDate>,
    ) -> Result<HashMap<Slug, HashMap<NaiveDate, Figures>>, RepositoryError> {
        let mut stored: HashMap<Slug, HashMap<NaiveDate, Figures>> = HashMap::new();
        if let (Some(first), Some(last)) = (rolled.iter().min(), rolled.iter().max()) {
            for (from, to) in read_chunks(*first, *last + TimeDelta::days(1), slugs.len()) {
                let filter = (!fleet).then(|| slugs.to_vec());
                for r in self.source.rollups(filter, from, to).await? {
                    stored.entry(r.slug).or_default().insert(r.day, r.figures);
                }
            }
        }
        Ok(stored)
    }

    /// Each project's report over `window`: whole days that were rolled up from their
    /// rollups (a project with none that day did not exist then: unknown), other days
    /// from the raw history.
    async fn reports(
        &self,
        slugs: &[Slug],
        fleet: bool,
        window: Window,
    ) -> Result<Vec<ProjectUptime>, RepositoryError> {
        let all: Vec<(NaiveDate, Span)> = days(window.from, window.to).collect();
        let whole: Vec<NaiveDate> = all
            .iter()
            .filter(|(d, s)| *s == day_span(*d))
            .map(|(d, _)| *d)
            .collect();
        let rolled: HashSet<NaiveDate> = match (whole.first(), whole.last()) {
            (Some(first), Some(last)) => self
                .source
                .rolled_days(*first, *last + TimeDelta::days(1))
                .await?
                .into_iter()
                .collect(),
            _ => HashSet::new(),
        };
        let from_rollup = |d: &NaiveDate, s: &Span| rolled.contains(d) && *s == day_span(*d);
        let raw_spans: Vec<Span> = all
            .iter()
            .filter(|(d, s)| !from_rollup(d, s))
            .map(|(_, s)| *s)
            .collect();
        // The rollups (a chunk at a time, each bounded) and the raw history at once.
        let (stored, raw) = futures::try_join!(
            self.stored_rollups(slugs, fleet, &rolled),
            self.raw(slugs, fleet, &raw_spans),
        )?;
        Ok(slugs
            .iter()
            .zip(raw)
            .map(|(slug, raw)| {
                let mut raw = raw.into_iter();
                let rolled_up = stored.get(slug);
                let days: Vec<DayFigures> = all
                    .iter()
                    .map(|(day, span)| {
                        let figures = if from_rollup(day, span) {
                            rolled_up
                                .and_then(|m| m.get(day))
                                .copied()
                                .unwrap_or_else(|| {
                                    Figures::of(Class::Unknown, micros(span.end - span.start))
                                })
                        } else {
                            raw.next().unwrap_or_default()
                        };
                        DayFigures { day: *day, figures }
                    })
                    .collect();
                let figures = days
                    .iter()
                    .fold(Figures::default(), |acc, d| acc.then(&d.figures));
                ProjectUptime {
                    slug: slug.clone(),
                    figures,
                    days,
                }
            })
            .collect())
    }

    /// One project's figures over `window`, with its daily buckets.
    pub async fn project(
        &self,
        slug: &Slug,
        window: Window,
    ) -> Result<ProjectUptime, RepositoryError> {
        let mut reports = self
            .reports(std::slice::from_ref(slug), false, window)
            .await?;
        Ok(reports.pop().unwrap_or_else(|| ProjectUptime {
            slug: slug.clone(),
            figures: Figures::default(),
            days: Vec::new(),
        }))
    }

    /// The figures of `slugs` over `window`, each and rolled up. `fleet` says `slugs`
    /// are every project (the store then reads without a filter).
    pub async fn group(
        &self,
        slugs: &[Slug],
        fleet: bool,
        window: Window,
    ) -> Result<(RolledUp, Vec<ProjectUptime>), RepositoryError> {
        let reports = self.reports(slugs, fleet, window).await?;
        Ok((roll_up(&reports), reports))
    }

    /// Rolls `day` up for `roster` (every project registered now) from the raw
    /// history: each project's figures and each group's (the fleet, each tag),
    /// replacing what was stored for it (see [`DayRoll`]).
    pub async fn roll_up_day(
        &self,
        day: NaiveDate,
        roster: &(impl Roster + ?Sized),
    ) -> Result<(), RepositoryError> {
        let span = day_span(day);
        let rows = self
            .source
            .history_between(None, span.start, span.end)
            .await?;
        let heard = self.source.heard(span.start, span.end).await?;
        let mut roll = DayRoll::new(day, rows, heard);
        each_member(roster, |member| roll.add(member));
        let (rollups, groups) = roll.finish();
        self.source.save_rollups(day, rollups, groups).await
    }

    /// Keeps the group rollups of `day`, rolled up before group rollups were kept,
    /// from its stored project rollups: the fleet holds every project rolled up that
    /// day, a tag those of `roster` (registered now) carrying it now.
    pub async fn regroup_day(
        &self,
        day: NaiveDate,
        roster: &(impl Roster + ?Sized),
    ) -> Result<(), RepositoryError> {
        let stored: HashMap<Slug, Figures> = self
            .source
            .rollups(None, day, day + TimeDelta::days(1))
            .await?
            .into_iter()
            .map(|r| (r.slug, r.figures))
            .collect();
        let mut tagged = GroupDays::new(day);
        each_member(roster, |member| {
            if let Some(f) = stored.get(&member.slug) {
                tagged.add(member, f);
            }
        });
        let mut groups: Vec<GroupDay> = tagged
            .finish()
            .into_iter()
            .filter(|g| g.scope != Scope::Fleet.key())
            .collect();
        let mut all: Vec<(&Slug, &Figures)> = stored.iter().collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        groups.push(GroupDay::of(&Scope::Fleet, day, all));
        self.source.save_groups(day, groups).await
    }

    /// Rolls up at most `at_most` of the closed days not rolled up yet (newest
    /// first; see [`pending_days`]) for the projects of `roster`, at `now`; then,
    /// within the same allowance, regroups days rolled up before group rollups were
    /// kept. Returns the days rolled up or regrouped.
    pub async fn roll_up_pending(
        &self,
        now: DateTime<Utc>,
        roster: &(impl Roster + ?Sized),
        at_most: usize,
    ) -> Result<Vec<NaiveDate>, RepositoryError> {
        let today = now.date_naive();
        let first = today - TimeDelta::days(ROLLUP_BACKFILL_DAYS);
        let rolled = self.source.rolled_days(first, today).await?;
        let pending: Vec<NaiveDate> = pending_days(now, &rolled)
            .into_iter()
            .take(at_most)
            .collect();
        let grouped: HashSet<NaiveDate> = self
            .source
            .grouped_days(first, today)
            .await?
            .into_iter()
            .collect();
        let ungrouped: Vec<NaiveDate> = rolled
            .iter()
            .rev()
            .filter(|d| !grouped.contains(d))
            .copied()
            .take(at_most.saturating_sub(pending.len()))
            .collect();
        let mut done = Vec::new();
        for day in pending {
            self.roll_up_day(day, roster).await?;
            done.push(day);
        }
        for day in ungrouped {
            self.regroup_day(day, roster).await?;
            done.push(day);
        }
        Ok(done)
    }

    /// Records a span the leader heard (see [`HeardRecorder`]).
    pub async fn record_heard(&self, span: Span) -> Result<(), RepositoryError> {
        self.source.record_heard(span).await
    }
}

/// The leader's record of the time it heard the bus: a span opens when this replica
/// leads and its partition guard is not deaf (`link_down`, `canary_lost`), grows while
/// both hold, and closes when either stops, when observations stop for longer than
/// `max_gap` (a stalled process: the gap stays unknown), or when the process stops.
/// What no span covers is unknown in every report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeardRecorder {
    max_gap: TimeDelta,
    open: Option<Span>,
}

impl HeardRecorder {
    /// A recorder with no span open, observing at least every `max_gap`.
    pub fn new(max_gap: TimeDelta) -> Self {
        Self {
            max_gap,
            open: None,
        }
    }

    /// What the replica observes at `now`: the span to record (grown to `now`), or
    /// `None` when it does not lead or cannot hear (the open span, already recorded up
    /// to its last observation, closes there).
    pub fn observe(&mut self, now: DateTime<Utc>, leads: bool, guard: GuardState) -> Option<Span> {
        let deaf = matches!(guard, GuardState::LinkDown | GuardState::CanaryLost);
        if !leads || deaf {
            self.open = None;
            return None;
        }
        let span = match self.open {
            Some(s) if now >= s.end && now - s.end <= self.max_gap => Span::new(s.start, now),
            _ => Span::new(now, now),
        };
        self.open = Some(span);
        Some(span)
    }
}
