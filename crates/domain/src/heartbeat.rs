//! Decoding and validating heartbeats, whichever way they arrive (NATS or HTTP).
//!
//! Two shapes are accepted:
//! - the original service's payload:
//!   `{"project_slug","hub_url","mesh_namespace","timestamp","version"}`, plus the optional
//!   `"status": "online" | "ok" | "degraded"` and `"reasons": [..]`;
//! - the envelope CommandCenter's own NATS client wraps messages in:
//!   `{"payload": {…the above…}, "correlation_id": "…"}`.
//!
//! Each rejection is its own [`HeartbeatError`] variant, so callers can count them by kind.
//!
//! The JSON itself is `federation-wire`'s [`HeartbeatWire`], the one type the publisher
//! (`federation-heartbeat`) encodes too; this module checks its fields.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use federation_wire::{HeartbeatWire, WireError, WireStatus};
use thiserror::Error;

use crate::error::ValidationError;
use crate::model::{HeartbeatInterval, HubUrl, Slug, Version, MESH_NAMESPACE_MAX, SLUG_MAX};
use crate::policy::{StatusPolicy, MAX_CLOCK_SKEW, MAX_HEARTBEAT_AGE};

// `hub.<slug>` passes the namespace rule for every slug, so `decode` skips the rule for
// it: a slug's characters all make subject tokens, and it fits the namespace's length
// (checked here, at compile time).
const _: () = assert!("hub.".len() + SLUG_MAX <= MESH_NAMESPACE_MAX);

pub use federation_wire::{MAX_HEARTBEAT_BYTES, MAX_REASONS, MAX_REASON_CHARS};

/// What the project says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// The project says it is well (or said nothing).
    Online,
    /// The project says it is degraded.
    Degraded {
        /// Its reasons, at most [`MAX_REASONS`].
        reasons: Vec<String>,
    },
}

/// A heartbeat that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The project the heartbeat is for.
    pub slug: Slug,
    /// The version it reports, if any.
    pub version: Option<Version>,
    /// The sender's own clock, when it sent one.
    pub sent_at: Option<DateTime<Utc>>,
    /// Its own word on its health.
    pub reported: Reported,
    /// How often it says it beats (`interval`, seconds): its thresholds follow it.
    pub interval: Option<HeartbeatInterval>,
    /// The namespace it claims, which must be its project's registered one.
    pub namespace: ClaimedNamespace,
}

/// The `mesh_namespace` a heartbeat claims. The usual one, `hub.<slug>`, is noted
/// without a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClaimedNamespace {
    /// None given (or blank).
    #[default]
    Unstated,
    /// `hub.<slug>`.
    Default,
    /// Another (valid) subject prefix.
    Other(String),
}

impl ClaimedNamespace {
    /// Whether the claim agrees with the namespace `slug` registered; the error names
    /// both, in the original's words, when it does not.
    pub fn check(&self, slug: &Slug, registered: &str) -> Result<(), HeartbeatError> {
        let agrees = match self {
            ClaimedNamespace::Unstated => true,
            ClaimedNamespace::Default => registered.strip_prefix("hub.") == Some(slug.as_str()),
            ClaimedNamespace::Other(ns) => ns == registered,
        };
        if agrees {
            return Ok(());
        }
        let got = match self {
            ClaimedNamespace::Other(ns) => ns.chars().take(100).collect(),
            _ => format!("hub.{slug}"),
        };
        Err(HeartbeatError::NamespaceMismatch {
            expected: format!("must be '{registered}', got '{got}'"),
        })
    }
}

