//! Uptime through the running service (issue 25): the leader records the time it
//! heard, a report counts that time by status and the rest as unknown, and a restart
//! leaves the time the service was down unknown; the leader rolls closed days up.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use federation_domain::uptime::UptimeSource;
use federation_store::{DatabaseUrl, Store, StoreOptions};

use crate::helpers::{eventually, project, Backend, TestConfig, READ_KEY};

async fn uptime_is_known_while_the_service_ran(mut config: TestConfig) {
    config.set("FEDERATION_SWEEP_INTERVAL", "100ms");
    let started = Utc::now();
    let app = config.start().await;
    assert_eq!(app.register(&project("hub")).await.status(), 201);
    app.beat("hub", "1.0.0").await;
    app.wait_for_status("hub", "online", Duration::from_secs(10))
        .await;

    let report = eventually(Duration::from_secs(10), || async {
        let r = app
            .read_json("/api/fed/projects/hub/uptime?window=24h")
            .await;
        let online = r["online_seconds"].as_f64().unwrap_or_default();
        if online >= 0.5 {
            Ok(r)
        } else {
            Err(format!("online {online}: {r}"))
        }
    })
    .await;
    assert_eq!(report["uptime_percent"], 100.0, "{report}");
    assert_eq!(report["offline_seconds"], 0.0, "{report}");
    let unknown = report["unknown_seconds"].as_f64().unwrap();
    assert!(
        unknown > 86_000.0,
        "before the service ran is unknown: {report}"
    );

    let csv = app
        .get("/api/fed/uptime?format=csv&projects=true")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(csv.status(), 200);
    assert!(csv.text().await.unwrap().contains("\r\nproject,hub,"));
    app.stop().await;

    // Started again: the time between the runs has no heard span.
    let app = config.start().await;
    let url = DatabaseUrl::parse(&config.env["DATABASE_URL"]).unwrap();
    let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
    let spans = eventually(Duration::from_secs(10), || async {
        let spans = store
            .heard(started - TimeDelta::minutes(1), Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        if spans.len() == 2 {
            Ok(spans)
        } else {
            Err(format!("{spans:?}"))
        }
    })
    .await;
    assert!(spans[0].end < spans[1].start, "{spans:?}");
    assert!(
        spans[0].start >= started - TimeDelta::seconds(1),
        "{spans:?}"
    );
    app.stop().await;
}

on_both_backends!(known_while_running, uptime_is_known_while_the_service_ran);

/// The catalog file's objectives: their SLI and error budget through the API and in
/// `/metrics`.
async fn objectives_report_their_budget(mut config: TestConfig) {
    config.set("FEDERATION_SWEEP_INTERVAL", "100ms");
    config.write_projects(
        "projects:\n  - slug: hub\n    name: Hub\n    hub_url: http://hub.example.com\n    tags: [production]\n\
         slos:\n  - tag: production\n    objective: 99.9\n  - project: hub\n    objective: 99\n    window: 7d\n",
    );
    let app = config.start().await;
    app.beat("hub", "1.0.0").await;
    app.wait_for_status("hub", "online", Duration::from_secs(10))
        .await;
    let slos = eventually(Duration::from_secs(30), || async {
        let r = app.read_json("/api/fed/slos").await;
        let ready = r.as_array().is_some_and(|a| {
            a.len() == 2
                && a.iter()
                    .all(|s| s["sli"] == 1.0 && s["computed_at"].is_string())
        });
        if ready {
            Ok(r)
        } else {
            Err(r.to_string())
        }
    })
    .await;
    assert_eq!(slos[0]["kind"], "tag");
    assert_eq!(slos[0]["subject"], "production");
    assert_eq!(slos[0]["name"], "tag-production");
    assert_eq!(slos[0]["objective_percent"], 99.9);
    assert_eq!(slos[0]["window"], "30d");
    assert_eq!(slos[1]["window"], "7d");
    let text = app.metrics().await;
    assert!(
        text.contains(r#"federation_slo_sli_ratio{kind="project",name="hub"} 1.0"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"federation_slo_objective_ratio{kind="tag",name="production",window="30d"} 0.999"#
        ),
        "{text}"
    );
    app.stop().await;
}

on_both_backends!(slos, objectives_report_their_budget);
