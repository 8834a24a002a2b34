//! The window a report covers: `?window=24h|7d|30d|90d`, or `?from=&to=`.

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::ValidationError;

/// The longest window a report covers (its daily buckets: at most 91 UTC days).
pub const UPTIME_MAX_WINDOW: TimeDelta = TimeDelta::days(90);

/// How far back a report may reach: the daily rollups are kept this long (the raw
/// history's retention does not touch them).
pub const UPTIME_HORIZON: TimeDelta = TimeDelta::days(400);

/// The named windows, ending now.
pub const WINDOWS: [(&str, TimeDelta); 4] = [
    ("24h", TimeDelta::hours(24)),
    ("7d", TimeDelta::days(7)),
    ("30d", TimeDelta::days(30)),
    ("90d", TimeDelta::days(90)),
];

/// The window when none is given.
pub const DEFAULT_WINDOW: &str = "24h";

/// A validated window, `[from, to)`, whole microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Its start.
    pub from: DateTime<Utc>,
    /// Its end (never after the time it was asked at).
    pub to: DateTime<Utc>,
}

/// A window as asked for, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowInput {
    /// One of [`WINDOWS`], ending now.
    pub window: Option<String>,
    /// An RFC 3339 date-time.
    pub from: Option<String>,
    /// An RFC 3339 date-time; now when absent.
    pub to: Option<String>,
}

/// A span by its name in [`WINDOWS`], spelled exactly so (as the API's description
/// lists them).
pub fn named_window(name: &str) -> Option<TimeDelta> {
    WINDOWS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

fn instant(raw: &str, field: &str) -> Result<DateTime<Utc>, ValidationError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| chrono::SubsecRound::trunc_subsecs(t.with_timezone(&Utc), 6))
        .map_err(|_| {
            ValidationError::new(
                field,
                "must be an RFC 3339 date-time such as 2026-11-01T00:00:00Z",
            )
        })
}

impl WindowInput {
    /// Validates at `now`: either `window` or `from` (with an optional `to`, else now),
    /// `from` before `to`, at most [`UPTIME_MAX_WINDOW`] long and not before
    /// `now - UPTIME_HORIZON`. A `to` in the future is cut to now (the future is not
    /// known). Without either, the last [`DEFAULT_WINDOW`].
    pub fn validate(&self, now: DateTime<Utc>) -> Result<Window, ValidationError> {
        let now = chrono::SubsecRound::trunc_subsecs(now, 6);
        let window = match (&self.window, &self.from, &self.to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ValidationError::new(
                    "window",
                    "give either window or from/to, not both",
                ))
            }
            (None, None, Some(_)) => {
                return Err(ValidationError::new("from", "is required with to"))
            }
            (w, None, None) => {
                let name = w.as_deref().unwrap_or(DEFAULT_WINDOW);
                let span = named_window(name).ok_or_else(|| {
                    ValidationError::new("window", "must be one of 24h, 7d, 30d, 90d")
                })?;
                Window {
                    from: now - span,
                    to: now,
                }
            }
            (None, Some(from), to) => {
                let from = instant(from, "from")?;
                let to = to.as_deref().map(|t| instant(t, "to")).transpose()?;
                if let Some(to) = to {
                    if to <= from {
                        return Err(ValidationError::new("to", "must be after from"));
                    }
                }
                if from >= now {
                    return Err(ValidationError::new("from", "must be in the past"));
                }
                Window {
                    from,
                    to: to.unwrap_or(now).min(now),
                }
            }
        };
        if window.to - window.from > UPTIME_MAX_WINDOW {
            return Err(ValidationError::new(
                "from",
                format!(
                    "a window spans at most {} days",
                    UPTIME_MAX_WINDOW.num_days()
                ),
            ));
        }
        if window.from < now - UPTIME_HORIZON {
            return Err(ValidationError::new(
                "from",
                format!(
                    "the uptime record reaches back {} days",
                    UPTIME_HORIZON.num_days()
                ),
            ));
        }
        Ok(window)
    }
}
