//! Validated value types and the project model.
//!
//! Every value that enters the service (a POST body, an entry of `projects.yaml`, a
//! heartbeat) passes through the constructors here, so one rule holds everywhere.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
pub use crate::metadata::{Metadata, MetadataPatch};

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The value as validated.
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

/// Longest slug, in characters.
pub const SLUG_MAX: usize = 50;
/// Longest project name, in characters.
pub const NAME_MAX: usize = 200;
/// Longest hub URL, in characters.
pub const HUB_URL_MAX: usize = 500;
/// Longest tag, in characters.
pub const TAG_MAX: usize = 64;
/// Longest mesh namespace, in characters.
pub const MESH_NAMESPACE_MAX: usize = 100;
/// Most tags a project may carry.
pub const TAGS_MAX: usize = 32;
/// Longest version, in characters.
pub const VERSION_MAX: usize = 50;

impl std::borrow::Borrow<str> for Slug {
    /// Slugs are ordered and hashed as their text, so maps keyed by slug answer a
    /// lookup by `&str` without building one.
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A project's identifier: lowercase `[a-z0-9_-]`, 1–50 characters, no `-` at either end.
/// Input is lowercased first, so `CommandCenter` and `commandcenter` are one project.
/// `_` is allowed as the original's catalog file allowed it (it is a valid NATS token).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

impl Slug {
    /// Validates (after lowercasing and trimming) a slug.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "slug";
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(ValidationError::new(FIELD, "must not be empty"));
        }
        // The alphabet first: past it every character is one byte, so the length
        // below counts characters.
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(ValidationError::new(
                FIELD,
                "may contain only letters a-z, digits 0-9, '_' and '-'",
            ));
        }
        if s.len() > SLUG_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {SLUG_MAX} characters (got {})", s.len()),
            ));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(ValidationError::new(
                FIELD,
                "must not start or end with '-'",
            ));
        }
        // A leading '_' stays reserved: the service's own canaries are published as
        // `<presence>._canary-<instance>`, a name no project may have.
        if s.starts_with('_') {
            return Err(ValidationError::new(FIELD, "must not start with '_'"));
        }
        Ok(Self(s))
    }
}
string_newtype!(Slug);

/// Whether `c` is an invisible character that changes how the text around it is shown:
/// bidirectional embeddings, overrides, isolates and marks (U+202A–U+202E,
/// U+2066–U+2069, U+200E/U+200F, U+061C), zero-width characters (U+200B–U+200D,
/// U+2060–U+2064, U+FEFF), line and paragraph separators (U+2028/U+2029), the soft
/// hyphen and other format controls. Names, tags and reasons refuse them (display
/// spoofing); pretty logs show them escaped.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// The rule of free text fields (a name, a version): trimmed, 1..=`max` characters, no
/// control or invisible format characters ([`is_format_char`]); errors name `field`.
fn trimmed_text(raw: &str, field: &str, max: usize) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    let chars = s.chars().count();
    if chars > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters (got {chars})"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    refuse_format_chars(s, field)?;
    Ok(s.to_owned())
}

/// Refuses text with an invisible format character ([`is_format_char`]), naming `field`
/// and the character: the one rule of names, versions and hub URLs.
fn refuse_format_chars(s: &str, field: &str) -> Result<(), ValidationError> {
    match s.chars().find(|c| is_format_char(*c)) {
        Some(c) => Err(ValidationError::new(
            field,
            format!(
                "must not contain invisible formatting characters (found U+{:04X})",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// A human-readable project name: trimmed, 1–200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    /// Validates a project name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        trimmed_text(raw, "name", NAME_MAX).map(Self)
    }
}
string_newtype!(ProjectName);

/// The base URL of a project's hub: an absolute `http` or `https` URL of at most 500
/// characters, with no credentials, blanks, control or invisible format characters and
/// no backslash. Kept as the client wrote it (trimmed), so it round-trips unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubUrl(String);

impl HubUrl {
    /// Validates a hub URL.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "hub_url";
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValidationError::new(FIELD, "must not be empty"));
        }
        let chars = s.chars().count();
        if chars > HUB_URL_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {HUB_URL_MAX} characters (got {chars})"),
            ));
        }
        // The dashboard shows hub_url as link text: what it shows must be where the link
        // goes. Invisible characters hide or reorder text, and browsers read `\` as `/`
        // (`http://evil.com\@good.com` opens evil.com), so neither is taken anywhere.
        refuse_format_chars(s, FIELD)?;
        if s.contains('\\') {
            return Err(ValidationError::new(
                FIELD,
                "must not contain a backslash (browsers read it as '/')",
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
        // Every reader of the catalog sees hub_url: it must not carry secrets.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ValidationError::new(
                FIELD,
                "must not contain credentials (user:password@)",
            ));
        }
        // The WHATWG parser repairs `http:host` and `http:/host` and percent-encodes
        // blanks, but we keep the text as written, so the text itself must be a proper
        // absolute URL for every other reader of it too.
        if !s
            .get(url.scheme().len()..)
            .is_some_and(|rest| rest.starts_with("://"))
        {
            return Err(ValidationError::new(
                FIELD,
                "must be an absolute URL such as http://host:port",
            ));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValidationError::new(
                FIELD,
                "must not contain blanks or control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(HubUrl);

/// The NATS subject prefix of a project's mesh: dot-separated tokens of `[A-Za-z0-9_-]`,
/// at most 100 characters (no wildcards, no blanks, no empty token). `hub.<slug>` when
/// the client sends none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshNamespace(String);

impl MeshNamespace {
    /// The namespace a slug implies.
    pub fn for_slug(slug: &Slug) -> Self {
        Self(format!("hub.{slug}"))
    }

    /// Validates a namespace given explicitly.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "mesh_namespace";
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValidationError::new(FIELD, "must not be empty"));
        }
        if !s.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }) {
            return Err(ValidationError::new(
                FIELD,
                "must be a NATS subject prefix: dot-separated tokens of letters, digits, '_' and '-'",
            ));
        }
        if s.len() > MESH_NAMESPACE_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!(
                    "must be at most {MESH_NAMESPACE_MAX} characters (got {})",
                    s.len()
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Validates `raw`; `None` (or blank) gives the default `hub.<slug>`.
    pub fn resolve(slug: &Slug, raw: Option<&str>) -> Result<Self, ValidationError> {
        match raw.map(str::trim) {
            None | Some("") => Ok(Self::for_slug(slug)),
            Some(given) => Self::parse(given),
        }
    }

    /// The namespace as validated (`hub.<slug>` unless set otherwise).
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

/// A label: any printable text (trimmed, no control characters), 1–64 characters,
/// case kept as written (`Machine Learning`). Two tags are the same tag when they match
/// ignoring case ([`Tag::matches`]), so filters and duplicates are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Validates (after trimming) a tag.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        trimmed_text(raw, "tag", TAG_MAX).map(Self)
    }

    /// The same tag ignoring case (`Rust` matches `rust`, `ÉTÉ` matches `été`).
    pub fn matches(&self, other: &Tag) -> bool {
        self.0 == other.0 || self.0.to_lowercase() == other.0.to_lowercase()
    }
}
string_newtype!(Tag);

