//! Service level objectives over uptime: an availability objective for a project or a
//! tag over a named window, and the error budget it leaves.

use serde::Deserialize;

use super::figures::{DegradedCounts, Figures};
use super::window::named_window;
use crate::error::ValidationError;
use crate::model::{Slug, Tag};

/// The windows an objective may be kept over (the burn-rate alerts assume 30 d by
/// default, the SRE workbook's).
pub const SLO_WINDOWS: [&str; 3] = ["7d", "30d", "90d"];

/// An objective's percentage lies strictly between these.
pub const SLO_PERCENT_EXCLUSIVE: (f64, f64) = (0.0, 100.0);

/// What an objective is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SloSubject {
    /// One project.
    Project(Slug),
    /// Every project with the tag, added up.
    Tag(Tag),
}

impl SloSubject {
    /// `project` or `tag`.
    pub fn kind(&self) -> &'static str {
        match self {
            SloSubject::Project(_) => "project",
            SloSubject::Tag(_) => "tag",
        }
    }

    /// The slug or the tag.
    pub fn name(&self) -> &str {
        match self {
            SloSubject::Project(s) => s.as_str(),
            SloSubject::Tag(t) => t.as_str(),
        }
    }
}

/// A validated objective: at least `percent` uptime over `window`.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// Its name (a slug): the catalog file's `name:`, or `{kind}-{subject}`; the
    /// REST path's `{name}`.
    pub name: String,
    /// Of what.
    pub subject: SloSubject,
    /// The target, in percent: above 0, below 100.
    pub percent: f64,
    /// One of [`SLO_WINDOWS`].
    pub window: String,
}

/// An objective as the catalog file writes it: `{project: hub, objective: 99.9,
/// window: 30d}` or `{tag: production, …}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveInput {
    /// The objective's name, a slug (default `project-{slug}` or `tag-{tag}`).
    pub name: Option<String>,
    /// The project's slug (or give `tag`).
    pub project: Option<String>,
    /// The tag (or give `project`).
    pub tag: Option<String>,
    /// The target uptime in percent, such as 99.9.
    pub objective: Option<f64>,
    /// `7d`, `30d` (the default) or `90d`.
    pub window: Option<String>,
}

impl ObjectiveInput {
    /// Validates: a name that is a slug, exactly one of project and tag, an objective
    /// in (0, 100), a window among [`SLO_WINDOWS`].
    pub fn validate(&self) -> Result<Objective, ValidationError> {
        let subject = match (&self.project, &self.tag) {
            (Some(p), None) => SloSubject::Project(Slug::parse(p).map_err(|e| e.at("project"))?),
            (None, Some(t)) => SloSubject::Tag(Tag::parse(t).map_err(|e| e.at("tag"))?),
            _ => {
                return Err(ValidationError::new(
                    "project",
                    "give exactly one of project and tag",
                ))
            }
        };
        let percent = self
            .objective
            .filter(|p| {
                p.is_finite() && *p > SLO_PERCENT_EXCLUSIVE.0 && *p < SLO_PERCENT_EXCLUSIVE.1
            })
            .ok_or_else(|| {
                ValidationError::new(
                    "objective",
                    "must be a percentage above 0 and below 100, such as 99.9",
                )
            })?;
        let window = self
            .window
            .as_deref()
            .unwrap_or("30d")
            .trim()
            .to_ascii_lowercase();
        if !SLO_WINDOWS.contains(&window.as_str()) || named_window(&window).is_none() {
            return Err(ValidationError::new(
                "window",
                "must be one of 7d, 30d, 90d",
            ));
        }
        let name = match &self.name {
            Some(n) => n.clone(),
            None => format!("{}-{}", subject.kind(), subject.name()),
        };
        let name = Slug::parse(&name)
            .map_err(|e| e.at("name"))?
            .as_str()
            .to_owned();
        Ok(Objective {
            name,
            subject,
            percent,
            window,
        })
    }
}

/// The error budget an objective leaves over its window's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorBudget {
    /// The uptime over the window (`None`: no time counted).
    pub uptime_percent: Option<f64>,
    /// Unavailable time the objective allows over the counted time, in seconds.
    pub budget_seconds: f64,
    /// Unavailable time spent, in seconds.
    pub spent_seconds: f64,
    /// What is left, as a share of the budget: 1 untouched, 0 spent, below 0 overspent;
    /// `None` when no time counted (all maintenance or unknown).
    pub remaining_ratio: Option<f64>,
}

