//! A client, a publisher or an operator of the Python original notices nothing.
//!
//! The original's own test suite (`federation/tests` of PerformanceSuite/CommandCenter:
//! 5 catalog-service tests, 14 config-validation tests, 8 heartbeat-worker tests) is
//! re-expressed here against the real service: over HTTP, over a real nats-server, and
//! through the catalog file with the real binary. Then each point of its external
//! contract beyond its tests: FastAPI's error bodies, 201 on every registration, JSON
//! without a Content-Type, 307 for a trailing slash, its metric names (evaluated by a
//! real Prometheus with its dashboard's queries), its settings and its log lines.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::binary::Binary;
use crate::helpers::{eventually, Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY};

const OFFLINE_AFTER: &str = "2s";

/// A service on SQLite and the shared nats-server, offline after 2 s of silence.
async fn service() -> (TestConfig, TestApp, async_nats::Client) {
    let nats_url = federation_testkit::shared_nats_url().expect("test nats-server");
    let config = TestConfig::with_nats(Backend::sqlite, &nats_url, "1s", OFFLINE_AFTER);
    let app = config.start().await;
    app.wait_bus_healthy().await;
    let nats = crate::helpers::nats_client(&nats_url, async_nats::ConnectOptions::new()).await;
    (config, app, nats)
}

/// The original's heartbeat, as its tests build it.
fn heartbeat(slug: &str) -> Value {
    json!({
        "project_slug": slug,
        "mesh_namespace": format!("hub.{}", slug.to_ascii_lowercase()),
        "timestamp": Utc::now().to_rfc3339(),
        "hub_url": "http://localhost:3000",
    })
}

async fn publish(nats: &async_nats::Client, subject_slug: &str, body: Vec<u8>) {
    nats.publish(format!("hub.presence.{subject_slug}"), body.into())
        .await
        .unwrap();
    nats.flush().await.unwrap();
}

/// Publishes the heartbeat every 100 ms until the project is `status`.
async fn beat_until(app: &TestApp, nats: &async_nats::Client, slug: &str, status: &str) {
    eventually(Duration::from_secs(10), || async {
        publish(nats, slug, serde_json::to_vec(&heartbeat(slug)).unwrap()).await;
        match app.status_of(slug).await {
            now if now == status => Ok(()),
            now => Err(format!("{slug} is {now}")),
        }
    })
    .await;
}

fn registration(slug: &str) -> Value {
    json!({
        "slug": slug, "name": slug, "hub_url": "http://localhost:3000",
        "mesh_namespace": format!("hub.{slug}"), "tags": [],
    })
}

async fn list(app: &TestApp, query: &str) -> Vec<String> {
    let body = app.read_json(&format!("/api/fed/projects{query}")).await;
    body.as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_owned())
        .collect()
}

