//! Flapping: a project that changes status [`Flapping::changes`] times within
//! [`Flapping::window`] is *flapping* (a field and an event, not a fourth status), until
//! it has been stable (no status change) for the window.
//!
//! One judgement for the whole service (docs/notifications.md § Flapping): the leader
//! judges the transitions it is about to write ([`FlapJudge::judge`]) and the projects
//! that have been stable long enough ([`FlapJudge::settled`]), and records each start
//! and end in the change log (`flapping`, `stable`) with the project's
//! `flapping_since`. Every replica counts the transitions of the log it applies, so a
//! promoted follower judges from the same window; the notification rules hold a
//! flapping project's messages by these recorded changes, never by a count of their own.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use smallvec::SmallVec;

use crate::error::ValidationError;
use crate::model::{Project, Slug, Transition};
use crate::replication::{Change, ChangeKind};

/// The fewest changes that can make a project flapping.
pub const FLAP_CHANGES_MIN: usize = 2;
/// The most changes the setting accepts (each project keeps at most this many times).
pub const FLAP_CHANGES_MAX: usize = 1000;

/// When a project counts as flapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flapping {
    /// Status changes …
    pub changes: usize,
    /// … within this long; also how long it must be stable to stop flapping.
    pub window: TimeDelta,
}

/// The default: 5 changes within 10 minutes.
pub const FLAPPING_DEFAULT: Flapping = Flapping {
    changes: 5,
    window: TimeDelta::minutes(10),
};

impl Default for Flapping {
    fn default() -> Self {
        FLAPPING_DEFAULT
    }
}

impl Flapping {
    /// Checks the bounds; the error names the setting.
    pub fn validated(self) -> Result<Self, ValidationError> {
        if !(FLAP_CHANGES_MIN..=FLAP_CHANGES_MAX).contains(&self.changes) {
            return Err(ValidationError::new(
                "FEDERATION_NOTIFY_FLAP_CHANGES",
                "must be a whole number from 2 to 1000",
            ));
        }
        if self.window <= TimeDelta::zero() {
            return Err(ValidationError::new(
                "FEDERATION_NOTIFY_FLAP_WINDOW",
                "must be above 0",
            ));
        }
        Ok(self)
    }
}

/// A start or an end of flapping, as the leader records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlapMark {
    /// The project.
    pub slug: Slug,
    /// `true`: it starts flapping (its `flapping_since` becomes `at`); `false`: it is
    /// stable again (its `flapping_since` is cleared).
    pub flapping: bool,
    /// When: the transition that made it flap, or the end of the stable window.
    pub at: DateTime<Utc>,
}

impl FlapMark {
    /// The change-log kind it is recorded as.
    pub fn kind(&self) -> ChangeKind {
        if self.flapping {
            ChangeKind::Flapping
        } else {
            ChangeKind::Stable
        }
    }
}

/// One project's recent changes.
#[derive(Debug, Clone, Default)]
struct Recent {
    /// Times of its status changes within the window (oldest first). Room for one in
    /// place: most projects change once in a window (after a fleet's first beats, a
    /// million rows of one change each, which a buffer apiece would double).
    times: SmallVec<[DateTime<Utc>; 1]>,
    /// While the log has it flapping. Boxed: few projects flap at a time, and the
    /// million rows of a fleet's first beats need not carry the room.
    flap: Option<Box<Flap>>,
}

/// A flapping project's record.
#[derive(Debug, Clone)]
struct Flap {
    /// Flapping since (as recorded in the log).
    since: DateTime<Utc>,
    /// When this replica took it as flapping from a snapshot, with no change of it
    /// known: its stable window counts from then at the latest.
    known_at: Option<DateTime<Utc>>,
}

impl Recent {
    /// Its last status change. The newest change stays in `times` (only older ones are
    /// trimmed, and only when a newer one comes), so this is kept past the window while
    /// it flaps.
    fn last(&self) -> Option<DateTime<Utc>> {
        let changed = self.times.iter().max().copied();
        match &self.flap {
            Some(f) => changed.max(f.known_at),
            None => changed,
        }
    }

    /// Flapping since `since`, as the log records it.
    fn flapping_since(&mut self, since: DateTime<Utc>, known_at: Option<DateTime<Utc>>) {
        match &mut self.flap {
            Some(f) => f.since = since,
            None => self.flap = Some(Box::new(Flap { since, known_at })),
        }
    }
}

