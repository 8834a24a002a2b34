//! End to end over NATS: the real service against a real nats-server and PostgreSQL,
//! with short thresholds (degraded 2 s, offline 3 s, sweep 100 ms) so nothing waits 90 s.

use std::time::Duration;

use crate::helpers::{eventually, project, Backend, TestApp, TestConfig, READ_KEY};
use crate::ticks;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{json, Value};

pub(crate) const OFFLINE_AFTER: Duration = Duration::from_secs(3);
const SWEEP: Duration = Duration::from_millis(100);

pub(crate) fn nats_config(nats_url: &str, backend: Backend) -> TestConfig {
    TestConfig::with_nats(|_| backend, nats_url, "2s", "3s")
}

async fn client(url: &str) -> async_nats::Client {
    client_as(url, None).await
}

/// A test client, logging in as `user` (its password is its name) when given.
pub(crate) async fn client_as(url: &str, user: Option<&str>) -> async_nats::Client {
    let options = match user {
        Some(user) => async_nats::ConnectOptions::with_user_and_password(user.into(), user.into()),
        None => async_nats::ConnectOptions::new(),
    };
    crate::helpers::nats_client(url, options).await
}

pub(crate) fn heartbeat(slug: &str) -> Value {
    json!({
        "project_slug": slug,
        "hub_url": format!("http://{slug}.example.com"),
        "mesh_namespace": format!("hub.{slug}"),
        "timestamp": Utc::now().to_rfc3339(),
        "version": "0.9.0"
    })
}

async fn publish(nats: &async_nats::Client, slug: &str, body: &Value) {
    nats.publish(
        format!("hub.presence.{slug}"),
        serde_json::to_vec(body).unwrap().into(),
    )
    .await
    .unwrap();
    nats.flush().await.unwrap();
}

