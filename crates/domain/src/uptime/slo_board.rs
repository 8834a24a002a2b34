//! The objectives a service keeps, and where each stands: its SLI now (from the
//! registry) and its error budget over its window (from the uptime reports).

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use super::figures::DegradedCounts;
use super::slo::{ErrorBudget, Objective, SloSubject};
use crate::model::{Project, Status};

/// Where one objective stands.
#[derive(Debug, Clone, PartialEq)]
pub struct SloStatus {
    /// The objective.
    pub objective: Objective,
    /// The available share of its projects now, among those not in maintenance;
    /// `None` when none counts.
    pub sli: Option<f64>,
    /// Its budget over its window, once computed.
    pub budget: Option<ErrorBudget>,
    /// When the budget was computed.
    pub computed_at: Option<DateTime<Utc>>,
}

/// The objectives and where they stand (shared by the task that refreshes them, the
/// API and the metrics).
#[derive(Debug, Clone, Default)]
pub struct SloBoard(Arc<RwLock<Vec<SloStatus>>>);

pub(super) fn members<'a>(
    subject: &'a SloSubject,
    projects: &'a [Project],
) -> impl Iterator<Item = &'a Project> {
    projects.iter().filter(move |p| match subject {
        SloSubject::Project(slug) => &p.slug == slug,
        SloSubject::Tag(tag) => p.tags.iter().any(|t| t.matches(tag)),
    })
}

/// The available share of `projects` at `now`, among those not in maintenance.
pub fn sli_now(
    projects: impl Iterator<Item = impl std::borrow::Borrow<Project>>,
    now: DateTime<Utc>,
    degraded: DegradedCounts,
) -> Option<f64> {
    let (mut counted, mut available) = (0u64, 0u64);
    for p in projects {
        let p = p.borrow();
        if p.maintenance.as_ref().is_some_and(|m| m.is_active(now)) {
            continue;
        }
        counted += 1;
        let up = match p.status {
            Status::Online => true,
            Status::Degraded => degraded == DegradedCounts::Up,
            Status::Offline => false,
        };
        available += u64::from(up);
    }
    (counted > 0).then(|| available as f64 / counted as f64)
}

impl SloBoard {
    /// A board of `objectives`, nothing computed yet.
    pub fn new(objectives: Vec<Objective>) -> Self {
        Self(Arc::new(RwLock::new(
            objectives
                .into_iter()
                .map(|objective| SloStatus {
                    objective,
                    sli: None,
                    budget: None,
                    computed_at: None,
                })
                .collect(),
        )))
    }

    /// Replaces the objectives with `objectives` (in their order): one equal to an
    /// objective already kept keeps its SLI and budget, others start uncomputed.
    pub fn set_objectives(&self, objectives: Vec<Objective>) {
        let mut board = self.0.write().unwrap_or_else(|p| p.into_inner());
        let next = objectives
            .into_iter()
            .map(|objective| {
                board
                    .iter()
                    .find(|s| s.objective == objective)
                    .cloned()
                    .unwrap_or(SloStatus {
                        objective,
                        sli: None,
                        budget: None,
                        computed_at: None,
                    })
            })
            .collect();
        *board = next;
    }

    /// Where the objective named `name` stands.
    pub fn get(&self, name: &str) -> Option<SloStatus> {
        let board = self.0.read().unwrap_or_else(|p| p.into_inner());
        board.iter().find(|s| s.objective.name == name).cloned()
    }

    /// Where each objective stands: the catalog file's in its order, then the stored
    /// ones by name.
    pub fn statuses(&self) -> Vec<SloStatus> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets each objective's SLI from the registry's `projects` at `now`.
    pub fn refresh_sli(&self, projects: &[Project], now: DateTime<Utc>, degraded: DegradedCounts) {
        let mut board = self.0.write().unwrap_or_else(|p| p.into_inner());
        for s in board.iter_mut() {
            s.sli = sli_now(members(&s.objective.subject, projects), now, degraded);
        }
    }

    /// Records `objective`'s budget, computed at `now` (nothing when it has been
    /// replaced or removed meanwhile).
    pub fn set_budget(&self, objective: &Objective, budget: ErrorBudget, now: DateTime<Utc>) {
        let mut board = self.0.write().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = board.iter_mut().find(|s| &s.objective == objective) {
            s.budget = Some(budget);
            s.computed_at = Some(now);
        }
    }
}
