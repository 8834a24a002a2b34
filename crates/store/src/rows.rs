//! Rows as read from either backend, and their conversion into domain values.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use federation_domain::{
    HeartbeatInterval, HeartbeatKeyDigest, HubUrl, Maintenance, MeshNamespace, Metadata, Origin,
    PresenceRecord, Project, ProjectName, ProjectPatch, Slug, Status, Tags, Transition, Version,
};

use crate::error::StoreError;
use crate::schema::{projects, status_transitions, DbJson, DbTime};

/// The current time, cut to the microsecond both backends store.
pub(crate) fn now_micros() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// One `projects` row.
#[derive(Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = projects)]
pub(crate) struct ProjectRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub hub_url: String,
    pub mesh_namespace: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub version: Option<String>,
    pub last_heartbeat_at: Option<DbTime>,
    pub created_at: DbTime,
    pub updated_at: DbTime,
    pub metadata: DbJson,
    pub heartbeat_interval_seconds: Option<i32>,
    pub maintenance: Option<String>,
    pub origin: String,
    pub heartbeat_key_sha256: Option<Vec<u8>>,
    pub flapping_since: Option<DbTime>,
}

/// The liveness columns of one project.
#[derive(Debug, Queryable)]
pub(crate) struct PresenceRow {
    pub slug: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub version: Option<String>,
    pub last_heartbeat_at: Option<DbTime>,
}

/// One `status_transitions` row (without its project, which the caller knows).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = status_transitions)]
pub(crate) struct TransitionRow {
    pub from_status: String,
    pub to_status: String,
    pub reason: Option<String>,
    pub at: DbTime,
    pub last_heartbeat_at: Option<DbTime>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn status(raw: &str) -> Result<Status, StoreError> {
    Status::parse(raw).map_err(|e| corrupt("status", e))
}

/// Stored `(slug, status)` pairs by slug.
pub(crate) fn statuses(rows: Vec<(String, String)>) -> Result<HashMap<String, Status>, StoreError> {
    rows.into_iter()
        .map(|(slug, raw)| Ok((slug, status(&raw)?)))
        .collect()
}

fn version(raw: Option<String>) -> Result<Option<Version>, StoreError> {
    raw.map(|v| Version::parse(&v).map_err(|e| corrupt("version", e)))
        .transpose()
}

fn slug(raw: &str) -> Result<Slug, StoreError> {
    Slug::parse(raw).map_err(|e| corrupt("slug", e))
}

/// The stored form of a maintenance window: JSON text (both backends).
#[derive(serde::Serialize, serde::Deserialize)]
struct MaintenanceColumn<'a> {
    reason: std::borrow::Cow<'a, str>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    by: std::borrow::Cow<'a, str>,
}

/// A maintenance window as stored.
pub(crate) fn maintenance_column(m: &Maintenance) -> String {
    let column = MaintenanceColumn {
        reason: m.reason.as_str().into(),
        since: m.since,
        until: m.until,
        by: m.by.as_str().into(),
    };
    serde_json::to_string(&column).unwrap_or_default()
}

fn maintenance_from_column(raw: &str) -> Result<Maintenance, StoreError> {
    let c: MaintenanceColumn<'_> =
        serde_json::from_str(raw).map_err(|e| corrupt("maintenance", e))?;
    Ok(Maintenance {
        reason: c.reason.into_owned(),
        since: c.since,
        until: c.until,
        by: c.by.into_owned(),
    })
}

/// The stored form of a heartbeat interval (at most a day, so it fits).
pub(crate) fn interval_column(i: HeartbeatInterval) -> i32 {
    i32::try_from(i.seconds()).unwrap_or(i32::MAX)
}

