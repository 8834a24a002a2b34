//! Validated value types and the project model.
//!
//! Every value that enters the service (a POST body, an entry of `projects.yaml`, a
//! heartbeat) passes through the constructors here, so one rule holds everywhere.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}

pub const SLUG_MAX: usize = 50;
pub const NAME_MAX: usize = 200;
pub const HUB_URL_MAX: usize = 500;
pub const TAG_MAX: usize = 50;
pub const TAGS_MAX: usize = 32;
pub const VERSION_MAX: usize = 50;

/// A project's identifier: lowercase `[a-z0-9-]`, 1–50 characters, no `-` at either end.
/// Input is lowercased first, so `CommandCenter` and `commandcenter` are one project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "slug";
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(ValidationError::new(FIELD, "must not be empty"));
        }
        if s.len() > SLUG_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {SLUG_MAX} characters (got {})", s.len()),
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ValidationError::new(
                FIELD,
                "may contain only letters a-z, digits 0-9 and '-'",
            ));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(ValidationError::new(
                FIELD,
                "must not start or end with '-'",
            ));
        }
        Ok(Self(s))
    }
}
string_newtype!(Slug);

/// A human-readable project name: trimmed, 1–200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        let chars = s.chars().count();
        if chars > NAME_MAX {
            return Err(ValidationError::new(
                "name",
                format!("must be at most {NAME_MAX} characters (got {chars})"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(ProjectName);

/// The base URL of a project's hub: an absolute `http` or `https` URL of at most 500
/// characters. Kept as the client wrote it (trimmed), so it round-trips unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubUrl(String);

impl HubUrl {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "hub_url";
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValidationError::new(FIELD, "must not be empty"));
        }
        if s.len() > HUB_URL_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {HUB_URL_MAX} characters (got {})", s.len()),
            ));
        }
        let url = url::Url::parse(s)
            .map_err(|e| ValidationError::new(FIELD, format!("must be an absolute URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ValidationError::new(
                FIELD,
                "must use the http or https scheme",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ValidationError::new(FIELD, "must name a host"));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(HubUrl);

/// The NATS subject prefix of a project's mesh. Always `hub.<slug>`: it is derived from
/// the slug, and a client that sends one must send exactly that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshNamespace(String);

impl MeshNamespace {
    /// The namespace a slug implies.
    pub fn for_slug(slug: &Slug) -> Self {
        Self(format!("hub.{slug}"))
    }

    /// Accepts `raw` only when it is the namespace `slug` implies; `None` gives the default.
    pub fn resolve(slug: &Slug, raw: Option<&str>) -> Result<Self, ValidationError> {
        let expected = Self::for_slug(slug);
        match raw.map(str::trim) {
            None | Some("") => Ok(expected),
            Some(given) if given == expected.0 => Ok(expected),
            Some(_) => Err(ValidationError::new(
                "mesh_namespace",
                format!("must be \"{expected}\" (hub.<slug>)"),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a namespace read back from storage, which only ever holds validated ones.
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }
}

impl fmt::Display for MeshNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MeshNamespace {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A label: lowercased `[a-z0-9._-]`, 1–50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "tag";
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(ValidationError::new(FIELD, "must not be empty"));
        }
        if s.len() > TAG_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {TAG_MAX} characters (got {})", s.len()),
            ));
        }
        if !s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        }) {
            return Err(ValidationError::new(
                FIELD,
                "may contain only letters a-z, digits 0-9, '.', '_' and '-'",
            ));
        }
        Ok(Self(s))
    }
}
string_newtype!(Tag);

/// A project's tags: at most 32, duplicates removed (first occurrence kept), order kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tags(Vec<Tag>);

impl Tags {
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, ValidationError> {
        let mut tags: Vec<Tag> = Vec::with_capacity(raw.len().min(TAGS_MAX));
        for (i, item) in raw.iter().enumerate() {
            let tag = Tag::parse(item.as_ref()).map_err(|e| e.at(format!("tags[{i}]")))?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.len() > TAGS_MAX {
            return Err(ValidationError::new(
                "tags",
                format!("at most {TAGS_MAX} distinct tags (got {})", tags.len()),
            ));
        }
        Ok(Self(tags))
    }

    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(d)?;
        Tags::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The software version a project reports: trimmed, 1–50 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(String);

impl Version {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValidationError::new("version", "must not be empty"));
        }
        if s.len() > VERSION_MAX {
            return Err(ValidationError::new(
                "version",
                format!("must be at most {VERSION_MAX} characters (got {})", s.len()),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "version",
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(Version);

/// A project's liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Online,
    Degraded,
    Offline,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Online, Status::Degraded, Status::Offline];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Degraded => "degraded",
            Status::Offline => "offline",
        }
    }

