//! End to end: the real service on port 0, over real HTTP, on PostgreSQL and SQLite.

use std::time::Duration;

use crate::helpers::{project, seed_body, Backend, TestConfig, READ_KEY, WRITE_KEY};
use serde_json::{json, Value};

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Nothing a client sends may come back with database text.
fn assert_no_internals(text: &str) {
    for leak in [
        "SQL",
        "sql",
        "diesel",
        "postgres",
        "sqlite",
        "constraint",
        "relation",
        "syntax error at",
    ] {
        assert!(!text.contains(leak), "response leaks {leak:?}: {text}");
    }
}

async fn seed_contract(config: TestConfig) {
    let app = config.start().await;
    let first = app.register(&seed_body()).await;
    assert_eq!(first.status(), 201);
    let created: Value = first.json().await.unwrap();
    assert_eq!(created["slug"], "commandcenter");
    assert_eq!(created["status"], "offline");
    assert_eq!(created["mesh_namespace"], "hub.commandcenter");
    assert_eq!(created["tags"], json!(["python"]));
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(created["last_heartbeat_at"].is_null());

    let again = app.register(&seed_body()).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["x-federation-created"], "false");
    let updated: Value = again.json().await.unwrap();
    assert_eq!(updated["id"], created["id"]);

    let got = app.project("commandcenter").await;
    assert_eq!(got["status"], "offline");
    assert_eq!(got["name"], "CommandCenter");
    // Slugs match case-insensitively.
    assert_eq!(app.project("CommandCenter").await["id"], created["id"]);

    let list = app
        .get("/api/fed/projects?status=offline")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    assert_eq!(list.headers()["x-total-count"], "1");
    let items: Value = list.json().await.unwrap();
    assert_eq!(items.as_array().unwrap().len(), 1);
    app.stop().await;
}
on_both_backends!(the_original_contract_holds, seed_contract);

