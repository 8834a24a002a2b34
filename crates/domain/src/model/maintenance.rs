//! Maintenance windows: input, validation and the change a repository applies.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::reason;
use super::text::{required, trimmed_text};
use crate::error::ValidationError;

/// The longest maintenance window.
pub const MAINTENANCE_MAX: TimeDelta = TimeDelta::days(30);
/// The longest maintenance reason, in characters.
pub const MAINTENANCE_REASON_MAX: usize = 200;

/// A planned window during which a project's silence (or self-reported trouble) records
/// no degraded/offline transition. It ends by itself at `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Maintenance {
    /// Why (free text).
    pub reason: String,
    /// When it started.
    pub since: DateTime<Utc>,
    /// When it ends by itself.
    pub until: DateTime<Utc>,
    /// Who started it: the caller's key name, or `anonymous`.
    pub by: String,
}

impl Maintenance {
    /// Whether the window is open at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }
}

/// A request to start maintenance, before validation: a reason and an end, given as
/// `until` (RFC 3339) or `for` (`90s`, `30m`, `2h`, `1d`, or seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceInput {
    /// Required.
    pub reason: Option<String>,
    /// The end, as an RFC 3339 date-time.
    pub until: Option<String>,
    /// The length, from now.
    pub duration: Option<String>,
}

/// `90s`, `30m`, `2h`, `1d`, or a number of seconds.
fn parse_span(raw: &str) -> Option<TimeDelta> {
    let s = raw.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = digits.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    TimeDelta::try_seconds(seconds)
}

impl MaintenanceInput {
    /// Validates the request at `now` for the caller `by`: a reason (1–200 characters),
    /// and exactly one of `until` (in the future) and `for` (positive), the window at
    /// most [`MAINTENANCE_MAX`] long.
    pub fn validate(&self, now: DateTime<Utc>, by: &str) -> Result<Maintenance, ValidationError> {
        // Whole microseconds, as the stores keep every other time.
        let now = chrono::SubsecRound::trunc_subsecs(now, 6);
        let reason = trimmed_text(
            required(&self.reason, "reason")?,
            "reason",
            MAINTENANCE_REASON_MAX,
        )?;
        let until = match (&self.until, &self.duration) {
            (Some(_), Some(_)) => {
                return Err(ValidationError::new(
                    "for",
                    "give either until or for, not both",
                ))
            }
            (None, None) => return Err(ValidationError::new("until", "is required (or for)")),
            (Some(until), None) => {
                let at = DateTime::parse_from_rfc3339(until.trim())
                    .map_err(|_| {
                        ValidationError::new(
                            "until",
                            "must be an RFC 3339 date-time such as 2025-11-18T12:00:00Z",
                        )
                    })?
                    .with_timezone(&Utc);
                if at <= now {
                    return Err(ValidationError::against_clock(
                        "until",
                        "must be in the future",
                    ));
                }
                at
            }
            (None, Some(span)) => {
                let span = parse_span(span)
                    .filter(|s| *s > TimeDelta::zero())
                    .ok_or_else(|| {
                        ValidationError::new(
                            "for",
                            "must be a positive length such as 90s, 30m, 2h or 1d",
                        )
                    })?;
                now.checked_add_signed(span.min(MAINTENANCE_MAX + TimeDelta::seconds(1)))
                    .ok_or_else(|| ValidationError::new("for", "is out of range"))?
            }
        };
        if until - now > MAINTENANCE_MAX {
            let message = format!(
                "a maintenance window lasts at most {} days",
                MAINTENANCE_MAX.num_days()
            );
            // `until` too far away conflicts with the clock; `for` too long breaks a
            // bound the description states.
            return Err(if self.until.is_some() {
                ValidationError::against_clock("until", message)
            } else {
                ValidationError::new("for", message)
            });
        }
        Ok(Maintenance {
            reason,
            since: now,
            until: chrono::SubsecRound::trunc_subsecs(until, 6),
            by: by.to_owned(),
        })
    }
}

/// The history's reason for a window that starts: `maintenance_started: <reason> (until
/// <time>, by <who>)`.
pub fn maintenance_started(m: &Maintenance) -> String {
    format!(
        "{}: {} (until {}, by {})",
        reason::MAINTENANCE_STARTED,
        m.reason,
        m.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        m.by
    )
}

/// What [`crate::ProjectRepository::set_maintenance`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaintenanceChange {
    /// Starts (or replaces) the project's window.
    Start(Maintenance),
    /// Ends the project's window at `at`, recording `reason`. With `due`, only a window
    /// whose `until` is at or before `at` ends (the sweeper ending it by itself).
    End {
        /// When it ended.
        at: DateTime<Utc>,
        /// What the history records.
        reason: String,
        /// Only if its time has come.
        due: bool,
    },
}
