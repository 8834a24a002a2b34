use std::time::Duration;

use chrono::{DateTime, Utc};
use federation_wire::{rules, HeartbeatWire, WireStatus};

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

/// The heartbeat as it goes on the wire: `federation-wire`'s [`HeartbeatWire`], the
/// type the service decodes. [`HeartbeatConfig::payload`] fills it in: the original
/// service's five fields, `interval` when declared, `status` and `reasons` only while
/// degraded.
pub type HeartbeatPayload<'a> = HeartbeatWire<'a>;

/// Who is beating, how often, and where to.
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    slug: String,
    hub_url: String,
    mesh_namespace: String,
    version: String,
    interval: Duration,
    declare_interval: bool,
    jitter: f64,
    subject_prefix: String,
}

fn invalid(e: impl std::fmt::Display) -> HeartbeatError {
    HeartbeatError::InvalidConfig(e.to_string())
}

impl HeartbeatConfig {
    /// A project `slug` reachable at `hub_url`, with the defaults: namespace
    /// `hub.<slug>`, version `0.0.0`, every 30 s ±10 %, subject `hub.presence.<slug>`.
    /// Both values are checked with the service's own rules (`federation-wire`'s
    /// [`rules`]: the slug fully, the hub URL's shape).
    pub fn new(slug: &str, hub_url: &str) -> Result<Self, HeartbeatError> {
        let slug = rules::slug(slug).map_err(invalid)?.into_owned();
        let hub_url = rules::hub_url(hub_url).map_err(invalid)?.to_owned();
        Ok(Self {
            mesh_namespace: format!("hub.{slug}"),
            slug,
            hub_url,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            interval: DEFAULT_INTERVAL,
            declare_interval: false,
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
        let version = rules::version(version).map_err(invalid)?.to_owned();
        Ok(self.version(version))
    }

    /// The namespace: any NATS subject prefix, as the service takes it; blank means
    /// the default `hub.<slug>`.
    pub fn mesh_namespace(mut self, namespace: &str) -> Result<Self, HeartbeatError> {
        self.mesh_namespace = if namespace.trim().is_empty() {
            format!("hub.{}", self.slug)
        } else {
            rules::mesh_namespace(namespace)
                .map_err(invalid)?
                .to_owned()
        };
        Ok(self)
    }

    /// The mean time between beats (at least 10 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Whether each beat says how often the project beats (`interval`, whole seconds,
    /// rounded up): the service then derives this project's thresholds from it
    /// (degraded after two intervals of silence, offline after three) instead of using
    /// its service-wide ones. Off by default.
    pub fn declare_interval(mut self, declare: bool) -> Self {
        self.declare_interval = declare;
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
        &self.slug
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

    /// The payload of a beat sent at `now` (it borrows from `self` and `health`).
    pub fn payload<'a>(&'a self, health: &'a Health, now: DateTime<Utc>) -> HeartbeatPayload<'a> {
        let (status, reasons) = match health {
            Health::Online => (None, None),
            Health::Degraded { reasons } => (
                Some(WireStatus::Degraded.as_str().into()),
                (!reasons.is_empty()).then(|| reasons.iter().map(|r| r.as_str().into()).collect()),
            ),
        };
        HeartbeatWire {
            project_slug: Some(self.slug.as_str().into()),
            hub_url: Some(self.hub_url.as_str().into()),
            mesh_namespace: Some(self.mesh_namespace.as_str().into()),
            timestamp: Some(federation_wire::format_timestamp(now).into()),
            version: Some(self.version.as_str().into()),
            status,
            reasons,
            interval: self
                .declare_interval
                .then(|| f64::from(federation_wire::declared_seconds(self.interval))),
            payload: None,
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
        let health = Health::degraded(["db slow"]);
        let json = serde_json::to_value(config.payload(&health, at)).unwrap();
        assert_eq!(json["status"], "degraded");
        assert_eq!(json["reasons"], serde_json::json!(["db slow"]));
        assert_eq!(config.subject(), "hub.presence.commandcenter");
    }

    #[test]
    fn a_declared_interval_goes_out_in_whole_seconds_and_the_service_reads_it_back() {
        let at = Utc::now();
        let config = HeartbeatConfig::new("alpha", "http://x")
            .unwrap()
            .interval(Duration::from_millis(1500))
            .declare_interval(true);
        let bytes = config.payload(&Health::Online, at).encode().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["interval"], 2);
        let read = HeartbeatWire::decode(&bytes).unwrap();
        assert_eq!(read.interval, Some(2.0));
        assert_eq!(
            read.timestamp
                .as_deref()
                .and_then(federation_wire::parse_timestamp),
            Some(at.with_timezone(&Utc)).map(|t| {
                // Milliseconds on the wire.
                DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap()
            })
        );
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
