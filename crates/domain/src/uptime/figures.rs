//! The figures of a stretch of time, and how stretches combine.
//!
//! [`Figures`] is a monoid over adjacent stretches: the figures of a window are the
//! figures of its days combined in order ([`Figures::then`]), which is what lets daily
//! rollups answer a 90-day report without reading the raw history again. Projects
//! combine side by side ([`Figures::plus`]) into a tag's or the fleet's figures.

use serde::Serialize;

/// What an instant of a project's time was, as the report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Online.
    Online,
    /// Degraded (counted as up or down as [`DegradedCounts`] says).
    Degraded,
    /// Offline: part of an outage.
    Offline,
    /// In a maintenance window: left out of the percentage.
    Maintenance,
    /// Not known: before the history starts, after the project was removed, or while
    /// the service could not hear the bus or was not running. Left out of the
    /// percentage, never guessed.
    Unknown,
}

/// How degraded time counts in the uptime percentage (`FEDERATION_UPTIME_DEGRADED`).
/// Outages are offline stretches either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DegradedCounts {
    /// Degraded time counts as available (the project answered, if slowly): the default.
    #[default]
    Up,
    /// Degraded time counts as unavailable.
    Down,
}

impl DegradedCounts {
    /// `up` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            DegradedCounts::Up => "up",
            DegradedCounts::Down => "down",
        }
    }

    /// Parses `up | down` (any case).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "up" => Some(DegradedCounts::Up),
            "down" => Some(DegradedCounts::Down),
            _ => None,
        }
    }
}

/// The figures of one stretch of time (one project, or several side by side). Every
/// length is in microseconds, the stores' resolution, so combining never rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Figures {
    /// Time online.
    pub online: i64,
    /// Time degraded.
    pub degraded: i64,
    /// Time offline.
    pub offline: i64,
    /// Time in maintenance.
    pub maintenance: i64,
    /// Time not known.
    pub unknown: i64,
    /// Outages: maximal offline stretches (one crossing the stretch's edge counts, cut
    /// at the edge). Maintenance or unknown time ends an outage.
    pub outages: u64,
    /// The longest outage, cut at the stretch's edges.
    pub longest_outage: i64,
    /// The offline time the stretch starts with (0 when it starts otherwise); joins an
    /// outage that ends the stretch before it.
    pub leading_offline: i64,
    /// The offline time the stretch ends with.
    pub trailing_offline: i64,
}

impl Figures {
    /// One stretch of `len` microseconds of one class.
    pub fn of(class: Class, len: i64) -> Self {
        let len = len.max(0);
        let mut f = Figures::default();
        if len == 0 {
            return f;
        }
        match class {
            Class::Online => f.online = len,
            Class::Degraded => f.degraded = len,
            Class::Maintenance => f.maintenance = len,
            Class::Unknown => f.unknown = len,
            Class::Offline => {
                f.offline = len;
                f.outages = 1;
                f.longest_outage = len;
                f.leading_offline = len;
                f.trailing_offline = len;
            }
        }
        f
    }

    /// The stretch's length.
    pub fn len(&self) -> i64 {
        self.online + self.degraded + self.offline + self.maintenance + self.unknown
    }

    /// Whether the stretch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This stretch followed at once by `next` (the same project): an outage that ends
    /// this one and starts `next` is one outage.
    pub fn then(&self, next: &Figures) -> Figures {
        if self.is_empty() {
            return *next;
        }
        if next.is_empty() {
            return *self;
        }
        let joined = self.trailing_offline > 0 && next.leading_offline > 0;
        let bridge = self.trailing_offline + next.leading_offline;
        let all_offline = |f: &Figures| f.leading_offline == f.len();
        Figures {
            online: self.online + next.online,
            degraded: self.degraded + next.degraded,
            offline: self.offline + next.offline,
            maintenance: self.maintenance + next.maintenance,
            unknown: self.unknown + next.unknown,
            outages: self.outages + next.outages - u64::from(joined),
            longest_outage: self.longest_outage.max(next.longest_outage).max(if joined {
                bridge
            } else {
                0
            }),
            leading_offline: if all_offline(self) {
                self.len() + next.leading_offline
            } else {
                self.leading_offline
            },
            trailing_offline: if all_offline(next) {
                next.len() + self.trailing_offline
            } else {
                next.trailing_offline
            },
        }
    }

    /// This stretch and `other` side by side (other projects over the same window):
    /// times and outages add up, the longest outage is the longer one. The edges no
    /// longer join anything.
    pub fn plus(&self, other: &Figures) -> Figures {
        Figures {
            online: self.online + other.online,
            degraded: self.degraded + other.degraded,
            offline: self.offline + other.offline,
            maintenance: self.maintenance + other.maintenance,
            unknown: self.unknown + other.unknown,
            outages: self.outages + other.outages,
            longest_outage: self.longest_outage.max(other.longest_outage),
            leading_offline: 0,
            trailing_offline: 0,
        }
    }

    /// The time that counts in the percentage: the stretch less maintenance and unknown.
    pub fn counted(&self) -> i64 {
        self.online + self.degraded + self.offline
    }

    /// The time counted as available.
    pub fn available(&self, degraded: DegradedCounts) -> i64 {
        match degraded {
            DegradedCounts::Up => self.online + self.degraded,
            DegradedCounts::Down => self.online,
        }
    }

    /// Uptime in percent: available over counted time; `None` when no time counts
    /// (all of it maintenance or unknown).
    pub fn uptime_percent(&self, degraded: DegradedCounts) -> Option<f64> {
        let counted = self.counted();
        (counted > 0).then(|| self.available(degraded) as f64 * 100.0 / counted as f64)
    }

    /// The mean time to recovery: offline time over outages (outages cut at the window's
    /// edges count as cut); `None` without outages.
    pub fn mttr(&self) -> Option<i64> {
        (self.outages > 0).then(|| self.offline / self.outages as i64)
    }
}
