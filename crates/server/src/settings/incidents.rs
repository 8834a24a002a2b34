//! Incident settings, read from the environment alone (docs/notifications.md
//! § Incidents, docs/configuration.md):
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `FEDERATION_INCIDENT_MIN_PROJECTS` | `5` | projects offline within the window that make an incident; `0`: off |
//! | `FEDERATION_INCIDENT_TAG_PERCENT` | `50` | or this share (%) of a tag's projects; `0`: off |
//! | `FEDERATION_INCIDENT_TAG_MIN_PROJECTS` | `4` | smaller tags never make an incident on their own |
//! | `FEDERATION_INCIDENT_WINDOW` | `30s` | how close together; also how long a lone offline project waits before it is told on its own |

use anyhow::Context;
use federation_domain::incident::IncidentSettings;

use super::values::parse_duration;

fn whole(env: &impl Fn(&str) -> Option<String>, key: &str) -> anyhow::Result<Option<usize>> {
    env(key)
        .map(|raw| {
            raw.trim()
                .parse::<usize>()
                .with_context(|| format!("{key} must be a whole number, not {raw:?}"))
        })
        .transpose()
}

/// Reads the `FEDERATION_INCIDENT_*` variables; the defaults for those not set.
pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<IncidentSettings> {
    let mut s = IncidentSettings::default();
    if let Some(n) = whole(&env, "FEDERATION_INCIDENT_MIN_PROJECTS")? {
        s.min_projects = n;
    }
    if let Some(n) = whole(&env, "FEDERATION_INCIDENT_TAG_PERCENT")? {
        s.tag_percent = u8::try_from(n).unwrap_or(u8::MAX);
    }
    if let Some(n) = whole(&env, "FEDERATION_INCIDENT_TAG_MIN_PROJECTS")? {
        s.tag_min_projects = n;
    }
    if let Some(raw) = env("FEDERATION_INCIDENT_WINDOW") {
        let d = parse_duration(&raw, "FEDERATION_INCIDENT_WINDOW")
            .context("FEDERATION_INCIDENT_WINDOW")?;
        s.window = chrono::TimeDelta::from_std(d).context("FEDERATION_INCIDENT_WINDOW")?;
    }
    s.validated()
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_variables_and_bounds() {
        assert_eq!(from_env(|_| None).unwrap(), IncidentSettings::default());
        let s = from_env(|k| match k {
            "FEDERATION_INCIDENT_MIN_PROJECTS" => Some("10".into()),
            "FEDERATION_INCIDENT_TAG_PERCENT" => Some("0".into()),
            "FEDERATION_INCIDENT_TAG_MIN_PROJECTS" => Some("3".into()),
            "FEDERATION_INCIDENT_WINDOW" => Some("30s".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.min_projects, 10);
        assert_eq!(s.tag_percent, 0);
        assert_eq!(s.tag_min_projects, 3);
        assert_eq!(s.window, chrono::TimeDelta::seconds(30));
        for (key, raw) in [
            ("FEDERATION_INCIDENT_MIN_PROJECTS", "1"),
            ("FEDERATION_INCIDENT_MIN_PROJECTS", "many"),
            ("FEDERATION_INCIDENT_TAG_PERCENT", "101"),
            ("FEDERATION_INCIDENT_TAG_PERCENT", "300"),
            ("FEDERATION_INCIDENT_TAG_MIN_PROJECTS", "1"),
            ("FEDERATION_INCIDENT_WINDOW", "2h"),
            ("FEDERATION_INCIDENT_WINDOW", "0s"),
        ] {
            let err = from_env(|k| (k == key).then(|| raw.into())).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{key}={raw}: {err:#}");
        }
    }
}
