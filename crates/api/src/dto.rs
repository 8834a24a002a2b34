//! The JSON the API answers with, built from the domain's types.
//!
//! Times are RFC 3339 in UTC with 6 fraction digits, ending in `Z`
//! (`2025-11-18T12:00:00.000000Z`), as the original service (Pydantic v2) wrote them.

use chrono::{DateTime, SecondsFormat, Utc};
use federation_domain::{Metadata, Project, Transition};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A project as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
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
    /// Free JSON values under named keys (`{}` when none): what the catalog does not
    /// model, such as the original's `allow_fanout`.
    #[schema(value_type = Object, example = json!({"allow_fanout": [], "team": "platform"}))]
    pub metadata: Metadata,
    /// The version the project last reported.
    pub version: Option<String>,
    #[schema(format = DateTime, example = "2025-11-18T12:00:00Z")]
    pub last_heartbeat_at: Option<String>,
    /// How far the sender's clock was behind ours, in seconds (negative: ahead), as
    /// this replica last observed it in a heartbeat carrying a `timestamp`; updated
    /// when it moves by a second or more. Status does not depend on it.
    #[schema(example = 0.2)]
    pub clock_skew_seconds: Option<f64>,
    /// The heartbeat interval the project registered (seconds); null: the service's
    /// thresholds. Its heartbeats may declare another (`interval`), which then applies.
    #[schema(example = 30, minimum = 1, maximum = 86400)]
    pub heartbeat_interval: Option<u32>,
    /// Its maintenance window while one is open (or not yet recorded as ended): no
    /// degraded/offline transition is recorded meanwhile, and `status` keeps one of the
    /// three values old clients know.
    pub maintenance: Option<MaintenanceDto>,
    /// Where its last registration came from: `api`, or `file` (the catalog file, which
    /// removes it when it no longer lists it and `prune` is on).
    #[schema(example = "api", pattern = "^(api|file)$")]
    pub origin: &'static str,
    /// Whether it has a heartbeat key (then its HTTP heartbeats need that key or a
    /// write key). The key itself is shown once, when it is made, and never again.
    pub heartbeat_key: bool,
    /// Whether it is flapping: it changed status `FEDERATION_NOTIFY_FLAP_CHANGES` times
    /// within `FEDERATION_NOTIFY_FLAP_WINDOW`, and has not been stable that long since
    /// (`flapping` and `stable` events on the change stream). Not a status: `status`
    /// keeps its three values.
    pub flapping: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MaintenanceDto {
    #[schema(example = "kernel upgrade")]
    pub reason: String,
    #[schema(format = DateTime)]
    pub since: String,
    /// When it ends by itself.
    #[schema(format = DateTime)]
    pub until: String,
    /// Who started it: `key:` and the first 8 hex digits of the API key's SHA-256, or
    /// `anonymous` when the service has no keys.
    #[schema(example = "key:3f2a9c1b")]
    pub by: String,
}

/// The answer to a bulk registration.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkResponse {
    /// How many entries were new.
    pub created: usize,
    /// How many updated an existing project.
    pub updated: usize,
    /// Every project as stored, in the order of the request.
    pub projects: Vec<ProjectDto>,
}

/// A refused bulk registration: the usual error (naming the first refused entry's
/// field as `projects[i].field`) and every refused entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkErrorBody<'a> {
    pub error: crate::error::ErrorDetail<'a>,
    pub errors: Vec<crate::requests::EntryError>,
    /// FastAPI's `detail`: each refused entry's field, `loc` such as
    /// `["body", "projects", 2, "slug"]`.
    pub detail: Vec<crate::error::FieldError>,
}

