//! Fleet operations end to end, on PostgreSQL and SQLite, over HTTP heartbeats: projects
//! judged by their own heartbeat intervals.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::binary::{self, Binary};
use crate::helpers::{eventually, project, Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY};

/// A project beating every second is offline after 3 intervals (the floor is lowered
/// to 2 s so that it applies), far below the service-wide 20 s / 30 s.
const OFFLINE_AFTER_1S: Duration = Duration::from_secs(3);
const SWEEP: Duration = Duration::from_millis(100);

/// The fleet's settings on top of a backend's configuration.
fn tuned(mut config: TestConfig) -> TestConfig {
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
    let resp = app.patch_project(slug, &body).await;
    assert_eq!(resp.status(), 200, "PATCH {slug} {body}");
    resp.json().await.unwrap()
}

async fn latest_transition(app: &TestApp, slug: &str) -> Value {
    app.history(slug)
        .await
        .into_iter()
        .next()
        .unwrap_or(Value::Null)
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

async fn own_intervals(base: TestConfig) {
    let config = tuned(base);
    let app = config.start().await;
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
    assert_eq!(app.register(&project("plain")).await.status(), 201);
    assert_eq!(app.project("plain").await["heartbeat_interval"], 30);
    app.stop().await;
}
on_both_backends!(each_project_is_judged_by_its_own_interval, own_intervals);

async fn put_maintenance(app: &TestApp, slug: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/fed/projects/{slug}/maintenance")))
        .header("X-API-Key", WRITE_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn reasons(app: &TestApp, slug: &str) -> Vec<(String, String, String, DateTime<Utc>)> {
    app.history(slug)
        .await
        .iter()
        .rev()
        .map(|t| {
            (
                t["from"].as_str().unwrap().to_owned(),
                t["to"].as_str().unwrap().to_owned(),
                t["reason"].as_str().unwrap_or_default().to_owned(),
                time(&t["at"]),
            )
        })
        .collect()
}

async fn maintenance_window(base: TestConfig) {
    let config = tuned(base);
    let app = config.start().await;
    for slug in ["kept", "early"] {
        let mut body = project(slug);
        body["heartbeat_interval"] = json!(1);
        assert_eq!(app.register(&body).await.status(), 201);
        beat(&app, slug, json!({"project_slug": slug})).await;
        app.wait_for_status(slug, "online", Duration::from_secs(5))
            .await;
    }
    assert_eq!(
        put_maintenance(&app, "ghost", json!({"reason": "x", "for": "1m"}))
            .await
            .status(),
        404
    );
    let resp = put_maintenance(&app, "kept", json!({"reason": "x"})).await;
    assert_eq!(resp.status(), 422);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["field"], "until", "{e}");

    // Silent for longer than its 3 s threshold, inside a 5 s window: nothing recorded.
    let resp = put_maintenance(
        &app,
        "kept",
        json!({"reason": "kernel upgrade", "for": "5s"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let p: Value = resp.json().await.unwrap();
    let window = &p["maintenance"];
    assert_eq!(window["reason"], "kernel upgrade", "{p}");
    assert!(window["by"].as_str().unwrap().starts_with("key:"), "{p}");
    assert_eq!(p["status"], "online");
    let until = time(&window["until"]);
    let resp = put_maintenance(&app, "early", json!({"reason": "move", "for": "1h"})).await;
    assert_eq!(resp.status(), 200);
    // The window ends by itself; the rules then apply at once: offline.
    app.wait_for_status("kept", "offline", Duration::from_secs(12))
        .await;
    let kept = reasons(&app, "kept").await;
    let summary: Vec<_> = kept
        .iter()
        .map(|(from, to, why, _)| format!("{from}->{to} {}", why.split(':').next().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            "offline->online heartbeat",
            "online->online maintenance_started",
            "online->online maintenance_ended",
            "online->offline heartbeat_timeout",
        ]
    );
    assert_eq!(kept[2].3, until, "recorded at the window's end");
    let late = (kept[3].3 - until).to_std().unwrap();
    assert!(
        late <= SWEEP + Duration::from_millis(900),
        "offline {late:?} after the window"
    );
    assert_eq!(app.project("kept").await["maintenance"], Value::Null);
    // `early` is still in its hour-long window, silent and online; ending it applies the
    // rules at once.
    assert_eq!(app.status_of("early").await, "online");
    let resp = app
        .client
        .delete(app.url("/api/fed/projects/early/maintenance"))
        .header("X-API-Key", WRITE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.wait_for_status("early", "offline", Duration::from_secs(5))
        .await;
    let early = reasons(&app, "early").await;
    assert!(
        early[2]
            .2
            .starts_with("maintenance_ended: ended early by key:"),
        "{early:?}"
    );
    app.stop().await;
}
on_both_backends!(
    a_maintenance_window_records_nothing_and_ends_by_itself,
    maintenance_window
);

async fn bulk(app: &TestApp, body: &Value) -> (u16, Value) {
    let resp = app
        .post("/api/fed/projects:bulk")
        .header("X-API-Key", WRITE_KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn bulk_all_or_nothing(base: TestConfig) {
    let config = tuned(base);
    let app = config.start().await;
    assert_eq!(app.register(&project("existing")).await.status(), 201);
    let mut fleet: Vec<Value> = (0..1000)
        .map(|i| project(&format!("node-{i:04}")))
        .collect();
    fleet.push(project("existing"));
    let (status, body) = bulk(&app, &json!({ "projects": fleet })).await;
    assert_eq!(status, 422, "1,001 entries: {body}");
    assert_eq!(body["error"]["field"], "projects");
    fleet.truncate(999);
    fleet.push(project("existing"));
    let (status, body) = bulk(&app, &json!({ "projects": fleet })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["created"].as_u64(), body["updated"].as_u64()),
        (Some(999), Some(1))
    );
    assert_eq!(body["projects"].as_array().unwrap().len(), 1000);
    assert_eq!(app.project("node-0998").await["status"], "offline");

    // One refused entry refuses them all; every refused entry is listed.
    let mut bad_url = project("fresh-b");
    bad_url["hub_url"] = json!("not a url");
    let mut bad_tag = project("fresh-c");
    bad_tag["tags"] = json!(["ok", 7]);
    let entries =
        json!({"projects": [project("fresh-a"), bad_url, bad_tag, project("FRESH-A"), 5]});
    let (status, body) = bulk(&app, &entries).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "projects[1].hub_url", "{body}");
    let listed: Vec<(u64, Option<&str>)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["field"].as_str()))
        .collect();
    assert_eq!(
        listed,
        [(1, Some("hub_url")), (2, Some("tags[1]")), (4, None)]
    );
    let resp = app
        .get("/api/fed/projects/fresh-a")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "nothing was written");
    let (status, _) = bulk(&app, &json!({"projects": []})).await;
    assert_eq!(status, 422);

    // A slug given again (in any case) is registered once, with its last entry.
    let mut second = project("DUP");
    second["name"] = json!("second");
    let entries = json!({"projects": [project("dup"), project("other"), second]});
    let (status, body) = bulk(&app, &entries).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], 2, "{body}");
    let slugs: Vec<&str> = body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["dup", "other"]);
    assert_eq!(app.project("dup").await["name"], "second");
    app.stop().await;
}
on_both_backends!(bulk_registration_is_all_or_nothing, bulk_all_or_nothing);