async fn status_codes(config: TestConfig) {
    let app = config.start().await;
    let w = |r: reqwest::RequestBuilder| r.header("X-API-Key", WRITE_KEY);

    for (path, status) in [("/health", 200), ("/ready", 200)] {
        let resp = app.get(path).send().await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
    }
    let health: Value = app
        .get("/health")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "federation");
    let ready = app.ready().await;
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
    assert_eq!(ready["checks"]["nats"], "disabled", "{ready}");

    // 201 (created, then updated, as the original answered both) and 422 on
    // registration.
    let created = app.register(&project("alpha")).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["x-federation-created"], "true");
    let updated = app.register(&project("alpha")).await;
    assert_eq!(updated.status(), 201);
    assert_eq!(updated.headers()["x-federation-created"], "false");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "x", "hub_url": "http://x"}), "slug"),
        (
            json!({"slug": "Bad Slug!", "name": "x", "hub_url": "http://x"}),
            "slug",
        ),
        (
            json!({"slug": "a", "name": "", "hub_url": "http://x"}),
            "name",
        ),
        (
            json!({"slug": "a", "name": "x", "hub_url": "ftp://x"}),
            "hub_url",
        ),
        (
            json!({"slug": "a", "name": "x", "hub_url": "http://x", "mesh_namespace": "hub..b"}),
            "mesh_namespace",
        ),
        (
            json!({"slug": "a", "name": "x", "hub_url": "http://x", "tags": ["ok", "no\ttabs"]}),
            "tags[1]",
        ),
        (
            json!({"slug": 42, "name": "x", "hub_url": "http://x"}),
            "slug",
        ),
        (
            json!({"slug": "a", "name": "x", "hub_url": "http://x", "tags": "python"}),
            "tags",
        ),
    ];
    for (body, field) in cases {
        let resp = app.register(&body).await;
        assert_eq!(resp.status(), 422, "{body}");
        let text = resp.text().await.unwrap();
        assert_no_internals(&text);
        let err: Value = serde_json::from_str(&text).unwrap();
        assert_error(&err, "validation_error");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }

    // 400 malformed JSON, 415 wrong content type, 413 too large.
    let resp = w(app.post("/api/fed/projects"))
        .header("content-type", "application/json")
        .body("{\"slug\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_no_internals(&resp.text().await.unwrap());
    let resp = w(app.post("/api/fed/projects"))
        .header("content-type", "text/plain")
        .body("slug=alpha")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let big = json!({"slug": "big", "name": "x".repeat(70 * 1024), "hub_url": "http://x"});
    let resp = app.register(&big).await;
    assert_eq!(resp.status(), 413);

    // Lists: bad filters are 422 naming the field.
    for (query, field) in [
        ("status=sleeping", "status"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
    ] {
        let resp = app
            .get(&format!("/api/fed/projects?{query}"))
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{query}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{query}");
    }

    // 404s.
    for path in [
        "/api/fed/projects/nope",
        "/api/fed/projects/Not_A_Slug!",
        "/api/fed/projects/nope/history",
        "/nowhere",
    ] {
        let resp = app
            .get(path)
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        assert_error(&resp.json().await.unwrap(), "not_found");
    }

    // PATCH 200 / 422 / 404, DELETE 204 / 404.
    let resp = w(app.client.patch(app.url("/api/fed/projects/alpha")))
        .json(&json!({"name": "Alpha Prime", "tags": ["a", "b"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let patched: Value = resp.json().await.unwrap();
    assert_eq!(patched["name"], "Alpha Prime");
    assert_eq!(patched["tags"], json!(["a", "b"]));
    let resp = w(app.client.patch(app.url("/api/fed/projects/alpha")))
        .json(&json!({"hub_url": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let resp = w(app.client.patch(app.url("/api/fed/projects/ghost")))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Heartbeats over HTTP: 202, 404, 422, 413.
    let hb =
        |slug: &str| json!({"project_slug": slug, "timestamp": chrono::Utc::now().to_rfc3339()});
    let resp = w(app.post("/api/fed/projects/alpha/heartbeat"))
        .json(&hb("alpha"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let resp = w(app.post("/api/fed/projects/ghost/heartbeat"))
        .json(&hb("ghost"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // Another project than the path's, or a replay, conflicts with what it meets: 409.
    let resp = w(app.post("/api/fed/projects/alpha/heartbeat"))
        .json(&hb("beta"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let resp = w(app.post("/api/fed/projects/alpha/heartbeat"))
        .json(&json!({"project_slug": "alpha", "timestamp": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let resp = w(app.post("/api/fed/projects/alpha/heartbeat"))
        .json(&json!({"project_slug": "alpha", "pad": "x".repeat(9000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    app.wait_for_status("alpha", "online", Duration::from_secs(5))
        .await;
    // A sender 40 minutes behind is heard, and its skew shows on the project.
    let behind = (chrono::Utc::now() - chrono::TimeDelta::minutes(40)).to_rfc3339();
    let resp = w(app.post("/api/fed/projects/alpha/heartbeat"))
        .json(&json!({"project_slug": "alpha", "timestamp": behind}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let skew = app.project("alpha").await["clock_skew_seconds"].as_f64();
    assert!(
        skew.is_some_and(|s| (2400.0..2410.0).contains(&s)),
        "{skew:?}"
    );

    let history = app.read_json("/api/fed/projects/alpha/history").await;
    assert_eq!(history[0]["from"], "offline", "{history}");
    assert_eq!(history[0]["to"], "online", "{history}");

    let resp = w(app.client.delete(app.url("/api/fed/projects/alpha")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = w(app.client.delete(app.url("/api/fed/projects/alpha")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await;
}
on_both_backends!(every_status_code, status_codes);

async fn auth_matrix(config: TestConfig) {
    let app = config.start().await;
    let list = "/api/fed/projects";
    let cases: [(Option<&str>, bool, u16); 6] = [
        (None, false, 401),
        (Some("wrong"), false, 403),
        (Some(READ_KEY), false, 200),
        (Some(READ_KEY), true, 403),
        (Some(WRITE_KEY), true, 201),
        (Some(WRITE_KEY), false, 200),
    ];
    for (i, (key, write, expected)) in cases.into_iter().enumerate() {
        let req = if write {
            app.post(list).json(&project(&format!("auth-{i}")))
        } else {
            app.get(list)
        };
        let req = match key {
            Some(k) => req.header("X-API-Key", k),
            None => req,
        };
        let resp = req.send().await.unwrap();
        assert_eq!(
            resp.status().as_u16(),
            expected,
            "key {key:?} write {write}"
        );
        if expected >= 400 {
            let text = resp.text().await.unwrap();
            assert!(!text.contains(READ_KEY) && !text.contains(WRITE_KEY));
        }
    }
    // Health and readiness are open.
    assert_eq!(app.get("/health").send().await.unwrap().status(), 200);
    app.stop().await;
}
on_both_backends!(api_keys_are_enforced, auth_matrix);

async fn parallel_first_registrations(config: TestConfig) {
    let app = config.start().await;
    let body = project("racer");
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let client = app.client.clone();
        let url = app.url("/api/fed/projects");
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .header("X-API-Key", WRITE_KEY)
                .json(&body)
                .send()
                .await
                .map(|r| {
                    let created = r.headers()["x-federation-created"] == "true";
                    (r.status().as_u16(), created)
                })
        }));
    }
    let mut created = 0;
    let mut updated = 0;
    for t in tasks {
        // 201 every time, as the original answered; the header tells them apart.
        match t.await.unwrap().expect("request") {
            (201, true) => created += 1,
            (201, false) => updated += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((created, updated), (1, 99));
    let list = app
        .get("/api/fed/projects")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(list.headers()["x-total-count"], "1");
    app.stop().await;
}
on_both_backends!(
    one_hundred_parallel_posts_create_once,
    parallel_first_registrations
);

async fn yaml_is_atomic(config: TestConfig) {
    // A good catalog seeds; a bad third entry then leaves it untouched and stops the start.
    config.write_projects(
        "projects:\n  - {slug: one, name: One, hub_url: 'http://one'}\n  - {slug: two, name: Two, hub_url: 'http://two', tags: [x]}\n",
    );
    let app = config.start().await;
    assert_eq!(app.project("two").await["tags"], json!(["x"]));
    app.stop().await;

    config.write_projects(
        "projects:\n  - {slug: one, name: One Renamed, hub_url: 'http://one'}\n  - {slug: new, name: New, hub_url: 'http://new'}\n  - {slug: three, name: Three, hub_url: 'not a url'}\n",
    );
    let err = config.try_start().await.err().expect("start must fail");
    let message = format!("{err:#}");
    assert!(
        message.contains("projects[2]") && message.contains("three") && message.contains("hub_url"),
        "{message}"
    );

    config.write_projects("");
    let app = config.start().await;
    assert_eq!(app.project("one").await["name"], "One");
    let resp = app
        .get("/api/fed/projects/new")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await;
}
on_both_backends!(the_catalog_file_applies_all_or_nothing, yaml_is_atomic);

async fn restart_keeps_everything(config: TestConfig) {
    let app = config.start().await;
    app.register(&seed_body()).await;
    let resp = app
        .post("/api/fed/projects/commandcenter/heartbeat")
        .header("X-API-Key", WRITE_KEY)
        .json(&json!({"project_slug": "commandcenter", "version": "0.9.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    // Stopping flushes the heartbeat even if no tick ran yet.
    app.stop().await;

    let app = config.start().await;
    let p = app.project("commandcenter").await;
    assert_eq!(p["status"], "online", "{p}");
    assert_eq!(p["version"], "0.9.0");
    assert!(p["last_heartbeat_at"].is_string());
    assert_eq!(p["tags"], json!(["python"]));
    app.stop().await;
}
on_both_backends!(a_restart_keeps_everything, restart_keeps_everything);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_loopback_without_keys_refuses_to_start() {
    let mut config = TestConfig::new(Backend::sqlite);
    config.env.remove("FEDERATION_API_KEYS");
    config.env.remove("FEDERATION_READ_API_KEYS");
    config.set("SERVICE_HOST", "0.0.0.0");
    let err = config.try_start().await.err().expect("must refuse");
    assert!(
        format!("{err:#}").contains("FEDERATION_API_KEYS"),
        "{err:#}"
    );
    config.set("FEDERATION_ALLOW_ANONYMOUS", "true");
    let app = config.start().await;
    assert_eq!(app.register(&project("anon")).await.status(), 201);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_schema_that_is_behind_stops_the_start() {
    let mut config = TestConfig::new(|_| Backend::postgres());
    config.set("FEDERATION_AUTO_MIGRATE", "false");
    let err = config.try_start().await.err().expect("must refuse");
    assert!(
        format!("{err:#}").contains("cargo xtask migrate"),
        "{err:#}"
    );
}
