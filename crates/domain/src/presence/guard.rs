//! The partition guard: whether we could hear the bus, and the time we could not.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

/// Canaries that may go unanswered in a row before the link counts as broken.
pub const CANARY_MISSES: u32 = 3;
/// Outages remembered at most; beyond it the oldest two are merged into one (crediting
/// the gap between them too: it errs on the side of not expiring).
pub const MAX_OUTAGES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BusLink {
    pub(super) connected: bool,
    pub(super) unanswered_canaries: u32,
    /// When the oldest canary still unanswered was sent.
    pub(super) first_unanswered: Option<DateTime<Utc>>,
    /// The server refuses our canary: the guard follows the link alone until one comes
    /// back (it cannot tell a deaf subscription from a refused publish otherwise, and
    /// would hold for ever).
    pub(super) canary_denied: bool,
}

impl BusLink {
    pub(super) fn canary_lost(&self) -> bool {
        !self.canary_denied && self.unanswered_canaries > CANARY_MISSES
    }

    pub(super) fn healthy(&self) -> bool {
        self.connected && !self.canary_lost()
    }
}

/// The time we could not hear the bus: closed outages, oldest first, and the open one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Deafness {
    pub(super) closed: VecDeque<(DateTime<Utc>, DateTime<Utc>)>,
    pub(super) open_since: Option<DateTime<Utc>>,
}

impl Deafness {
    /// Deaf since ever (a bus-fed table before its first connection).
    pub(super) fn since_ever() -> Self {
        Self {
            closed: VecDeque::new(),
            open_since: Some(DateTime::<Utc>::MIN_UTC),
        }
    }

    pub(super) fn begin(&mut self, at: DateTime<Utc>) {
        if self.open_since.is_none() {
            self.open_since = Some(at);
        }
    }

    /// Counts `[from, to]` as unheard (time the process did not run), unless an outage
    /// is open already (then it is unheard anyway).
    pub(super) fn credit(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        if self.open_since.is_none() {
            self.begin(from);
            self.end(to);
        }
    }

    pub(super) fn end(&mut self, at: DateTime<Utc>) {
        let Some(start) = self.open_since.take() else {
            return;
        };
        if at <= start {
            return;
        }
        match self.closed.back_mut() {
            Some((_, last_end)) if *last_end >= start => *last_end = (*last_end).max(at),
            _ => self.closed.push_back((start, at)),
        }
        while self.closed.len() > MAX_OUTAGES {
            if let (Some((first, _)), Some((_, second_end))) =
                (self.closed.pop_front(), self.closed.pop_front())
            {
                self.closed.push_front((first, second_end));
            }
        }
    }

    /// The unheard time within `[from, now]`.
    pub(super) fn within(&self, from: DateTime<Utc>, now: DateTime<Utc>) -> TimeDelta {
        let overlap =
            |s: DateTime<Utc>, e: DateTime<Utc>| (e.min(now) - s.max(from)).max(TimeDelta::zero());
        let mut deaf = self
            .open_since
            .map_or(TimeDelta::zero(), |s| overlap(s, now));
        for &(s, e) in self.closed.iter().rev() {
            if e <= from {
                break;
            }
            deaf += overlap(s, e);
        }
        deaf
    }

    /// The time since `from` that we could hear.
    pub(super) fn heard_since(&self, from: DateTime<Utc>, now: DateTime<Utc>) -> TimeDelta {
        (now - from) - self.within(from, now)
    }

    /// Forgets outages that can no longer matter: once `keep` of heard time has passed
    /// since an outage ended, every project last heard before it has been silent for at
    /// least `keep` with or without the credit.
    pub(super) fn prune(&mut self, now: DateTime<Utc>, keep: TimeDelta) {
        while let Some(&(_, end)) = self.closed.front() {
            if self.heard_since(end, now) < keep {
                break;
            }
            self.closed.pop_front();
        }
    }

    /// When the most recent closed outage ended.
    pub(super) fn last_end(&self) -> Option<DateTime<Utc>> {
        self.closed.back().map(|&(_, e)| e)
    }
}

/// Whether silence may currently expire projects, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardState {
    /// Silence counts.
    Inactive,
    /// Our link to the bus is down.
    LinkDown,
    /// Our own canaries stopped coming back through the subscription.
    CanaryLost,
    /// The bus is healthy again after an outage whose time is credited to the projects
    /// heard before it; until `until` (the outage's end plus `offline_after`) this
    /// replica's table may lack heartbeats sent during it.
    Recovering {
        /// When the last outage stops mattering.
        until: DateTime<Utc>,
    },
}

impl GuardState {
    /// The name of every state, in declaration order: metric labels, `/ready`'s
    /// `partition_guard`.
    pub const NAMES: [&'static str; 4] = ["inactive", "link_down", "canary_lost", "recovering"];

    /// Whether the table may lack heartbeats: deaf now, or within `offline_after` of an
    /// outage (any state but `Inactive`).
    pub fn is_active(&self) -> bool {
        !matches!(self, GuardState::Inactive)
    }

    /// The state's name, as a metric label and in `/health`.
    pub fn as_str(&self) -> &'static str {
        let [inactive, link_down, canary_lost, recovering] = Self::NAMES;
        match self {
            GuardState::Inactive => inactive,
            GuardState::LinkDown => link_down,
            GuardState::CanaryLost => canary_lost,
            GuardState::Recovering { .. } => recovering,
        }
    }
}