async fn expiry_keeps_history(base: TestConfig) {
    let mut config = tuned(base);
    config.set("FEDERATION_DEREGISTER_AFTER", "2s");
    let app = config.start().await;
    // A DELETE keeps the history too.
    assert_eq!(app.register(&project("deleted")).await.status(), 201);
    let resp = app
        .client
        .delete(app.url("/api/fed/projects/deleted"))
        .header("X-API-Key", WRITE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let history = reasons(&app, "deleted").await;
    assert_eq!(history.last().unwrap().2, "removed: deleted", "{history:?}");
    let mut short = project("short");
    short["heartbeat_interval"] = json!(1);
    assert_eq!(app.register(&short).await.status(), 201);
    assert_eq!(app.register(&project("plain")).await.status(), 201);
    for slug in ["short", "plain"] {
        beat(&app, slug, json!({"project_slug": slug})).await;
        app.wait_for_status(slug, "online", Duration::from_secs(5))
            .await;
    }
    // `short` is offline 3 s after its heartbeat and removed 2 s later.
    eventually(Duration::from_secs(15), || async {
        let status = app
            .get("/api/fed/projects/short")
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .unwrap()
            .status();
        if status == 404 {
            Ok(())
        } else {
            Err(format!("short still answers {status}"))
        }
    })
    .await;
    let history = reasons(&app, "short").await;
    let last = history.last().unwrap();
    assert_eq!(last.2, "removed: expired", "{history:?}");
    assert_eq!(history[history.len() - 2].1, "offline", "{history:?}");
    assert_eq!(app.status_of("plain").await, "online");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("federation_projects_expired_total 1"),
        "{metrics}"
    );
    let resp = app
        .get("/api/fed/projects/never-was/history")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await;
}
on_both_backends!(
    projects_offline_too_long_expire_and_their_history_stays,
    expiry_keeps_history
);