/// A project's tags: at most 32, duplicates (ignoring case) removed, first occurrence
/// kept as written, order kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tags(Vec<Tag>);

impl Tags {
    /// Validates each tag (errors name the entry, `tags[3]`) and removes duplicates.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, ValidationError> {
        let mut tags: Vec<Tag> = Vec::with_capacity(raw.len().min(TAGS_MAX));
        for (i, item) in raw.iter().enumerate() {
            let tag = Tag::parse(item.as_ref()).map_err(|e| e.at(format!("tags[{i}]")))?;
            if !tags.iter().any(|have| have.matches(&tag)) {
                // Stop at the first tag too many: the duplicate check is quadratic, and
                // a body of 100 000 distinct tags must not cost billions of comparisons.
                if tags.len() == TAGS_MAX {
                    return Err(ValidationError::new(
                        "tags",
                        format!("must hold at most {TAGS_MAX} distinct tags"),
                    ));
                }
                tags.push(tag);
            }
        }
        Ok(Self(tags))
    }

    /// The tags, in order.
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }

    /// Iterates over the tags, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    /// How many tags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No tags.
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
    /// Validates a version.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        trimmed_text(raw, "version", VERSION_MAX).map(Self)
    }
}
string_newtype!(Version);

/// How often a project says it sends a heartbeat: whole seconds,
/// 1..=[`HeartbeatInterval::MAX_SECONDS`]. Its thresholds then follow it (see
/// [`crate::StatusPolicy::thresholds`]) instead of the service-wide defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct HeartbeatInterval(u32);

impl HeartbeatInterval {
    /// The longest interval a project may declare (a day).
    pub const MAX_SECONDS: u32 = 86_400;

    /// Validates a number of seconds; errors name `field`.
    pub fn from_seconds(seconds: i64, field: &str) -> Result<Self, ValidationError> {
        u32::try_from(seconds)
            .ok()
            .filter(|s| (1..=Self::MAX_SECONDS).contains(s))
            .map(Self)
            .ok_or_else(|| {
                ValidationError::new(
                    field,
                    format!(
                        "must be a whole number of seconds between 1 and {}",
                        Self::MAX_SECONDS
                    ),
                )
            })
    }

    /// The interval in seconds.
    pub fn seconds(self) -> u32 {
        self.0
    }

    /// The interval as a duration.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.0))
    }
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

/// What applying the catalog file did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogApplied {
    /// Every entry, as stored.
    pub upserted: Vec<Upserted>,
    /// The projects removed because the file no longer lists them (`prune`).
    pub removed: Vec<Slug>,
}

/// What applying a catalog would change (`federation catalog apply --dry-run`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogPlan {
    /// Entries not registered yet.
    pub create: Vec<Slug>,
    /// Entries registered with other values, and which fields differ.
    pub update: Vec<(Slug, Vec<&'static str>)>,
    /// Entries registered as they are.
    pub unchanged: Vec<Slug>,
    /// Projects the file registered and no longer lists (only with `prune`).
    pub remove: Vec<Slug>,
}

impl CatalogPlan {
    /// What `registrations` would change in `current` (the registry), pruning the
    /// file's projects it no longer lists when `prune`.
    pub fn new<'a>(
        current: impl IntoIterator<Item = &'a Project>,
        registrations: &[Registration],
        prune: bool,
    ) -> Self {
        let current: std::collections::HashMap<&Slug, &Project> =
            current.into_iter().map(|p| (&p.slug, p)).collect();
        let listed: std::collections::HashSet<&Slug> =
            registrations.iter().map(|r| &r.slug).collect();
        let mut plan = CatalogPlan::default();
        for r in registrations {
            let Some(p) = current.get(&r.slug) else {
                plan.create.push(r.slug.clone());
                continue;
            };
            let mut fields = Vec::new();
            if p.name != r.name {
                fields.push("name");
            }
            if p.hub_url != r.hub_url {
                fields.push("hub_url");
            }
            if p.mesh_namespace != r.mesh_namespace {
                fields.push("mesh_namespace");
            }
            if p.tags != r.tags {
                fields.push("tags");
            }
            if r.heartbeat_interval.is_some() && p.heartbeat_interval != r.heartbeat_interval {
                fields.push("heartbeat_interval");
            }
            if p.origin != r.origin {
                fields.push("origin");
            }
            if fields.is_empty() {
                plan.unchanged.push(r.slug.clone());
            } else {
                plan.update.push((r.slug.clone(), fields));
            }
        }
        if prune {
            plan.remove = current
                .values()
                .filter(|p| p.origin == Origin::File && !listed.contains(&p.slug))
                .map(|p| p.slug.clone())
                .collect();
            plan.remove.sort();
        }
        plan
    }
}

/// The longest maintenance window.
pub const MAINTENANCE_MAX: TimeDelta = TimeDelta::days(30);
/// The longest maintenance reason, in characters.
pub const MAINTENANCE_REASON_MAX: usize = 200;

/// A planned window during which a project's silence (or self-reported trouble) records
/// no degraded/offline transition. It ends by itself at `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Maintenance {
    /// Why (free text).
    pub reason: String,
    /// When it started.
    pub since: DateTime<Utc>,
    /// When it ends by itself.
    pub until: DateTime<Utc>,
    /// Who started it: the caller's key name, or `anonymous`.
    pub by: String,
}

impl Maintenance {
    /// Whether the window is open at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }
}

/// A request to start maintenance, before validation: a reason and an end, given as
/// `until` (RFC 3339) or `for` (`90s`, `30m`, `2h`, `1d`, or seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceInput {
    /// Required.
    pub reason: Option<String>,
    /// The end, as an RFC 3339 date-time.
    pub until: Option<String>,
    /// The length, from now.
    pub duration: Option<String>,
}

/// `90s`, `30m`, `2h`, `1d`, or a number of seconds.
fn parse_span(raw: &str) -> Option<TimeDelta> {
    let s = raw.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = digits.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    TimeDelta::try_seconds(seconds)
}