/// Why a heartbeat was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeartbeatError {
    #[error("heartbeat is {size} bytes, more than the {MAX_HEARTBEAT_BYTES} allowed")]
    /// Larger than [`MAX_HEARTBEAT_BYTES`].
    Oversize {
        /// Its size in bytes.
        size: usize,
    },
    #[error("heartbeat is not valid JSON: {0}")]
    /// Not JSON.
    InvalidJson(String),
    #[error("heartbeat has a field of the wrong type: {0}")]
    /// A field of the wrong JSON type.
    WrongType(String),
    #[error("heartbeat has no project_slug")]
    /// No `project_slug`.
    MissingSlug,
    #[error("heartbeat field {0}")]
    /// A field failed its validation.
    InvalidField(ValidationError),
    #[error("heartbeat is for {payload:?} but arrived for {subject:?}")]
    /// Sent on one project's subject with another project's slug.
    SlugMismatch {
        /// The slug of the subject.
        subject: String,
        /// The slug in the payload.
        payload: String,
    },
    #[error("heartbeat mesh_namespace {expected}")]
    /// A `mesh_namespace` that is not a valid NATS subject prefix, or not the one its
    /// project registered.
    BadNamespace {
        /// The rule it breaks.
        expected: String,
    },
    #[error("heartbeat mesh_namespace {expected}")]
    /// A valid `mesh_namespace` that is not the one its project registered.
    NamespaceMismatch {
        /// The namespace registered, and the one given.
        expected: String,
    },
    #[error("heartbeat timestamp {sent_at} is more than an hour old (a replay)")]
    /// Older than [`MAX_HEARTBEAT_AGE`] (or the offline threshold, when that is longer).
    Replay {
        /// The heartbeat's timestamp.
        sent_at: DateTime<Utc>,
    },
    #[error("heartbeat timestamp {sent_at} is more than 5 minutes ahead of our clock")]
    /// Further ahead of our clock than [`MAX_CLOCK_SKEW`].
    FromFuture {
        /// The heartbeat's timestamp.
        sent_at: DateTime<Utc>,
    },
}

impl HeartbeatError {
    /// A stable name for each kind of rejection.
    pub fn kind(&self) -> &'static str {
        match self {
            HeartbeatError::Oversize { .. } => "oversize",
            HeartbeatError::InvalidJson(_) => "invalid_json",
            HeartbeatError::WrongType(_) => "wrong_type",
            HeartbeatError::MissingSlug => "missing_slug",
            HeartbeatError::InvalidField(_) => "invalid_field",
            HeartbeatError::SlugMismatch { .. } => "slug_mismatch",
            HeartbeatError::BadNamespace { .. } | HeartbeatError::NamespaceMismatch { .. } => {
                "bad_namespace"
            }
            HeartbeatError::Replay { .. } => "replay",
            HeartbeatError::FromFuture { .. } => "future_timestamp",
        }
    }

    /// The coarser outcome used as a metric label: `malformed`, `oversize`,
    /// `slug_mismatch`, `bad_namespace` or `replay`.
    pub fn outcome(&self) -> &'static str {
        match self {
            HeartbeatError::Oversize { .. } => "oversize",
            HeartbeatError::InvalidJson(_)
            | HeartbeatError::WrongType(_)
            | HeartbeatError::MissingSlug
            | HeartbeatError::InvalidField(_) => "malformed",
            HeartbeatError::SlugMismatch { .. } => "slug_mismatch",
            HeartbeatError::BadNamespace { .. } | HeartbeatError::NamespaceMismatch { .. } => {
                "bad_namespace"
            }
            HeartbeatError::Replay { .. } | HeartbeatError::FromFuture { .. } => "replay",
        }
    }

    /// Whether the heartbeat breaks no rule of its own but conflicts with the state it
    /// meets: another project than the one it was sent for, another namespace than
    /// the one registered, a timestamp outside the window our clock allows. No schema
    /// can state these, so HTTP answers them 409 rather than 422.
    pub fn conflicts(&self) -> bool {
        matches!(
            self,
            HeartbeatError::SlugMismatch { .. }
                | HeartbeatError::NamespaceMismatch { .. }
                | HeartbeatError::Replay { .. }
                | HeartbeatError::FromFuture { .. }
        )
    }

    /// The field a client should fix, where one is to blame.
    pub fn field(&self) -> Option<&str> {
        match self {
            HeartbeatError::MissingSlug | HeartbeatError::SlugMismatch { .. } => {
                Some("project_slug")
            }
            HeartbeatError::InvalidField(e) => Some(&e.field),
            HeartbeatError::BadNamespace { .. } | HeartbeatError::NamespaceMismatch { .. } => {
                Some("mesh_namespace")
            }
            HeartbeatError::Replay { .. } | HeartbeatError::FromFuture { .. } => Some("timestamp"),
            _ => None,
        }
    }
}

