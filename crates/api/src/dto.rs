//! The JSON the API answers with, built from the domain's types.
//!
//! Times are RFC 3339 in UTC ending in `Z`, with as many fraction digits as needed
//! (none, 3, 6 or 9).

use chrono::{DateTime, SecondsFormat, Utc};
use federation_domain::{Project, Transition};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A project as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Project)]
pub struct ProjectDto {
    pub id: i64,
    #[schema(example = "commandcenter")]
    pub slug: String,
    #[schema(example = "CommandCenter")]
    pub name: String,
    #[schema(example = "http://localhost:8000")]
    pub hub_url: String,
    #[schema(example = "hub.commandcenter")]
    pub mesh_namespace: String,
    #[schema(value_type = StatusName)]
    pub status: &'static str,
    /// Why the status is what it is (`heartbeat_late`, self-reported reasons, …).
    pub status_reason: Option<String>,
    pub tags: Vec<String>,
    /// The version the project last reported.
    pub version: Option<String>,
    #[schema(format = DateTime, example = "2025-11-18T12:00:00Z")]
    pub last_heartbeat_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A project's status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusName {
    Online,
    Degraded,
    Offline,
}

impl From<&Project> for ProjectDto {
    fn from(p: &Project) -> Self {
        Self {
            id: p.id,
            slug: p.slug.to_string(),
            name: p.name.to_string(),
            hub_url: p.hub_url.to_string(),
            mesh_namespace: p.mesh_namespace.to_string(),
            status: p.status.as_str(),
            status_reason: p.status_reason.clone(),
            tags: p.tags.iter().map(|t| t.to_string()).collect(),
            version: p.version.as_ref().map(|v| v.to_string()),
            last_heartbeat_at: p.last_heartbeat_at.map(rfc3339),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// One status change of a project's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Transition)]
pub struct TransitionDto {
    #[schema(value_type = StatusName)]
    pub from: &'static str,
    #[schema(value_type = StatusName)]
    pub to: &'static str,
    pub reason: Option<String>,
    #[schema(format = DateTime)]
    pub at: String,
    #[schema(format = DateTime)]
    pub last_heartbeat_at: Option<String>,
}

impl From<&Transition> for TransitionDto {
    fn from(t: &Transition) -> Self {
        Self {
            from: t.from.as_str(),
            to: t.to.as_str(),
            reason: t.reason.clone(),
            at: rfc3339(t.at),
            last_heartbeat_at: t.last_heartbeat_at.map(rfc3339),
        }
    }
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Health)]
pub struct HealthDto {
    #[schema(example = "ok")]
    pub status: &'static str,
    #[schema(example = "federation")]
    pub service: &'static str,
    pub version: &'static str,
}

/// `GET /ready`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Readiness)]
pub struct ReadyDto {
    /// `ok`, `degraded` (NATS down or partition guard engaged; REST still works) or
    /// `unavailable` (the store does not answer; HTTP 503).
    #[schema(example = "ok")]
    pub status: &'static str,
    pub checks: ReadyChecks,
    pub replica: ReplicaDto,
    /// The most recent sweep that expired more than half of the live projects at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mass_expiry: Option<MassExpiryDto>,
}

/// Each dependency of `/ready`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadyChecks {
    /// `ok | down`
    pub database: &'static str,
    /// `ok | disabled | down`
    pub nats: &'static str,
    /// `inactive | link_down | canary_lost | recovering`
    pub partition_guard: &'static str,
    /// While `recovering`: when silence counts again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub partition_guard_until: Option<String>,
    /// `ok | behind`: whether this replica reads the change log (behind: not read to its
    /// end for over 5 s; its reads may be stale).
    pub follower: &'static str,
}

/// This replica's place among the others, as `/ready` reports it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Replica)]
pub struct ReplicaDto {
    /// `leader | leader_unconfirmed | follower`: the leader holds the sweeper lease;
    /// `leader_unconfirmed` could not renew it within its TTL (the store is out of
    /// reach): its writes are fenced if another replica took over.
    pub role: &'static str,
    /// The change-log revision its registry has applied.
    pub revision: u64,
}

/// A mass expiry, as `/ready` reports it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MassExpiry)]
pub struct MassExpiryDto {
    #[schema(format = DateTime)]
    pub at: String,
    pub expired: usize,
    pub live: usize,
}

/// The answer to an accepted heartbeat.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Accepted)]
pub struct AcceptedDto {
    #[schema(example = "accepted")]
    pub status: &'static str,
}

/// `POST /api/fed/projects`: registers a project, or updates it when the slug exists.
/// Unknown fields (such as the original's `allow_fanout`) are ignored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// `[a-z0-9_-]`, 1–50 characters, no `-` at either end, not `_` first; input is lowercased, so
    /// slugs are case-insensitive.
    #[schema(
        example = "commandcenter",
        pattern = r"^\s*[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9_])?\s*$",
        min_length = 1,
        max_length = 50
    )]
    pub slug: String,
    /// 1–200 characters, no control characters.
    #[schema(
        example = "CommandCenter",
        min_length = 1,
        max_length = 200,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// An absolute http(s) URL with a host and no credentials, at most 500 characters.
    #[schema(
        example = "http://localhost:8000",
        pattern = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^\s@/?#]+(/\S*)?\s*$",
        min_length = 8,
        max_length = 500
    )]
    pub hub_url: String,
    /// A NATS subject prefix: dot-separated tokens of `[A-Za-z0-9_-]`, at most 100
    /// characters. `hub.<slug>` when absent or null.
    #[schema(
        example = "hub.commandcenter",
        pattern = r"^\s*[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\s*$",
        max_length = 100,
        nullable
    )]
    pub mesh_namespace: Option<String>,
    /// At most 32 distinct tags (ignoring case), each 1–64 printable characters.
    #[schema(example = json!(["python"]), nullable, max_items = 32, inline)]
    pub tags: Option<Vec<TagText>>,
}

