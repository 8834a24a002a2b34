use super::*;
use chrono::TimeDelta;
use std::collections::HashMap;

#[test]
fn env_file_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let none = env_file(dir.path(), |_| None).unwrap();
    assert!(none.is_none(), "no .env is no error");
    std::fs::write(
        dir.path().join(".env"),
        "DATABASE_URL=postgres://u@db/fed\n# comment\nLOG_LEVEL=warning\n",
    )
    .unwrap();
    let (path, vars) = env_file(dir.path(), |k| {
        (k == "LOG_LEVEL").then(|| "debug".to_owned())
    })
    .unwrap()
    .unwrap();
    assert_eq!(path, dir.path().join(".env"));
    assert_eq!(
        vars,
        [("DATABASE_URL".to_owned(), "postgres://u@db/fed".to_owned())],
        "LOG_LEVEL is set in the environment, which wins"
    );
    std::fs::write(dir.path().join("other.env"), "SERVICE_PORT=9000\n").unwrap();
    let (path, vars) = env_file(dir.path(), |k| {
        (k == ENV_FILE_VAR).then(|| "other.env".to_owned())
    })
    .unwrap()
    .unwrap();
    assert_eq!(path, dir.path().join("other.env"));
    assert_eq!(vars, [("SERVICE_PORT".to_owned(), "9000".to_owned())]);
    let err = env_file(dir.path(), |k| {
        (k == ENV_FILE_VAR).then(|| "missing.env".to_owned())
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains(ENV_FILE_VAR), "{err:#}");
}

#[test]
fn log_level_takes_the_originals_names_and_refuses_nonsense() {
    assert_eq!(
        load(&[("LOG_LEVEL", "warning")]).unwrap().log_level,
        "warning"
    );
    let err = load(&[("LOG_LEVEL", "verbose")]).unwrap_err();
    assert!(format!("{err:#}").contains("LOG_LEVEL"), "{err:#}");
}

fn load(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    Settings::load_from(dir.path(), |k| env.get(k).cloned())
}

#[test]
fn defaults_are_the_embedded_service() {
    let s = load(&[]).unwrap();
    assert_eq!(s.host.to_string(), "127.0.0.1");
    assert_eq!(s.port, 8001);
    assert_eq!(s.database_url, None);
    assert!(s.nats.is_none());
    assert_eq!(s.policy().offline_after(), TimeDelta::seconds(90));
    assert_eq!(s.policy().degraded_after(), Some(TimeDelta::seconds(60)));
    assert_eq!(s.sweep_interval, Duration::from_secs(1));
    assert_eq!(s.projects_file, PathBuf::from("config/projects.yaml"));
    assert_eq!(s.log_format, LogFormat::Pretty);
}

#[test]
fn deadline_bounds_are_read_and_checked() {
    let secs = TimeDelta::seconds;
    let s = load(&[]).unwrap();
    assert_eq!(s.policy().thresholds(Some(secs(1))).1, secs(5));
    let s = load(&[
        ("FEDERATION_DEADLINE_MIN", "20s"),
        ("FEDERATION_DEADLINE_MAX", "1m"),
    ])
    .unwrap();
    assert_eq!(s.policy().thresholds(Some(secs(5))).1, secs(20));
    assert_eq!(s.policy().thresholds(Some(secs(600))).1, secs(60));
    let e = load(&[("FEDERATION_DEADLINE_MAX", "1s")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("status.deadline_max"), "{e}");
    assert_eq!(s.policy().deregister_after(), None, "off by default");
    let s = load(&[("FEDERATION_DEREGISTER_AFTER", "72h")]).unwrap();
    assert_eq!(s.policy().deregister_after(), Some(TimeDelta::hours(72)));
}

#[test]
fn environment_overrides_files() {
    let s = load(&[
        ("SERVICE_PORT", "9000"),
        ("DATABASE_URL", "postgres://u:secret@db/fed"),
        ("NATS_URL", "nats://127.0.0.1:4222"),
        ("FEDERATION_OFFLINE_AFTER", "3s"),
        ("FEDERATION_DEGRADED_AFTER", "2"),
        ("LOG_FORMAT", "json"),
    ])
    .unwrap();
    assert_eq!(s.port, 9000);
    assert_eq!(s.policy().offline_after(), TimeDelta::seconds(3));
    assert_eq!(s.policy().degraded_after(), Some(TimeDelta::seconds(2)));
    assert_eq!(s.nats.as_ref().unwrap().presence_subject, "hub.presence");
    assert_eq!(s.log_format, LogFormat::Json);
    let shown = format!("{s:?}");
    assert!(!shown.contains("secret"), "{shown}");
}

#[test]
fn local_toml_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/local.toml"),
        "[service]\nport = 8100\n",
    )
    .unwrap();
    let s = Settings::load_from(dir.path(), |_| None).unwrap();
    assert_eq!(s.port, 8100);
    let s =
        Settings::load_from(dir.path(), |k| (k == "SERVICE_PORT").then(|| "8200".into())).unwrap();
    assert_eq!(s.port, 8200);
}

