//! An incident, its members, and the events that build it.

use chrono::{DateTime, Utc};

/// The most incidents one list answers.
pub const INCIDENTS_LIST_MAX: u32 = 500;

/// Why an incident opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentTrigger {
    /// At least the fleet threshold of projects went offline within the window.
    Fleet {
        /// How many.
        offline: usize,
    },
    /// At least the tag threshold of a tag's projects went offline within the window.
    Tag {
        /// The tag (as first written).
        tag: String,
        /// How many of its projects.
        offline: usize,
        /// Its projects then.
        of: usize,
    },
}

impl IncidentTrigger {
    /// `fleet` or `tag`: the stored and listed name.
    pub fn kind(&self) -> &'static str {
        match self {
            IncidentTrigger::Fleet { .. } => "fleet",
            IncidentTrigger::Tag { .. } => "tag",
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            IncidentTrigger::Fleet { offline } => {
                format!("{offline} projects went offline together")
            }
            IncidentTrigger::Tag { tag, offline, of } => {
                format!("{offline} of the {of} projects tagged {tag} went offline together")
            }
        }
    }
}

/// One project in an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The project.
    pub slug: String,
    /// When it went offline (its transition's time).
    pub offline_at: DateTime<Utc>,
    /// The revision of that transition.
    pub revision: u64,
    /// When it was back (no longer offline, or deleted); `None` while it is not.
    pub back_at: Option<DateTime<Utc>>,
}

/// Open or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentState {
    /// Some member is still offline.
    Open,
    /// Every member is back.
    Resolved,
}

impl IncidentState {
    /// `open` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Resolved => "resolved",
        }
    }
}

/// Many projects offline together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The revision of the change that opened it.
    pub id: u64,
    /// When its first member went offline.
    pub started_at: DateTime<Utc>,
    /// When it opened (the opening change's time).
    pub opened_at: DateTime<Utc>,
    /// When its last member was back.
    pub ended_at: Option<DateTime<Utc>>,
    /// The revision of the change that resolved it.
    pub resolved_revision: Option<u64>,
    /// Why it opened.
    pub trigger: IncidentTrigger,
    /// Its members, in the order they went offline.
    pub members: Vec<Member>,
}

impl Incident {
    /// Open or resolved.
    pub fn state(&self) -> IncidentState {
        if self.ended_at.is_some() {
            IncidentState::Resolved
        } else {
            IncidentState::Open
        }
    }

    /// From its start to its end (or to `now` while open), in seconds.
    pub fn length_seconds(&self, now: DateTime<Utc>) -> i64 {
        (self.ended_at.unwrap_or(now) - self.started_at)
            .num_seconds()
            .max(0)
    }

    /// Whether `slug` is a member.
    pub fn has(&self, slug: &str) -> bool {
        self.members.iter().any(|m| m.slug == slug)
    }
}

/// What the tracker decided at one change of the log; the leader records each (fenced
/// by its term) and every channel reads them at the change's revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentEvent {
    /// An incident opened with these members.
    Opened(Incident),
    /// A project joined the open incident (or rejoined: its `back_at` is cleared).
    Joined {
        /// The incident.
        id: u64,
        /// The member.
        member: Member,
    },
    /// A member is back.
    Back {
        /// The incident.
        id: u64,
        /// The member.
        slug: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Every member is back.
    Resolved {
        /// The incident.
        id: u64,
        /// When.
        at: DateTime<Utc>,
        /// The change that resolved it.
        revision: u64,
    },
}

impl IncidentEvent {
    /// The incident it is about.
    pub fn id(&self) -> u64 {
        match self {
            IncidentEvent::Opened(i) => i.id,
            IncidentEvent::Joined { id, .. }
            | IncidentEvent::Back { id, .. }
            | IncidentEvent::Resolved { id, .. } => *id,
        }
    }
}
