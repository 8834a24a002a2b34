//! Incidents on the real service, on PostgreSQL and SQLite: seven projects go silent
//! together; a channel watching six of them gets exactly one incident message (listing
//! those of the six offline when it opened), updates listing each later one once, and
//! one resolve message listing the six, never one per project; REST lists the incident
//! with all seven members.

use std::time::{Duration, Instant};

use federation_testkit::{Receiver, ReceiverMode};
use serde_json::{json, Value};

use crate::helpers::{eventually, Backend, TestApp, TestConfig, WRITE_KEY};

const SECRET: &str = "whsec-0123456789abcdef";

fn tagged(slug: &str, tag: &str) -> Value {
    json!({"slug": slug, "name": format!("Project {slug}"),
           "hub_url": format!("http://{slug}.example.com"), "tags": [tag]})
}

async fn messages(rec: &Receiver, n: usize) -> Vec<Value> {
    eventually(Duration::from_secs(20), || async {
        let got = rec.received();
        if got.len() >= n {
            Ok(got
                .iter()
                .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
                .collect::<Vec<_>>())
        } else {
            Err(format!("{} messages", got.len()))
        }
    })
    .await
}

async fn beat_all(app: &TestApp, slugs: &[String]) {
    for s in slugs {
        app.beat(s, "1.0.0").await;
    }
}

async fn many_silent_projects_are_one_incident(mut config: TestConfig) {
    config
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_DEGRADED_AFTER", "0")
        .set("FEDERATION_OFFLINE_AFTER", "2s")
        .set("FEDERATION_INCIDENT_MIN_PROJECTS", "5")
        .set("FEDERATION_INCIDENT_TAG_PERCENT", "0")
        .set("FEDERATION_INCIDENT_WINDOW", "3s");
    let app = config.start().await;
    let rec = Receiver::start(ReceiverMode::Ok).unwrap();
    let resp = app
        .post("/api/fed/channels")
        .header("X-API-Key", WRITE_KEY)
        .json(
            &json!({"name": "ops", "kind": "webhook", "url": rec.url, "secret": SECRET,
                      "rules": {"tags": ["prod"]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());

    let mut slugs: Vec<String> = (1..=6).map(|i| format!("prod-{i}")).collect();
    for s in &slugs {
        assert_eq!(app.register(&tagged(s, "prod")).await.status(), 201);
    }
    assert_eq!(app.register(&tagged("lab-1", "lab")).await.status(), 201);
    slugs.push("lab-1".into());
    beat_all(&app, &slugs).await;
    for s in &slugs {
        app.wait_for_status(s, "online", Duration::from_secs(5))
            .await;
    }

    // All fall silent together.
    for s in &slugs {
        app.wait_for_status(s, "offline", Duration::from_secs(10))
            .await;
    }
    let detected = Instant::now();
    let got = messages(&rec, 1).await;
    eprintln!(
        "measured: incident message {:?} after the last project was seen offline",
        detected.elapsed()
    );
    let opened = &got[0];
    assert_eq!(opened["event"], "incident", "{opened}");
    let slugs_of = |m: &Value| -> Vec<String> {
        m["incident"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    // Those offline when it opened, and only those the channel watches.
    let members = slugs_of(opened);
    assert!(members.len() >= 3, "{opened}");
    assert!(members.iter().all(|s| s.starts_with("prod-")), "{opened}");
    let id = opened["incident"]["id"].as_u64().unwrap();
    assert_eq!(opened["id"], format!("{id}-ops-incident"));

    // Every project that went offline is a member (the late ones joined).
    let open = eventually(Duration::from_secs(10), || async {
        let open = app.read_json("/api/fed/incidents?state=open").await;
        match open[0]["members"].as_array().map(Vec::len) {
            Some(7) => Ok(open),
            _ => Err(open.to_string()),
        }
    })
    .await;
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["id"], id);
    assert_eq!(open[0]["members"].as_array().unwrap().len(), 7, "{open}");
    assert_eq!(open[0]["trigger"], "fleet");

    // Back: one resolve message, with the incident's length.
    beat_all(&app, &slugs).await;
    let got = eventually(Duration::from_secs(20), || async {
        let got: Vec<Value> = rec
            .received()
            .iter()
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
            .collect();
        if got.iter().any(|m| m["event"] == "incident_resolved") {
            Ok(got)
        } else {
            Err(format!("{} messages", got.len()))
        }
    })
    .await;
    // Members that joined after the opening message are told in updates, each once;
    // nothing is told one project at a time.
    let (resolved, updates) = got[1..].split_last().unwrap();
    assert_eq!(resolved["event"], "incident_resolved", "{got:?}");
    let mut told = members.clone();
    for u in updates {
        assert_eq!(
            u["event"], "incident_updated",
            "no message per project: {got:?}"
        );
        assert_eq!(u["incident"]["id"], id);
        for s in slugs_of(u) {
            assert!(!told.contains(&s), "{s} told twice: {got:?}");
            told.push(s);
        }
    }
    assert!(told.iter().all(|s| s.starts_with("prod-")), "{got:?}");
    assert_eq!(resolved["incident"]["id"], id);
    assert!(resolved["outage_seconds"].as_i64().unwrap() >= 0);
    let mut back = slugs_of(resolved);
    back.sort_unstable();
    assert_eq!(back, slugs[..6], "{resolved}");
    // The channel's record has the same messages, newest first.
    let d = app.read_json("/api/fed/deliveries?channel=ops").await;
    let events: Vec<&str> = d
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["event"].as_str().unwrap())
        .collect();
    let sent: Vec<&str> = got
        .iter()
        .rev()
        .map(|m| m["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, sent, "{d}");

    let one = app.read_json(&format!("/api/fed/incidents/{id}")).await;
    assert_eq!(one["state"], "resolved", "{one}");
    assert!(one["members"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["back_at"].is_string()));
    let resolved_list = app
        .read_json("/api/fed/incidents?state=resolved&limit=5")
        .await;
    assert_eq!(resolved_list[0]["id"], id);
    let missing = app
        .get("/api/fed/incidents/999999999")
        .header("X-API-Key", WRITE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = app
        .get("/api/fed/incidents?state=closed")
        .header("X-API-Key", WRITE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["field"], "state", "{body}");
    app.stop().await;
}

on_both_backends!(incident, many_silent_projects_are_one_incident);
