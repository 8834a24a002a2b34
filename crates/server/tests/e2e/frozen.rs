//! PostgreSQL frozen (SIGSTOP of the postmaster and its backends) while heartbeats flow:
//! nothing waits past its timeout, reads and heartbeats are answered from memory, the
//! flush gives up and retries, and after SIGCONT every transition of the frozen period is
//! written with the time it happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use federation_testkit::PostgresCluster;
use serde_json::{json, Value};

use crate::helpers::{eventually, Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY};

/// The store's timeouts in this test: an operation gives up after pool + statement.
const POOL_TIMEOUT: Duration = Duration::from_secs(1);
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Slack for two busy cores.
const SLACK: Duration = Duration::from_secs(3);

/// What the heartbeat senders saw.
#[derive(Default)]
struct Beats {
    sent: u64,
    refused: Vec<u16>,
    slowest: Duration,
    last_b: Option<DateTime<Utc>>,
}

async fn beat(app: &TestApp, slug: &str) -> (u16, Duration) {
    let started = Instant::now();
    let status = app
        .post(&format!("/api/fed/projects/{slug}/heartbeat"))
        .header("X-API-Key", WRITE_KEY)
        .json(&json!({ "project_slug": slug }))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    (status, started.elapsed())
}

async fn timed_get(app: &TestApp, path: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let resp = app
        .get(path)
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_is_waited_for_only_within_the_timeouts() {
    let pg = tokio::task::spawn_blocking(PostgresCluster::start)
        .await
        .unwrap()
        .expect("a PostgreSQL cluster of our own");
    let url = pg.create_database("frozen").unwrap();
    let mut config = TestConfig::new(|_| Backend::Postgres(url));
    config
        .set("FEDERATION_DB_CONNECT_TIMEOUT", "1s")
        .set("FEDERATION_DB_POOL_TIMEOUT", "1s")
        .set("FEDERATION_DB_STATEMENT_TIMEOUT", "2s")
        .set("FEDERATION_DEGRADED_AFTER", "2s")
        .set("FEDERATION_OFFLINE_AFTER", "4s")
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_LEASE_TTL", "1s");
    let app = Arc::new(config.start().await);
    for slug in ["alpha", "bravo", "charlie"] {
        let r = app.register(&crate::helpers::project(slug)).await;
        assert_eq!(r.status(), 201);
    }

    // alpha and bravo beat every 250 ms; bravo stops just before the freeze.
    let beats = Arc::new(Mutex::new(Beats::default()));
    let stop_bravo = Arc::new(AtomicBool::new(false));
    let stop_all = Arc::new(AtomicBool::new(false));
    let sender = {
        let (app, beats, stop_bravo, stop_all) = (
            app.clone(),
            beats.clone(),
            stop_bravo.clone(),
            stop_all.clone(),
        );
        tokio::spawn(async move {
            while !stop_all.load(Ordering::SeqCst) {
                let mut slugs = vec!["alpha"];
                if !stop_bravo.load(Ordering::SeqCst) {
                    slugs.push("bravo");
                }
                for slug in slugs {
                    let (status, took) = beat(&app, slug).await;
                    let mut b = beats.lock().unwrap();
                    b.sent += 1;
                    b.slowest = b.slowest.max(took);
                    if status != 202 {
                        b.refused.push(status);
                    }
                    if slug == "bravo" && status == 202 {
                        b.last_b = Some(Utc::now());
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    for slug in ["alpha", "bravo"] {
        app.wait_for_status(slug, "online", Duration::from_secs(10))
            .await;
    }
    stop_bravo.store(true, Ordering::SeqCst);
    // bravo's sender has stopped once a whole round went by without it.
    let sent = beats.lock().unwrap().sent;
    eventually(Duration::from_secs(5), || {
        let now = beats.lock().unwrap().sent;
        async move {
            if now >= sent + 2 {
                Ok(())
            } else {
                Err("the sender has not gone round")
            }
        }
    })
    .await;
    let last_bravo = beats.lock().unwrap().last_b.unwrap();

    let frozen_at = Utc::now();
    let freeze_started = Instant::now();
    let pg = tokio::task::spawn_blocking(move || {
        let n = pg.freeze().unwrap();
        (pg, n)
    })
    .await
    .unwrap();
    let (pg, processes) = pg;
    println!("froze {processes} PostgreSQL processes");

    // A write: 503 within pool + statement timeout.
    let started = Instant::now();
    let resp = app.register(&crate::helpers::project("delta")).await;
    let write_took = started.elapsed();
    assert_eq!(resp.status(), 503);
    assert!(
        write_took <= POOL_TIMEOUT + STATEMENT_TIMEOUT + SLACK,
        "{write_took:?}"
    );
    // Readiness says so, within its own timeout.
    let (ready_status, ready, ready_took) = timed_get(&app, "/ready").await;
    assert_eq!(ready_status, 503, "{ready}");
    assert_eq!(ready["checks"]["database"], "down", "{ready}");
    assert!(
        ready_took <= Duration::from_secs(2) + SLACK,
        "{ready_took:?}"
    );
    // Reads are answered from memory.
    let (read_status, _, read_took) = timed_get(&app, "/api/fed/projects/alpha").await;
    assert_eq!(read_status, 200);
    assert!(read_took < Duration::from_secs(1), "{read_took:?}");
    let (metrics_status, _, metrics_took) = timed_get(&app, "/metrics").await;
    assert_eq!(metrics_status, 200);

    // bravo goes offline in memory while the database is frozen, and the flush fails and
    // is retried (more than once).
    eventually(Duration::from_secs(15), || {
        let fed = app.federation.clone();
        let metrics = app.get("/metrics").send();
        async move {
            let text = metrics
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            let errors: f64 = text
                .lines()
                .find(|l| l.starts_with("federation_store_flush_errors_total"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            match fed.longest_offline() {
                Some(_) if errors >= 2.0 => Ok(errors),
                other => Err(format!("offline for {other:?}, {errors} flush errors")),
            }
        }
    })
    .await;
    let frozen_for = freeze_started.elapsed();
    let thawed_at = Utc::now();
    let thaw_started = Instant::now();
    let pg = tokio::task::spawn_blocking(move || {
        pg.thaw().unwrap();
        pg
    })
    .await
    .unwrap();

    // Back: ready again, bravo's two transitions written with their own times.
    eventually(Duration::from_secs(20), || {
        let ready = app.get("/ready").send();
        async move {
            let status = ready.await.map_err(|e| e.to_string())?.status();
            if status == 200 {
                Ok(())
            } else {
                Err(status.to_string())
            }
        }
    })
    .await;
    let ready_again = thaw_started.elapsed();
    app.wait_for_status("bravo", "offline", Duration::from_secs(20))
        .await;
    let written_after = thaw_started.elapsed();
    let (_, history, _) = timed_get(&app, "/api/fed/projects/bravo/history").await;
    let steps: Vec<(String, String, DateTime<Utc>)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["from"].as_str().unwrap().to_owned(),
                t["to"].as_str().unwrap().to_owned(),
                time(&t["at"]),
            )
        })
        .collect();
    let [(f1, t1, offline_at), (f2, t2, degraded_at), ..] = steps.as_slice() else {
        panic!("{history}");
    };
    assert_eq!(
        (f1.as_str(), t1.as_str()),
        ("degraded", "offline"),
        "{history}"
    );
    assert_eq!(
        (f2.as_str(), t2.as_str()),
        ("online", "degraded"),
        "{history}"
    );
    let late = |at: DateTime<Utc>, after: i64| (at - last_bravo).num_milliseconds() - after;
    for (what, at, after) in [
        ("degraded", *degraded_at, 2000),
        ("offline", *offline_at, 4000),
    ] {
        assert!(
            at > frozen_at && at < thawed_at,
            "{what} at {at}: not in the frozen period {frozen_at}..{thawed_at}"
        );
        // Stamped when the sweep saw it (a tick of 100 ms), not when it could be written.
        assert!(
            (-300..1500).contains(&late(at, after)),
            "{what} at {at}, {} ms after its due time",
            late(at, after)
        );
    }
    // alpha never went anywhere.
    let (_, alpha, _) = timed_get(&app, "/api/fed/projects/alpha/history").await;
    assert_eq!(alpha.as_array().unwrap().len(), 1, "{alpha}");
    assert_eq!(alpha[0]["to"], "online");
    // A write goes through again.
    let resp = app.register(&crate::helpers::project("delta")).await;
    assert_eq!(resp.status(), 201);

    stop_all.store(true, Ordering::SeqCst);
    sender.await.unwrap();
    let (sent, refused, slowest) = {
        let b = beats.lock().unwrap();
        (b.sent, b.refused.clone(), b.slowest)
    };
    assert!(refused.is_empty(), "heartbeats refused: {refused:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    println!(
        "frozen-PostgreSQL timings: write 503 after {write_took:?}, /ready 503 after {ready_took:?}, \
         read {read_took:?}, /metrics {metrics_took:?}; frozen {frozen_for:?}; after SIGCONT \
         /ready 200 in {ready_again:?}, transitions written in {written_after:?}; bravo degraded \
         {} ms and offline {} ms after due; {sent} heartbeats, slowest {slowest:?}",
        late(*degraded_at, 2000),
        late(*offline_at, 4000),
    );
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("the app is still shared"),
    }
    drop(pg);
}
