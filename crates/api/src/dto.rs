//! The JSON the API answers with, built from the domain's types.
//!
//! Times are RFC 3339 in UTC ending in `Z`, with as many fraction digits as needed
//! (none, 3, 6 or 9).

use chrono::{DateTime, SecondsFormat, Utc};
use federation_domain::{Project, Transition};
use serde::Serialize;

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A project as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectDto {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub hub_url: String,
    pub mesh_namespace: String,
    pub status: &'static str,
    pub status_reason: Option<String>,
    pub tags: Vec<String>,
    pub version: Option<String>,
    pub last_heartbeat_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransitionDto {
    pub from: &'static str,
    pub to: &'static str,
    pub reason: Option<String>,
    pub at: String,
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
