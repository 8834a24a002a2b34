//! Flapping (issue 24, item 3) on the real service, both backends, with the shared
//! nats-server: heartbeats flap a project, and its `flapping` field, the change stream
//! and the NATS event say so; once it has been stable for the window, they say it ended.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::events::{Event, Sse};
use crate::helpers::{eventually, project, Backend, TestApp, TestConfig, WRITE_KEY};

/// The flapping window of these tests: 3 changes within it make a project flap.
const WINDOW_SECS: i64 = 3;

async fn heartbeat(app: &TestApp, slug: &str, body: Value) {
    let r = app
        .post(&format!("/api/fed/projects/{slug}/heartbeat"))
        .header("X-API-Key", WRITE_KEY)
        .json(&body)
        .send()
        .await
        .expect("heartbeat");
    assert_eq!(r.status(), 202);
}

fn at(e: &Event) -> DateTime<Utc> {
    e.data["at"]
        .as_str()
        .expect("at")
        .parse()
        .expect("RFC 3339")
}

/// Stream events up to (and with) the first of `kind`.
async fn until(sse: &mut Sse, kind: &str, seen: &mut Vec<Event>) -> Event {
    loop {
        let e = sse.next().await;
        seen.push(e.clone());
        if e.kind == kind {
            return e;
        }
    }
}

/// The next NATS flapping event.
async fn next_flap(sub: &mut async_nats::Subscriber) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .expect("a flapping event on NATS within 20 s")
        .expect("subscription open");
    serde_json::from_slice(&msg.payload).expect("JSON")
}

async fn flaps_then_settles(mut config: TestConfig) {
    let slug = if config.env["DATABASE_URL"].starts_with("sqlite") {
        "flapper-sqlite"
    } else {
        "flapper-postgres"
    };
    let nats_url = federation_testkit::shared_nats_url().expect("test nats-server");
    config
        .set("NATS_URL", nats_url.clone())
        .set("FEDERATION_DEGRADED_AFTER", "0")
        .set("FEDERATION_OFFLINE_AFTER", "10s")
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_CANARY_INTERVAL", "200ms")
        .set("FEDERATION_NOTIFY_FLAP_CHANGES", "3")
        .set("FEDERATION_NOTIFY_FLAP_WINDOW", format!("{WINDOW_SECS}s"));
    let app = config.start().await;
    app.wait_bus_healthy().await;
    let nats = crate::helpers::nats_client(&nats_url, async_nats::ConnectOptions::new()).await;
    let mut flaps = nats
        .subscribe(format!("hub.federation.status.{slug}.flapping"))
        .await
        .unwrap();
    nats.flush().await.unwrap();
    assert_eq!(app.register(&project(slug)).await.status(), 201);
    assert_eq!(app.project(slug).await["flapping"], false);
    let mut sse = Sse::open(&app, &format!("?slug={slug}"), None).await;
    sse.until_ready().await;

    // offline → online → degraded → online: the 3rd change makes it flap.
    let online = json!({"project_slug": slug});
    let degraded = json!({"project_slug": slug, "status": "degraded", "reasons": ["slow"]});
    for (body, status) in [
        (&online, "online"),
        (&degraded, "degraded"),
        (&online, "online"),
    ] {
        heartbeat(&app, slug, body.clone()).await;
        app.wait_for_status(slug, status, Duration::from_secs(10))
            .await;
    }
    let mut seen = Vec::new();
    let flapping = until(&mut sse, "flapping", &mut seen).await;
    assert_eq!(flapping.data["slug"], slug);
    assert_eq!(flapping.data["project"]["flapping"], true);
    // Not a status: the project (as the log's reader found it) keeps one of the three.
    let status = flapping.data["project"]["status"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        ["online", "degraded"].contains(&status.as_str()),
        "{status}"
    );
    let transitions: Vec<&Event> = seen.iter().filter(|e| e.kind == "transition").collect();
    assert_eq!(
        transitions.len(),
        2,
        "recorded before the transition that made it flap: {seen:?}"
    );
    let third = until(&mut sse, "transition", &mut seen).await;
    assert_eq!(third.data["to"], "online");
    assert_eq!(at(&flapping), at(&third), "since the 3rd change");
    assert_eq!(app.project(slug).await["flapping"], true);
    let listed = app.read_json("/api/fed/projects").await;
    assert_eq!(listed[0]["slug"], slug);
    assert_eq!(listed[0]["flapping"], true);
    let on_nats = next_flap(&mut flaps).await;
    assert_eq!(on_nats["event"], "flapping");
    assert_eq!(on_nats["flapping"], true);
    assert_eq!(on_nats["revision"], flapping.id);

    // No change for the window: stable again, at the window's end after the last change.
    let stable = until(&mut sse, "stable", &mut seen).await;
    assert_eq!(stable.data["project"]["flapping"], false);
    assert_eq!(
        at(&stable) - at(&third),
        chrono::TimeDelta::seconds(WINDOW_SECS)
    );
    eventually(Duration::from_secs(10), || async {
        match app.project(slug).await["flapping"].as_bool() {
            Some(false) => Ok(()),
            other => Err(format!("flapping is {other:?}")),
        }
    })
    .await;
    let on_nats = next_flap(&mut flaps).await;
    assert_eq!(on_nats["event"], "stable");
    assert_eq!(on_nats["flapping"], false);
    assert_eq!(on_nats["revision"], stable.id);
    app.stop().await;
}

on_both_backends!(a_project_flaps_then_settles, flaps_then_settles);
