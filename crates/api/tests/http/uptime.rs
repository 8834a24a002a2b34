//! The uptime routes: a project's report and a tag's or the fleet's roll-up, as JSON
//! and CSV; bad windows are refused naming the parameter; the description's examples
//! are accepted.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use chrono::TimeDelta;
use federation_domain::uptime::{Span, UptimeSource};
use federation_domain::{Slug, Status, Tags, Transition};

use crate::common::*;

fn row(slug: &str, from: Status, to: Status, at: chrono::DateTime<chrono::Utc>) -> Transition {
    Transition {
        slug: Slug::parse(slug).unwrap(),
        from,
        to,
        reason: Some("heartbeat".into()),
        at,
        last_heartbeat_at: None,
    }
}

/// `commandcenter` (tag python) and `other` (tag go): heard for the last three hours;
/// commandcenter online from t0-2h, offline t0-1h30..t0-1h; other online from t0-2h.
async fn harness_with_history() -> Harness {
    let mut other = project("other");
    other.tags = Tags::parse(&["go"]).unwrap();
    let h = with_projects(vec![project("commandcenter"), other]);
    let h0 = t0() - TimeDelta::hours(2);
    h.uptime_source.add_rows([
        row("commandcenter", Status::Offline, Status::Online, h0),
        row(
            "commandcenter",
            Status::Online,
            Status::Offline,
            h0 + TimeDelta::minutes(30),
        ),
        row(
            "commandcenter",
            Status::Offline,
            Status::Online,
            h0 + TimeDelta::minutes(60),
        ),
        row("other", Status::Offline, Status::Online, h0),
    ]);
    h.uptime_source
        .record_heard(Span::new(t0() - TimeDelta::hours(3), t0()))
        .await
        .unwrap();
    h
}

#[actix_web::test]
async fn a_projects_report_counts_unknown_apart_and_buckets_by_day() {
    let h = harness_with_history().await;
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects/commandcenter/uptime?window=24h"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let j = &r.json;
    assert_eq!(j["slug"], "commandcenter");
    assert_eq!(j["to"], "2025-11-18T12:00:00.000000Z");
    assert_eq!(j["degraded_counts_as"], "up");
    assert_eq!(j["online_seconds"], 5400.0);
    assert_eq!(j["offline_seconds"], 1800.0);
    assert_eq!(j["unknown_seconds"], 86400.0 - 7200.0);
    assert_eq!(j["uptime_percent"], 75.0);
    assert_eq!(j["outages"], 1);
    assert_eq!(j["mttr_seconds"], 1800.0);
    assert_eq!(j["longest_outage_seconds"], 1800.0);
    let days = j["days"].as_array().unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[0]["day"], "2025-11-17");
    assert_eq!(days[0]["unknown_seconds"], 43200.0);
    assert_eq!(days[0]["uptime_percent"], serde_json::Value::Null);
    assert_eq!(days[1]["online_seconds"], 5400.0);
}

#[actix_web::test]
async fn reports_come_as_csv_when_asked() {
    let h = harness_with_history().await;
    for req in [
        TestRequest::get().uri("/api/fed/projects/commandcenter/uptime?format=csv"),
        TestRequest::get()
            .uri("/api/fed/projects/commandcenter/uptime")
            .insert_header(("accept", "text/csv")),
    ] {
        let r = h.send_w(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        assert_eq!(r.header("content-type"), Some(federation_api::uptime::CSV));
        let lines: Vec<&str> = r.raw.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], federation_api::uptime::csv::HEADER);
        assert_eq!(lines.len(), 4, "header, window, two days: {}", r.raw);
        assert!(
            lines[1].starts_with("window,commandcenter,,5400,0,1800,0,79200,75,1,1800,1800"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with("day,commandcenter,2025-11-17,"),
            "{}",
            lines[2]
        );
    }
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/uptime?tag=python&format=csv&projects=true"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(r.raw.contains("\r\nproject,commandcenter,,"), "{}", r.raw);
    assert!(!r.raw.contains("other"), "{}", r.raw);
}