    /// Parses `online | degraded | offline`, in any case.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                ValidationError::new("status", "must be one of online, degraded, offline")
            })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::parse(s)
    }
}

/// A registered project as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    pub id: i64,
    pub slug: Slug,
    pub name: ProjectName,
    pub hub_url: HubUrl,
    pub mesh_namespace: MeshNamespace,
    pub status: Status,
    pub status_reason: Option<String>,
    pub tags: Tags,
    pub version: Option<Version>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of a registration as clients send it (the original service's POST body and
/// the entries of `projects.yaml`), before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RegistrationInput {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub hub_url: Option<String>,
    #[serde(default)]
    pub mesh_namespace: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// A validated registration: what an upsert writes. It never carries status or
/// heartbeat fields, so registering again cannot change them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub slug: Slug,
    pub name: ProjectName,
    pub hub_url: HubUrl,
    pub mesh_namespace: MeshNamespace,
    pub tags: Tags,
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, ValidationError> {
    value
        .as_deref()
        .ok_or_else(|| ValidationError::new(field, "is required"))
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
        Ok(Registration {
            slug,
            name,
            hub_url,
            mesh_namespace,
            tags,
        })
    }
}

/// A partial update of a project's descriptive fields (`PATCH`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPatch {
    pub name: Option<ProjectName>,
    pub hub_url: Option<HubUrl>,
    pub tags: Option<Tags>,
}

impl ProjectPatch {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.hub_url.is_none() && self.tags.is_none()
    }
}

pub const LIST_LIMIT_DEFAULT: u32 = 100;
pub const LIST_LIMIT_MAX: u32 = 1000;

/// Which projects a list returns, in slug order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub tag: Option<Tag>,
    pub limit: u32,
    pub offset: u64,
}

impl Default for ListFilter {
    fn default() -> Self {
        Self {
            status: None,
            tag: None,
            limit: LIST_LIMIT_DEFAULT,
            offset: 0,
        }
    }
}

impl ListFilter {
    /// Validates raw query values; `None` takes the default.
    pub fn parse(
        status: Option<&str>,
        tag: Option<&str>,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Self, ValidationError> {
        let status = status.map(Status::parse).transpose()?;
        let tag = tag.map(|t| Tag::parse(t)).transpose()?;
        let limit = match limit {
            None => LIST_LIMIT_DEFAULT,
            Some(l) if (1..=i64::from(LIST_LIMIT_MAX)).contains(&l) => l as u32,
            Some(_) => {
                return Err(ValidationError::new(
                    "limit",
                    format!("must be between 1 and {LIST_LIMIT_MAX}"),
                ))
            }
        };
        let offset = match offset {
            None => 0,
            Some(o) if o >= 0 => o as u64,
            Some(_) => return Err(ValidationError::new("offset", "must not be negative")),
        };
        Ok(Self {
            status,
            tag,
            limit,
            offset,
        })
    }
}

/// One page of a list, with the number of projects the filter matches in all.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectPage {
    pub items: Vec<Project>,
    pub total: u64,
}

/// The result of an upsert: the project as stored, and whether it was new.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    pub project: Project,
    pub created: bool,
}

/// Why a status changed. Stored and published as its string form.
pub mod reason {
    /// A heartbeat arrived.
    pub const HEARTBEAT: &str = "heartbeat";
    /// The project itself reported it is degraded (reasons follow after `: `).
    pub const SELF_REPORTED: &str = "self_reported";
    /// No heartbeat for `degraded_after`.
    pub const HEARTBEAT_LATE: &str = "heartbeat_late";
    /// No heartbeat for `offline_after`.
    pub const HEARTBEAT_TIMEOUT: &str = "heartbeat_timeout";
}

/// A change of a project's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub slug: Slug,
    pub from: Status,
    pub to: Status,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// The last heartbeat known when the change happened (published with the event).
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// A project's liveness as persisted: what the presence table is loaded from at start
/// and what it writes back in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    pub slug: Slug,
    pub status: Status,
    pub status_reason: Option<String>,
    pub version: Option<Version>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}
