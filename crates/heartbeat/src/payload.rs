use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use federation_domain::{HubUrl, MeshNamespace, Slug, Version};
use serde::{Deserialize, Serialize};

use crate::{HeartbeatError, DEFAULT_SUBJECT_PREFIX};

/// How often a project beats unless told otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Each wait is the interval times a random factor in `1 ± DEFAULT_JITTER`.
pub const DEFAULT_JITTER: f64 = 0.10;

/// What the project says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    /// Well.
    Online,
    /// Up, but not well: the reasons are shown on the project (`status_reason`).
    Degraded {
        /// Why, as the service shows it.
        reasons: Vec<String>,
    },
}

impl Health {
    /// Degraded with these reasons.
    pub fn degraded<I, S>(reasons: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Health::Degraded {
            reasons: reasons.into_iter().map(Into::into).collect(),
        }
    }
}

/// The heartbeat as it goes on the wire: the original service's payload, plus `status`
/// and `reasons` only while degraded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatPayload {
    /// The project's slug.
    pub project_slug: String,
    /// The project's hub URL.
    pub hub_url: String,
    /// `hub.<slug>`.
    pub mesh_namespace: String,
    /// RFC 3339, UTC, milliseconds: `2025-11-18T12:00:00.000Z`.
    pub timestamp: String,
    /// The project's version.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `degraded` while degraded; absent otherwise.
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Why it is degraded; absent otherwise.
    pub reasons: Vec<String>,
}

/// Who is beating, how often, and where to.
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    slug: Slug,
    hub_url: HubUrl,
    mesh_namespace: MeshNamespace,
    version: String,
    interval: Duration,
    jitter: f64,
    subject_prefix: String,
}

fn invalid(e: impl std::fmt::Display) -> HeartbeatError {
    HeartbeatError::InvalidConfig(e.to_string())
}

impl HeartbeatConfig {
    /// A project `slug` reachable at `hub_url`, with the defaults: namespace
    /// `hub.<slug>`, version `0.0.0`, every 30 s ±10 %, subject `hub.presence.<slug>`.
    /// Both values are checked with the service's own rules.
    pub fn new(slug: &str, hub_url: &str) -> Result<Self, HeartbeatError> {
        let slug = Slug::parse(slug).map_err(invalid)?;
        let hub_url = HubUrl::parse(hub_url).map_err(invalid)?;
        Ok(Self {
            mesh_namespace: MeshNamespace::for_slug(&slug),
            slug,
            hub_url,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            interval: DEFAULT_INTERVAL,
            jitter: DEFAULT_JITTER,
            subject_prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
        })
    }

    /// The version the project reports (free text, as the service accepts it).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Checks the version against the service's rules.
    pub fn try_version(self, version: &str) -> Result<Self, HeartbeatError> {
        Version::parse(version).map_err(invalid)?;
        Ok(self.version(version))
    }

    /// The namespace, which must be `hub.<slug>` (the service refuses any other).
    pub fn mesh_namespace(mut self, namespace: &str) -> Result<Self, HeartbeatError> {
        self.mesh_namespace =
            MeshNamespace::resolve(&self.slug, Some(namespace)).map_err(invalid)?;
        Ok(self)
    }

    /// The mean time between beats (at least 10 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The jitter fraction, clamped to `0.0..=0.5` (`0.1` = ±10 %).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 0.5)
        } else {
            DEFAULT_JITTER
        };
        self
    }

    /// The subject prefix (the service's `FEDERATION_PRESENCE_SUBJECT`).
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = prefix.into().trim_end_matches('.').to_owned();
        self
    }

    /// The project's slug.
    pub fn slug(&self) -> &str {
        self.slug.as_str()
    }

    /// The interval between heartbeats.
    pub fn interval_value(&self) -> Duration {
        self.interval
    }

    /// The jitter, as a fraction of the interval.
    pub fn jitter_value(&self) -> f64 {
        self.jitter
    }

    /// `<prefix>.<slug>`.
    pub fn subject(&self) -> String {
        format!("{}.{}", self.subject_prefix, self.slug)
    }

    /// The payload of a beat sent at `now`.
    pub fn payload(&self, health: &Health, now: DateTime<Utc>) -> HeartbeatPayload {
        let (status, reasons) = match health {
            Health::Online => (None, Vec::new()),
            Health::Degraded { reasons } => (Some("degraded".to_owned()), reasons.clone()),
        };
        HeartbeatPayload {
            project_slug: self.slug.to_string(),
            hub_url: self.hub_url.to_string(),
            mesh_namespace: self.mesh_namespace.to_string(),
            timestamp: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            version: self.version.clone(),
            status,
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_online_payload_is_the_seeds_shape() {
        let config = HeartbeatConfig::new("CommandCenter", "http://localhost:8000")
            .unwrap()
            .version("0.9.0");
        let at = DateTime::parse_from_rfc3339("2025-11-18T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let json = serde_json::to_value(config.payload(&Health::Online, at)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "project_slug": "commandcenter",
                "hub_url": "http://localhost:8000",
                "mesh_namespace": "hub.commandcenter",
                "timestamp": "2025-11-18T12:00:00.000Z",
                "version": "0.9.0"
            })
        );
        let degraded = config.payload(&Health::degraded(["db slow"]), at);
        let json = serde_json::to_value(degraded).unwrap();
        assert_eq!(json["status"], "degraded");
        assert_eq!(json["reasons"], serde_json::json!(["db slow"]));
        assert_eq!(config.subject(), "hub.presence.commandcenter");
    }

    #[test]
    fn the_services_rules_apply() {
        assert!(HeartbeatConfig::new("bad slug", "http://x").is_err());
        assert!(HeartbeatConfig::new("ok", "ftp://x").is_err());
        let c = HeartbeatConfig::new("ok", "http://x").unwrap();
        // Any valid subject prefix, as the service takes (its original allowed them).
        assert!(c.clone().mesh_namespace("hub..other").is_err());
        assert!(c.clone().mesh_namespace("hub other").is_err());
        assert!(c.clone().mesh_namespace("veria.mesh").is_ok());
        assert!(c.clone().mesh_namespace("hub.ok").is_ok());
        assert_eq!(c.clone().jitter(3.0).jitter_value(), 0.5);
        assert_eq!(
            c.interval(Duration::ZERO).interval_value(),
            Duration::from_millis(10)
        );
    }
}
