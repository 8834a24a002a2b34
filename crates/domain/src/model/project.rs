//! A project, its registration (and where it came from) and the result of an upsert.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::hub_url::HubUrl;
use super::interval::HeartbeatInterval;
use super::key::HeartbeatKeyDigest;
use super::maintenance::Maintenance;
use super::name::ProjectName;
use super::namespace::MeshNamespace;
use super::slug::Slug;
use super::status::Status;
use super::tags::Tags;
use super::text::required;
use super::version::Version;
use crate::error::ValidationError;
use crate::metadata::Metadata;

/// A registered project as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    /// The store's row id.
    pub id: i64,
    /// The unique identifier.
    pub slug: Slug,
    /// The human-readable name.
    pub name: ProjectName,
    /// Where the project's hub answers.
    pub hub_url: HubUrl,
    /// The project's mesh namespace (`hub.<slug>` by default).
    pub mesh_namespace: MeshNamespace,
    /// The current liveness.
    pub status: Status,
    /// Why the status is what it is (see [`reason`]).
    pub status_reason: Option<String>,
    /// The project's labels.
    pub tags: Tags,
    /// Free values under named keys (what the catalog does not model).
    pub metadata: Metadata,
    /// The version its last heartbeat reported.
    pub version: Option<Version>,
    /// When its last heartbeat arrived (our clock).
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// How far the sender's clock was behind ours (seconds, negative: ahead) in the
    /// heartbeats this replica heard, as last observed (memory only, not stored).
    pub clock_skew_seconds: Option<f64>,
    /// The heartbeat interval it registered, if any (its thresholds follow it).
    pub heartbeat_interval: Option<HeartbeatInterval>,
    /// Its maintenance window, while one is recorded (boxed: few projects have one,
    /// and every project of a catalog held in memory pays for the field's size).
    pub maintenance: Option<Box<Maintenance>>,
    /// Since when it has been flapping, while the leader has it recorded so
    /// (see [`crate::flapping`]).
    pub flapping_since: Option<DateTime<Utc>>,
    /// Where its last registration came from.
    pub origin: Origin,
    /// The digest of its heartbeat key, when it has one: HTTP heartbeats then need that
    /// key or a write key. Never serialized; `Debug` prints no digest.
    #[serde(skip)]
    pub heartbeat_key: Option<Box<HeartbeatKeyDigest>>,
    /// When it was first registered.
    pub created_at: DateTime<Utc>,
    /// When a registration or patch last changed it.
    pub updated_at: DateTime<Utc>,
}

/// The body of a registration as clients send it (the original service's POST body and
/// the entries of `projects.yaml`), before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RegistrationInput {
    /// Required.
    pub slug: Option<String>,
    /// Required.
    pub name: Option<String>,
    /// Required.
    pub hub_url: Option<String>,
    #[serde(default)]
    /// `hub.<slug>` when absent; anything else is rejected.
    pub mesh_namespace: Option<String>,
    #[serde(default)]
    /// No tags when absent.
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    /// A JSON object; no metadata when absent or null.
    pub metadata: Option<serde_json::Value>,
    /// Seconds; absent keeps what the project had (none: the default thresholds).
    pub heartbeat_interval: Option<i64>,
}

/// A validated registration: what an upsert writes. It never carries status or
/// heartbeat fields, so registering again cannot change them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The identifier.
    pub slug: Slug,
    /// The name.
    pub name: ProjectName,
    /// The hub URL.
    pub hub_url: HubUrl,
    /// The mesh namespace.
    pub mesh_namespace: MeshNamespace,
    /// The tags (replacing any the project had).
    pub tags: Tags,
    /// The metadata (replacing any the project had).
    pub metadata: Metadata,
    /// The heartbeat interval; `None` keeps the one the project had.
    pub heartbeat_interval: Option<HeartbeatInterval>,
    /// Where it comes from (set by the caller; [`RegistrationInput::validate`] gives
    /// [`Origin::Api`]).
    pub origin: Origin,
}

impl RegistrationInput {
    /// Validates every field, reporting the first failure in field order.
    pub fn validate(&self) -> Result<Registration, ValidationError> {
        let slug = Slug::parse(required(&self.slug, "slug")?)?;
        let name = ProjectName::parse(required(&self.name, "name")?)?;
        let hub_url = HubUrl::parse(required(&self.hub_url, "hub_url")?)?;
        let mesh_namespace = MeshNamespace::resolve(&slug, self.mesh_namespace.as_deref())?;
        let tags = match &self.tags {
            Some(tags) => Tags::parse(tags)?,
            None => Tags::default(),
        };
        let metadata = match &self.metadata {
            Some(raw) => Metadata::from_json(raw.clone())?,
            None => Metadata::default(),
        };
        let heartbeat_interval = self
            .heartbeat_interval
            .map(|s| HeartbeatInterval::from_seconds(s, "heartbeat_interval"))
            .transpose()?;
        Ok(Registration {
            slug,
            name,
            hub_url,
            mesh_namespace,
            tags,
            metadata,
            heartbeat_interval,
            origin: Origin::Api,
        })
    }
}

/// The result of an upsert: the project as stored, and whether it was new.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    /// The project as stored.
    pub project: Project,
    /// Whether the upsert created it.
    pub created: bool,
    /// The change log's revision of the write's change (`registered` or `updated`, at
    /// the project's `updated_at`), when the store knows it: the writer's replica then
    /// applies the change without reading the log back.
    pub revision: Option<u64>,
    /// Every change the write's transaction logged, in revision order, when the store
    /// numbered them all: with a group commit, the group's other registrations too.
    /// The first of the group's callers back applies them all, so the others find
    /// theirs applied instead of reading the log for the changes before their own.
    pub written: Option<std::sync::Arc<[crate::replication::Change]>>,
}

/// Where a project's registration came from: the catalog file owns (and, with `prune`,
/// removes) only the projects it registered last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// REST (or the CLI through it).
    #[default]
    Api,
    /// The catalog file (`config/projects.yaml`, `federation catalog apply`).
    File,
}

impl Origin {
    /// `api` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::File => "file",
        }
    }

    /// Parses `api` or `file`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "api" => Ok(Origin::Api),
            "file" => Ok(Origin::File),
            _ => Err(ValidationError::new("origin", "must be api or file")),
        }
    }
}
