//! A project's timeline, rebuilt from its history and the time the service heard the
//! bus, and its figures over any window.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::figures::{Class, Figures};
use crate::model::{reason, Status, Transition};

/// A half-open stretch of time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Its first instant.
    pub start: DateTime<Utc>,
    /// The instant after its last.
    pub end: DateTime<Utc>,
}

impl Span {
    /// `[start, end)`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    /// Whether `t` lies in it.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// Sorts spans and merges those that touch or overlap; drops empty ones.
pub fn merge_spans(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|s| s.start < s.end);
    spans.sort_by_key(|s| s.start);
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// Whether `t` lies in one of `spans` (sorted, merged).
fn within(spans: &[Span], t: DateTime<Utc>) -> bool {
    let i = spans.partition_point(|s| s.start <= t);
    i.checked_sub(1)
        .and_then(|i| spans.get(i))
        .is_some_and(|s| s.contains(t))
}

/// The end a `maintenance_started: <why> (until <time>, by <who>)` reason names.
pub fn maintenance_until(why: &str) -> Option<DateTime<Utc>> {
    let rest = why.strip_prefix(reason::MAINTENANCE_STARTED)?;
    let at = rest.rfind("(until ")? + "(until ".len();
    let tail = &rest[at..];
    let end = tail.find(',')?;
    DateTime::parse_from_rfc3339(&tail[..end])
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn starts_with_reason(why: &Option<String>, name: &str) -> bool {
    why.as_deref().is_some_and(|r| {
        r.strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    })
}

/// The maintenance windows a history records: each from its `maintenance_started` row
/// to the first of its `until`, a `maintenance_ended` row, a later start (which
/// replaces it) and the project's removal.
pub fn maintenance_spans(history: &[Transition]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut open: Option<Span> = None;
    for t in history {
        let close = |o: Span, at: DateTime<Utc>| Span::new(o.start, o.end.min(at));
        if starts_with_reason(&t.reason, reason::MAINTENANCE_STARTED) {
            if let Some(o) = open.take() {
                spans.push(close(o, t.at));
            }
            let until = t
                .reason
                .as_deref()
                .and_then(maintenance_until)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            open = Some(Span::new(t.at, until));
        } else if starts_with_reason(&t.reason, reason::MAINTENANCE_ENDED)
            || starts_with_reason(&t.reason, reason::REMOVED)
        {
            if let Some(o) = open.take() {
                spans.push(close(o, t.at));
            }
        }
    }
    spans.extend(open);
    merge_spans(spans)
}

/// One UTC day's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayFigures {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Its figures, within the window asked for.
    pub figures: Figures,
}

/// A project's timeline: its status from its history, its maintenance windows, and the
/// time the service heard the bus (while it did not, or was not running, nothing is
/// known).
///
/// An instant is [`Class::Unknown`] before the first history row kept (what came
/// before is trimmed or never was) and after the project's removal; else
/// [`Class::Maintenance`] in a maintenance window; else [`Class::Unknown`] outside
/// the heard time; else its status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Status from each instant on (`None`: removed), oldest first.
    states: Vec<(DateTime<Utc>, Option<Status>)>,
    maintenance: Vec<Span>,
    heard: Vec<Span>,
}

impl Timeline {
    /// The timeline of a history given oldest first (rows at the same instant in the
    /// order they were written) and the spans the service heard the bus (any order).
    pub fn new(history: &[Transition], heard: Vec<Span>) -> Self {
        let states = history
            .iter()
            .map(|t| {
                let removed = starts_with_reason(&t.reason, reason::REMOVED);
                (t.at, (!removed).then_some(t.to))
            })
            .collect();
        Self {
            states,
            maintenance: maintenance_spans(history),
            heard: merge_spans(heard),
        }
    }

    /// What the instant `t` was.
    pub fn class_at(&self, t: DateTime<Utc>) -> Class {
        let i = self.states.partition_point(|(at, _)| *at <= t);
        let Some(status) = i.checked_sub(1).and_then(|i| self.states.get(i)?.1) else {
            return Class::Unknown;
        };
        if within(&self.maintenance, t) {
            Class::Maintenance
        } else if !within(&self.heard, t) {
            Class::Unknown
        } else {
            match status {
                Status::Online => Class::Online,
                Status::Degraded => Class::Degraded,
                Status::Offline => Class::Offline,
            }
        }
    }

    /// The figures of `[from, to)` (empty when `to <= from`).
    pub fn figures(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Figures {
        if to <= from {
            return Figures::default();
        }
        let mut cuts: Vec<DateTime<Utc>> = vec![from, to];
        let inside = |t: &DateTime<Utc>| from < *t && *t < to;
        cuts.extend(self.states.iter().map(|(at, _)| *at).filter(inside));
        for s in self.maintenance.iter().chain(&self.heard) {
            cuts.extend([s.start, s.end].into_iter().filter(inside));
        }
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2).fold(Figures::default(), |acc, w| match w {
            [a, b] => acc.then(&Figures::of(self.class_at(*a), micros(*b - *a))),
            _ => acc,
        })
    }

    /// The figures of each UTC day `[from, to)` touches, cut to the window.
    pub fn daily(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DayFigures> {
        days(from, to)
            .map(|(day, s)| DayFigures {
                day,
                figures: self.figures(s.start, s.end),
            })
            .collect()
    }
}

/// A length in microseconds (saturating: windows are bounded far below).
pub fn micros(d: TimeDelta) -> i64 {
    d.num_microseconds().unwrap_or(i64::MAX)
}

/// Each UTC day `[from, to)` touches, with its part of the window.
pub fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = (NaiveDate, Span)> {
    let mut day = from.date_naive();
    std::iter::from_fn(move || {
        let start = day.and_hms_opt(0, 0, 0)?.and_utc();
        if start >= to || from >= to {
            return None;
        }
        let next = day.succ_opt()?;
        let end = next.and_hms_opt(0, 0, 0)?.and_utc();
        let item = (day, Span::new(start.max(from), end.min(to)));
        day = next;
        Some(item)
    })
}