/// Publishes a heartbeat every 50 ms until the project shows `status`.
pub(crate) async fn beat_until(
    app: &TestApp,
    nats: &async_nats::Client,
    slug: &str,
    body: impl Fn() -> Value,
    status: &str,
) {
    eventually(Duration::from_secs(10), || async {
        publish(nats, slug, &body()).await;
        match app.status_of(slug).await {
            now if now == status => Ok(()),
            now => Err(format!("{slug} still {now}, not {status}")),
        }
    })
    .await;
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().expect("a time").parse().expect("RFC 3339")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_payload_and_the_envelope_turn_projects_online() {
    let nats_url = federation_testkit::shared_nats_url().unwrap();
    let app = nats_config(&nats_url, Backend::postgres()).start().await;
    let nats = client(&nats_url).await;
    app.register(&project("plain")).await;
    app.register(&project("wrapped")).await;

    beat_until(&app, &nats, "plain", || heartbeat("plain"), "online").await;
    beat_until(
        &app,
        &nats,
        "wrapped",
        || json!({"payload": heartbeat("wrapped"), "correlation_id": "c-1"}),
        "online",
    )
    .await;
    let p = app.project("plain").await;
    assert_eq!(p["version"], "0.9.0");
    assert!(p["last_heartbeat_at"].is_string());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_heartbeats_leave_the_catalog_untouched() {
    let nats_url = federation_testkit::shared_nats_url().unwrap();
    let app = nats_config(&nats_url, Backend::postgres()).start().await;
    let nats = client(&nats_url).await;
    app.register(&project("victim")).await;
    app.register(&project("witness")).await;
    // Make sure the subscription is live before the bad ones go out.
    beat_until(&app, &nats, "witness", || heartbeat("witness"), "online").await;

    // A sender's clock may be an hour behind (status is on our clock): past that, a replay.
    let stale = (Utc::now() - chrono::TimeDelta::seconds(3700)).to_rfc3339();
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("malformed", b"{not json".to_vec()),
        ("malformed", br#"{"project_slug": 7}"#.to_vec()),
        (
            "slug_mismatch",
            serde_json::to_vec(&heartbeat("witness")).unwrap(),
        ),
        (
            "bad_namespace",
            serde_json::to_vec(&json!({"project_slug": "victim", "mesh_namespace": "hub..other"}))
                .unwrap(),
        ),
        (
            "replay",
            serde_json::to_vec(&json!({"project_slug": "victim", "timestamp": stale})).unwrap(),
        ),
        (
            "oversize",
            serde_json::to_vec(&json!({"project_slug": "victim", "pad": "x".repeat(9000)}))
                .unwrap(),
        ),
    ];
    let before = app.federation.heartbeat_counters().snapshot();
    for (_, payload) in &bad {
        nats.publish("hub.presence.victim", payload.clone().into())
            .await
            .unwrap();
    }
    nats.flush().await.unwrap();
    // A good heartbeat sent after them is processed after them.
    beat_until(&app, &nats, "witness", || heartbeat("witness"), "online").await;
    eventually(Duration::from_secs(5), || async {
        let after = app.federation.heartbeat_counters().snapshot();
        let grew = |label: &str| {
            let i = after.iter().position(|(l, _)| *l == label).unwrap();
            after[i].1 - before[i].1
        };
        if grew("malformed") >= 2
            && ["slug_mismatch", "bad_namespace", "replay", "oversize"]
                .iter()
                .all(|l| grew(l) >= 1)
        {
            Ok(())
        } else {
            Err(format!("not all rejections counted: {after:?}"))
        }
    })
    .await;
    let victim = app.project("victim").await;
    assert_eq!(victim["status"], "offline");
    assert!(victim["last_heartbeat_at"].is_null(), "{victim}");
    assert!(app.history("victim").await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_by_report_and_by_lateness_then_offline_on_time_with_events_in_order() {
    let nats_url = federation_testkit::shared_nats_url().unwrap();
    let app = nats_config(&nats_url, Backend::postgres()).start().await;
    let nats = client(&nats_url).await;
    let mut events = nats
        .subscribe("hub.federation.status.timeline")
        .await
        .unwrap();
    nats.flush().await.unwrap();
    app.register(&project("timeline")).await;
    app.wait_bus_healthy().await;

    beat_until(&app, &nats, "timeline", || heartbeat("timeline"), "online").await;
    let degraded = || {
        let mut hb = heartbeat("timeline");
        hb["status"] = json!("degraded");
        hb["reasons"] = json!(["database slow"]);
        hb
    };
    beat_until(&app, &nats, "timeline", degraded, "degraded").await;
    let p = app.project("timeline").await;
    assert!(
        p["status_reason"]
            .as_str()
            .unwrap()
            .contains("database slow"),
        "{p}"
    );
    beat_until(&app, &nats, "timeline", || heartbeat("timeline"), "online").await;

    // Silence: degraded at 2 s, offline at 3 s, each within a tick of the threshold.
    app.wait_for_status("timeline", "degraded", Duration::from_secs(5))
        .await;
    app.wait_for_status("timeline", "offline", Duration::from_secs(5))
        .await;

    let h = app.history("timeline").await;
    let pairs: Vec<(String, String)> = h
        .iter()
        .rev()
        .map(|t| {
            (
                t["from"].as_str().unwrap().to_owned(),
                t["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("offline", "online"),
        ("online", "degraded"),
        ("degraded", "online"),
        ("online", "degraded"),
        ("degraded", "offline"),
    ];
    assert_eq!(
        pairs,
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    let late = &h[1];
    assert_eq!(late["reason"], "heartbeat_late");
    let offline = &h[0];
    assert_eq!(offline["reason"], "heartbeat_timeout");
    let silence = time(&offline["at"]) - time(&offline["last_heartbeat_at"]);
    let silence = silence.to_std().unwrap();
    assert!(silence >= OFFLINE_AFTER, "offline after {silence:?}");
    assert!(
        silence <= OFFLINE_AFTER + SWEEP + Duration::from_millis(150),
        "offline only after {silence:?}"
    );

    // The same five transitions were published, in order.
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        let msg = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("status event")
            .expect("subscription open");
        let e: Value = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(e["slug"], "timeline");
        assert!(
            e["at"].is_string()
                && e.get("last_heartbeat_at").is_some()
                && e.get("reason").is_some(),
            "{e}"
        );
        seen.push((
            e["from"].as_str().unwrap().to_owned(),
            e["to"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(seen, pairs);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_outage_expires_nobody_and_silence_counts_from_the_reconnect() {
    let mut server = federation_testkit::NatsServer::start().unwrap();
    let app = nats_config(&server.url(), Backend::postgres())
        .start()
        .await;
    let nats = client(&server.url()).await;
    app.register(&project("resumes")).await;
    app.register(&project("silent")).await;
    app.wait_bus_healthy().await;
    beat_until(&app, &nats, "resumes", || heartbeat("resumes"), "online").await;
    beat_until(&app, &nats, "silent", || heartbeat("silent"), "online").await;

    server.stop().unwrap();
    let outage = tokio::time::Instant::now();
    // Past offline_after (and a tick after it) into the outage, nobody expired.
    ticks::holds_through(
        &app,
        outage,
        OFFLINE_AFTER + Duration::from_millis(1500),
        Duration::from_secs(30),
        || async {
            for slug in ["resumes", "silent"] {
                assert_ne!(
                    app.status_of(slug).await,
                    "offline",
                    "{slug} expired during our own outage"
                );
            }
        },
    )
    .await;
    let r = app.ready().await;
    assert_eq!(r["checks"]["nats"], "down", "{r}");
    assert_eq!(r["checks"]["partition_guard"], "link_down", "{r}");

    server.restart().unwrap();
    let restarted = Utc::now();
    // "resumes" beats every 500 ms from now on; "silent" never again.
    let beating = {
        let nats = nats.clone();
        tokio::spawn(async move {
            loop {
                let _ = nats
                    .publish(
                        "hub.presence.resumes",
                        serde_json::to_vec(&heartbeat("resumes")).unwrap().into(),
                    )
                    .await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    eventually(Duration::from_secs(15), || async {
        assert_ne!(
            app.status_of("resumes").await,
            "offline",
            "a project that resumed went offline"
        );
        match app.status_of("silent").await.as_str() {
            "offline" => Ok(()),
            now => Err(format!("silent still {now}")),
        }
    })
    .await;
    let h = app.history("silent").await;
    assert_eq!(h[0]["to"], "offline");
    let after_reconnect = (time(&h[0]["at"]) - restarted).to_std().unwrap_or_default();
    assert!(
        after_reconnect + Duration::from_millis(300) >= OFFLINE_AFTER,
        "silent expired {after_reconnect:?} after the reconnect, before offline_after"
    );
    // A second more of beating, and a tick after it: "resumes" stays.
    ticks::holds_through(
        &app,
        tokio::time::Instant::now(),
        Duration::from_secs(1),
        Duration::from_secs(30),
        || async {
            assert_ne!(app.status_of("resumes").await, "offline");
        },
    )
    .await;
    beating.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_loses_no_status_change() {
    let cluster = federation_testkit::PostgresCluster::start().unwrap();
    let url = cluster.create_database("federation").unwrap();
    let nats_url = federation_testkit::shared_nats_url().unwrap();
    let app = nats_config(&nats_url, Backend::Postgres(url)).start().await;
    let nats = client(&nats_url).await;
    app.register(&project("durable")).await;
    app.wait_bus_healthy().await;
    beat_until(&app, &nats, "durable", || heartbeat("durable"), "online").await;

    cluster.stop().unwrap();
    // Silence while the store is down: degraded and offline happen in memory only. A tick
    // (a failed one: the store is down) after offline_after has judged it.
    ticks::holds_through(
        &app,
        tokio::time::Instant::now(),
        OFFLINE_AFTER + Duration::from_millis(800),
        Duration::from_secs(30),
        || async {},
    )
    .await;
    let r = app.get("/ready").send().await.unwrap();
    assert_eq!(r.status(), 503);
    cluster.start_again().unwrap();

    let h: Vec<Value> = eventually(Duration::from_secs(30), || async {
        let resp = app
            .get("/api/fed/projects/durable/history")
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .unwrap();
        if resp.status() != 200 {
            return Err(format!("history answers {}", resp.status()));
        }
        let h: Vec<Value> = resp.json().await.unwrap();
        if h.len() >= 3 {
            Ok(h)
        } else {
            Err(format!("{} transitions stored", h.len()))
        }
    })
    .await;
    let tos: Vec<&str> = h.iter().rev().map(|t| t["to"].as_str().unwrap()).collect();
    assert_eq!(tos, ["online", "degraded", "offline"]);
    // Reads come from the registry, which applies the stored batch right after it.
    app.wait_for_status("durable", "offline", Duration::from_secs(5))
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_restart_keeps_statuses() {
    let nats_url = federation_testkit::shared_nats_url().unwrap();
    let config = nats_config(&nats_url, Backend::postgres());
    let app = config.start().await;
    let nats = client(&nats_url).await;
    app.register(&project("steady")).await;
    beat_until(&app, &nats, "steady", || heartbeat("steady"), "online").await;
    app.stop().await;

    let app = config.start().await;
    assert_eq!(app.status_of("steady").await, "online");
    // Still beating after the restart: it stays online.
    beat_until(&app, &nats, "steady", || heartbeat("steady"), "online").await;
    app.stop().await;
}

pub(crate) const ALLOW_ALL: &str = r#"
authorization {
  users = [
    {user: svc, password: svc, permissions: {publish: ">", subscribe: ">"}}
    {user: probe, password: probe}
  ]
}
"#;

/// The service may still publish (its canaries go out) but may no longer receive
/// presence messages: the link stays up while the subscription is gone.
const REVOKE_PRESENCE: &str = r#"
authorization {
  users = [
    {user: svc, password: svc, permissions: {publish: ">", subscribe: {allow: ">", deny: "hub.presence.>"}}}
    {user: probe, password: probe}
  ]
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_presence_subscription_holds_expiry_until_it_comes_back() {
    let mut server = federation_testkit::NatsServer::start_with_config(ALLOW_ALL).unwrap();
    let port = server.port();
    let app = nats_config(
        &format!("nats://svc:svc@127.0.0.1:{port}"),
        Backend::postgres(),
    )
    .start()
    .await;
    let nats = client_as(&server.url(), Some("probe")).await;
    app.register(&project("quiet")).await;
    app.wait_bus_healthy().await;
    beat_until(&app, &nats, "quiet", || heartbeat("quiet"), "online").await;

    // Revoke the service's right to receive presence messages; the link stays up.
    server.reload_with_config(REVOKE_PRESENCE).unwrap();
    let revoked = tokio::time::Instant::now();
    // The server says so (a permissions violation for the subscription): the link
    // reads down, and /ready names the refusal.
    eventually(Duration::from_secs(5), || async {
        let r = app.ready().await;
        if r["checks"]["partition_guard"] == "link_down"
            && r["checks"]["nats_denied"]
                .to_string()
                .contains("presence: subscribe to")
        {
            Ok(())
        } else {
            Err(format!("guard not engaged: {r}"))
        }
    })
    .await;
    // "quiet" is silent now, but we cannot hear anybody: it must not expire, through
    // offline_after and a tick after it.
    ticks::holds_through(
        &app,
        revoked,
        OFFLINE_AFTER + Duration::from_secs(2),
        Duration::from_secs(30),
        || async {
            assert_ne!(
                app.status_of("quiet").await,
                "offline",
                "expired while deaf"
            );
        },
    )
    .await;

    // Permissions back: the service subscribes again (it reconnects while canaries stay
    // lost), the guard releases, and heartbeats are heard once more.
    server.reload_with_config(ALLOW_ALL).unwrap();
    beat_until(&app, &nats, "quiet", || heartbeat("quiet"), "online").await;
    eventually(Duration::from_secs(15), || async {
        let r = app.ready().await;
        if !matches!(
            r["checks"]["partition_guard"].as_str(),
            Some("canary_lost" | "link_down")
        ) && r["checks"]["nats_permissions"] == "ok"
        {
            Ok(())
        } else {
            Err(format!("guard not released: {r}"))
        }
    })
    .await;
    // And silence counts again: after the recovery hold, a silent project expires.
    app.wait_for_status("quiet", "offline", OFFLINE_AFTER * 3)
        .await;
    app.stop().await;
}

/// Going offline waits for neither the tick's phase nor the next tick: with a sweep
/// every 10 s, a project silent past its thresholds (degraded 0.5 s, offline 1 s) is
/// degraded, then offline, within seconds of its last heartbeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_goes_offline_at_its_threshold_not_at_the_next_tick() {
    let mut config = TestConfig::new(Backend::sqlite);
    config
        .set("FEDERATION_SWEEP_INTERVAL", "10s")
        .set("FEDERATION_LEASE_TTL", "30s")
        .set("FEDERATION_DEGRADED_AFTER", "500ms")
        .set("FEDERATION_OFFLINE_AFTER", "1s");
    let app = config.start().await;
    assert_eq!(app.register(&project("lone")).await.status(), 201);
    app.beat("lone", "1.0.0").await;
    app.wait_for_status("lone", "online", Duration::from_secs(5))
        .await;
    // The next tick is about 9 s away: only a sweep at the deadline makes this.
    app.wait_for_status("lone", "offline", Duration::from_secs(6))
        .await;
    let h = app.history("lone").await;
    let offline = &h[0];
    assert_eq!(offline["reason"], "heartbeat_timeout");
    let silence = (time(&offline["at"]) - time(&offline["last_heartbeat_at"]))
        .to_std()
        .unwrap();
    assert!(
        silence >= Duration::from_secs(1),
        "offline after {silence:?}"
    );
    app.stop().await;
}
