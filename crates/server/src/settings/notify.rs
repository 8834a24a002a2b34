//! Notification delivery settings, read from the environment alone (docs/notifications.md):
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `FEDERATION_NOTIFY_DENY` | none | CIDR blocks (or addresses) no message is sent to, comma-separated; private networks are allowed by default |
//! | `FEDERATION_NOTIFY_TIMEOUT` | `10s` | one attempt's limit (connect + answer) |
//! | `FEDERATION_NOTIFY_DEADLINE` | `5m` | how long a delivery is retried before it is recorded as failed |
//! | `FEDERATION_NOTIFY_FLAP_CHANGES` | `5` | status changes … |
//! | `FEDERATION_NOTIFY_FLAP_WINDOW` | `10m` | … within this long make a project flapping (its `flapping` field, a `flapping` event): messages held until it is stable this long |

use std::time::Duration;

use anyhow::Context;
use federation_notify::DenyList;

use super::values::parse_duration;

/// One attempt's default limit.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default retry deadline.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

/// How notifications are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// Refused target networks.
    pub deny: DenyList,
    /// One attempt's limit.
    pub attempt_timeout: Duration,
    /// Retries stop after this long.
    pub deadline: Duration,
    /// When a project counts as flapping.
    pub flapping: federation_domain::notify::Flapping,
    /// When offline projects make an incident (`FEDERATION_INCIDENT_*`, see
    /// [`super::incidents`]).
    pub incidents: federation_domain::incident::IncidentSettings,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            deny: DenyList::default(),
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            flapping: federation_domain::notify::FLAPPING_DEFAULT,
            incidents: federation_domain::incident::INCIDENT_DEFAULTS,
        }
    }
}

impl NotifySettings {
    /// Reads the `FEDERATION_NOTIFY_*` variables.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut s = Self::default();
        if let Some(raw) = env("FEDERATION_NOTIFY_DENY") {
            s.deny = DenyList::parse(&raw)?;
        }
        if let Some(raw) = env("FEDERATION_NOTIFY_TIMEOUT") {
            s.attempt_timeout = parse_duration(&raw, "FEDERATION_NOTIFY_TIMEOUT")
                .context("FEDERATION_NOTIFY_TIMEOUT")?;
        }
        if let Some(raw) = env("FEDERATION_NOTIFY_DEADLINE") {
            s.deadline = parse_duration(&raw, "FEDERATION_NOTIFY_DEADLINE")
                .context("FEDERATION_NOTIFY_DEADLINE")?;
        }
        if let Some(raw) = env("FEDERATION_NOTIFY_FLAP_CHANGES") {
            s.flapping.changes = raw.trim().parse::<usize>().map_err(|_| {
                anyhow::anyhow!(
                    "FEDERATION_NOTIFY_FLAP_CHANGES must be a whole number from {} to {}",
                    federation_domain::flapping::FLAP_CHANGES_MIN,
                    federation_domain::flapping::FLAP_CHANGES_MAX
                )
            })?;
        }
        if let Some(raw) = env("FEDERATION_NOTIFY_FLAP_WINDOW") {
            let d = parse_duration(&raw, "FEDERATION_NOTIFY_FLAP_WINDOW")
                .context("FEDERATION_NOTIFY_FLAP_WINDOW")?;
            s.flapping.window =
                chrono::TimeDelta::from_std(d).context("FEDERATION_NOTIFY_FLAP_WINDOW")?;
        }
        s.flapping = s
            .flapping
            .validated()
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
        s.incidents = super::incidents::from_env(&env)?;
        if s.attempt_timeout.is_zero() || s.deadline < s.attempt_timeout {
            anyhow::bail!(
                "FEDERATION_NOTIFY_TIMEOUT must be above 0 and FEDERATION_NOTIFY_DEADLINE at least as long"
            );
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_variables() {
        assert_eq!(
            NotifySettings::from_env(|_| None).unwrap(),
            NotifySettings::default()
        );
        let s = NotifySettings::from_env(|k| match k {
            "FEDERATION_NOTIFY_DENY" => Some("10.0.0.0/8".into()),
            "FEDERATION_NOTIFY_TIMEOUT" => Some("2s".into()),
            "FEDERATION_NOTIFY_DEADLINE" => Some("1m".into()),
            "FEDERATION_NOTIFY_FLAP_CHANGES" => Some("3".into()),
            "FEDERATION_NOTIFY_FLAP_WINDOW" => Some("2m".into()),
            _ => None,
        })
        .unwrap();
        assert!(s.deny.refuses("10.2.3.4".parse().unwrap()));
        assert_eq!(s.attempt_timeout, Duration::from_secs(2));
        assert_eq!(s.deadline, Duration::from_secs(60));
        assert_eq!(s.flapping.changes, 3);
        assert_eq!(s.flapping.window, chrono::TimeDelta::minutes(2));
        let one = NotifySettings::from_env(|k| {
            (k == "FEDERATION_NOTIFY_FLAP_CHANGES").then(|| "1".into())
        });
        assert!(one.is_err());
        let bad =
            NotifySettings::from_env(|k| (k == "FEDERATION_NOTIFY_DENY").then(|| "nope".into()));
        assert!(bad.unwrap_err().to_string().contains("nope"));
    }
}
