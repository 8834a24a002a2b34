//! Objectives made over REST through the running service (issue 25 item 8): stored,
//! kept across a restart, on the board and in `/metrics` beside the catalog file's,
//! gone from both when deleted; the file wins for its names.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{eventually, Backend, TestApp, TestConfig, WRITE_KEY};

async fn put(app: &TestApp, name: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/fed/slos/{name}")))
        .header("X-API-Key", WRITE_KEY)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Waits until `/metrics` does (or does not) show `series`.
async fn metrics_show(app: &TestApp, series: &str, shown: bool) {
    eventually(Duration::from_secs(45), || async {
        let text = app.metrics().await;
        if text.contains(series) == shown {
            Ok(())
        } else {
            Err(format!("{series} shown: {}", !shown))
        }
    })
    .await;
}

async fn rest_objectives_join_the_files(mut config: TestConfig) {
    config.set("FEDERATION_SWEEP_INTERVAL", "100ms");
    config.write_projects(
        "projects:\n  - slug: hub\n    name: Hub\n    hub_url: http://hub.example.com\n    tags: [production]\n\
         slos:\n  - name: prod\n    tag: production\n    objective: 99.9\n",
    );
    let app = config.start().await;
    let r = put(
        &app,
        "hub",
        &json!({"project": "hub", "objective": 99, "window": "7d"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = put(&app, "prod", &json!({"tag": "edge", "objective": 99})).await;
    assert_eq!(r.status(), 409, "the file wins for prod");
    let series = r#"federation_slo_objective_ratio{kind="project",name="hub",window="7d"} 0.99"#;
    metrics_show(&app, series, true).await;
    let slos = eventually(Duration::from_secs(45), || async {
        let r = app.read_json("/api/fed/slos").await;
        let ready = r
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|s| s["computed_at"].is_string()));
        if ready {
            Ok(r)
        } else {
            Err(r.to_string())
        }
    })
    .await;
    assert_eq!(
        (slos[0]["name"].as_str(), slos[0]["source"].as_str()),
        (Some("prod"), Some("file"))
    );
    assert_eq!(
        (slos[1]["name"].as_str(), slos[1]["source"].as_str()),
        (Some("hub"), Some("api"))
    );
    app.stop().await;

    // Stored: a restart keeps it.
    let app = config.start().await;
    let hub = app.read_json("/api/fed/slos/hub").await;
    assert_eq!(hub["objective_percent"], 99.0, "{hub}");
    let r = app
        .client
        .delete(app.url("/api/fed/slos/hub"))
        .header("X-API-Key", WRITE_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 204);
    let slos = app.read_json("/api/fed/slos").await;
    assert_eq!(slos.as_array().map(Vec::len), Some(1), "{slos}");
    metrics_show(
        &app,
        r#"federation_slo_objective_ratio{kind="tag",name="production",window="30d"} 0.999"#,
        true,
    )
    .await;
    metrics_show(&app, r#"kind="project",name="hub""#, false).await;
    app.stop().await;
}

on_both_backends!(slos_rest, rest_objectives_join_the_files);