impl MaintenanceInput {
    /// Validates the request at `now` for the caller `by`: a reason (1–200 characters),
    /// and exactly one of `until` (in the future) and `for` (positive), the window at
    /// most [`MAINTENANCE_MAX`] long.
    pub fn validate(&self, now: DateTime<Utc>, by: &str) -> Result<Maintenance, ValidationError> {
        // Whole microseconds, as the stores keep every other time.
        let now = chrono::SubsecRound::trunc_subsecs(now, 6);
        let reason = trimmed_text(
            required(&self.reason, "reason")?,
            "reason",
            MAINTENANCE_REASON_MAX,
        )?;
        let until = match (&self.until, &self.duration) {
            (Some(_), Some(_)) => {
                return Err(ValidationError::new(
                    "for",
                    "give either until or for, not both",
                ))
            }
            (None, None) => return Err(ValidationError::new("until", "is required (or for)")),
            (Some(until), None) => {
                let at = DateTime::parse_from_rfc3339(until.trim())
                    .map_err(|_| {
                        ValidationError::new(
                            "until",
                            "must be an RFC 3339 date-time such as 2025-11-18T12:00:00Z",
                        )
                    })?
                    .with_timezone(&Utc);
                if at <= now {
                    return Err(ValidationError::new("until", "must be in the future"));
                }
                at
            }
            (None, Some(span)) => {
                let span = parse_span(span)
                    .filter(|s| *s > TimeDelta::zero())
                    .ok_or_else(|| {
                        ValidationError::new(
                            "for",
                            "must be a positive length such as 90s, 30m, 2h or 1d",
                        )
                    })?;
                now.checked_add_signed(span.min(MAINTENANCE_MAX + TimeDelta::seconds(1)))
                    .ok_or_else(|| ValidationError::new("for", "is out of range"))?
            }
        };
        if until - now > MAINTENANCE_MAX {
            let field = if self.until.is_some() { "until" } else { "for" };
            return Err(ValidationError::new(
                field,
                format!(
                    "a maintenance window lasts at most {} days",
                    MAINTENANCE_MAX.num_days()
                ),
            ));
        }
        Ok(Maintenance {
            reason,
            since: now,
            until: chrono::SubsecRound::trunc_subsecs(until, 6),
            by: by.to_owned(),
        })
    }
}

/// The history's reason for a window that starts: `maintenance_started: <reason> (until
/// <time>, by <who>)`.
pub fn maintenance_started(m: &Maintenance) -> String {
    format!(
        "{}: {} (until {}, by {})",
        reason::MAINTENANCE_STARTED,
        m.reason,
        m.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        m.by
    )
}

/// What [`crate::ProjectRepository::set_maintenance`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaintenanceChange {
    /// Starts (or replaces) the project's window.
    Start(Maintenance),
    /// Ends the project's window at `at`, recording `reason`. With `due`, only a window
    /// whose `until` is at or before `at` ends (the sweeper ending it by itself).
    End {
        /// When it ended.
        at: DateTime<Utc>,
        /// What the history records.
        reason: String,
        /// Only if its time has come.
        due: bool,
    },
}

/// A project's liveness. Serialized lowercase; deserialized like [`Status::parse`], in
/// any case, so a query string or YAML file accepts what the API documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Heartbeats arrive on time and the project says it is well.
    Online,
    /// Late heartbeats, or the project says it is degraded.
    Degraded,
    /// No heartbeat for `offline_after`, or never any.
    Offline,
}

impl Status {
    /// Every status, in this order (metric labels, counters).
    pub const ALL: [Status; 3] = [Status::Online, Status::Degraded, Status::Offline];

    /// The lowercase name (`online`, `degraded`, `offline`).
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

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Status::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The SHA-256 digest of a project's heartbeat key (the key itself is shown once, when
/// it is made, and never kept). `Debug` prints no byte of it, and it is not
/// serializable; [`Self::matches`] compares in constant time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatKeyDigest([u8; 32]);

impl HeartbeatKeyDigest {
    /// The digest from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        HeartbeatKeyDigest(bytes)
    }

    /// The digest from a stored value; `None` unless it is 32 bytes long.
    pub fn from_slice(raw: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(raw).ok().map(HeartbeatKeyDigest)
    }

    /// Its bytes, to store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `presented` (the digest of a presented key) is this one, in time that
    /// does not depend on where they differ.
    pub fn matches(&self, presented: &HeartbeatKeyDigest) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.ct_eq(&presented.0).into()
    }
}

impl fmt::Debug for HeartbeatKeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeartbeatKeyDigest(<redacted>)")
    }
}

/// What an HTTP heartbeat presented, as the API judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatCredential {
    /// No key.
    None,
    /// A configured write key.
    WriteKey,
    /// Some other key (a read key, a heartbeat key, anything): its SHA-256 digest.
    Key(HeartbeatKeyDigest),
}

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
    /// Its maintenance window, while one is recorded.
    pub maintenance: Option<Maintenance>,
    /// Where its last registration came from.
    pub origin: Origin,
    /// The digest of its heartbeat key, when it has one: HTTP heartbeats then need that
    /// key or a write key. Never serialized; `Debug` prints no digest.
    #[serde(skip)]
    pub heartbeat_key: Option<HeartbeatKeyDigest>,
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

/// A partial update of a project's descriptive fields (`PATCH`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPatch {
    /// A new name.
    pub name: Option<ProjectName>,
    /// A new hub URL.
    pub hub_url: Option<HubUrl>,
    /// New tags, replacing the old ones.
    pub tags: Option<Tags>,
    /// Keys of metadata to set or remove (merged into the old ones).
    pub metadata: Option<MetadataPatch>,
    /// A new heartbeat interval; `Some(None)` removes it (the default thresholds).
    pub heartbeat_interval: Option<Option<HeartbeatInterval>>,
    /// A new heartbeat key digest; `Some(None)` removes it. Never set from a `PATCH`
    /// body: only the heartbeat-key routes set it.
    pub heartbeat_key: Option<Option<HeartbeatKeyDigest>>,
}

impl ProjectPatch {
    /// Changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.hub_url.is_none()
            && self.tags.is_none()
            && self.metadata.is_none()
            && self.heartbeat_interval.is_none()
            && self.heartbeat_key.is_none()
    }
}

/// How many entries a history returns when the client does not say. (A project list
/// without `limit` returns every project, as the original did.)
pub const LIST_LIMIT_DEFAULT: u32 = 100;
/// The most projects one list returns.
pub const LIST_LIMIT_MAX: u32 = 1000;

/// Which projects a list returns, in slug order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only projects in this status.
    pub status: Option<Status>,
    /// Only projects with this tag (ignoring case).
    pub tag: Option<Tag>,
    /// At most this many, 1..=[`LIST_LIMIT_MAX`]; `None`: every match.
    pub limit: Option<u32>,
    /// Skip this many first.
    pub offset: u64,
    /// Only projects whose slug sorts after this one (cursor paging).
    pub after: Option<Slug>,
    /// Only projects whose metadata holds each of these `(key, value)` pairs (see
    /// [`Metadata::matches`]).
    pub meta: Vec<(String, String)>,
}