/// The flapping rule over the change log (see the module's rules).
#[derive(Debug, Clone, Default)]
pub struct FlapJudge {
    rule: Flapping,
    /// One row per project with a change in the window (after a fleet's first beats, a
    /// million rows). A tree grows and shrinks a node at a time: a vector or a hash
    /// table doubles by copying everything it holds, which at a million rows put a
    /// hundred megabytes on top of the peak, and keeps its room once the rows are gone.
    projects: BTreeMap<Slug, Recent>,
}

impl FlapJudge {
    /// A judge with no change seen.
    pub fn new(rule: Flapping) -> Self {
        Self {
            rule,
            projects: BTreeMap::new(),
        }
    }

    /// The rule it applies.
    pub fn rule(&self) -> Flapping {
        self.rule
    }

    /// Whether the log says `slug` is flapping.
    pub fn is_flapping(&self, slug: &Slug) -> bool {
        self.projects.get(slug).is_some_and(|r| r.flap.is_some())
    }

    /// Takes a project as loaded (a snapshot at start or after a trim): one recorded as
    /// flapping stays flapping until stable for the window from `now` at the latest
    /// (its changes before this replica read the log are not known).
    pub fn know(&mut self, project: &Project, now: DateTime<Utc>) {
        match project.flapping_since {
            Some(since) => {
                let r = self.projects.entry(project.slug.clone()).or_default();
                let known_at = r.last().is_none().then_some(now);
                r.flapping_since(since, known_at);
            }
            None => {
                if let Some(r) = self.projects.get_mut(&project.slug) {
                    r.flap = None;
                }
            }
        }
    }

    /// Applies one change of the log (in revision order).
    pub fn apply(&mut self, change: &Change) {
        match &change.kind {
            ChangeKind::Transition(t) if t.from != t.to => {
                let window = self.rule.window;
                let r = self.projects.entry(change.slug.clone()).or_default();
                r.times.push(t.at);
                let old = r.times.iter().take_while(|&&x| x <= t.at - window).count();
                let over = r.times.len().saturating_sub(FLAP_CHANGES_MAX);
                r.times.drain(..old.max(over));
            }
            ChangeKind::Flapping => {
                self.projects
                    .entry(change.slug.clone())
                    .or_default()
                    .flapping_since(change.at, None);
            }
            ChangeKind::Stable => {
                if let Some(r) = self.projects.get_mut(&change.slug) {
                    r.flap = None;
                }
            }
            ChangeKind::Deleted { .. } => {
                self.projects.remove(&change.slug);
            }
            _ => {}
        }
    }

    /// The leader, before it writes `transitions` (in the order they happened): the
    /// projects they make start flapping, each at the transition that reaches the
    /// count. Nothing is counted here: the transitions count when the log brings them.
    pub fn judge(&self, transitions: &[Transition]) -> Vec<FlapMark> {
        let window = self.rule.window;
        let mut pending: HashMap<&Slug, VecDeque<DateTime<Utc>>> = HashMap::new();
        let mut out: Vec<FlapMark> = Vec::new();
        for t in transitions.iter().filter(|t| t.from != t.to) {
            if self.is_flapping(&t.slug) || out.iter().any(|m| m.slug == t.slug) {
                continue;
            }
            let times = pending.entry(&t.slug).or_insert_with(|| {
                self.projects
                    .get(&t.slug)
                    .map(|r| r.times.iter().copied().collect())
                    .unwrap_or_default()
            });
            times.push_back(t.at);
            while times.front().is_some_and(|&x| x <= t.at - window) {
                times.pop_front();
            }
            if times.len() >= self.rule.changes {
                out.push(FlapMark {
                    slug: t.slug.clone(),
                    flapping: true,
                    at: t.at,
                });
            }
        }
        out
    }

    /// The flapping projects with no status change for the window by `now`: each is
    /// stable again at the end of that window.
    pub fn settled(&self, now: DateTime<Utc>) -> Vec<FlapMark> {
        let window = self.rule.window;
        let mut out: Vec<FlapMark> = self
            .projects
            .iter()
            .filter(|(_, r)| r.flap.is_some())
            .filter_map(|(slug, r)| {
                let last = r.last().or(r.flap.as_ref().map(|f| f.since))?;
                (now - last >= window).then(|| FlapMark {
                    slug: slug.clone(),
                    flapping: false,
                    at: last + window,
                })
            })
            .collect();
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.slug.cmp(&b.slug)));
        out
    }

    /// Forgets quiet projects (no change within the window by `now`, not flapping):
    /// memory stays bounded by recent activity (the tree's nodes go with their rows).
    pub fn forget_quiet(&mut self, now: DateTime<Utc>) {
        let window = self.rule.window;
        self.projects
            .retain(|_, r| r.flap.is_some() || r.last().is_some_and(|l| now - l < window));
    }
}

#[cfg(test)]
mod tests;