/// A tag: 1–64 characters of printable text (no control characters), case kept.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(
    example = "Machine Learning",
    min_length = 1,
    max_length = 64,
    pattern = r"^\s*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$"
)]
pub struct TagText(pub String);

/// `PATCH /api/fed/projects/{slug}`: only these fields may be set (any other is a
/// 422); `name` and `hub_url` must not be null; `tags: null` removes every tag.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PatchRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$",
        nullable = false
    )]
    pub name: Option<String>,
    #[schema(
        pattern = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^\s@/?#]+(/\S*)?\s*$",
        min_length = 8,
        max_length = 500,
        nullable = false
    )]
    pub hub_url: Option<String>,
    #[schema(nullable, max_items = 32)]
    pub tags: Option<Vec<TagText>>,
}

/// A heartbeat: the original service's payload (also accepted wrapped in
/// CommandCenter's envelope `{"payload": {…}, "correlation_id": "…"}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatRequest {
    /// Must equal the slug of the path (`slug` is accepted as an alias).
    #[schema(example = "commandcenter")]
    pub project_slug: String,
    pub hub_url: Option<String>,
    /// A NATS subject prefix when given.
    #[schema(
        pattern = r"^\s*[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\s*$",
        max_length = 100
    )]
    pub mesh_namespace: Option<String>,
    /// The sender's clock, RFC 3339. Status is measured on our clock; a timestamp more
    /// than an hour old (a replay) or more than 5 minutes ahead is refused. Leave it
    /// out when the sender's clock is not to be trusted.
    #[schema(format = DateTime)]
    pub timestamp: Option<String>,
    #[schema(example = "0.9.0")]
    pub version: Option<String>,
    /// `online` (also `ok`) or `degraded`.
    pub status: Option<String>,
    /// With `degraded`: why (at most 16, each cut to 200 characters).
    pub reasons: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_end_in_z() {
        let t = Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 0).unwrap();
        assert_eq!(rfc3339(t), "2025-11-18T12:00:00Z");
        let t = t + chrono::TimeDelta::microseconds(1500);
        assert_eq!(rfc3339(t), "2025-11-18T12:00:00.001500Z");
    }
}

/// Projects in each status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = StatusCounts)]
pub struct CountsDto {
    pub online: u64,
    pub degraded: u64,
    pub offline: u64,
}

impl From<federation_domain::StatusCounts> for CountsDto {
    fn from(c: federation_domain::StatusCounts) -> Self {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Self {
            online: n(c.online),
            degraded: n(c.degraded),
            offline: n(c.offline),
        }
    }
}

/// The projects with one tag, by status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TagCounts)]
pub struct TagCountsDto {
    /// The tag, as first written (tags are compared ignoring case).
    pub tag: String,
    pub total: u64,
    pub online: u64,
    pub degraded: u64,
    pub offline: u64,
}

/// The offline project silent the longest.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = LongestOffline)]
pub struct LongestOfflineDto {
    pub slug: String,
    /// Its last heartbeat (null: never heard).
    #[schema(format = DateTime)]
    pub last_heartbeat_at: Option<String>,
    /// Its last heartbeat, or its registration when never heard.
    #[schema(format = DateTime)]
    pub silent_since: String,
    /// Seconds since `silent_since`.
    pub silent_seconds: u64,
}

/// `GET /api/fed/summary`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Summary)]
pub struct SummaryDto {
    /// The change-log revision the counts reflect (also `X-Federation-Index`).
    pub revision: u64,
    /// Projects in all.
    pub total: u64,
    pub counts: CountsDto,
    /// By tag, ordered by the tag ignoring case.
    pub tags: Vec<TagCountsDto>,
    pub longest_offline: Option<LongestOfflineDto>,
    /// `inactive | link_down | canary_lost | recovering` (as `/ready`).
    pub partition_guard: &'static str,
    /// The end of the `recovering` hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub partition_guard_until: Option<String>,
}