/// Validates a raw page size (`limit`, of a list or a history): an integer in
/// 1..=[`LIST_LIMIT_MAX`]; `None` takes [`LIST_LIMIT_DEFAULT`].
pub fn parse_limit(raw: Option<&str>) -> Result<u32, ValidationError> {
    let Some(raw) = raw else {
        return Ok(LIST_LIMIT_DEFAULT);
    };
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|l| (1..=LIST_LIMIT_MAX).contains(l))
        .ok_or_else(|| {
            ValidationError::new(
                "limit",
                format!("must be an integer between 1 and {LIST_LIMIT_MAX}"),
            )
        })
}

impl ListFilter {
    /// Validates raw query values; `None` takes the default (no `limit`: every match).
    pub fn parse(
        status: Option<&str>,
        tag: Option<&str>,
        limit: Option<&str>,
        offset: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let status = status.map(Status::parse).transpose()?;
        let tag = tag.map(Tag::parse).transpose()?;
        let limit = limit.map(|l| parse_limit(Some(l))).transpose()?;
        let offset = match offset {
            None => 0,
            // At most i64::MAX: the stores take it as a signed 64-bit integer.
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|o| u64::try_from(o).ok())
                .ok_or_else(|| ValidationError::new("offset", "must be a non-negative integer"))?,
        };
        Ok(Self {
            status,
            tag,
            limit,
            offset,
            after: None,
            meta: Vec::new(),
        })
    }

    /// Adds the `meta.KEY=VALUE` conditions (every one must hold); errors name the
    /// parameter `meta.KEY`.
    pub fn with_meta<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        conditions: &[(K, V)],
    ) -> Result<Self, ValidationError> {
        if conditions.len() > crate::metadata::META_FILTERS_MAX {
            return Err(ValidationError::new(
                "meta",
                format!(
                    "at most {} meta.KEY conditions",
                    crate::metadata::META_FILTERS_MAX
                ),
            ));
        }
        for (key, value) in conditions {
            let key = key.as_ref();
            crate::metadata::check_key(key).map_err(|e| {
                let shown: String = key.chars().take(64).collect();
                e.at(format!("meta.{shown}"))
            })?;
            self.meta.push((key.to_owned(), value.as_ref().to_owned()));
        }
        Ok(self)
    }

    /// Sets the cursor (`after=<slug>`); errors name the field `after`.
    pub fn with_after(mut self, after: Option<&str>) -> Result<Self, ValidationError> {
        self.after = after
            .map(|a| Slug::parse(a).map_err(|e| e.at("after")))
            .transpose()?;
        Ok(self)
    }

    /// Whether `project` passes the status and tag conditions (not the paging ones).
    pub fn matches(&self, project: &Project) -> bool {
        self.status.is_none_or(|s| project.status == s)
            && self
                .tag
                .as_ref()
                .is_none_or(|t| project.tags.iter().any(|have| have.matches(t)))
            && self
                .meta
                .iter()
                .all(|(k, v)| project.metadata.matches(k, v))
    }

    /// Whether only paging is asked for (every project matches).
    pub fn is_unfiltered(&self) -> bool {
        self.status.is_none() && self.tag.is_none() && self.meta.is_empty()
    }
}

/// One page of a list, with the number of projects the filter matches in all.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectPage {
    /// The projects of this page.
    pub items: Vec<Project>,
    /// How many projects match the filter in all.
    pub total: u64,
    /// The change-log revision the page reflects (`X-Federation-Index`).
    pub revision: u64,
}

/// The result of an upsert: the project as stored, and whether it was new.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    /// The project as stored.
    pub project: Project,
    /// Whether the upsert created it.
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
    /// A maintenance window started (details follow after `: `); the status is unchanged.
    pub const MAINTENANCE_STARTED: &str = "maintenance_started";
    /// A maintenance window ended (how follows after `: `); the status is unchanged.
    pub const MAINTENANCE_ENDED: &str = "maintenance_ended";
    /// The project was removed (why follows after `: `: [`DELETED`] or [`EXPIRED`]);
    /// the last row of its history.
    pub const REMOVED: &str = "removed";
    /// Removed on request.
    pub const DELETED: &str = "deleted";
    /// Removed by the sweeper: offline for longer than `FEDERATION_DEREGISTER_AFTER`.
    pub const EXPIRED: &str = "expired";
    /// Removed by the catalog file: it registered the project and no longer lists it.
    pub const PRUNED: &str = "pruned";
}

