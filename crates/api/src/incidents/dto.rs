//! Incidents as the API shows them.

use federation_domain::incident::{Incident, IncidentTrigger, Member};
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::rfc3339;

/// One project in an incident.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentMemberDto {
    #[schema(example = "alpha")]
    pub slug: String,
    /// When it went offline (RFC 3339, UTC).
    #[schema(example = "2026-12-02T09:10:43.000000Z")]
    pub offline_at: String,
    /// The change-log revision of that transition.
    #[schema(example = 4707)]
    pub revision: u64,
    /// When it was back (no longer offline, or deleted); null while it is not.
    #[schema(example = "2026-12-02T09:14:03.000000Z")]
    pub back_at: Option<String>,
}

/// Many projects offline together (docs/notifications.md § Incidents).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 4711, "state": "resolved",
    "started_at": "2026-12-02T09:10:43.000000Z", "opened_at": "2026-12-02T09:10:51.000000Z",
    "ended_at": "2026-12-02T09:14:03.000000Z", "length_seconds": 200,
    "trigger": "fleet", "tag": null, "trigger_offline": 5, "tag_size": null,
    "description": "5 projects went offline together",
    "members": [{"slug": "alpha", "offline_at": "2026-12-02T09:10:43.000000Z",
                 "revision": 4707, "back_at": "2026-12-02T09:14:03.000000Z"}]
}))]
pub struct IncidentDto {
    /// The change-log revision that opened it.
    pub id: u64,
    /// `open` (some member is still offline) or `resolved` (every member is back).
    #[schema(example = "open")]
    pub state: String,
    /// When its first member went offline.
    pub started_at: String,
    /// When it opened (the threshold was crossed).
    pub opened_at: String,
    /// When its last member was back; null while open.
    pub ended_at: Option<String>,
    /// From its start to its end (or to now while open).
    pub length_seconds: i64,
    /// `fleet` (enough projects) or `tag` (enough of a tag's projects).
    #[schema(example = "fleet")]
    pub trigger: String,
    /// A `tag` trigger's tag.
    pub tag: Option<String>,
    /// How many projects were offline when it opened.
    pub trigger_offline: usize,
    /// A `tag` trigger: the tag's projects then.
    pub tag_size: Option<usize>,
    /// Why it opened, for people.
    pub description: String,
    /// Its members, in the order they went offline.
    pub members: Vec<IncidentMemberDto>,
}

impl From<&Member> for IncidentMemberDto {
    fn from(m: &Member) -> Self {
        Self {
            slug: m.slug.clone(),
            offline_at: rfc3339(m.offline_at),
            revision: m.revision,
            back_at: m.back_at.map(rfc3339),
        }
    }
}

impl IncidentDto {
    /// The incident as shown at `now`.
    pub fn new(i: &Incident, now: chrono::DateTime<chrono::Utc>) -> Self {
        let (tag, offline, tag_size) = match &i.trigger {
            IncidentTrigger::Fleet { offline } => (None, *offline, None),
            IncidentTrigger::Tag { tag, offline, of } => (Some(tag.clone()), *offline, Some(*of)),
        };
        Self {
            id: i.id,
            state: i.state().as_str().to_owned(),
            started_at: rfc3339(i.started_at),
            opened_at: rfc3339(i.opened_at),
            ended_at: i.ended_at.map(rfc3339),
            length_seconds: i.length_seconds(now),
            trigger: i.trigger.kind().to_owned(),
            tag,
            trigger_offline: offline,
            tag_size,
            description: i.trigger.describe(),
            members: i.members.iter().map(IncidentMemberDto::from).collect(),
        }
    }
}
