//! Notification delivery on the real service, on PostgreSQL and SQLite: a project goes
//! offline and comes back; receivers this test starts get what the rules say, and a
//! receiver that fails, never answers or is slow delays nobody else. Deliveries are
//! recorded and counted in the metrics.

use std::time::{Duration, Instant};

use federation_testkit::{Receiver, ReceiverMode};
use serde_json::{json, Value};

use crate::helpers::{eventually, metric_value, project, Backend, TestConfig, WRITE_KEY};

const SECRET: &str = "whsec-0123456789abcdef";

async fn channel(app: &crate::helpers::TestApp, name: &str, url: &str, rules: Value) {
    let resp = app
        .post("/api/fed/channels")
        .header("X-API-Key", WRITE_KEY)
        .json(
            &json!({"name": name, "kind": "webhook", "url": url, "secret": SECRET, "rules": rules}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

async fn deliveries(app: &crate::helpers::TestApp, name: &str) -> Vec<Value> {
    app.read_json(&format!("/api/fed/deliveries?channel={name}"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn outage_is_told_once_and_slow_channels_delay_nobody(mut config: TestConfig) {
    config
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_DEGRADED_AFTER", "0")
        .set("FEDERATION_OFFLINE_AFTER", "1s")
        .set("FEDERATION_NOTIFY_TIMEOUT", "1s")
        .set("FEDERATION_NOTIFY_DEADLINE", "3s");
    let app = config.start().await;
    let rec = Receiver::start(ReceiverMode::Ok).unwrap();
    let flaky = Receiver::start(ReceiverMode::FailFirst(2)).unwrap();
    let hang = Receiver::start(ReceiverMode::Hang).unwrap();
    let slow = Receiver::start(ReceiverMode::Slow(Duration::from_millis(700))).unwrap();
    let held = Receiver::start(ReceiverMode::Ok).unwrap();
    let all = json!({});
    channel(&app, "hang", &hang.url, all.clone()).await;
    channel(&app, "slow", &slow.url, all.clone()).await;
    channel(&app, "rec", &rec.url, all.clone()).await;
    channel(&app, "flaky", &flaky.url, json!({"on": ["offline"]})).await;
    // A hold longer than the outage: this channel hears nothing.
    channel(&app, "held", &held.url, json!({"hold_seconds": 600})).await;

    assert_eq!(app.register(&project("alpha")).await.status(), 201);
    app.beat("alpha", "1.0.0").await;
    app.wait_for_status("alpha", "online", Duration::from_secs(5))
        .await;
    let went_offline = Instant::now();
    app.wait_for_status("alpha", "offline", Duration::from_secs(10))
        .await;

    // The recording receiver hears it while the silent one still holds its attempt.
    eventually(Duration::from_secs(10), || async {
        let n = rec.count();
        if n >= 1 {
            Ok(())
        } else {
            Err(format!("{n} messages"))
        }
    })
    .await;
    let told_after = went_offline.elapsed();
    eprintln!(
        "measured: offline told {told_after:?} after the test began waiting for the offline status"
    );
    let first = &rec.received()[0];
    let body: Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(body["event"], "offline", "{body}");
    assert_eq!(body["project"]["slug"], "alpha");
    assert_eq!(
        first.header("idempotency-key"),
        body["id"].as_str().unwrap()
    );
    assert!(federation_notify::sign::verify(
        SECRET.as_bytes(),
        first.header("x-federation-signature"),
        &first.body,
        chrono::Utc::now().timestamp(),
        300
    ));

    // Back online: a recovery with the outage's length.
    app.beat("alpha", "1.0.0").await;
    app.wait_for_status("alpha", "online", Duration::from_secs(5))
        .await;
    eventually(Duration::from_secs(10), || async {
        let n = rec.count();
        if n >= 2 {
            Ok(())
        } else {
            Err(format!("{n} messages"))
        }
    })
    .await;
    // A maintenance window keeps it from going offline again while the test looks.
    let resp = app
        .client
        .put(app.url("/api/fed/projects/alpha/maintenance"))
        .header("X-API-Key", WRITE_KEY)
        .json(&json!({"reason": "the test is looking", "for": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let second: Value = serde_json::from_slice(&rec.received()[1].body).unwrap();
    assert_eq!(second["event"], "recovered", "{second}");
    assert!(second["outage_seconds"].as_i64().unwrap() >= 0, "{second}");

    // The flaky receiver got the offline message on its third attempt, same key each
    // time; it is not told recoveries.
    eventually(Duration::from_secs(10), || async {
        let d = deliveries(&app, "flaky").await;
        match d.first() {
            Some(x) if x["status"] == "sent" => Ok(()),
            _ => Err(format!("{d:?}")),
        }
    })
    .await;
    let d = deliveries(&app, "flaky").await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["attempts"], 3, "{d:?}");
    let keys: Vec<String> = flaky
        .received()
        .iter()
        .map(|r| r.header("idempotency-key").to_owned())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");

    // The silent receiver: recorded failed after the deadline, both messages.
    eventually(Duration::from_secs(20), || async {
        let d = deliveries(&app, "hang").await;
        if d.len() >= 2 && d.iter().all(|x| x["status"] == "failed") {
            Ok(())
        } else {
            Err(format!("{d:?}"))
        }
    })
    .await;
    // The slow one got both, late.
    eventually(Duration::from_secs(20), || async {
        let d = deliveries(&app, "slow").await;
        if d.len() >= 2 && d.iter().all(|x| x["status"] == "sent") {
            Ok(())
        } else {
            Err(format!("{d:?}"))
        }
    })
    .await;
    assert!(
        told_after < Duration::from_secs(5),
        "told after {told_after:?}"
    );
    assert_eq!(rec.count(), 2, "each change told once");
    assert_eq!(held.count(), 0, "back within the hold: nothing");

    let text = app.metrics().await;
    assert_eq!(
        metric_value(
            &text,
            r#"federation_notifications_sent_total{channel="rec"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric_value(
            &text,
            r#"federation_notifications_retried_total{channel="flaky"}"#
        ),
        Some(2.0)
    );
    assert!(
        metric_value(
            &text,
            r#"federation_notifications_failed_total{channel="hang"}"#
        ) >= Some(2.0)
    );
    app.stop().await;
}

on_both_backends!(delivery, outage_is_told_once_and_slow_channels_delay_nobody);

/// A restart in the middle of an outage: the new leader resumes from the channel's
/// cursor, tells nothing twice, and tells the recovery with the whole outage's length.
async fn a_restart_resumes_from_the_cursor(mut config: TestConfig) {
    config
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_DEGRADED_AFTER", "0")
        .set("FEDERATION_OFFLINE_AFTER", "1s");
    let rec = Receiver::start(ReceiverMode::Ok).unwrap();
    let app = config.start().await;
    channel(&app, "rec", &rec.url, json!({})).await;
    assert_eq!(app.register(&project("alpha")).await.status(), 201);
    app.beat("alpha", "1.0.0").await;
    app.wait_for_status("alpha", "online", Duration::from_secs(5))
        .await;
    app.wait_for_status("alpha", "offline", Duration::from_secs(10))
        .await;
    let offline_seen = Instant::now();
    eventually(Duration::from_secs(10), || async {
        let d = deliveries(&app, "rec").await;
        if d.len() == 1 {
            Ok(())
        } else {
            Err(format!("{d:?}"))
        }
    })
    .await;
    app.stop().await;

    let app = config.start().await;
    // The outage lasted at least this long (it began before the test saw it).
    let gap = i64::try_from(offline_seen.elapsed().as_secs()).unwrap();
    app.beat("alpha", "1.0.0").await;
    app.wait_for_status("alpha", "online", Duration::from_secs(5))
        .await;
    eventually(Duration::from_secs(10), || async {
        let n = rec.count();
        if n >= 2 {
            Ok(())
        } else {
            Err(format!("{n} messages"))
        }
    })
    .await;
    let resp = app
        .client
        .put(app.url("/api/fed/projects/alpha/maintenance"))
        .header("X-API-Key", WRITE_KEY)
        .json(&json!({"reason": "the test is looking", "for": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = rec.received();
    let events: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["event"], "offline");
    assert_eq!(events[1]["event"], "recovered", "{events:?}");
    assert!(
        events[1]["outage_seconds"].as_i64().unwrap() >= gap,
        "at least {gap} s: {events:?}"
    );
    app.stop().await;
}

on_both_backends!(restart, a_restart_resumes_from_the_cursor);
