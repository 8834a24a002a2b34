//! The `[uptime]` section: how degraded time counts in uptime percentages.

use federation_domain::uptime::DegradedCounts;
use serde::Deserialize;

use super::values::invalid;

/// `[uptime]`, every key optional (a config file from before the section still loads).
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawUptime {
    #[serde(default)]
    degraded: String,
}

impl RawUptime {
    /// `uptime.degraded`: `up` (the default) or `down`.
    pub(super) fn degraded(&self) -> anyhow::Result<DegradedCounts> {
        if self.degraded.trim().is_empty() {
            return Ok(DegradedCounts::default());
        }
        DegradedCounts::parse(&self.degraded)
            .ok_or_else(|| invalid("uptime.degraded", "must be up or down"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use federation_domain::uptime::DegradedCounts;

    use super::super::Settings;

    fn load(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dir = tempfile::tempdir()?;
        Settings::load_from(dir.path(), |k| env.get(k).cloned())
    }

    #[test]
    fn degraded_counts_up_unless_told_and_nonsense_is_refused() -> anyhow::Result<()> {
        assert_eq!(load(&[])?.uptime_degraded, DegradedCounts::Up);
        let down = load(&[("FEDERATION_UPTIME_DEGRADED", "Down")])?;
        assert_eq!(down.uptime_degraded, DegradedCounts::Down);
        let err = load(&[("FEDERATION_UPTIME_DEGRADED", "half")])
            .err()
            .ok_or_else(|| anyhow::anyhow!("half was accepted"))?;
        assert!(
            format!("{err:#}").contains("FEDERATION_UPTIME_DEGRADED"),
            "{err:#}"
        );
        Ok(())
    }
}
