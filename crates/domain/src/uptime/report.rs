//! Reports: a project's figures over a window with its daily buckets, and their roll-up
//! over a tag or the fleet.

use std::collections::HashMap;

use super::figures::Figures;
use super::timeline::{DayFigures, Span, Timeline};
use super::window::Window;
use crate::model::{Slug, Transition};

/// One project's figures over a window, and its daily buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectUptime {
    /// The project.
    pub slug: Slug,
    /// Its figures over the whole window.
    pub figures: Figures,
    /// Its figures per UTC day the window touches, oldest first.
    pub days: Vec<DayFigures>,
}

/// Several projects' figures side by side (a tag, the fleet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledUp {
    /// How many projects.
    pub projects: usize,
    /// Their figures added up.
    pub figures: Figures,
    /// Their daily buckets added up.
    pub days: Vec<DayFigures>,
}

/// The figures of `slugs` over `window`, from their history rows (any project's, in
/// [`super::UptimeSource::history_between`]'s order) and the spans the service heard.
pub fn project_reports(
    slugs: &[Slug],
    rows: Vec<Transition>,
    heard: Vec<Span>,
    window: Window,
) -> Vec<ProjectUptime> {
    let mut by_slug: HashMap<Slug, Vec<Transition>> = HashMap::new();
    for row in rows {
        by_slug.entry(row.slug.clone()).or_default().push(row);
    }
    let heard = super::timeline::merge_spans(heard);
    slugs
        .iter()
        .map(|slug| {
            let history = by_slug.remove(slug).unwrap_or_default();
            let timeline = Timeline::new(&history, heard.clone());
            let days = timeline.daily(window.from, window.to);
            let figures = days
                .iter()
                .fold(Figures::default(), |acc, d| acc.then(&d.figures));
            ProjectUptime {
                slug: slug.clone(),
                figures,
                days,
            }
        })
        .collect()
}

/// Each project's figures over each of `spans` (ascending, disjoint), from their
/// history rows and the heard spans: one list per slug, in `slugs`' order.
pub fn figures_over(
    slugs: &[Slug],
    rows: Vec<Transition>,
    heard: Vec<Span>,
    spans: &[Span],
) -> Vec<Vec<Figures>> {
    let mut by_slug: HashMap<Slug, Vec<Transition>> = HashMap::new();
    for row in rows {
        by_slug.entry(row.slug.clone()).or_default().push(row);
    }
    let heard = super::timeline::merge_spans(heard);
    slugs
        .iter()
        .map(|slug| {
            let history = by_slug.remove(slug).unwrap_or_default();
            let timeline = Timeline::new(&history, heard.clone());
            spans
                .iter()
                .map(|s| timeline.figures(s.start, s.end))
                .collect()
        })
        .collect()
}

/// The reports side by side, day by day (every report over the same window).
pub fn roll_up(reports: &[ProjectUptime]) -> RolledUp {
    let mut days: Vec<DayFigures> = reports.first().map(|r| r.days.clone()).unwrap_or_default();
    for d in &mut days {
        d.figures = Figures::default();
    }
    let mut figures = Figures::default();
    for r in reports {
        figures = figures.plus(&r.figures);
        for (acc, d) in days.iter_mut().zip(&r.days) {
            acc.figures = acc.figures.plus(&d.figures);
        }
    }
    RolledUp {
        projects: reports.len(),
        figures,
        days,
    }
}