impl From<WireError> for HeartbeatError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Oversize { size } => HeartbeatError::Oversize { size },
            WireError::InvalidJson(e) | WireError::Encode(e) => HeartbeatError::InvalidJson(e),
            WireError::WrongType(e) => HeartbeatError::WrongType(e),
        }
    }
}

fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, HeartbeatError> {
    federation_wire::parse_timestamp(raw).ok_or_else(|| {
        HeartbeatError::InvalidField(ValidationError::new(
            "timestamp",
            "must be an RFC 3339 date-time such as 2025-11-18T12:00:00Z",
        ))
    })
}

/// Control characters are dropped; invisible format characters (display spoofing) make
/// the heartbeat invalid, naming the reason (`reasons[2]`).
fn clean_reasons(raw: Vec<Cow<'_, str>>) -> Result<Vec<String>, HeartbeatError> {
    let mut reasons = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        if let Some(c) = r.chars().find(|c| crate::model::is_format_char(*c)) {
            return Err(HeartbeatError::InvalidField(ValidationError::new(
                format!("reasons[{i}]"),
                format!(
                    "must not contain invisible formatting characters (found U+{:04X})",
                    u32::from(c)
                ),
            )));
        }
        if reasons.len() == MAX_REASONS {
            continue; // still checked for format characters, not kept
        }
        let cleaned: String = r
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_REASON_CHARS)
            .collect();
        let trimmed = cleaned.trim();
        if trimmed.len() == cleaned.len() {
            if !cleaned.is_empty() {
                reasons.push(cleaned);
            }
        } else if !trimmed.is_empty() {
            reasons.push(trimmed.to_owned());
        }
    }
    Ok(reasons)
}

/// The timestamps a heartbeat may carry, as of one reading of our clock: no older than
/// [`MAX_HEARTBEAT_AGE`] (or the offline threshold, when that is longer), no further
/// ahead than [`MAX_CLOCK_SKEW`]. Worked out once for a batch of heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
}

impl Window {
    /// The window around `now` under `policy`.
    pub fn new(now: DateTime<Utc>, policy: &StatusPolicy) -> Self {
        Self {
            earliest: now - MAX_HEARTBEAT_AGE.max(policy.offline_after()),
            latest: now + MAX_CLOCK_SKEW,
        }
    }

    /// Whether `sent_at` is in it; the error says which side it fell off.
    fn check(&self, sent_at: DateTime<Utc>) -> Result<(), HeartbeatError> {
        if sent_at < self.earliest {
            return Err(HeartbeatError::Replay { sent_at });
        }
        if sent_at > self.latest {
            return Err(HeartbeatError::FromFuture { sent_at });
        }
        Ok(())
    }
}

/// What [`decode`] may take as already checked: the subject's project as registered.
#[derive(Debug, Clone, Copy)]
pub struct Registered<'a> {
    /// Its slug.
    pub slug: &'a Slug,
    /// Its hub URL.
    pub hub_url: &'a HubUrl,
}