fn catalog_yaml(prune: bool, slugs: &[&str]) -> String {
    let mut yaml = format!("prune: {prune}\nprojects:\n");
    for s in slugs {
        yaml.push_str(&format!(
            "  - slug: {s}\n    name: Project {s}\n    hub_url: http://{s}.example.com\n"
        ));
    }
    yaml
}

/// `federation catalog apply …` as a process, with the test's environment.
fn apply_file(config: &TestConfig, args: &[&str]) -> (bool, String) {
    let out = binary::command()
        .args(["catalog", "apply"])
        .args(args)
        .current_dir(config.dir.path())
        .env_clear()
        .envs(&config.env)
        .env("LOG_LEVEL", "error")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn gone(app: &TestApp, slug: &str) -> bool {
    app.get(&format!("/api/fed/projects/{slug}"))
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap()
        .status()
        == 404
}

async fn catalog_apply(base: TestConfig) {
    let config = tuned(base);
    config.write_projects(&catalog_yaml(true, &["from-file", "leaving"]));
    let app = config.start().await;
    assert_eq!(app.project("from-file").await["origin"], "file");
    assert_eq!(app.register(&project("by-api")).await.status(), 201);
    assert_eq!(app.project("by-api").await["origin"], "api");

    let next = config.dir.path().join("next.yaml");
    std::fs::write(&next, catalog_yaml(true, &["from-file", "new-one"])).unwrap();
    let path = next.display().to_string();
    let (ok, out) = apply_file(&config, &[&path, "--dry-run"]);
    assert!(ok, "{out}");
    assert!(out.contains("+ new-one\n"), "{out}");
    assert!(out.contains("- leaving (no longer in the file)\n"), "{out}");
    assert!(!out.contains("by-api"), "{out}");
    assert!(
        out.contains("1 to create, 0 to update, 1 unchanged, 1 to remove\n"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing changed"), "{out}");
    assert!(!gone(&app, "leaving").await);

    let (ok, out) = apply_file(&config, &[&path]);
    assert!(ok, "{out}");
    assert!(
        out.contains("applied: 1 created, 1 updated, 1 removed\n"),
        "{out}"
    );
    // The running service follows the change log.
    eventually(Duration::from_secs(10), || async {
        if gone(&app, "leaving").await && !gone(&app, "new-one").await {
            Ok(())
        } else {
            Err("the service has not followed the apply yet")
        }
    })
    .await;
    assert!(
        !gone(&app, "by-api").await,
        "a project from the API is never pruned"
    );
    let history = reasons(&app, "leaving").await;
    assert_eq!(history.last().unwrap().2, "removed: pruned", "{history:?}");

    // A bad file changes nothing and says why.
    std::fs::write(&next, "projects:\n  - slug: x\n").unwrap();
    let (ok, out) = apply_file(&config, &[&path]);
    assert!(!ok && out.contains("projects[0]"), "{out}");
    app.stop().await;
}

on_both_backends!(
    catalog_apply_prints_the_diff_and_prunes_only_the_files_projects,
    catalog_apply
);

async fn sighup_reapply(base: TestConfig) {
    let config = tuned(base);
    config.write_projects(&catalog_yaml(true, &["kept", "leaving"]));
    let mut env = config.env.clone();
    env.insert("LOG_FORMAT".into(), "json".into());
    env.insert("LOG_LEVEL".into(), "info".into());
    let service = Binary::spawn(config.dir.path(), &["serve"], &env);
    let address = service.address().await;
    let client = reqwest::Client::new();
    let status = |slug: &'static str| {
        let client = client.clone();
        let url = format!("http://{address}/api/fed/projects/{slug}");
        async move {
            client
                .get(url)
                .header("X-API-Key", READ_KEY)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("leaving").await, 200);
    const APPLIED: &str = "catalog applied";
    let applied_before = service.logs(APPLIED).len();
    config.write_projects(&catalog_yaml(true, &["kept", "arriving"]));
    service.signal("HUP");
    let applied = service
        .wait_for_log(APPLIED, applied_before + 1, Duration::from_secs(30))
        .await;
    assert_eq!(
        (applied["created"].as_u64(), applied["removed"].as_u64()),
        (Some(1), Some(1)),
        "{applied}"
    );
    assert_eq!(status("leaving").await, 404);
    assert_eq!(status("arriving").await, 200);
    assert_eq!(status("kept").await, 200);
    // A broken file on SIGHUP is logged and changes nothing; the service keeps serving.
    config.write_projects("projects: [");
    service.signal("HUP");
    service
        .wait_for_log(
            "the catalog file was not applied; nothing changed",
            1,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(status("arriving").await, 200);
    assert_eq!(service.logs(APPLIED).len(), applied_before + 1);
}
on_both_backends!(sighup_reapplies_the_catalog_file, sighup_reapply);