impl BulkErrorBody<'_> {
    /// The 422 listing every refused entry.
    pub fn entries(errors: Vec<crate::requests::EntryError>) -> actix_web::HttpResponse {
        use crate::error::{FieldError, Location};
        let at = |e: &crate::requests::EntryError| match &e.field {
            Some(f) => format!("projects[{}].{f}", e.index),
            None => format!("projects[{}]", e.index),
        };
        let field = errors.first().map(at);
        let message = format!(
            "{} of the entries cannot be registered; nothing was written",
            errors.len()
        );
        let detail = errors
            .iter()
            .map(|e| FieldError::new(Location::Body, &at(e), &e.message))
            .collect();
        actix_web::HttpResponse::UnprocessableEntity().json(BulkErrorBody {
            error: crate::error::ErrorDetail {
                code: crate::error::code::VALIDATION_ERROR,
                message: &message,
                field: field.as_deref(),
            },
            errors,
            detail,
        })
    }

    /// The 422 of a body refused as a whole (no entry to blame).
    pub fn whole(e: &crate::ApiError) -> actix_web::HttpResponse {
        use crate::error::{FieldError, Location};
        actix_web::HttpResponse::UnprocessableEntity().json(BulkErrorBody {
            error: crate::error::ErrorDetail {
                code: e.code(),
                message: e.message(),
                field: e.field(),
            },
            errors: Vec::new(),
            detail: vec![FieldError::new(
                Location::Body,
                e.field().unwrap_or_default(),
                e.message(),
            )],
        })
    }
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
            metadata: p.metadata.clone(),
            version: p.version.as_ref().map(|v| v.to_string()),
            last_heartbeat_at: p.last_heartbeat_at.map(rfc3339),
            clock_skew_seconds: p.clock_skew_seconds,
            heartbeat_interval: p.heartbeat_interval.map(|i| i.seconds()),
            maintenance: p.maintenance.as_ref().map(|m| MaintenanceDto {
                reason: m.reason.clone(),
                since: rfc3339(m.since),
                until: rfc3339(m.until),
                by: m.by.clone(),
            }),
            origin: p.origin.as_str(),
            heartbeat_key: p.heartbeat_key.is_some(),
            flapping: p.flapping_since.is_some(),
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
    /// `ok`, `degraded` (NATS down, partition guard engaged or a NATS permission refused;
    /// REST still works), `unavailable` (the store does not answer; HTTP 503) or
    /// `stopping` (SIGTERM received: draining; HTTP 503).
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
    /// `ok | denied`: whether the NATS server refuses a publish or a subscription of
    /// ours (reported within the last 2 minutes, and not seen working since).
    pub nats_permissions: &'static str,
    /// While `denied`: each refusal, e.g. `canary: publish to "hub.federation.canary.1f"
    /// denied`. A refused canary leaves the partition guard to the link state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nats_denied: Vec<String>,
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

/// `POST /api/fed/projects/{slug}/heartbeat-key`: the new key, shown only here.
#[derive(Serialize, ToSchema)]
#[schema(as = HeartbeatKey)]
pub struct HeartbeatKeyDto {
    #[schema(example = "commandcenter")]
    pub slug: String,
    /// The key (`fhk_` and 43 base64url characters): send it as `X-API-Key` with the
    /// project's HTTP heartbeats. Only its SHA-256 digest is kept.
    #[schema(example = "fhk_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    pub heartbeat_key: String,
}

impl std::fmt::Debug for HeartbeatKeyDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeartbeatKeyDto")
            .field("slug", &self.slug)
            .field("heartbeat_key", &"<redacted>")
            .finish()
    }
}

/// The answer to an accepted heartbeat.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Accepted)]
pub struct AcceptedDto {
    #[schema(example = "accepted")]
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_have_six_fraction_digits_and_end_in_z() {
        let t = Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 0).unwrap();
        assert_eq!(rfc3339(t), "2025-11-18T12:00:00.000000Z");
        let t = t + chrono::TimeDelta::microseconds(1500);
        assert_eq!(rfc3339(t), "2025-11-18T12:00:00.001500Z");
        let t = t + chrono::TimeDelta::nanoseconds(999);
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
