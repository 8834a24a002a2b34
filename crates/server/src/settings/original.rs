//! The original service's settings as it read them (pydantic-settings): environment names
//! matched without regard to case, `HEARTBEAT_STALE_THRESHOLD_SECONDS` alone always
//! starting, and `HEARTBEAT_STALE_CHECK_INTERVAL_SECONDS` setting the sweep.

use std::collections::HashMap;
use std::time::Duration;

/// The original's check interval, in seconds; ours is the sweep interval.
pub const CHECK_INTERVAL_VAR: &str = "HEARTBEAT_STALE_CHECK_INTERVAL_SECONDS";
/// Our name for the sweep interval, which wins over [`CHECK_INTERVAL_VAR`].
pub const SWEEP_INTERVAL_VAR: &str = "FEDERATION_SWEEP_INTERVAL";
/// The coarsest sweep [`CHECK_INTERVAL_VAR`] may set: the original's default (60 s)
/// would make offline detection up to a minute late, and the leader renews its lease
/// (5 s by default) every sweep.
pub const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// A sweep coarser than this is warned about.
pub const COARSE_SWEEP: Duration = Duration::from_secs(1);

/// The process environment, looked up without regard to case (an exact match wins over
/// one that differs in case). Variables whose name or value is not UTF-8 are skipped.
pub fn environment() -> impl Fn(&str) -> Option<String> {
    ignoring_case(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    )
}

/// A lookup in `vars` without regard to case; an exact match wins.
fn ignoring_case(vars: impl Iterator<Item = (String, String)>) -> impl Fn(&str) -> Option<String> {
    let mut folded: HashMap<String, String> = HashMap::new();
    let mut exact: HashMap<String, String> = HashMap::new();
    for (k, v) in vars {
        folded
            .entry(k.to_ascii_uppercase())
            .or_insert_with(|| v.clone());
        exact.insert(k, v);
    }
    move |name: &str| {
        exact
            .get(name)
            .or_else(|| folded.get(&name.to_ascii_uppercase()))
            .cloned()
    }
}

/// The sweep interval [`CHECK_INTERVAL_VAR`] asks for, as a duration setting, when
/// [`SWEEP_INTERVAL_VAR`] does not say otherwise; bounded to 1 s–[`MAX_CHECK_INTERVAL`],
/// with a warning when it is bounded or coarse.
pub fn check_interval(
    env: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Option<String>> {
    if env(SWEEP_INTERVAL_VAR).is_some() {
        return Ok(None);
    }
    let Some(raw) = env(CHECK_INTERVAL_VAR) else {
        return Ok(None);
    };
    let asked = super::parse_duration(&raw, "status.sweep_interval")?;
    let bounded = asked.clamp(Duration::from_secs(1), MAX_CHECK_INTERVAL);
    if bounded != asked {
        warnings.push(format!(
            "{CHECK_INTERVAL_VAR}={raw} is taken as {}s: the sweep runs every 1-{}s \
             (set {SWEEP_INTERVAL_VAR} for a finer one)",
            bounded.as_secs(),
            MAX_CHECK_INTERVAL.as_secs()
        ));
    } else if bounded > COARSE_SWEEP {
        warnings.push(format!(
            "{CHECK_INTERVAL_VAR}={raw}: silent projects are seen offline up to {}s after \
             their threshold (the default sweep is 1s)",
            bounded.as_secs()
        ));
    }
    Ok(Some(format!("{}s", bounded.as_secs())))
}

/// The degraded threshold to use: `degraded` as configured, except when it is the
/// default and not shorter than `offline` (an offline threshold set alone, such as
/// `HEARTBEAT_STALE_THRESHOLD_SECONDS=30`): then two thirds of `offline`, with a
/// warning, so the setting alone always starts.
pub fn degraded_following(
    degraded: Duration,
    offline: Duration,
    warnings: &mut Vec<String>,
) -> Duration {
    if degraded.is_zero()
        || degraded < offline
        || degraded != federation_domain::policy::DEFAULT_DEGRADED_AFTER
    {
        return degraded;
    }
    let follows = offline * 2 / 3;
    warnings.push(format!(
        "the offline threshold ({}s) is not longer than the default degraded threshold \
         ({}s): projects are degraded after {}s instead (set FEDERATION_DEGRADED_AFTER to \
         choose, 0 to turn lateness-degraded off)",
        offline.as_secs_f64(),
        degraded.as_secs(),
        follows.as_secs_f64()
    ));
    follows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn names_match_without_regard_to_case_and_an_exact_match_wins() {
        let vars = [
            ("database_url", "a"),
            ("Log_Level", "debug"),
            ("LOG_LEVEL", "info"),
        ];
        let env = ignoring_case(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        assert_eq!(env("DATABASE_URL").as_deref(), Some("a"));
        assert_eq!(env("LOG_LEVEL").as_deref(), Some("info"));
        assert_eq!(env("NATS_URL"), None);
    }

    #[test]
    fn the_check_interval_is_bounded_and_warned_about() {
        let mut w = Vec::new();
        let got = check_interval(&env(&[(CHECK_INTERVAL_VAR, "60")]), &mut w).unwrap();
        assert_eq!(got.as_deref(), Some("2s"));
        assert!(w[0].contains("taken as 2s"), "{w:?}");
        let mut w = Vec::new();
        let got = check_interval(&env(&[(CHECK_INTERVAL_VAR, "2")]), &mut w).unwrap();
        assert_eq!((got.as_deref(), w.len()), (Some("2s"), 1));
        let mut w = Vec::new();
        let got = check_interval(&env(&[(CHECK_INTERVAL_VAR, "1")]), &mut w).unwrap();
        assert_eq!((got.as_deref(), w.len()), (Some("1s"), 0));
        let mut w = Vec::new();
        let both = env(&[(CHECK_INTERVAL_VAR, "60"), (SWEEP_INTERVAL_VAR, "2s")]);
        assert_eq!(check_interval(&both, &mut w).unwrap(), None);
        assert!(check_interval(&env(&[(CHECK_INTERVAL_VAR, "soon")]), &mut w).is_err());
    }

    #[test]
    fn degraded_follows_a_low_offline_threshold_only_from_its_default() {
        let s = Duration::from_secs;
        let mut w = Vec::new();
        assert_eq!(degraded_following(s(60), s(30), &mut w), s(20));
        assert_eq!(w.len(), 1);
        assert_eq!(degraded_following(s(60), s(60), &mut w), s(40));
        let mut w = Vec::new();
        assert_eq!(degraded_following(s(60), s(90), &mut w), s(60));
        // Chosen, or turned off: left for the policy to judge.
        assert_eq!(degraded_following(s(45), s(30), &mut w), s(45));
        assert_eq!(degraded_following(s(0), s(30), &mut w), s(0));
        assert!(w.is_empty());
    }
}
