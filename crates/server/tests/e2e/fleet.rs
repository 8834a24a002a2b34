//! Fleet operations end to end, on PostgreSQL and SQLite, over HTTP heartbeats: projects
//! judged by their own heartbeat intervals.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::{eventually, project, Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY};

/// A project beating every second is offline after 3 intervals (the floor is lowered
/// to 2 s so that it applies), far below the service-wide 20 s / 30 s.
const OFFLINE_AFTER_1S: Duration = Duration::from_secs(3);
const SWEEP: Duration = Duration::from_millis(100);

fn config(backend_of: impl FnOnce(&std::path::Path) -> Backend) -> TestConfig {
    let mut config = TestConfig::new(backend_of);
    config
        .set("FEDERATION_DEGRADED_AFTER", "20s")
        .set("FEDERATION_OFFLINE_AFTER", "30s")
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_DEADLINE_MIN", "2s");
    config
}

async fn beat(app: &TestApp, slug: &str, body: Value) {
    let resp = app
        .post(&format!("/api/fed/projects/{slug}/heartbeat"))
        .header("X-API-Key", WRITE_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "heartbeat for {slug}");
}

async fn patch(app: &TestApp, slug: &str, body: Value) -> Value {
    let resp = app
        .client
        .patch(app.url(&format!("/api/fed/projects/{slug}")))
        .header("X-API-Key", WRITE_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "PATCH {slug} {body}");
    resp.json().await.unwrap()
}

async fn latest_transition(app: &TestApp, slug: &str) -> Value {
    let h: Value = app
        .get(&format!("/api/fed/projects/{slug}/history?limit=1"))
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    h.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null)
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

async fn each_project_is_judged_by_its_own_interval(
    backend_of: impl FnOnce(&std::path::Path) -> Backend,
) {
    let app = config(backend_of).start().await;
    // `registered` declares 1 s at registration, `declared` in its heartbeats, `plain` never.
    let mut registered = project("registered");
    registered["heartbeat_interval"] = json!(1);
    let resp = app.register(&registered).await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["heartbeat_interval"], 1, "{body}");
    for slug in ["declared", "plain"] {
        assert_eq!(app.register(&project(slug)).await.status(), 201);
    }
    let mut bad = project("bad");
    bad["heartbeat_interval"] = json!(0);
    let resp = app.register(&bad).await;
    assert_eq!(resp.status(), 422);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["field"], "heartbeat_interval", "{err}");

    beat(&app, "registered", json!({"project_slug": "registered"})).await;
    beat(
        &app,
        "declared",
        json!({"project_slug": "declared", "interval": 1}),
    )
    .await;
    beat(&app, "plain", json!({"project_slug": "plain"})).await;
    for slug in ["registered", "declared", "plain"] {
        // Online first (the heartbeat's transition is written by the next tick).
        eventually(Duration::from_secs(5), || async {
            match latest_transition(&app, slug).await["to"].as_str() {
                Some("online" | "degraded" | "offline") => Ok(()),
                _ => Err(format!("{slug} has no transition yet")),
            }
        })
        .await;
    }
    for slug in ["registered", "declared"] {
        app.wait_for_status(slug, "offline", Duration::from_secs(10))
            .await;
        let offline = latest_transition(&app, slug).await;
        assert_eq!(offline["reason"], "heartbeat_timeout", "{offline}");
        let silence = (time(&offline["at"]) - time(&offline["last_heartbeat_at"]))
            .to_std()
            .unwrap();
        // Within its own threshold + one tick (and slack for two busy cores).
        assert!(
            silence >= OFFLINE_AFTER_1S,
            "{slug} offline after {silence:?}"
        );
        assert!(
            silence <= OFFLINE_AFTER_1S + SWEEP + Duration::from_millis(400),
            "{slug} offline only after {silence:?}"
        );
    }
    assert_eq!(
        app.status_of("plain").await,
        "online",
        "30 s thresholds still hold"
    );

    // A patch removes the interval: back on the service's thresholds.
    let p = patch(&app, "registered", json!({"heartbeat_interval": null})).await;
    assert_eq!(p["heartbeat_interval"], Value::Null, "{p}");
    beat(&app, "registered", json!({"project_slug": "registered"})).await;
    app.wait_for_status("registered", "online", Duration::from_secs(5))
        .await;
    let p = patch(&app, "plain", json!({"heartbeat_interval": 30})).await;
    assert_eq!(p["heartbeat_interval"], 30, "{p}");
    // Registering again without one keeps it.
    assert_eq!(app.register(&project("plain")).await.status(), 200);
    assert_eq!(app.project("plain").await["heartbeat_interval"], 30);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_project_is_judged_by_its_own_interval_on_postgres() {
    each_project_is_judged_by_its_own_interval(|_| Backend::postgres()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_project_is_judged_by_its_own_interval_on_sqlite() {
    each_project_is_judged_by_its_own_interval(Backend::sqlite).await;
}
