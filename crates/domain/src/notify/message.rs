//! What a channel is told, and how one send went.

use chrono::{DateTime, Utc};

use super::channel::ChannelName;
use crate::model::{Project, Status};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A project went offline (and stayed so for the channel's hold).
    Offline,
    /// A project went degraded (and stayed so for the hold).
    Degraded,
    /// A project told as offline or degraded is online again.
    Recovered,
    /// A told bad status still lasts.
    Reminder,
    /// A test send, asked for over the API.
    Test,
    /// A project changed status too often: its messages are held until it is stable.
    Flapping,
    /// Many projects went offline together: one message lists the channel's members.
    Incident,
    /// More members joined an incident already told: one message lists them.
    IncidentUpdated,
    /// Every member of an incident told is back.
    IncidentResolved,
}

impl Event {
    /// The name in bodies, the deliveries' record and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Offline => "offline",
            Event::Degraded => "degraded",
            Event::Recovered => "recovered",
            Event::Reminder => "reminder",
            Event::Test => "test",
            Event::Flapping => "flapping",
            Event::Incident => "incident",
            Event::IncidentUpdated => "incident_updated",
            Event::IncidentResolved => "incident_resolved",
        }
    }
}

/// The project a message is about, as it was when told.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// Its hub.
    pub hub_url: String,
    /// Its status now.
    pub status: Status,
    /// Why.
    pub reason: Option<String>,
}

impl From<&Project> for Subject {
    fn from(p: &Project) -> Self {
        Self {
            slug: p.slug.as_str().to_owned(),
            name: p.name.as_str().to_owned(),
            hub_url: p.hub_url.as_str().to_owned(),
            status: p.status,
            reason: p.status_reason.clone(),
        }
    }
}

/// An incident as one channel is told of it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentNote {
    /// The incident's id (the revision that opened it).
    pub id: u64,
    /// When its first member went offline.
    pub started_at: DateTime<Utc>,
    /// Why it opened, for people.
    pub trigger: String,
    /// The members this channel watches, as they were when it opened (an update: the
    /// ones that joined since the last message; the resolution: all of them).
    pub members: Vec<Subject>,
}

/// One message for one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The channel.
    pub channel: ChannelName,
    /// The change-log revision that caused it (0 for a test); with the channel, the
    /// idempotency key.
    pub revision: u64,
    /// What happened.
    pub event: Event,
    /// The project (none for a test).
    pub subject: Option<Subject>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// A recovery: how long the project was offline or degraded, in seconds (a
    /// resolved incident: how long it lasted).
    pub outage_seconds: Option<i64>,
    /// An incident's messages: the incident.
    pub incident: Option<IncidentNote>,
}

impl Message {
    /// The key a receiver drops duplicates by. A project's status message:
    /// `<revision>-<channel>-<slug>` (a reminder adds its time, so each reminder is its
    /// own message). The slug is part of it because a watch that takes over outages
    /// under way (a new leader, a new channel) has no revision of their own to give
    /// them: it tells them under the revision it began reading at, and two projects'
    /// messages must not share a key.
    pub fn idempotency_key(&self) -> String {
        let slug = self.subject.as_ref().map_or("", |s| s.slug.as_str());
        match self.event {
            Event::Reminder => format!(
                "{}-{}-{slug}-r{}",
                self.revision,
                self.channel,
                self.at.timestamp()
            ),
            Event::Test => format!(
                "test-{}-{}",
                self.channel,
                self.at.timestamp_nanos_opt().unwrap_or_default()
            ),
            Event::Flapping => format!("{}-{}-flapping", self.revision, self.channel),
            Event::Incident => format!("{}-{}-incident", self.revision, self.channel),
            Event::IncidentUpdated => {
                format!("{}-{}-incident-updated", self.revision, self.channel)
            }
            Event::IncidentResolved => {
                format!("{}-{}-incident-resolved", self.revision, self.channel)
            }
            Event::Offline | Event::Degraded | Event::Recovered => {
                format!("{}-{}-{slug}", self.revision, self.channel)
            }
        }
    }

    /// One line a person reads (Slack's `text`, an email's subject).
    pub fn headline(&self) -> String {
        if let Some(i) = &self.incident {
            return match self.event {
                Event::IncidentResolved => format!(
                    "Incident {} resolved after {}: {} back",
                    i.id,
                    human_duration(self.outage_seconds.unwrap_or_default()),
                    count(i.members.len())
                ),
                Event::IncidentUpdated => format!(
                    "Incident {}: {} more offline ({})",
                    i.id,
                    count(i.members.len()),
                    i.trigger
                ),
                _ => format!(
                    "Incident {}: {} offline ({})",
                    i.id,
                    count(i.members.len()),
                    i.trigger
                ),
            };
        }
        let Some(s) = &self.subject else {
            return format!(
                "Test message from the federation service ({})",
                self.channel
            );
        };
        match self.event {
            Event::Offline => format!("{} ({}) is offline", s.name, s.slug),
            Event::Degraded => format!("{} ({}) is degraded", s.name, s.slug),
            Event::Recovered => match self.outage_seconds {
                Some(secs) => format!(
                    "{} ({}) recovered after {}",
                    s.name,
                    s.slug,
                    human_duration(secs)
                ),
                None => format!("{} ({}) recovered", s.name, s.slug),
            },
            Event::Reminder => format!("{} ({}) is still {}", s.name, s.slug, s.status.as_str()),
            Event::Test | Event::Incident | Event::IncidentUpdated | Event::IncidentResolved => {
                format!(
                    "Test message from the federation service ({})",
                    self.channel
                )
            }
            Event::Flapping => format!(
                "{} ({}) is flapping (now {}): messages held until it is stable",
                s.name,
                s.slug,
                s.status.as_str()
            ),
        }
    }
}

/// `1 project`, `3 projects`.
fn count(n: usize) -> String {
    if n == 1 {
        "1 project".to_owned()
    } else {
        format!("{n} projects")
    }
}

/// `1h 2m 3s`, `45s`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// How one attempt to send went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Why it failed, for the record (no secret, no URL path); `None`: delivered.
    pub error: Option<String>,
    /// Whether trying again may help (a timeout, a 5xx, a 429; not a 4xx).
    pub retryable: bool,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
}

impl Attempt {
    /// Whether the receiver took it (a 2xx).
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}
