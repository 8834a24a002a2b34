//! Per-project heartbeat keys over HTTP: made and shown once by a write key, then the
//! project's HTTP heartbeats need that key or a write key; rotated, removed, kept across
//! a restart, on PostgreSQL and SQLite. (Two replicas: [`crate::replicas`].)

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{project, Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY};

/// `POST …/heartbeat-key` (`delete`: `DELETE`) with `key`: the status and the body.
async fn heartbeat_key(app: &TestApp, slug: &str, key: Option<&str>, delete: bool) -> (u16, Value) {
    let url = app.url(&format!("/api/fed/projects/{slug}/heartbeat-key"));
    let mut req = if delete {
        app.client.delete(url)
    } else {
        app.client.post(url)
    };
    if let Some(key) = key {
        req = req.header("X-API-Key", key);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A new key for `slug`, made with the write key.
async fn new_key(app: &TestApp, slug: &str) -> String {
    let (status, body) = heartbeat_key(app, slug, Some(WRITE_KEY), false).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["slug"], slug, "{body}");
    let key = body["heartbeat_key"].as_str().expect("the key").to_owned();
    assert!(key.starts_with("fhk_") && key.len() == 4 + 43, "{key}");
    key
}

/// An HTTP heartbeat for `slug` with `key`: the status and the error code, if any.
async fn beat(app: &TestApp, slug: &str, key: Option<&str>) -> (u16, String) {
    let mut req = app
        .post(&format!("/api/fed/projects/{slug}/heartbeat"))
        .json(&json!({ "project_slug": slug }));
    if let Some(key) = key {
        req = req.header("X-API-Key", key);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

async fn heartbeat_keys_guard_http_heartbeats(config: TestConfig) {
    let app = config.start().await;
    for slug in ["alpha", "beta"] {
        assert_eq!(app.register(&project(slug)).await.status(), 201);
    }
    assert_eq!(app.project("alpha").await["heartbeat_key"], false);

    // Making a key is a write: no key 401, a read key 403, an unknown slug 404.
    let (status, body) = heartbeat_key(&app, "alpha", None, false).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let (status, body) = heartbeat_key(&app, "alpha", Some(READ_KEY), false).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));
    let (status, body) = heartbeat_key(&app, "ghost", Some(WRITE_KEY), false).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    let (status, body) = heartbeat_key(&app, "ghost", Some(WRITE_KEY), true).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));

    let key = new_key(&app, "alpha").await;
    let beta_key = new_key(&app, "beta").await;
    let shown = app.project("alpha").await;
    assert_eq!(shown["heartbeat_key"], true, "{shown}");
    assert_eq!(shown["status"], "offline", "a key changes no status");
    let list = app
        .get("/api/fed/projects")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let history = serde_json::to_string(&app.history("alpha").await).unwrap();
    for text in [shown.to_string(), list, history] {
        assert!(
            !text.contains(&key[4..]),
            "the key is shown once only: {text}"
        );
    }

    // The project's heartbeats now need its key or a write key.
    assert_eq!(
        beat(&app, "alpha", None).await,
        (401, "heartbeat_key_required".into())
    );
    for wrong in ["fhk_not-the-key", beta_key.as_str(), READ_KEY] {
        assert_eq!(
            beat(&app, "alpha", Some(wrong)).await,
            (403, "heartbeat_key_invalid".into()),
            "{wrong}"
        );
    }
    let refused = app.federation.heartbeat_counters();
    assert_eq!(refused.get("key_required"), 1);
    assert_eq!(refused.get("key_invalid"), 3);
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("key_invalid") && l.ends_with(" 3")),
        "{metrics}"
    );
    assert_eq!(beat(&app, "alpha", Some(&key)).await, (202, String::new()));
    app.wait_for_status("alpha", "online", Duration::from_secs(10))
        .await;
    assert_eq!(
        beat(&app, "alpha", Some(WRITE_KEY)).await,
        (202, String::new())
    );
    // Its key is no key for another project (which follows the API keys).
    assert_eq!(
        beat(&app, "beta", Some(&key)).await,
        (403, "heartbeat_key_invalid".into())
    );

    // Rotation: the old key is refused, the new one taken; the status stays.
    let rotated = new_key(&app, "alpha").await;
    assert_ne!(rotated, key);
    assert_eq!(
        beat(&app, "alpha", Some(&key)).await,
        (403, "heartbeat_key_invalid".into())
    );
    assert_eq!(
        beat(&app, "alpha", Some(&rotated)).await,
        (202, String::new())
    );
    assert_eq!(app.status_of("alpha").await, "online");

    // Registering again (the API's upsert) keeps the key; so does a restart.
    assert_eq!(app.register(&project("alpha")).await.status(), 201);
    app.stop().await;
    let app = config.start().await;
    assert_eq!(app.project("alpha").await["heartbeat_key"], true);
    assert_eq!(
        beat(&app, "alpha", None).await,
        (401, "heartbeat_key_required".into())
    );
    assert_eq!(
        beat(&app, "alpha", Some(&rotated)).await,
        (202, String::new())
    );

    // Removed: the API keys' rule as before (no key 401, a read key 403).
    let (status, _) = heartbeat_key(&app, "alpha", Some(WRITE_KEY), true).await;
    assert_eq!(status, 204);
    assert_eq!(app.project("alpha").await["heartbeat_key"], false);
    assert_eq!(
        beat(&app, "alpha", None).await,
        (401, "unauthorized".into())
    );
    assert_eq!(
        beat(&app, "alpha", Some(&rotated)).await,
        (403, "forbidden".into())
    );
    assert_eq!(
        beat(&app, "alpha", Some(READ_KEY)).await,
        (403, "forbidden".into())
    );
    assert_eq!(
        beat(&app, "alpha", Some(WRITE_KEY)).await,
        (202, String::new())
    );
    app.stop().await;
}

on_both_backends!(guarded, heartbeat_keys_guard_http_heartbeats);

async fn without_api_keys_the_project_key_still_guards(mut config: TestConfig) {
    config.env.remove("FEDERATION_API_KEYS");
    config.env.remove("FEDERATION_READ_API_KEYS");
    let app = config.start().await;
    assert_eq!(app.register(&project("open")).await.status(), 201);
    assert_eq!(beat(&app, "open", None).await, (202, String::new()));
    let key = {
        let (status, body) = heartbeat_key(&app, "open", None, false).await;
        assert_eq!(status, 201, "{body}");
        body["heartbeat_key"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        beat(&app, "open", None).await,
        (401, "heartbeat_key_required".into())
    );
    assert_eq!(
        beat(&app, "open", Some("anything")).await,
        (403, "heartbeat_key_invalid".into())
    );
    assert_eq!(beat(&app, "open", Some(&key)).await, (202, String::new()));
    app.stop().await;
}

on_both_backends!(open_mode, without_api_keys_the_project_key_still_guards);