/// A heartbeat the service heard but did not record, for `slug` (its `error` count on the
/// original's metric).
async fn refused_beats(app: &TestApp, slug: &str) -> f64 {
    let text = app.metrics().await;
    crate::helpers::metric_value(
        &text,
        &format!(r#"federation_heartbeat_messages_total{{project_slug="{slug}",status="error"}}"#),
    )
    .unwrap_or(0.0)
}

// ---- test_catalog_service.py and test_heartbeat_worker.py, over HTTP and NATS ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_catalog_and_worker_tests_hold() {
    let (_config, app, nats) = service().await;

    // test_register_project_creates_new: 201, offline, no heartbeat yet.
    let created = app.register(&registration("commandcenter")).await;
    assert_eq!(created.status(), 201);
    let p: Value = created.json().await.unwrap();
    assert_eq!(
        (
            p["slug"].as_str(),
            p["status"].as_str(),
            &p["last_heartbeat_at"]
        ),
        (Some("commandcenter"), Some("offline"), &Value::Null)
    );
    for slug in ["veria", "other"] {
        assert_eq!(app.register(&registration(slug)).await.status(), 201);
    }

    // test_heartbeat_worker_receives_valid_message / test_heartbeat_updates_status.
    beat_until(&app, &nats, "commandcenter", "online").await;
    assert!(app.project("commandcenter").await["last_heartbeat_at"].is_string());

    // test_heartbeat_worker_rejects_invalid_json and _rejects_invalid_schema: dropped,
    // counted, nothing changes (veria stays offline).
    publish(&nats, "veria", b"not valid json{".to_vec()).await;
    publish(
        &nats,
        "veria",
        br#"{"mesh_namespace":"hub.veria"}"#.to_vec(),
    )
    .await;
    publish(&nats, "veria", br#"{"project_slug":42}"#.to_vec()).await;
    eventually(Duration::from_secs(5), || async {
        match refused_beats(&app, "veria").await {
            n if n >= 3.0 => Ok(()),
            n => Err(format!(
                "{n} refused heartbeats counted for veria:\n{}",
                app.metrics()
                    .await
                    .lines()
                    .filter(|l| l.contains("veria") || l.contains("heartbeats_received"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )),
        }
    })
    .await;
    assert_eq!(app.status_of("veria").await, "offline");

    // test_heartbeat_worker_validates_namespace_matches_slug: a heartbeat that claims
    // another project's namespace is dropped.
    let mut foreign = heartbeat("veria");
    foreign["mesh_namespace"] = json!("hub.different-project");
    publish(&nats, "veria", serde_json::to_vec(&foreign).unwrap()).await;
    eventually(Duration::from_secs(5), || async {
        match refused_beats(&app, "veria").await {
            n if n >= 4.0 => Ok(()),
            n => Err(format!("{n} refused heartbeats counted for veria")),
        }
    })
    .await;
    assert_eq!(app.status_of("veria").await, "offline");
    let text = app.metrics().await;
    assert!(
        crate::helpers::metric_value(
            &text,
            r#"federation_heartbeats_received_total{outcome="bad_namespace"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );

    // test_heartbeat_worker_handles_unknown_project / test_update_heartbeat_missing_project:
    // dropped and counted; nothing registered; over HTTP, the original's words.
    publish(
        &nats,
        "ghost",
        serde_json::to_vec(&heartbeat("ghost")).unwrap(),
    )
    .await;
    let r = app
        .post("/api/fed/projects/ghost/heartbeat")
        .header("X-API-Key", WRITE_KEY)
        .json(&heartbeat("ghost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["detail"], "Project 'ghost' not found in catalog");
    let r = app
        .get("/api/fed/projects/ghost")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // test_heartbeat_worker_normalizes_project_slug: `CommandCenter` beats for
    // commandcenter.
    beat_until(&app, &nats, "veria", "online").await;
    publish(
        &nats,
        "other",
        serde_json::to_vec(&json!({
            "project_slug": "Other", "mesh_namespace": "hub.other",
            "timestamp": Utc::now().to_rfc3339(), "hub_url": "http://localhost:3000",
        }))
        .unwrap(),
    )
    .await;
    app.wait_for_status("other", "online", Duration::from_secs(10))
        .await;

    // test_heartbeat_worker_multiple_projects and test_get_projects_filter_by_status.
    assert_eq!(
        list(&app, "?status=online").await,
        ["commandcenter", "other", "veria"]
    );

    // test_mark_stale_projects / test_stale_checker_marks_projects_offline: silence.
    for slug in ["commandcenter", "other", "veria"] {
        app.wait_for_status(slug, "offline", Duration::from_secs(15))
            .await;
    }
    assert!(list(&app, "?status=online").await.is_empty());
    assert_eq!(list(&app, "?status=offline").await.len(), 3);
    app.stop().await;
}

// ---- test_config_validation.py, through the real binary --------------------------------

/// `federation catalog apply --dry-run FILE` on the (migrated, empty) SQLite database in
/// `dir`: its exit status and output.
async fn apply_dry_run(dir: &std::path::Path, yaml: &str) -> (bool, String) {
    std::fs::write(dir.join("projects.yaml"), yaml).unwrap();
    let run = Binary::spawn(
        dir,
        &["catalog", "apply", "--dry-run", "projects.yaml"],
        &sqlite_env(dir),
    );
    let (status, out) = run.finish(Duration::from_secs(60)).await;
    (status.success(), out)
}

fn sqlite_env(dir: &std::path::Path) -> HashMap<String, String> {
    HashMap::from([(
        "DATABASE_URL".to_owned(),
        format!("sqlite://{}", dir.join("f.db").display()),
    )])
}

fn entry(fields: &str) -> String {
    format!(
        "projects:\n  - slug: commandcenter\n    name: CommandCenter\n    hub_url: http://localhost:8000\n    mesh_namespace: hub.commandcenter\n{fields}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_config_validation_tests_hold() {
    // (test name, file, accepted?, words the refusal must carry)
    let cases: Vec<(&str, String, bool, &str)> = vec![
        ("project_config_valid", entry("    tags: [python, fastapi]\n    allow_fanout: []\n"), true, ""),
        (
            "project_config_missing_required_field",
            "projects:\n  - slug: commandcenter\n    hub_url: http://localhost:8000\n".into(),
            false,
            "name",
        ),
        (
            "project_config_invalid_slug",
            "projects:\n  - slug: Invalid Slug!\n    name: X\n    hub_url: http://x\n".into(),
            false,
            "alphanumeric",
        ),
        (
            "project_config_slug_normalized_to_lowercase",
            "projects:\n  - slug: CommandCenter\n    name: C\n    hub_url: http://localhost:8000\n    mesh_namespace: hub.commandcenter\n".into(),
            true,
            "",
        ),
        (
            "project_config_invalid_hub_url",
            "projects:\n  - slug: commandcenter\n    name: C\n    hub_url: not-a-url\n".into(),
            false,
            "hub_url",
        ),
        (
            "project_config_mesh_namespace_mismatch",
            "projects:\n  - slug: commandcenter\n    name: C\n    hub_url: http://x\n    mesh_namespace: hub.different-project\n".into(),
            false,
            "mesh_namespace must be 'hub.commandcenter', got 'hub.different-project'",
        ),
        (
            "project_config_invalid_mesh_namespace_format",
            "projects:\n  - slug: commandcenter\n    name: C\n    hub_url: http://x\n    mesh_namespace: invalid.namespace\n".into(),
            false,
            "mesh_namespace must be 'hub.commandcenter', got 'invalid.namespace'",
        ),
        (
            "project_config_empty_tag_rejected",
            entry("    tags: [python, '']\n"),
            false,
            "non-empty",
        ),
        (
            "project_config_invalid_allow_fanout_slug",
            entry("    allow_fanout: ['invalid slug!']\n"),
            false,
            "allow_fanout slug 'invalid slug!' must contain only alphanumeric, dash, or underscore",
        ),
        (
            "projects_config_valid",
            "projects:\n  - {slug: a, name: A, hub_url: 'http://a', mesh_namespace: hub.a}\n  - {slug: b, name: B, hub_url: 'http://b', mesh_namespace: hub.b}\n".into(),
            true,
            "",
        ),
        ("projects_config_empty_list_allowed", "projects: []\n".into(), true, ""),
        (
            "projects_config_duplicate_slugs_rejected",
            "projects:\n  - {slug: a, name: A, hub_url: 'http://a'}\n  - {slug: a, name: A2, hub_url: 'http://a'}\n".into(),
            false,
            "duplicate",
        ),
        (
            "projects_config_invalid_nested_project",
            "projects:\n  - {slug: a, name: A, hub_url: 'http://a'}\n  - {slug: 'b!', name: B, hub_url: 'http://b'}\n".into(),
            false,
            "projects[1]",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (migrated, out) = Binary::spawn(dir.path(), &["migrate"], &sqlite_env(dir.path()))
        .finish(Duration::from_secs(60))
        .await;
    assert!(migrated.success(), "{out}");
    let mut failures = Vec::new();
    for (name, yaml, accepted, words) in cases {
        let (ok, out) = apply_dry_run(dir.path(), &yaml).await;
        if ok != accepted || (!accepted && !out.contains(words)) {
            failures.push(format!("test_{name}: exit ok={ok}, output:\n{out}"));
        }
        if name.ends_with("normalized_to_lowercase") && !out.contains("commandcenter") {
            failures.push(format!(
                "test_{name}: the slug is not shown lowercased:\n{out}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// test_projects_config_defaults: a project given without tags and allow_fanout has
/// none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_config_defaults_hold() {
    let config = TestConfig::new(Backend::sqlite);
    config.write_projects(
        "projects:\n  - {slug: minimal, name: Minimal, hub_url: 'http://localhost:3000', mesh_namespace: hub.minimal}\n",
    );
    let app = config.start().await;
    let p = app.project("minimal").await;
    assert_eq!(p["tags"], json!([]));
    assert_eq!(p["mesh_namespace"], "hub.minimal");
    assert!(p["metadata"].get("allow_fanout").is_none(), "{p}");
    app.stop().await;
}

// ---- the HTTP contract beyond the original's tests ---------------------------------------

/// A client that sees redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastapi_clients_read_detail_201_and_redirects() {
    let config = TestConfig::new(Backend::sqlite);
    let app = config.start().await;
    let client = no_redirects();

    // 201 on every registration; X-Federation-Created and Location tell them apart.
    let body = registration("commandcenter");
    for created in ["true", "false"] {
        let r = app.register(&body).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-federation-created"], created);
        assert_eq!(r.headers()["location"], "/api/fed/projects/commandcenter");
        let p: Value = r.json().await.unwrap();
        // Pydantic v2's times: 6 fraction digits and Z.
        for field in ["created_at", "updated_at"] {
            let t = p[field].as_str().unwrap();
            let fraction = t.rsplit_once('.').map(|(_, f)| f).unwrap_or_default();
            assert!(
                fraction.len() == 7 && fraction.ends_with('Z'),
                "{field}: {t}"
            );
        }
    }
    // A JSON body without a Content-Type is read as JSON, as FastAPI read it.
    let r = client
        .post(app.url("/api/fed/projects"))
        .header("X-API-Key", WRITE_KEY)
        .body(registration("nocontenttype").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client
        .post(app.url("/api/fed/projects"))
        .header("X-API-Key", WRITE_KEY)
        .header("content-type", "text/plain")
        .body(registration("plain").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // FastAPI's detail: a string, with the original's words.
    let detail = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let auth = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = r.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{body}");
        (status, body["detail"].clone(), auth)
    };
    let r = client
        .get(app.url("/api/fed/projects"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        detail(r).await,
        (401, json!("API key required"), Some("ApiKey".to_owned()))
    );
    let r = client
        .get(app.url("/api/fed/projects"))
        .header("X-API-Key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(detail(r).await, (403, json!("Invalid API key"), None));
    let r = client
        .get(app.url("/api/fed/projects/nothing"))
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        detail(r).await,
        (404, json!("Project 'nothing' not found"), None)
    );
    let r = client.get(app.url("/no/such/route")).send().await.unwrap();
    assert_eq!(detail(r).await, (404, json!("Not Found"), None));
    let r = client.put(app.url("/health")).send().await.unwrap();
    assert_eq!(detail(r).await, (405, json!("Method Not Allowed"), None));
    // A validation failure: a list of {loc, msg, type}.
    let mut bad = registration("bad");
    bad["tags"] = json!(["ok", 7]);
    let r = app.register(&bad).await;
    let (status, detail, _) = detail(r).await;
    assert_eq!(status, 422);
    assert_eq!(detail[0]["loc"], json!(["body", "tags", 1]), "{detail}");
    assert_eq!(detail[0]["type"], "value_error");
    let r = app
        .register(&json!({"name": "x", "hub_url": "http://x"}))
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["detail"][0],
        json!({"loc": ["body", "slug"], "msg": "is required", "type": "missing"})
    );

    // Trailing slashes: 307 to the path without, query kept, before any key is asked.
    for (path, to) in [
        ("/health/", "/health"),
        ("/api/fed/projects/", "/api/fed/projects"),
        (
            "/api/fed/projects/?status=online",
            "/api/fed/projects?status=online",
        ),
        (
            "/api/fed/projects/commandcenter/",
            "/api/fed/projects/commandcenter",
        ),
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 307, "{path}");
        assert_eq!(r.headers()["location"], to, "{path}");
    }
    // A POST is redirected with 307 too, so the client repeats it with its body.
    let r = client
        .post(app.url("/api/fed/projects/"))
        .json(&registration("slashed"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    // The original served /metrics/ (a mounted app) and /redoc.
    let r = client.get(app.url("/metrics/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("federation_project_catalog_total"));
    let r = client.get(app.url("/redoc")).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    app.stop().await;
}

// ---- metrics: the original's names, and its dashboard's queries in a real Prometheus ----

/// The queries of the original's Grafana dashboard
/// (`federation/monitoring/grafana/dashboards/federation-overview.json`).
const DASHBOARD_QUERIES: [&str; 9] = [
    "heartbeat_total",
    r#"sum(catalog_projects_by_status{status="online"})"#,
    r#"sum(catalog_projects_by_status{status="offline"})"#,
    "stale_projects_total",
    "rate(heartbeat_total[1m]) * 60",
    "rate(nats_publish_total[1m]) * 60",
    "catalog_projects_by_status",
    "rate(catalog_register_total[5m]) * 60",
    "rate(catalog_lookup_total[5m]) * 60",
];

/// The series of the original's `app/utils/metrics.py`, as queries with its labels.
const ORIGINAL_SERIES: [&str; 11] = [
    r#"federation_heartbeat_messages_total{project_slug="commandcenter",status="success"}"#,
    "federation_heartbeat_processing_duration_seconds_bucket",
    r#"federation_project_catalog_total{status="ONLINE"}"#,
    r#"federation_project_catalog_last_updated_timestamp{project_slug="commandcenter"}"#,
    r#"federation_stale_checker_runs_total{status="success"}"#,
    "federation_stale_checker_projects_marked_offline_total",
    "federation_stale_checker_duration_seconds_bucket",
    "federation_nats_connection_status",
    r#"federation_nats_messages_total{subject="hub.presence.commandcenter",status="success"}"#,
    "federation_nats_message_processing_duration_seconds_bucket",
    r#"federation_service_info{title="Federation Service"}"#,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_dashboard_queries_and_metric_names_have_series_in_prometheus() {
    let config = TestConfig::new(Backend::sqlite);
    let app = config.start().await;
    assert_eq!(
        app.register(&registration("commandcenter")).await.status(),
        201
    );
    app.beat("commandcenter", "0.9.0").await;
    let target = app.address.trim_start_matches("http://").to_owned();
    let prometheus = federation_testkit::PrometheusServer::start(&format!(
        "  - job_name: federation\n    static_configs:\n      - targets: ['{target}']\n"
    ))
    .expect("prometheus starts");
    let client = reqwest::Client::new();
    let query = |q: &'static str| {
        let client = client.clone();
        let url = format!("{}/api/v1/query", prometheus.url());
        async move {
            let r: Value = client
                .get(&url)
                .query(&[("query", q)])
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            match r["data"]["result"].as_array() {
                Some(series) if !series.is_empty() => Ok(()),
                _ => Err(format!("{q}: {r}")),
            }
        }
    };
    for q in DASHBOARD_QUERIES.iter().chain(&ORIGINAL_SERIES) {
        // Keep the counters moving so every rate has two samples to compare.
        app.get("/api/fed/projects/commandcenter")
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .unwrap();
        eventually(Duration::from_secs(60), || query(q)).await;
    }
    drop(prometheus);
    app.stop().await;
}

// ---- settings and logs of the original, on the real binary -------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_settings_start_and_its_warnings_are_logged() {
    let db = federation_testkit::postgres_database().expect("test PostgreSQL");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("projects.yaml"),
        "version: 1\nprojects:\n  - {slug: alpha, name: Alpha, hub_url: 'http://a', mesh_namespace: hub.alpha}\n",
    )
    .unwrap();
    // The original's URL form with asyncpg's parameters; names in any case, as
    // pydantic-settings read them; the stale threshold alone (below the default
    // degraded threshold); the check interval of the original's default.
    let url = db.url.replacen("postgres://", "postgresql+asyncpg://", 1);
    let port = federation_testkit::free_port();
    let sep = if url.contains('?') { '&' } else { '?' };
    let env = HashMap::from(
        [
            (
                "database_url",
                format!("{url}{sep}ssl=disable&prepared_statement_cache_size=0"),
            ),
            ("log_level", "warning".to_owned()),
            ("Service_Port", port.to_string()),
            ("HEARTBEAT_STALE_THRESHOLD_SECONDS", "30".to_owned()),
            ("HEARTBEAT_STALE_CHECK_INTERVAL_SECONDS", "60".to_owned()),
            ("FEDERATION_API_KEYS", WRITE_KEY.to_owned()),
            ("FEDERATION_AUTO_MIGRATE", "true".to_owned()),
            ("FEDERATION_PROJECTS_FILE", "projects.yaml".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let service = Binary::spawn(dir.path(), &["serve"], &env);
    service
        .wait_for("prepared_statement_cache_size", Duration::from_secs(30))
        .await;
    // (At warning level the "listening" line is not logged: the port was chosen.)
    let address = format!("127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(30), || async {
        match client.get(format!("http://{address}/ready")).send().await {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(format!("/ready {}", r.status())),
            Err(e) => Err(format!("{e}: {}", service.output())),
        }
    })
    .await;
    // The catalog file's project, loaded despite the unknown top-level key.
    let r = client
        .get(format!("http://{address}/api/fed/projects/alpha"))
        .header("X-API-Key", WRITE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The two warnings the original logged.
    let r = client
        .get(format!("http://{address}/api/fed/projects"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(format!("http://{address}/api/fed/projects/ghost/heartbeat"))
        .header("X-API-Key", WRITE_KEY)
        .json(&heartbeat("ghost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (_, out) = service.stop().await;
    for words in [
        // asyncpg's parameters: translated or named as ignored
        "ignored=prepared_statement_cache_size",
        // the stale threshold alone: degraded follows it
        "projects are degraded after 20s instead",
        // the original's check interval: bounded
        "HEARTBEAT_STALE_CHECK_INTERVAL_SECONDS=60 is taken as 2s",
        // projects.yaml's unknown key
        "keys=version",
        "API key missing from request",
        "Heartbeat for unknown project 'ghost'",
    ] {
        assert!(out.contains(words), "{words:?} not in:\n{out}");
    }
    // LOG_LEVEL=warning: no info lines.
    assert!(!out.contains(" INFO "), "{out}");
}