impl Objective {
    /// The share of counted time the objective allows to be unavailable.
    pub fn allowed_error(&self) -> f64 {
        1.0 - self.percent / 100.0
    }

    /// The budget over `figures` (the objective's window), degraded time counting as
    /// `degraded` says. Only counted time (less maintenance and unknown) has a budget.
    pub fn budget(&self, figures: &Figures, degraded: DegradedCounts) -> ErrorBudget {
        let counted = figures.counted() as f64 / 1e6;
        let spent = (figures.counted() - figures.available(degraded)) as f64 / 1e6;
        let budget = counted * self.allowed_error();
        ErrorBudget {
            uptime_percent: figures.uptime_percent(degraded),
            budget_seconds: budget,
            spent_seconds: spent,
            remaining_ratio: (counted > 0.0).then(|| 1.0 - spent / budget),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uptime::Class;

    fn input(
        project: Option<&str>,
        tag: Option<&str>,
        objective: Option<f64>,
        window: Option<&str>,
    ) -> ObjectiveInput {
        ObjectiveInput {
            project: project.map(str::to_owned),
            tag: tag.map(str::to_owned),
            objective,
            window: window.map(str::to_owned),
            name: None,
        }
    }

    #[test]
    fn objectives_are_validated_naming_the_field() {
        let o = input(Some("Hub"), None, Some(99.9), None)
            .validate()
            .unwrap();
        assert_eq!(o.subject.kind(), "project");
        assert_eq!(o.subject.name(), "hub");
        assert_eq!(o.window, "30d");
        assert_eq!(o.name, "project-hub");
        let named = ObjectiveInput {
            name: Some("Edge".into()),
            ..input(None, Some("prod"), Some(99.0), None)
        };
        assert_eq!(named.validate().unwrap().name, "edge");
        let field = |i: ObjectiveInput| i.validate().unwrap_err().field;
        assert_eq!(
            field(input(Some("a"), Some("b"), Some(99.0), None)),
            "project"
        );
        assert_eq!(field(input(None, None, Some(99.0), None)), "project");
        assert_eq!(field(input(Some("-a"), None, Some(99.0), None)), "project");
        assert_eq!(
            field(input(None, Some("prod"), Some(100.0), None)),
            "objective"
        );
        assert_eq!(field(input(None, Some("prod"), None, None)), "objective");
        assert_eq!(
            field(input(None, Some("prod"), Some(99.0), Some("24h"))),
            "window"
        );
        let bad_name = ObjectiveInput {
            name: Some("no spaces".into()),
            ..input(None, Some("prod"), Some(99.0), None)
        };
        assert_eq!(field(bad_name), "name");
    }

    #[test]
    fn a_percentage_just_below_100_in_json_is_read_as_written() {
        // The shortest decimal of the float below 100 must not round up to 100 on the
        // way in (schemathesis sent it; the schema's exclusiveMaximum allows it).
        let body = r#"{"objective": 99.99999999999999, "tag": "production", "window": "30d"}"#;
        let input: ObjectiveInput = serde_json::from_str(body).unwrap();
        assert!(input.objective.unwrap() < 100.0, "{input:?}");
        assert!(input.validate().is_ok());
    }

    #[test]
    fn the_budget_is_the_allowed_share_of_counted_time() {
        let o = input(None, Some("prod"), Some(99.0), Some("30d"))
            .validate()
            .unwrap();
        let hour = 3_600_000_000;
        let f = Figures::of(Class::Online, 99 * hour)
            .then(&Figures::of(Class::Offline, hour / 2))
            .then(&Figures::of(Class::Maintenance, 50 * hour))
            .then(&Figures::of(Class::Degraded, hour / 2));
        let up = o.budget(&f, DegradedCounts::Up);
        assert!((up.budget_seconds - 3600.0).abs() < 1e-6, "{up:?}");
        assert!((up.spent_seconds - 1800.0).abs() < 1e-6);
        assert!((up.remaining_ratio.unwrap() - 0.5).abs() < 1e-9);
        let down = o.budget(&f, DegradedCounts::Down);
        assert!(down.remaining_ratio.unwrap().abs() < 1e-9, "{down:?}");
        let none = o.budget(&Figures::of(Class::Unknown, hour), DegradedCounts::Up);
        assert_eq!(none.remaining_ratio, None);
    }
}