/// A change of a project's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The project.
    pub slug: Slug,
    /// The status before.
    pub from: Status,
    /// The status after.
    pub to: Status,
    /// Why (see [`reason`]).
    pub reason: Option<String>,
    /// When it changed (our clock).
    pub at: DateTime<Utc>,
    /// The last heartbeat known when the change happened (published with the event).
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// A project's liveness as persisted: what the presence table is loaded from at start
/// and what it writes back in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    /// The project.
    pub slug: Slug,
    /// Its status.
    pub status: Status,
    /// Why it has that status.
    pub status_reason: Option<String>,
    /// The version its last heartbeat reported.
    pub version: Option<Version>,
    /// When its last heartbeat arrived.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- Maintenance -------------------------------------------------------------

    fn window(reason: Option<&str>, until: Option<&str>, span: Option<&str>) -> MaintenanceInput {
        MaintenanceInput {
            reason: reason.map(str::to_owned),
            until: until.map(str::to_owned),
            duration: span.map(str::to_owned),
        }
    }

    #[test]
    fn maintenance_needs_a_reason_and_exactly_one_end_in_the_next_30_days() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2025, 11, 18, 12, 0, 0).unwrap();
        let m = window(Some(" upgrade "), None, Some("30m"))
            .validate(now, "key:ab12")
            .unwrap();
        assert_eq!(
            (m.reason.as_str(), m.until - now, m.since, m.by.as_str()),
            ("upgrade", TimeDelta::minutes(30), now, "key:ab12")
        );
        assert!(m.is_active(now) && !m.is_active(m.until));
        for (span, secs) in [("90s", 90), ("2h", 7200), ("1d", 86_400), ("600", 600)] {
            let m = window(Some("x"), None, Some(span))
                .validate(now, "anonymous")
                .unwrap();
            assert_eq!(m.until - now, TimeDelta::seconds(secs), "{span}");
        }
        let m = window(Some("x"), Some("2025-11-18T13:00:00+01:00"), None);
        assert!(
            m.validate(now, "a").is_err(),
            "an hour ahead in +01:00 is now"
        );
        let m = window(Some("x"), Some("2025-11-18T13:00:00Z"), None)
            .validate(now, "a")
            .unwrap();
        assert_eq!(m.until - now, TimeDelta::hours(1));
        let field = |w: MaintenanceInput| w.validate(now, "a").unwrap_err().field;
        assert_eq!(field(window(None, None, Some("1h"))), "reason");
        assert_eq!(field(window(Some(" "), None, Some("1h"))), "reason");
        assert_eq!(field(window(Some("x"), None, None)), "until");
        assert_eq!(
            field(window(Some("x"), Some("2025-11-18T13:00:00Z"), Some("1h"))),
            "for"
        );
        assert_eq!(field(window(Some("x"), Some("tomorrow"), None)), "until");
        assert_eq!(
            field(window(Some("x"), Some("2025-11-18T11:00:00Z"), None)),
            "until"
        );
        assert_eq!(
            field(window(Some("x"), Some("2026-11-18T11:00:00Z"), None)),
            "until"
        );
        for bad in [
            "0s",
            "-5m",
            "5 weeks",
            "1y",
            "",
            "99999999999999999999d",
            "31d",
        ] {
            assert_eq!(field(window(Some("x"), None, Some(bad))), "for", "{bad}");
        }
    }

    fn field_of<T: fmt::Debug>(r: Result<T, ValidationError>) -> String {
        r.expect_err("should be rejected").field
    }

    // ---- Slug ----------------------------------------------------------------------

    #[test]
    fn slug_accepts_lowercase_digits_dashes_and_lowercases_and_trims() {
        assert_eq!(
            Slug::parse("commandcenter").unwrap().as_str(),
            "commandcenter"
        );
        assert_eq!(
            Slug::parse("CommandCenter").unwrap().as_str(),
            "commandcenter"
        );
        assert_eq!(Slug::parse("  hub-2  ").unwrap().as_str(), "hub-2");
        assert_eq!(Slug::parse("a").unwrap().as_str(), "a");
        assert_eq!(Slug::parse("9").unwrap().as_str(), "9");
        assert_eq!(Slug::parse("a--b").unwrap().as_str(), "a--b");
        // Two spellings are one project.
        assert_eq!(Slug::parse("ALPHA").unwrap(), Slug::parse("alpha").unwrap());
    }

    #[test]
    fn slug_length_is_one_to_fifty() {
        assert_eq!(Slug::parse(&"a".repeat(50)).unwrap().as_str().len(), 50);
        let err = Slug::parse(&"a".repeat(51)).unwrap_err();
        assert_eq!(err.field, "slug");
        assert!(err.message.contains("50"), "{err}");
        assert!(err.message.contains("got 51"), "{err}");
        for empty in ["", "   ", "\t\n"] {
            let err = Slug::parse(empty).unwrap_err();
            assert_eq!(err.field, "slug");
            assert!(err.message.contains("empty"), "{err}");
        }
    }

    #[test]
    fn slug_rejects_other_characters() {
        assert_eq!(Slug::parse("legacy_hub").unwrap().as_str(), "legacy_hub");
        assert_eq!(
            Slug::parse("Legacy_Hub").unwrap(),
            Slug::parse("legacy_hub").unwrap()
        );
        for bad in [
            "a.b",
            "a b",
            "a/b",
            "hub.alpha",
            "café",
            "ａｂ",
            "a\u{0}b",
            "*",
            ">",
        ] {
            let err = Slug::parse(bad).unwrap_err();
            assert_eq!(err.field, "slug", "{bad:?}");
            assert!(err.message.contains("a-z"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn slug_of_non_ascii_characters_is_rejected_for_the_alphabet_not_for_length() {
        // 30 characters, 60 bytes: the length message must not claim 60 characters.
        let err = Slug::parse(&"é".repeat(30)).unwrap_err();
        assert!(err.message.contains("a-z"), "{err}");
    }

    #[test]
    fn slug_must_not_start_or_end_with_a_dash() {
        for bad in ["-a", "a-", "-", "--", " -alpha"] {
            let err = Slug::parse(bad).unwrap_err();
            assert_eq!(err.field, "slug", "{bad:?}");
            assert!(err.message.contains("'-'"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn slug_may_hold_but_not_start_with_an_underscore() {
        assert_eq!(Slug::parse("legacy_hub").unwrap().as_str(), "legacy_hub");
        assert_eq!(Slug::parse("hub_").unwrap().as_str(), "hub_");
        for bad in ["_canary-1a2b", "_"] {
            let err = Slug::parse(bad).unwrap_err();
            assert_eq!(err.message, "must not start with '_'", "{bad:?}");
        }
    }

    // ---- ProjectName ---------------------------------------------------------------

    #[test]
    fn project_name_is_trimmed_and_counted_in_characters() {
        assert_eq!(
            ProjectName::parse("  Command Center  ").unwrap().as_str(),
            "Command Center"
        );
        // 200 multi-byte characters (400 bytes) are 200 characters: accepted.
        let wide = "é".repeat(200);
        assert_eq!(ProjectName::parse(&wide).unwrap().as_str(), wide);
        let err = ProjectName::parse(&"é".repeat(201)).unwrap_err();
        assert_eq!(err.field, "name");
        assert!(err.message.contains("got 201"), "{err}");
        // Surrounding blanks do not count against the limit.
        assert!(ProjectName::parse(&format!("  {}  ", "n".repeat(200))).is_ok());
    }

    #[test]
    fn names_and_tags_refuse_invisible_format_characters() {
        for c in [
            '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200D}', '\u{200F}',
            '\u{2028}', '\u{2029}', '\u{FEFF}', '\u{00AD}', '\u{061C}',
        ] {
            let raw = format!("evil{c}name");
            let err = ProjectName::parse(&raw).unwrap_err();
            assert_eq!(err.field, "name", "{c:?}");
            assert!(err.message.contains("invisible"), "{c:?}: {err}");
            let err = Tags::parse(&["ok", raw.as_str()]).unwrap_err();
            assert_eq!(err.field, "tags[1]", "{c:?}");
        }
        // Ordinary text of any script, and emoji without joiners, are fine.
        for ok in ["Ünïcödé ✓", "שלום", "مرحبا", "日本語", "🚀 Rocket"] {
            ProjectName::parse(ok).unwrap();
            Tags::parse(&[ok]).unwrap();
        }
    }

    #[test]
    fn project_name_rejects_empty_and_control_characters() {
        assert_eq!(field_of(ProjectName::parse("")), "name");
        assert_eq!(field_of(ProjectName::parse(" \t ")), "name");
        for bad in ["a\nb", "a\u{7}b", "tab\there", "nul\u{0}"] {
            let err = ProjectName::parse(bad).unwrap_err();
            assert_eq!(err.field, "name");
            assert!(err.message.contains("control"), "{bad:?}: {err}");
        }
    }

    // ---- HubUrl --------------------------------------------------------------------

    #[test]
    fn hub_url_accepts_absolute_http_and_https_as_written() {
        for ok in [
            "http://localhost:8000",
            "https://hub.example.com/base/path?x=1",
            "http://127.0.0.1",
            "http://[::1]:8000/",
            "HTTPS://Example.com",
        ] {
            assert_eq!(HubUrl::parse(ok).unwrap().as_str(), ok);
        }
        // Trimmed, but otherwise kept exactly (no trailing slash added).
        assert_eq!(
            HubUrl::parse("  http://localhost:8000  ").unwrap().as_str(),
            "http://localhost:8000"
        );
    }

    #[test]
    fn hub_url_rejects_other_schemes_relative_urls_and_missing_hosts() {
        for bad in [
            "",
            "   ",
            "localhost:8000",
            "/api/fed",
            "example.com",
            "ftp://example.com",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "nats://localhost:4222",
            "http://",
            "https://",
            "http://:80",
            "http:host",
            "http:/host",
            "HTTP:host:8000",
            "http://host/a b",
            "http://host/a\tb",
            "\u{1}http://host",
            "ht\ttp://host",
            "http://user:secret@host",
            "https://token@host/",
        ] {
            assert_eq!(field_of(HubUrl::parse(bad)), "hub_url", "{bad:?}");
        }
    }

    #[test]
    fn hub_url_refuses_invisible_formatting_characters_as_names_do() {
        for bad in [
            "http://host/\u{202E}gpj.exe",
            "http://host/a\u{200B}b",
            "http://host/\u{2066}x\u{2069}",
            "http://host/?q=\u{FEFF}",
            "http://host/#\u{061C}",
            "\u{200E}http://host",
        ] {
            let err = HubUrl::parse(bad).unwrap_err();
            assert_eq!(err.field, "hub_url", "{bad:?}");
            assert!(err.message.contains("invisible"), "{bad:?}: {err}");
            // The very rule a name follows.
            let name = bad.trim_start_matches("http://host/");
            assert!(ProjectName::parse(&format!("n{name}")).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hub_url_refuses_a_backslash_anywhere() {
        // Browsers read `\` as `/`: this opens evil.com while it reads as good.com.
        for bad in [
            "http://evil.com\\@good.com",
            "https://good.com\\..\\x",
            "http://good.com/a?b=\\",
            "http://good.com/#\\",
            "http:\\\\evil.com",
        ] {
            let err = HubUrl::parse(bad).unwrap_err();
            assert_eq!(err.field, "hub_url", "{bad:?}");
            assert!(err.message.contains("backslash"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn hub_url_is_at_most_five_hundred_characters() {
        let prefix = "https://example.com/";
        let ok = format!("{prefix}{}", "p".repeat(500 - prefix.len()));
        assert_eq!(ok.len(), 500);
        assert!(HubUrl::parse(&ok).is_ok());
        let long = format!("{ok}p");
        let err = HubUrl::parse(&long).unwrap_err();
        assert_eq!(err.field, "hub_url");
        assert!(err.message.contains("got 501"), "{err}");
        // Characters, not bytes: 420 characters of which 400 take two bytes each.
        let wide = format!("{prefix}{}", "é".repeat(400));
        assert_eq!(wide.chars().count(), 420);
        assert!(HubUrl::parse(&wide).is_ok());
    }

    // ---- MeshNamespace -------------------------------------------------------------

    #[test]
    fn mesh_namespace_defaults_to_hub_dot_slug_and_takes_any_subject_prefix() {
        let slug = Slug::parse("CommandCenter").unwrap();
        assert_eq!(MeshNamespace::for_slug(&slug).as_str(), "hub.commandcenter");
        for absent in [None, Some(""), Some("  ")] {
            assert_eq!(
                MeshNamespace::resolve(&slug, absent).unwrap().as_str(),
                "hub.commandcenter"
            );
        }
        assert_eq!(
            MeshNamespace::resolve(&slug, Some(" hub.commandcenter "))
                .unwrap()
                .as_str(),
            "hub.commandcenter"
        );
        for ok in ["veria.mesh", "hub.other", "A_b-1.c", "single"] {
            assert_eq!(
                MeshNamespace::resolve(&slug, Some(ok)).unwrap().as_str(),
                ok
            );
        }
        let long = format!("a.{}", "b".repeat(98));
        assert!(MeshNamespace::parse(&long).is_ok());
        for bad in [
            "hub..x",
            ".hub",
            "hub.",
            "hub.*",
            "hub.>",
            "hub x",
            "hüb",
            "hub\u{0}",
            &format!("{long}c"),
        ] {
            let err = MeshNamespace::resolve(&slug, Some(bad)).unwrap_err();
            assert_eq!(err.field, "mesh_namespace", "{bad}");
        }
    }

    // ---- Tag / Tags ----------------------------------------------------------------

    #[test]
    fn tag_is_printable_text_up_to_sixty_four_characters_case_kept() {
        assert_eq!(Tag::parse(" Python ").unwrap().as_str(), "Python");
        assert_eq!(
            Tag::parse("Machine Learning").unwrap().as_str(),
            "Machine Learning"
        );
        for ok in ["v1.2_beta-x", "a/b", "c++", "naïve", "a,b", "日本語"] {
            assert_eq!(Tag::parse(ok).unwrap().as_str(), ok);
        }
        assert!(Tag::parse(&"é".repeat(64)).is_ok());
        let err = Tag::parse(&"t".repeat(65)).unwrap_err();
        assert_eq!(err.field, "tag");
        assert!(err.message.contains("got 65"), "{err}");
        for bad in ["", " ", "a\nb", "a\u{7f}b", "nul\u{0}"] {
            assert_eq!(field_of(Tag::parse(bad)), "tag", "{bad:?}");
        }
        assert!(Tag::parse("ÉTÉ")
            .unwrap()
            .matches(&Tag::parse("été").unwrap()));
    }

    #[test]
    fn tags_remove_duplicates_and_keep_first_order() {
        let tags = Tags::parse(&["Rust", "python", "rust", "Go", "PYTHON"]).unwrap();
        let got: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        assert_eq!(got, ["Rust", "python", "Go"]);
        assert_eq!(tags.len(), 3);
        assert!(Tags::parse::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn tags_error_names_the_index_of_the_bad_tag() {
        let err = Tags::parse(&["ok", "fine", "also-ok", "not\tok"]).unwrap_err();
        assert_eq!(err.field, "tags[3]");
        let err = Tags::parse(&[""]).unwrap_err();
        assert_eq!(err.field, "tags[0]");
    }

    #[test]
    fn tags_allow_thirty_two_distinct_and_no_more() {
        let distinct: Vec<String> = (0..32).map(|i| format!("t{i}")).collect();
        assert_eq!(Tags::parse(&distinct).unwrap().len(), 32);
        // Duplicates do not count against the limit.
        let mut with_dups = distinct.clone();
        with_dups.extend(distinct.iter().map(|t| t.to_uppercase()));
        assert_eq!(Tags::parse(&with_dups).unwrap().len(), 32);
        let too_many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
        let err = Tags::parse(&too_many).unwrap_err();
        assert_eq!(err.field, "tags");
        assert!(err.message.contains("32"), "{err}");
    }

    #[test]
    fn a_huge_tag_list_is_rejected_after_reading_one_tag_too_many() {
        // The duplicate check is quadratic: over 200 000 distinct tags it would take
        // minutes, so parsing must stop at the first tag past the limit. Counted in tags
        // read, not in time, so the test says the same on any machine.
        struct Counted<'a>(&'a std::cell::Cell<usize>, String);
        impl AsRef<str> for Counted<'_> {
            fn as_ref(&self) -> &str {
                self.0.set(self.0.get() + 1);
                &self.1
            }
        }
        let read = std::cell::Cell::new(0);
        let huge: Vec<Counted<'_>> = (0..200_000)
            .map(|i| Counted(&read, format!("t{i}")))
            .collect();
        assert_eq!(field_of(Tags::parse(&huge)), "tags");
        assert_eq!(read.get(), TAGS_MAX + 1);
    }

    // ---- Version -------------------------------------------------------------------

    #[test]
    fn version_is_trimmed_one_to_fifty_characters_without_controls() {
        assert_eq!(Version::parse(" 0.9.0 ").unwrap().as_str(), "0.9.0");
        assert!(Version::parse(&"v".repeat(50)).is_ok());
        let err = Version::parse(&"v".repeat(51)).unwrap_err();
        assert_eq!(err.field, "version");
        assert!(err.message.contains("got 51"), "{err}");
        assert!(
            Version::parse(&"é".repeat(50)).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(field_of(Version::parse(&"é".repeat(51))), "version");
        assert_eq!(field_of(Version::parse("")), "version");
        assert_eq!(
            Version::parse("1.0\n").unwrap().as_str(),
            "1.0",
            "trailing newline is trimmed"
        );
        assert_eq!(field_of(Version::parse("1.0\n1")), "version");
        assert_eq!(field_of(Version::parse("1.\u{1b}[31m0")), "version");
    }

    // ---- Status --------------------------------------------------------------------

    #[test]
    fn status_parses_in_any_case_and_displays_lowercase() {
        for (raw, want) in [
            ("online", Status::Online),
            ("ONLINE", Status::Online),
            (" Degraded ", Status::Degraded),
            ("oFFline", Status::Offline),
        ] {
            assert_eq!(Status::parse(raw).unwrap(), want, "{raw}");
            assert_eq!(raw.parse::<Status>().unwrap(), want, "{raw}");
        }
        for st in Status::ALL {
            assert_eq!(Status::parse(&st.to_string()).unwrap(), st);
        }
        for bad in ["", "up", "ok", "down", "onlinex"] {
            assert_eq!(field_of(Status::parse(bad)), "status", "{bad:?}");
        }
    }

    #[test]
    fn status_serde_is_lowercase_and_deserializes_in_any_case() {
        assert_eq!(
            serde_json::to_string(&Status::Degraded).unwrap(),
            "\"degraded\""
        );
        for st in Status::ALL {
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), st);
        }
        assert_eq!(
            serde_json::from_str::<Status>("\"Online\"").unwrap(),
            Status::Online
        );
        assert!(serde_json::from_str::<Status>("\"sleepy\"").is_err());
        assert!(serde_json::from_str::<Status>("1").is_err());
    }

    // ---- RegistrationInput ---------------------------------------------------------

    const SEED_BODY: &str = r#"{
        "slug": "commandcenter",
        "name": "CommandCenter",
        "hub_url": "http://localhost:8000",
        "mesh_namespace": "hub.commandcenter",
        "tags": ["python"]
    }"#;

    fn input(slug: &str, name: &str, url: &str) -> RegistrationInput {
        RegistrationInput {
            slug: Some(slug.into()),
            name: Some(name.into()),
            hub_url: Some(url.into()),
            mesh_namespace: None,
            tags: None,
            metadata: None,
            heartbeat_interval: None,
        }
    }

    #[test]
    fn registration_accepts_the_seed_body() {
        let input: RegistrationInput = serde_json::from_str(SEED_BODY).unwrap();
        let r = input.validate().unwrap();
        assert_eq!(r.slug.as_str(), "commandcenter");
        assert_eq!(r.name.as_str(), "CommandCenter");
        assert_eq!(r.hub_url.as_str(), "http://localhost:8000");
        assert_eq!(r.mesh_namespace.as_str(), "hub.commandcenter");
        assert_eq!(r.tags.as_slice(), [Tag::parse("python").unwrap()]);
    }

    #[test]
    fn registration_defaults_namespace_and_tags() {
        let r = input("Alpha", "Alpha", "https://alpha.example")
            .validate()
            .unwrap();
        assert_eq!(r.slug.as_str(), "alpha");
        assert_eq!(r.mesh_namespace.as_str(), "hub.alpha");
        assert!(r.tags.is_empty());
        // Only the required fields in JSON; unknown fields are ignored.
        let body = r#"{"slug":"a","name":"A","hub_url":"http://a","extra":1,"tags":null}"#;
        let r = serde_json::from_str::<RegistrationInput>(body)
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(r.mesh_namespace.as_str(), "hub.a");
    }

    #[test]
    fn registration_names_each_missing_required_field() {
        let full = input("a", "A", "http://a");
        let mut no_slug = full.clone();
        no_slug.slug = None;
        let mut no_name = full.clone();
        no_name.name = None;
        let mut no_url = full.clone();
        no_url.hub_url = None;
        for (inp, field) in [(no_slug, "slug"), (no_name, "name"), (no_url, "hub_url")] {
            let err = inp.validate().unwrap_err();
            assert_eq!(err.field, field);
            assert_eq!(err.message, "is required");
        }
        let err = RegistrationInput::default().validate().unwrap_err();
        assert_eq!(err.field, "slug", "first failure in field order");
    }

    #[test]
    fn registration_names_each_invalid_field() {
        assert_eq!(
            field_of(input("bad slug", "A", "http://a").validate()),
            "slug"
        );
        assert_eq!(field_of(input("a", " ", "http://a").validate()), "name");
        assert_eq!(field_of(input("a", "A", "ftp://a").validate()), "hub_url");
        let mut wrong_ns = input("a", "A", "http://a");
        wrong_ns.mesh_namespace = Some("hub..b".into());
        assert_eq!(field_of(wrong_ns.validate()), "mesh_namespace");
        let mut bad_tag = input("a", "A", "http://a");
        bad_tag.tags = Some(vec!["ok".into(), "no\nway".into()]);
        assert_eq!(field_of(bad_tag.validate()), "tags[1]");
    }

    #[test]
    fn registration_body_with_wrong_types_does_not_deserialize() {
        assert!(serde_json::from_str::<RegistrationInput>(r#"{"slug": 5}"#).is_err());
        assert!(serde_json::from_str::<RegistrationInput>(r#"{"tags": "python"}"#).is_err());
    }

    // ---- ListFilter ----------------------------------------------------------------

    #[test]
    fn list_filter_defaults() {
        let f = ListFilter::parse(None, None, None, None).unwrap();
        assert_eq!(f, ListFilter::default());
        assert_eq!(f.limit, None, "no limit: every project, as the original");
        assert_eq!(f.offset, 0);
        assert_eq!(f.status, None);
        assert_eq!(f.tag, None);
    }

    #[test]
    fn list_filter_parses_valid_values() {
        let f = ListFilter::parse(Some("ONLINE"), Some("Python"), Some("1000"), Some("5")).unwrap();
        assert_eq!(f.status, Some(Status::Online));
        assert_eq!(f.tag, Some(Tag::parse("Python").unwrap()));
        assert_eq!(f.limit, Some(1000));
        assert_eq!(f.offset, 5);
        assert_eq!(
            ListFilter::parse(None, None, Some("1"), Some("0"))
                .unwrap()
                .limit,
            Some(1)
        );
    }

    #[test]
    fn list_filter_rejects_out_of_range_values_naming_the_field() {
        assert_eq!(
            field_of(ListFilter::parse(None, None, Some("0"), None)),
            "limit"
        );
        assert_eq!(
            field_of(ListFilter::parse(None, None, Some("1001"), None)),
            "limit"
        );
        assert_eq!(
            field_of(ListFilter::parse(None, None, Some("-1"), None)),
            "limit"
        );
        assert_eq!(
            field_of(ListFilter::parse(
                None,
                None,
                Some("9223372036854775807"),
                None
            )),
            "limit"
        );
        assert_eq!(
            field_of(ListFilter::parse(None, None, None, Some("-1"))),
            "offset"
        );
        assert_eq!(
            ListFilter::parse(None, None, None, Some("9223372036854775807"))
                .unwrap()
                .offset,
            i64::MAX as u64
        );
        for raw in ["ten", "1.5", "", "99999999999999999999"] {
            assert_eq!(
                field_of(ListFilter::parse(None, None, Some(raw), None)),
                "limit"
            );
            assert_eq!(
                field_of(ListFilter::parse(None, None, None, Some(raw))),
                "offset"
            );
        }
        assert_eq!(
            field_of(ListFilter::parse(
                None,
                None,
                None,
                Some("9223372036854775808")
            )),
            "offset"
        );
        // One rule, one message, for lists and histories alike.
        assert_eq!(
            parse_limit(Some("0")).unwrap_err().message,
            "must be an integer between 1 and 1000"
        );
        assert_eq!(parse_limit(Some("ten")), parse_limit(Some("1001")));
        assert_eq!(parse_limit(None), Ok(LIST_LIMIT_DEFAULT));
        assert_eq!(
            field_of(ListFilter::parse(Some("sleepy"), None, None, None)),
            "status"
        );
        assert_eq!(
            field_of(ListFilter::parse(None, Some("a\u{1}b"), None, None)),
            "tag"
        );
    }

    // ---- serde of the validated types ----------------------------------------------

    #[test]
    fn validated_types_round_trip_through_serde() {
        let slug: Slug = serde_json::from_str("\"Alpha-1\"").unwrap();
        assert_eq!(slug.as_str(), "alpha-1");
        assert_eq!(serde_json::to_string(&slug).unwrap(), "\"alpha-1\"");
        let url: HubUrl = serde_json::from_str("\"http://localhost:8000\"").unwrap();
        assert_eq!(
            serde_json::to_string(&url).unwrap(),
            "\"http://localhost:8000\""
        );
        let name: ProjectName = serde_json::from_str("\" Name \"").unwrap();
        assert_eq!(name.as_str(), "Name");
        let version: Version = serde_json::from_str("\"1.0\"").unwrap();
        assert_eq!(serde_json::to_string(&version).unwrap(), "\"1.0\"");
        let tags: Tags = serde_json::from_str(r#"["B","a","b"]"#).unwrap();
        assert_eq!(serde_json::to_string(&tags).unwrap(), r#"["B","a"]"#);
        let ns = MeshNamespace::for_slug(&slug);
        assert_eq!(serde_json::to_string(&ns).unwrap(), "\"hub.alpha-1\"");
    }

    #[test]
    fn deserializing_runs_validation() {
        let err = serde_json::from_str::<Slug>("\"bad.slug\"").unwrap_err();
        assert!(err.to_string().contains("slug"), "{err}");
        assert!(serde_json::from_str::<HubUrl>("\"ftp://x\"").is_err());
        assert!(serde_json::from_str::<ProjectName>("\"\"").is_err());
        assert!(serde_json::from_str::<Tag>("\"a\\nb\"").is_err());
        assert!(serde_json::from_str::<Version>(&format!("\"{}\"", "v".repeat(51))).is_err());
        let err = serde_json::from_str::<Tags>(r#"["ok","not\u0007ok"]"#).unwrap_err();
        assert!(err.to_string().contains("tags[1]"), "{err}");
        // FromStr goes through the same rules.
        assert!("Alpha".parse::<Slug>().is_ok());
        assert!("-alpha".parse::<Slug>().is_err());
    }

    #[test]
    fn validation_error_displays_field_and_message_and_can_be_renamed() {
        let err = ValidationError::new("slug", "must not be empty");
        assert_eq!(err.to_string(), "slug: must not be empty");
        assert_eq!(err.at("projects[2].slug").field, "projects[2].slug");
    }

    #[test]
    fn project_patch_is_empty_only_without_fields() {
        assert!(ProjectPatch::default().is_empty());
        let patch = ProjectPatch {
            name: Some(ProjectName::parse("x").unwrap()),
            ..ProjectPatch::default()
        };
        assert!(!patch.is_empty());
    }
}
