//! `config/default.toml` writes out the service's defaults for operators; the code's
//! defaults are the constants of the domain (and of the crates that own a setting).
//! This test holds the file to them: change a constant and this fails until the file
//! says the same.

use std::time::Duration;

use config::{Config, File, FileFormat};
use federation_domain::policy;
use federation_server::settings::parse_duration;

const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

fn defaults() -> Config {
    Config::builder()
        .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
        .build()
        .unwrap_or_else(|e| panic!("config/default.toml does not parse: {e}"))
}

fn text(config: &Config, key: &str) -> String {
    config
        .get_string(key)
        .unwrap_or_else(|e| panic!("config/default.toml has no {key}: {e}"))
}

fn duration(config: &Config, key: &str) -> Duration {
    parse_duration(&text(config, key), key).unwrap_or_else(|e| panic!("{key}: {e:#}"))
}

#[test]
fn the_status_defaults_are_the_domains() {
    let file = defaults();
    let durations = [
        ("status.degraded_after", policy::DEFAULT_DEGRADED_AFTER),
        ("status.offline_after", policy::DEFAULT_OFFLINE_AFTER),
        ("status.sweep_interval", policy::DEFAULT_SWEEP_INTERVAL),
        ("status.deadline_min", policy::DEFAULT_DEADLINE_MIN),
        ("status.deadline_max", policy::DEFAULT_DEADLINE_MAX),
        ("status.deregister_after", policy::DEFAULT_DEREGISTER_AFTER),
        ("nats.canary_interval", policy::DEFAULT_CANARY_INTERVAL),
        ("http.body_timeout", federation_api::DEFAULT_BODY_TIMEOUT),
    ];
    for (key, constant) in durations {
        assert_eq!(
            duration(&file, key),
            constant,
            "{key} in config/default.toml"
        );
    }
    assert_eq!(
        file.get_int("status.recover_after").ok(),
        Some(i64::from(policy::DEFAULT_RECOVER_AFTER)),
        "status.recover_after in config/default.toml"
    );
}

#[test]
fn the_subjects_are_the_domains_and_the_publishers() {
    let file = defaults();
    assert_eq!(
        text(&file, "nats.presence_subject"),
        policy::DEFAULT_PRESENCE_SUBJECT
    );
    assert_eq!(
        federation_heartbeat::DEFAULT_SUBJECT_PREFIX,
        policy::DEFAULT_PRESENCE_SUBJECT
    );
    assert_eq!(
        text(&file, "nats.events_subject"),
        policy::DEFAULT_EVENTS_SUBJECT
    );
    assert_eq!(
        text(&file, "nats.canary_subject"),
        policy::DEFAULT_CANARY_SUBJECT
    );
}

#[test]
fn the_policy_built_from_the_file_is_the_default_policy() {
    let file = defaults();
    let policy = policy::StatusPolicy::new(
        duration(&file, "status.degraded_after"),
        duration(&file, "status.offline_after"),
    )
    .and_then(|p| {
        p.with_deadline_bounds(
            duration(&file, "status.deadline_min"),
            duration(&file, "status.deadline_max"),
        )
    })
    .and_then(|p| p.with_deregister_after(duration(&file, "status.deregister_after")))
    .expect("the file's thresholds are valid");
    assert_eq!(policy, policy::StatusPolicy::default());
}