impl ProjectRow {
    /// The domain project, with `tags` in their stored order.
    pub fn into_project<S: AsRef<str>>(self, tags: Vec<S>) -> Result<Project, StoreError> {
        Ok(Project {
            id: self.id,
            slug: slug(&self.slug)?,
            name: ProjectName::parse(&self.name).map_err(|e| corrupt("name", e))?,
            hub_url: HubUrl::parse(&self.hub_url).map_err(|e| corrupt("hub_url", e))?,
            mesh_namespace: MeshNamespace::from_stored(self.mesh_namespace),
            status: status(&self.status)?,
            status_reason: self.status_reason,
            tags: Tags::parse(&tags).map_err(|e| corrupt("tags", e))?,
            metadata: Metadata::from_stored(&self.metadata.0)
                .map_err(|e| corrupt("metadata", e))?,
            version: version(self.version)?,
            last_heartbeat_at: self.last_heartbeat_at.map(|t| t.0),
            clock_skew_seconds: None,
            heartbeat_interval: self
                .heartbeat_interval_seconds
                .map(|s| HeartbeatInterval::from_seconds(s.into(), "heartbeat_interval"))
                .transpose()
                .map_err(|e| corrupt("heartbeat_interval_seconds", e))?,
            maintenance: self
                .maintenance
                .as_deref()
                .map(maintenance_from_column)
                .transpose()?
                .map(Box::new),
            flapping_since: self.flapping_since.map(|t| t.0),
            origin: Origin::parse(&self.origin).map_err(|e| corrupt("origin", e))?,
            heartbeat_key: self
                .heartbeat_key_sha256
                .map(|raw| {
                    HeartbeatKeyDigest::from_slice(&raw)
                        .ok_or_else(|| corrupt("heartbeat_key_sha256", "not 32 bytes"))
                })
                .transpose()?
                .map(Box::new),
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

impl PresenceRow {
    pub fn into_record(self) -> Result<PresenceRecord, StoreError> {
        Ok(PresenceRecord {
            slug: slug(&self.slug)?,
            status: status(&self.status)?,
            status_reason: self.status_reason,
            version: version(self.version)?,
            last_heartbeat_at: self.last_heartbeat_at.map(|t| t.0),
        })
    }
}

impl TransitionRow {
    pub fn into_transition(self, slug: &Slug) -> Result<Transition, StoreError> {
        Ok(Transition {
            slug: slug.clone(),
            from: status(&self.from_status)?,
            to: status(&self.to_status)?,
            reason: self.reason,
            at: self.at.0,
            last_heartbeat_at: self.last_heartbeat_at.map(|t| t.0),
        })
    }
}

/// Joins project rows with their tags (`(project_id, tag)` pairs in stored order).
pub(crate) fn assemble(
    rows: Vec<ProjectRow>,
    tag_rows: Vec<(i64, String)>,
) -> Result<Vec<Project>, StoreError> {
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, tag) in tag_rows {
        tags.entry(id).or_default().push(tag);
    }
    // Sized once: collecting a `Result` gives no size hint, and a million projects grown
    // by doubling would hold up to one and a half copies of the list at the last step.
    let mut projects = Vec::with_capacity(rows.len());
    for r in rows {
        let t = tags.remove(&r.id).unwrap_or_default();
        projects.push(r.into_project(t)?);
    }
    Ok(projects)
}

/// One presence update ready to bind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PresenceUpdate<'a> {
    pub slug: &'a str,
    pub status: &'static str,
    pub status_reason: Option<&'a str>,
    pub version: Option<&'a str>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// A batch of presence updates with one entry per slug (a statement that updates one row
/// from two source rows would pick one at random): the last record for a slug wins,
/// except that its heartbeat is the latest any of its records carried.
pub(crate) fn dedupe_presence(updates: &[PresenceRecord]) -> Vec<PresenceUpdate<'_>> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(updates.len());
    let mut out: Vec<PresenceUpdate<'_>> = Vec::with_capacity(updates.len());
    for u in updates {
        let row = PresenceUpdate {
            slug: u.slug.as_str(),
            status: u.status.as_str(),
            status_reason: u.status_reason.as_deref(),
            version: u.version.as_ref().map(Version::as_str),
            last_heartbeat_at: u.last_heartbeat_at.map(|t| t.trunc_subsecs(6)),
        };
        match index.get(row.slug).and_then(|&i| out.get_mut(i)) {
            Some(prev) => {
                *prev = PresenceUpdate {
                    last_heartbeat_at: prev.last_heartbeat_at.max(row.last_heartbeat_at),
                    ..row
                };
            }
            None => {
                index.insert(row.slug, out.len());
                out.push(row);
            }
        }
    }
    out
}

/// The descriptive fields a patch may change (`None` leaves a column alone).
#[derive(Debug, AsChangeset)]
#[diesel(table_name = projects)]
pub(crate) struct ProjectChanges<'a> {
    pub name: Option<&'a str>,
    pub hub_url: Option<&'a str>,
    pub metadata: Option<DbJson>,
    pub heartbeat_interval_seconds: Option<Option<i32>>,
    pub heartbeat_key_sha256: Option<Option<&'a [u8]>>,
    pub updated_at: DbTime,
}

impl<'a> ProjectChanges<'a> {
    /// What `patch` writes at `now`. A metadata patch merges into `stored`, the
    /// project's metadata as read under the write lock (nothing changes it before the
    /// update).
    pub(crate) fn of(
        patch: &'a ProjectPatch,
        stored: &DbJson,
        now: DbTime,
    ) -> Result<Self, StoreError> {
        let metadata = match &patch.metadata {
            None => None,
            Some(meta_patch) => {
                let current = Metadata::from_stored(&stored.0)
                    .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?;
                let merged = meta_patch.apply(&current).map_err(StoreError::Rejected)?;
                Some(DbJson(merged.to_json_string()))
            }
        };
        Ok(Self {
            name: patch.name.as_ref().map(|n| n.as_str()),
            hub_url: patch.hub_url.as_ref().map(|u| u.as_str()),
            metadata,
            heartbeat_interval_seconds: patch.heartbeat_interval.map(|i| i.map(interval_column)),
            heartbeat_key_sha256: patch
                .heartbeat_key
                .as_ref()
                .map(|k| k.as_ref().map(|d| d.as_bytes().as_slice())),
            updated_at: now,
        })
    }
}