#[test]
fn the_originals_stale_threshold_is_an_alias() {
    let s = load(&[("HEARTBEAT_STALE_THRESHOLD_SECONDS", "120")]).unwrap();
    assert_eq!(s.policy().offline_after(), TimeDelta::seconds(120));
    let s = load(&[
        ("HEARTBEAT_STALE_THRESHOLD_SECONDS", "120"),
        ("FEDERATION_OFFLINE_AFTER", "100s"),
    ])
    .unwrap();
    assert_eq!(s.policy().offline_after(), TimeDelta::seconds(100));
    // Alone and below the default degraded threshold: degraded follows, warned.
    let s = load(&[("HEARTBEAT_STALE_THRESHOLD_SECONDS", "30")]).unwrap();
    assert_eq!(s.policy().offline_after(), TimeDelta::seconds(30));
    assert_eq!(s.policy().degraded_after(), Some(TimeDelta::seconds(20)));
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    // The original's check interval sets the sweep, bounded.
    let s = load(&[("HEARTBEAT_STALE_CHECK_INTERVAL_SECONDS", "60")]).unwrap();
    assert_eq!(s.sweep_interval, Duration::from_secs(2));
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
}

#[test]
fn bad_values_name_the_variable() {
    let cases = [
        ("SERVICE_PORT", "eighty", "SERVICE_PORT"),
        ("SERVICE_HOST", "localhost:1", "SERVICE_HOST"),
        (
            "FEDERATION_OFFLINE_AFTER",
            "soon",
            "FEDERATION_OFFLINE_AFTER",
        ),
        (
            "FEDERATION_DEGRADED_AFTER",
            "2m",
            "FEDERATION_DEGRADED_AFTER",
        ),
        (
            "FEDERATION_ALLOW_ANONYMOUS",
            "perhaps",
            "FEDERATION_ALLOW_ANONYMOUS",
        ),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        (
            "FEDERATION_SWEEP_INTERVAL",
            "0",
            "FEDERATION_SWEEP_INTERVAL",
        ),
    ];
    for (var, value, named) in cases {
        let err = load(&[(var, value)]).unwrap_err().to_string();
        assert!(err.contains(named), "{var}={value}: {err}");
    }
    let err = load(&[
        ("NATS_URL", "http://x"),
        ("FEDERATION_PRESENCE_SUBJECT", "hub.*"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("NATS_URL"), "{err}");
}

#[test]
fn nats_tls_files_are_read_and_a_half_client_pair_is_refused() {
    let s = load(&[
        ("NATS_URL", "tls://nats.example:4222"),
        ("NATS_TLS_CA_FILE", "/etc/fed/ca.pem"),
        ("NATS_TLS_CERT_FILE", "/etc/fed/client.pem"),
        ("NATS_TLS_KEY_FILE", "/etc/fed/client.key"),
    ])
    .unwrap();
    let nats = s.nats.unwrap();
    assert_eq!(nats.tls_ca_file, Some(PathBuf::from("/etc/fed/ca.pem")));
    assert_eq!(
        nats.tls_client,
        Some((
            PathBuf::from("/etc/fed/client.pem"),
            PathBuf::from("/etc/fed/client.key")
        ))
    );
    let err = load(&[
        ("NATS_URL", "tls://nats.example:4222"),
        ("NATS_TLS_CERT_FILE", "/etc/fed/client.pem"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("NATS_TLS_KEY_FILE"), "{err}");
}

#[test]
fn durations() {
    let d = |s| parse_duration(s, "k").unwrap();
    assert_eq!(d("90"), Duration::from_secs(90));
    assert_eq!(d("90s"), Duration::from_secs(90));
    assert_eq!(d("1m"), Duration::from_secs(60));
    assert_eq!(d("500ms"), Duration::from_millis(500));
    assert_eq!(d("1.5s"), Duration::from_millis(1500));
    assert_eq!(d("0"), Duration::ZERO);
    assert_eq!(d("90d"), Duration::from_secs(90 * 86400));
    for bad in ["", "-1", "1w", "s", "1e9h", "366d"] {
        assert!(parse_duration(bad, "k").is_err(), "{bad}");
    }
}

#[test]
fn urls_are_redacted() {
    assert_eq!(
        redact_url("postgres://u:pw@h:5432/db"),
        "postgres://u:***@h:5432/db"
    );
    assert_eq!(redact_url("nats://token@h:4222"), "nats://***@h:4222");
    assert_eq!(redact_url("nats://h:4222"), "nats://h:4222");
    assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    // The query form the settings' own masking used to miss.
    let shown = redact_url("postgresql://u:p@h/db?password=x1&sslpassword=x2");
    assert_eq!(
        shown,
        "postgresql://u:***@h/db?password=***&sslpassword=***"
    );
}

#[test]
fn canaries_stay_outside_the_presence_subject() {
    let nats = load(&[("NATS_URL", "nats://x:4222")])
        .unwrap()
        .nats
        .unwrap();
    assert_eq!(nats.canary_subject, "hub.federation.canary");
    for inside in ["hub.presence", "hub.presence.canary"] {
        let err = load(&[
            ("NATS_URL", "nats://x:4222"),
            ("FEDERATION_CANARY_SUBJECT", inside),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("FEDERATION_CANARY_SUBJECT"), "{inside}: {err}");
    }
}
