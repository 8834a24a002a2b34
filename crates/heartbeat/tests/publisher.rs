//! The publisher against a real nats-server from the test kit.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::time::Duration;

use federation_heartbeat::{
    connect_nats, send_once, Health, HeartbeatConfig, NatsAuth, Publisher, Sink,
};
use federation_testkit::{shared_nats_url, NatsServer};
use futures::StreamExt;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

async fn subscriber(url: &str, subject: &str) -> (async_nats::Client, async_nats::Subscriber) {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(url)
        .await
        .expect("test client");
    let sub = client
        .subscribe(subject.to_owned())
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    (client, sub)
}

async fn next_json(sub: &mut async_nats::Subscriber) -> Value {
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a heartbeat within 10 s")
        .expect("subscription open");
    serde_json::from_slice(&msg.payload).expect("heartbeat is JSON")
}

fn config(slug: &str, interval: Duration) -> HeartbeatConfig {
    HeartbeatConfig::new(slug, &format!("http://{slug}.example.com"))
        .unwrap()
        .version("0.9.0")
        .interval(interval)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_beat_goes_out_at_once_with_the_seeds_payload() {
    let url = shared_nats_url().unwrap();
    let (_c, mut sub) = subscriber(&url, "hub.presence.shape-test").await;
    let client = connect_nats(&url, &NatsAuth::default()).await.unwrap();
    // An hour's interval: whatever arrives is the immediate first beat.
    let publisher = Publisher::nats(config("shape-test", Duration::from_secs(3600)), client);
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.subject.as_str(), "hub.presence.shape-test");
    let json: Value = serde_json::from_slice(&msg.payload).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "hub_url",
            "mesh_namespace",
            "project_slug",
            "timestamp",
            "version"
        ]
    );
    assert_eq!(json["project_slug"], "shape-test");
    assert_eq!(json["hub_url"], "http://shape-test.example.com");
    assert_eq!(json["mesh_namespace"], "hub.shape-test");
    assert_eq!(json["version"], "0.9.0");
    let ts = chrono::DateTime::parse_from_rfc3339(json["timestamp"].as_str().unwrap()).unwrap();
    let age = chrono::Utc::now().signed_duration_since(ts);
    assert!(age.num_seconds().abs() < 30, "timestamp {ts} is not now");
    let stats = publisher.stop().await;
    assert_eq!(stats.sent, 1);
    assert_eq!(stats.failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_to_degraded_and_back_is_sent_at_once() {
    let url = shared_nats_url().unwrap();
    let (_c, mut sub) = subscriber(&url, "hub.presence.switch-test").await;
    let client = connect_nats(&url, &NatsAuth::default()).await.unwrap();
    let publisher = Publisher::nats(config("switch-test", Duration::from_secs(3600)), client);
    let first = next_json(&mut sub).await;
    assert!(first.get("status").is_none());

    publisher.set_degraded(["database slow", "cache cold"]);
    let degraded = next_json(&mut sub).await;
    assert_eq!(degraded["status"], "degraded");
    assert_eq!(
        degraded["reasons"],
        serde_json::json!(["database slow", "cache cold"])
    );
    assert_eq!(
        publisher.health(),
        Health::degraded(["database slow", "cache cold"])
    );

    // Setting the same health again sends nothing new.
    publisher.set_degraded(["database slow", "cache cold"]);
    publisher.set_online();
    let online = next_json(&mut sub).await;
    assert!(online.get("status").is_none(), "{online}");
    assert!(online.get("reasons").is_none(), "{online}");
    let stats = publisher.stop().await;
    assert_eq!(stats.sent, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_repeat_no_sooner_than_the_jittered_interval_and_stop_cleanly() {
    let url = shared_nats_url().unwrap();
    let (_c, mut sub) = subscriber(&url, "hub.presence.interval-test").await;
    let client = connect_nats(&url, &NatsAuth::default()).await.unwrap();
    let interval = Duration::from_millis(100);
    let publisher = Publisher::nats(config("interval-test", interval).jitter(0.1), client);
    let mut arrivals = Vec::new();
    for _ in 0..6 {
        next_json(&mut sub).await;
        arrivals.push(tokio::time::Instant::now());
    }
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        // The lower bound of the jitter (90 ms), less a little for delivery skew.
        assert!(gap >= Duration::from_millis(80), "beats {gap:?} apart");
    }
    let stats = publisher.stop().await;
    assert!(stats.sent >= 6);
    // Nothing after stop.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {}
    let quiet = tokio::time::timeout(Duration::from_millis(400), sub.next()).await;
    assert!(quiet.is_err(), "a beat arrived after stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_beating_across_a_nats_restart() {
    let mut server = tokio::task::spawn_blocking(NatsServer::start)
        .await
        .unwrap()
        .expect("nats-server");
    let url = server.url();
    let (_c, mut sub) = subscriber(&url, "hub.presence.restart-test").await;
    let client = connect_nats(&url, &NatsAuth::default()).await.unwrap();
    let publisher = Publisher::nats(config("restart-test", Duration::from_millis(100)), client);
    next_json(&mut sub).await;
    next_json(&mut sub).await;

    server.stop().unwrap();
    // Beats fall due while the link is down: skipped, not queued.
    let deadline = tokio::time::Instant::now() + WAIT;
    while publisher.stats().skipped == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no beat skipped while NATS was down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut server = tokio::task::spawn_blocking(move || {
        server.restart().expect("nats-server restarts");
        server
    })
    .await
    .unwrap();

    // Both clients reconnect; beats arrive again.
    let resumed = next_json(&mut sub).await;
    assert_eq!(resumed["project_slug"], "restart-test");
    next_json(&mut sub).await;
    let stats = publisher.stop().await;
    assert!(stats.skipped >= 1, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_once_flushes_to_the_server() {
    let url = shared_nats_url().unwrap();
    let (_c, mut sub) = subscriber(&url, "hub.presence.once-test").await;
    let client = connect_nats(&url, &NatsAuth::default()).await.unwrap();
    send_once(
        &config("once-test", Duration::from_secs(30)),
        &Sink::nats(client),
        &Health::degraded(["maintenance"]),
    )
    .await
    .unwrap();
    let json = next_json(&mut sub).await;
    assert_eq!(json["status"], "degraded");
    assert_eq!(json["reasons"][0], "maintenance");
}

/// NATS over TLS: a nats-server with a `tls` block (TLS required) and a certificate for
/// `localhost` and `127.0.0.1` signed by a CA made in the test.
mod tls {
    use super::*;
    use federation_testkit::TestPki;

    fn tls_server(pki: &TestPki) -> NatsServer {
        NatsServer::start_with_tls(&pki.loopback).unwrap()
    }

    fn auth(ca: &std::path::Path) -> NatsAuth {
        NatsAuth {
            tls_ca_file: Some(ca.to_owned()),
            ..NatsAuth::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beats_arrive_over_tls_with_the_right_ca() {
        let pki = TestPki::new().unwrap();
        let server = tls_server(&pki);
        let url = format!("tls://127.0.0.1:{}", server.port());
        let auth = auth(&pki.ca_file);
        let watcher = auth
            .connect_options(&url)
            .await
            .unwrap()
            .connect(&url)
            .await
            .unwrap();
        let mut sub = watcher.subscribe("hub.presence.tls-test").await.unwrap();
        watcher.flush().await.unwrap();
        let client = connect_nats(&url, &auth).await.unwrap();
        let publisher = Publisher::nats(config("tls-test", Duration::from_secs(3600)), client);
        assert_eq!(next_json(&mut sub).await["project_slug"], "tls-test");
        assert_eq!(publisher.stop().await.failed, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_ca_is_refused_with_a_clear_error() {
        let pki = TestPki::new().unwrap();
        let server = tls_server(&pki);
        let url = format!("tls://127.0.0.1:{}", server.port());
        let err = auth(&pki.other_ca_file)
            .connect_options(&url)
            .await
            .unwrap()
            .connection_timeout(Duration::from_secs(5))
            .connect(&url)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("UnknownIssuer"), "{err}");
        // A CA file that is not there is named before anything connects.
        let missing = pki.dir().join("missing.pem");
        let err = connect_nats(&url, &auth(&missing))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("NATS_TLS_CA_FILE"), "{err}");
        assert!(err.contains(&missing.display().to_string()), "{err}");
    }
}