/// Decodes `bytes` and checks them against the slug the heartbeat arrived for (the last
/// token of its NATS subject, or the path of an HTTP heartbeat) and the clock's
/// [`Window`].
///
/// A `hub_url` is checked, not kept: the registry's is the project's. `registered` is
/// the subject's project as registered, when the caller knows it: a heartbeat that
/// repeats its slug or hub URL exactly (the usual case) is not parsed again, since each
/// passed the same check when registered, and it holds the registered slug (a count,
/// not a copy).
pub fn decode(
    subject_slug: &str,
    bytes: &[u8],
    window: &Window,
    registered: Option<Registered<'_>>,
) -> Result<Heartbeat, HeartbeatError> {
    let wire = HeartbeatWire::decode(bytes)?;

    let raw_slug = wire.project_slug.ok_or(HeartbeatError::MissingSlug)?;
    let slug = match registered {
        Some(r) if r.slug.as_str() == raw_slug => r.slug.clone(),
        _ => Slug::parse(&raw_slug)
            .map_err(|e| HeartbeatError::InvalidField(e.at("project_slug")))?,
    };
    if !slug.as_str().eq_ignore_ascii_case(subject_slug.trim()) {
        return Err(HeartbeatError::SlugMismatch {
            subject: subject_slug.chars().take(64).collect(),
            payload: slug.to_string(),
        });
    }
    // Checked by the wire crate's rule (the model's, as tests/wire_rules.rs shows);
    // kept only when it is not the usual `hub.<slug>`, to be held against the project's
    // registered namespace. Blank means none given. Exactly `hub.<slug>` skips the rule:
    // it holds for any slug (see the assertion at the top).
    let usual = |ns: &str| ns.strip_prefix("hub.") == Some(slug.as_str());
    let namespace = match wire.mesh_namespace.as_deref() {
        None => ClaimedNamespace::Unstated,
        Some(raw) if usual(raw) => ClaimedNamespace::Default,
        Some(raw) => match federation_wire::rules::stated_mesh_namespace(raw) {
            Err(e) => {
                return Err(HeartbeatError::BadNamespace {
                    expected: e.message,
                })
            }
            Ok(None) => ClaimedNamespace::Unstated,
            Ok(Some(ns)) if usual(ns) => ClaimedNamespace::Default,
            Ok(Some(ns)) => ClaimedNamespace::Other(ns.to_owned()),
        },
    };
    if let Some(raw) = wire.hub_url.as_deref() {
        if registered.is_none_or(|r| r.hub_url.as_str() != raw) {
            HubUrl::parse(raw).map_err(HeartbeatError::InvalidField)?;
        }
    }
    let version = wire
        .version
        .as_deref()
        .map(Version::parse)
        .transpose()
        .map_err(HeartbeatError::InvalidField)?;

    let sent_at = wire.timestamp.as_deref().map(parse_timestamp).transpose()?;
    if let Some(sent_at) = sent_at {
        window.check(sent_at)?;
    }

    let reported = match wire.status.as_deref().map(WireStatus::parse) {
        None | Some(Some(WireStatus::Online)) => Reported::Online,
        Some(Some(WireStatus::Degraded)) => Reported::Degraded {
            reasons: clean_reasons(wire.reasons.unwrap_or_default())?,
        },
        Some(None) => {
            return Err(HeartbeatError::InvalidField(ValidationError::new(
                "status",
                format!("must be one of {}", WireStatus::ACCEPTED),
            )))
        }
    };

    // A whole number of seconds (JSON `30` or `30.0`), in range.
    let interval = match wire.interval.map(federation_wire::whole_seconds) {
        None => None,
        Some(Some(n)) => Some(
            HeartbeatInterval::from_seconds(n, "interval").map_err(HeartbeatError::InvalidField)?,
        ),
        Some(None) => {
            return Err(HeartbeatError::InvalidField(ValidationError::new(
                "interval",
                format!(
                    "must be a whole number of seconds between 1 and {}",
                    HeartbeatInterval::MAX_SECONDS
                ),
            )))
        }
    };

    Ok(Heartbeat {
        slug,
        version,
        sent_at,
        reported,
        interval,
        namespace,
    })
}

#[cfg(test)]
mod tests;
