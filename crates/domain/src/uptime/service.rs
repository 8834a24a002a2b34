//! The uptime use case over [`UptimeSource`], and the record of the time the leader
//! heard the bus.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::figures::DegradedCounts;
use super::port::UptimeSource;
use super::report::{project_reports, roll_up, ProjectUptime, RolledUp};
use super::timeline::Span;
use super::window::Window;
use crate::error::RepositoryError;
use crate::model::{Slug, MAINTENANCE_MAX};
use crate::presence::GuardState;

/// Uptime reports over the store, and the leader's record of the time it heard.
#[derive(Clone)]
pub struct Uptime {
    source: Arc<dyn UptimeSource>,
    degraded: DegradedCounts,
}

impl std::fmt::Debug for Uptime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uptime")
            .field("degraded", &self.degraded)
            .finish_non_exhaustive()
    }
}

impl Uptime {
    /// Reports over `source`, degraded time counting as `degraded` says.
    pub fn new(source: Arc<dyn UptimeSource>, degraded: DegradedCounts) -> Self {
        Self { source, degraded }
    }

    /// How degraded time counts.
    pub fn degraded(&self) -> DegradedCounts {
        self.degraded
    }

    /// Where the rows read for `window` start: a maintenance window open at its start
    /// began at most [`MAINTENANCE_MAX`] before.
    fn reach(window: Window) -> DateTime<Utc> {
        window.from - MAINTENANCE_MAX
    }

    /// One project's figures over `window`, with its daily buckets.
    pub async fn project(
        &self,
        slug: &Slug,
        window: Window,
    ) -> Result<ProjectUptime, RepositoryError> {
        let slugs = std::slice::from_ref(slug);
        let rows = self
            .source
            .history_between(Some(slugs.to_vec()), Self::reach(window), window.to)
            .await?;
        let heard = self.source.heard(window.from, window.to).await?;
        let mut reports = project_reports(slugs, rows, heard, window);
        Ok(reports.pop().unwrap_or_else(|| ProjectUptime {
            slug: slug.clone(),
            figures: Default::default(),
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
        let filter = (!fleet).then(|| slugs.to_vec());
        let rows = if slugs.is_empty() {
            Vec::new()
        } else {
            self.source
                .history_between(filter, Self::reach(window), window.to)
                .await?
        };
        let heard = self.source.heard(window.from, window.to).await?;
        let reports = project_reports(slugs, rows, heard, window);
        Ok((roll_up(&reports), reports))
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
