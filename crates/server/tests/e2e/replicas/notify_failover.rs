//! Notifications across a leader's kill -9 (issue 24): three replicas on one PostgreSQL
//! and nats-server, one webhook channel to a recording receiver, 30 projects going
//! offline at once and coming back, and the leader killed in the middle of the offline
//! burst. Counted by `Idempotency-Key`: nothing is lost, and a key arrives twice only
//! for a message the dead leader had sent after its last cursor write.
//!
//! The bound the design allows: the dispatcher writes each channel's cursor once per
//! pass (every 250 ms) past what its sender finished, so a kill can repeat what the
//! sender finished since the last write, plus the one it was sending. With a receiver
//! that takes [`RECEIVER_DELAY`] per message, that is at most
//! `2 × 250 ms / RECEIVER_DELAY + 1` (two passes: one of slack for two busy cores).

use std::collections::HashMap;

use federation_testkit::{Receiver, ReceiverMode};

use super::*;

const PROJECTS: usize = 30;
const RECEIVER_DELAY: Duration = Duration::from_millis(40);
const DISPATCH_PASS: Duration = Duration::from_millis(250);
const SECRET: &str = "whsec-0123456789abcdef";

/// Most duplicates the design allows (see the module's description).
fn allowed_duplicates() -> usize {
    (2 * DISPATCH_PASS.as_millis() / RECEIVER_DELAY.as_millis()) as usize + 1
}

/// (idempotency key, event, slug) of each request, in arrival order.
fn keys(receiver: &Receiver) -> Vec<(String, String, String)> {
    receiver
        .received()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            assert_eq!(
                r.header("idempotency-key"),
                body["id"].as_str().unwrap_or_default(),
                "the header is the body's id"
            );
            (
                r.header("idempotency-key").to_owned(),
                body["event"].as_str().unwrap_or_default().to_owned(),
                body["project"]["slug"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_leader_loses_no_notification_and_repeats_only_what_was_in_flight() {
    let started = Instant::now();
    let db = federation_testkit::postgres_database().unwrap();
    let nats_server = federation_testkit::NatsServer::start().unwrap();
    // One message per project is what this test counts: no grouping into an incident.
    let mut cluster = Cluster::start_with(&db.url, &[nats_server.url()], |_| {
        vec![
            ("FEDERATION_INCIDENT_MIN_PROJECTS", "0".to_owned()),
            ("FEDERATION_INCIDENT_TAG_PERCENT", "0".to_owned()),
        ]
    })
    .await;
    let nats = nats_client(&nats_server.url()).await;
    let receiver = Receiver::start(ReceiverMode::Slow(RECEIVER_DELAY)).unwrap();
    let leader = cluster.leader().await;
    let front = (leader + 1) % 3;

    let created = cluster.replicas[front]
        .http
        .post(cluster.replicas[front].url("/api/fed/channels"))
        .json(
            &json!({"name": "ops", "kind": "webhook", "url": receiver.url,
                      "secret": SECRET, "rules": {"on": ["offline", "recovered"]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status().as_u16(),
        201,
        "{}",
        created.text().await.unwrap()
    );

    let slugs: Vec<String> = (0..PROJECTS).map(|i| format!("p{i:02}")).collect();
    let names: Vec<&str> = slugs.iter().map(String::as_str).collect();
    for slug in &names {
        cluster.replicas[front].register(slug).await;
    }
    let beating = Beating::start(nats.clone(), &names);
    for slug in &names {
        cluster
            .wait_status(slug, "online", Duration::from_secs(10))
            .await;
    }
    // Coming online for the first time is no recovery: nothing is told before the burst.
    let baseline = receiver.count();

    // The burst: every project falls silent at once (offline after 3 s). The leader
    // is killed once a third of the offline messages have arrived.
    drop(beating);
    eventually(Duration::from_secs(20), || async {
        let got = receiver.count() - baseline;
        if got >= PROJECTS / 3 {
            Ok(())
        } else {
            Err(format!("{got} offline messages so far"))
        }
    })
    .await;
    cluster.replicas[leader].kill();
    let at_kill = receiver.count();
    println!(
        "killed the leader ({}) after {} of {PROJECTS} offline messages",
        cluster.replicas[leader].name,
        at_kill - baseline
    );
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, leader);

    // Every project offline on the survivors, then back: the recoveries come from the
    // new leader.
    for slug in &names {
        cluster
            .wait_status(slug, "offline", Duration::from_secs(10))
            .await;
    }
    let _back = Beating::start(nats.clone(), &names);
    let want: usize = 2 * PROJECTS;
    eventually(Duration::from_secs(20), || async {
        let got: std::collections::BTreeSet<String> = keys(&receiver)[baseline..]
            .iter()
            .map(|(k, _, _)| k.clone())
            .collect();
        if got.len() >= want {
            Ok(())
        } else {
            let events: Vec<String> = keys(&receiver)[baseline..]
                .iter()
                .map(|(_, e, s)| format!("{s}:{e}"))
                .collect();
            Err(format!(
                "{} of {want} distinct messages: {events:?}",
                got.len()
            ))
        }
    })
    .await;

    let received = keys(&receiver)[baseline..].to_vec();
    let mut copies: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (key, _, _)) in received.iter().enumerate() {
        copies.entry(key.as_str()).or_default().push(i);
    }
    // Lost: a project whose offline or recovery never arrived.
    for event in ["offline", "recovered"] {
        let told: std::collections::BTreeSet<&str> = received
            .iter()
            .filter(|(_, e, _)| e == event)
            .map(|(_, _, s)| s.as_str())
            .collect();
        let missing: Vec<&&str> = names.iter().filter(|s| !told.contains(**s)).collect();
        assert!(missing.is_empty(), "{event} never told for {missing:?}");
    }
    let distinct = copies.len();
    let duplicated: Vec<(&str, &Vec<usize>)> = copies
        .iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(k, at)| (*k, at))
        .collect();
    let duplicates: usize = duplicated.iter().map(|(_, at)| at.len() - 1).sum();
    println!(
        "notify failover: {} requests, {distinct} distinct keys ({want} expected), 0 lost, \
         {duplicates} duplicated (allowed {}), in {:?}",
        received.len(),
        allowed_duplicates(),
        started.elapsed()
    );
    assert_eq!(distinct, want, "one message per change: {received:?}");
    for (key, at) in &duplicated {
        assert_eq!(at.len(), 2, "{key} arrived {} times", at.len());
        // The first copy came from the dead leader (at most one request may have been
        // on the wire when it died and recorded just after).
        assert!(
            at[0] <= at_kill - baseline,
            "{key}: both copies came after the kill ({at:?}, kill at {})",
            at_kill - baseline
        );
    }
    assert!(
        duplicates <= allowed_duplicates(),
        "{duplicates} duplicates, more than the {} the design allows",
        allowed_duplicates()
    );
}