#[actix_web::test]
async fn tags_and_the_fleet_roll_up() {
    let h = harness_with_history().await;
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/uptime?window=24h&projects=true"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["tag"], serde_json::Value::Null);
    assert_eq!(r.json["project_count"], 2);
    assert_eq!(r.json["online_seconds"], 5400.0 + 7200.0);
    assert_eq!(r.json["offline_seconds"], 1800.0);
    assert_eq!(r.json["uptime_percent"], 100.0 * 12600.0 / 14400.0);
    assert_eq!(r.json["projects"].as_array().unwrap().len(), 2);
    assert_eq!(r.json["days"].as_array().unwrap().len(), 2);

    let r = h
        .send_w(TestRequest::get().uri("/api/fed/uptime?tag=GO&projects=true"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["project_count"], 1);
    assert_eq!(r.json["projects"][0]["slug"], "other");
    assert_eq!(r.json["uptime_percent"], 100.0);

    // Without projects=true, the same figures and no per-project lines.
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/uptime?tag=GO"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["uptime_percent"], 100.0);
    assert!(r.json.get("projects").is_none(), "{}", r.raw);
}

#[actix_web::test]
async fn bad_windows_are_refused_naming_the_parameter() {
    let h = harness_with_history().await;
    let cases = [
        ("window=1y", "window"),
        ("window=7d&from=2025-11-17T00:00:00Z", "window"),
        ("from=yesterday", "from"),
        ("from=2025-11-17T00:00:00Z&to=soon", "to"),
        ("from=2025-11-17T00:00:00Z&to=2025-11-16T00:00:00Z", "to"),
        ("to=2025-11-16T00:00:00Z", "from"),
        ("from=2025-07-01T00:00:00Z&to=2025-11-01T00:00:00Z", "from"),
        ("from=2024-07-01T00:00:00Z&to=2024-07-02T00:00:00Z", "from"),
        ("format=xml", "format"),
    ];
    for (query, field) in cases {
        for path in ["/api/fed/projects/commandcenter/uptime", "/api/fed/uptime"] {
            let r = h
                .send_w(TestRequest::get().uri(&format!("{path}?{query}")))
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path}?{query}: {}",
                r.raw
            );
            let (code, at) = r.error();
            assert_eq!(code, "validation_error", "{query}");
            assert_eq!(at.as_deref(), Some(field), "{path}?{query}: {}", r.raw);
        }
    }
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects/nope/uptime"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.raw);
}

#[actix_web::test]
async fn the_descriptions_examples_are_accepted() {
    let h = harness_with_history().await;
    let doc = h.send(TestRequest::get().uri("/openapi.json")).await.json;
    for path in ["/api/fed/projects/{slug}/uptime", "/api/fed/uptime"] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let mut with_examples = 0;
        for p in params.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().unwrap();
            let schema = &p["schema"];
            if let Some(values) = schema["enum"].as_array() {
                for v in values {
                    let v = v.as_str().unwrap();
                    let uri = format!("{}?{name}={v}", path.replace("{slug}", "commandcenter"));
                    let r = h.send_w(TestRequest::get().uri(&uri)).await;
                    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.raw);
                }
            }
            let example = p["example"]
                .as_str()
                .or_else(|| schema["examples"][0].as_str());
            if let Some(example) = example {
                with_examples += 1;
                let uri = format!(
                    "{}?{name}={example}",
                    path.replace("{slug}", "commandcenter")
                );
                let r = h.send_w(TestRequest::get().uri(&uri)).await;
                assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.raw);
            }
        }
        assert!(with_examples >= 2, "{path}: {params:?}");
    }
}

#[actix_web::test]
async fn objectives_show_their_sli_and_budget() {
    use federation_domain::uptime::{DegradedCounts, ObjectiveInput, Uptime};
    let mut h = harness_with_history().await;
    let r = h.send_w(TestRequest::get().uri("/api/fed/slos")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json, serde_json::json!([]));

    let objective = ObjectiveInput {
        project: Some("commandcenter".into()),
        objective: Some(90.0),
        window: Some("7d".into()),
        ..ObjectiveInput::default()
    }
    .validate()
    .unwrap();
    let uptime =
        Uptime::new(h.uptime_source.clone(), DegradedCounts::Up).with_objectives(vec![objective]);
    let projects = h
        .federation
        .list(&federation_domain::ListFilter::default())
        .items;
    uptime
        .slos()
        .refresh_sli(&projects, t0(), DegradedCounts::Up);
    uptime.refresh_budgets(&projects, t0()).await.unwrap();
    h.uptime = std::sync::Arc::new(uptime);
    let r = h.send_w(TestRequest::get().uri("/api/fed/slos")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let s = &r.json[0];
    assert_eq!(s["kind"], "project");
    assert_eq!(s["subject"], "commandcenter");
    assert_eq!(s["name"], "project-commandcenter");
    assert_eq!(s["source"], "file");
    assert_eq!(s["sli"], 0.0, "registered offline: {s}");
    // 7200 s counted, 1800 s offline; 10 % of 7200 s allowed.
    assert_eq!(s["uptime_percent"], 75.0);
    assert_eq!(s["budget_seconds"].as_f64().map(|b| b.round()), Some(720.0));
    assert_eq!(s["spent_seconds"], 1800.0);
    assert!(
        s["remaining_ratio"].as_f64().unwrap() < 0.0,
        "overspent: {s}"
    );
}
