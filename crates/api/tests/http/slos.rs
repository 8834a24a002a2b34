//! `/api/fed/slos/{name}`: objectives written over REST, joined to the catalog file's
//! (the file wins for its names), bad input named, writes keyed.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use federation_domain::uptime::{DegradedCounts, ObjectiveInput, Uptime};

use crate::common::*;

fn put(name: &str, body: &str) -> TestRequest {
    TestRequest::put()
        .uri(&format!("/api/fed/slos/{name}"))
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned())
}

/// A harness whose catalog file declares `prod` (tag production, 99.9 %).
fn harness_with_file_objective() -> Harness {
    let mut h = with_projects(vec![project("commandcenter")]);
    let file = ObjectiveInput {
        name: Some("prod".into()),
        tag: Some("production".into()),
        objective: Some(99.9),
        ..ObjectiveInput::default()
    }
    .validate()
    .unwrap();
    h.uptime = Arc::new(
        Uptime::new(h.uptime_source.clone(), DegradedCounts::Up)
            .with_objectives(vec![file])
            .with_slo_store(h.uptime_source.clone()),
    );
    h
}

fn names(r: &Reply) -> Vec<String> {
    r.json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s["name"].as_str().unwrap(),
                s["source"].as_str().unwrap()
            )
        })
        .collect()
}

#[actix_web::test]
async fn objectives_are_created_read_replaced_and_deleted() {
    let h = harness_with_file_objective();
    let body = r#"{"project": "commandcenter", "objective": 99.5, "window": "7d"}"#;
    let r = h.send_w(put("Hub", body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["name"], "hub");
    assert_eq!(r.json["source"], "api");
    assert_eq!(r.json["kind"], "project");
    assert_eq!(r.json["subject"], "commandcenter");
    assert_eq!(r.json["objective_percent"], 99.5);
    assert_eq!(r.json["window"], "7d");

    let r = h.send_w(TestRequest::get().uri("/api/fed/slos")).await;
    assert_eq!(names(&r), ["prod:file", "hub:api"]);
    let r = h.send_w(TestRequest::get().uri("/api/fed/slos/hub")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["objective_percent"], 99.5);

    let r = h
        .send_w(put(
            "hub",
            r#"{"project": "commandcenter", "objective": 99.0}"#,
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["window"], "30d", "the default window");
    assert_eq!(r.json["objective_percent"], 99.0);

    let r = h
        .send_w(TestRequest::delete().uri("/api/fed/slos/hub"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.raw);
    let r = h.send_w(TestRequest::get().uri("/api/fed/slos/hub")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h
        .send_w(TestRequest::delete().uri("/api/fed/slos/hub"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h.send_w(TestRequest::get().uri("/api/fed/slos")).await;
    assert_eq!(names(&r), ["prod:file"]);
}

#[actix_web::test]
async fn the_catalog_file_wins_for_the_names_it_declares() {
    let h = harness_with_file_objective();
    let r = h
        .send_w(put("prod", r#"{"tag": "edge", "objective": 99.0}"#))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.raw);
    let (code, field) = r.error();
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("slo_declared_in_file", Some("name"))
    );
    assert!(r.raw.contains("prod"), "names it: {}", r.raw);
    let r = h
        .send_w(TestRequest::delete().uri("/api/fed/slos/prod"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.raw);
    assert_eq!(r.error().0, "slo_declared_in_file");
    // Its subject is taken too.
    let r = h
        .send_w(put("other", r#"{"tag": "production", "objective": 99.0}"#))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.raw);
    assert_eq!(r.error().0, "slo_subject_taken");
    let r = h.send_w(TestRequest::get().uri("/api/fed/slos/prod")).await;
    assert_eq!(r.json["objective_percent"], 99.9, "unchanged: {}", r.raw);
    assert_eq!(r.json["source"], "file");
}

#[actix_web::test]
async fn bad_objectives_get_a_422_naming_the_field_and_change_nothing() {
    let h = harness_with_file_objective();
    let cases = [
        ("ok", r#"{"tag": "a", "objective": 100}"#, "objective"),
        ("ok", r#"{"tag": "a", "objective": 0}"#, "objective"),
        ("ok", r#"{"tag": "a", "objective": -5}"#, "objective"),
        (
            "ok",
            r#"{"tag": "a", "objective": 99, "window": "24h"}"#,
            "window",
        ),
        ("ok", r#"{"tag": "", "objective": 99}"#, "tag"),
        ("ok", r#"{"project": "", "objective": 99}"#, "project"),
        ("ok", r#"{"objective": 99}"#, "project"),
        (
            "ok",
            r#"{"project": "a", "tag": "b", "objective": 99}"#,
            "project",
        ),
        ("-bad-", r#"{"tag": "a", "objective": 99}"#, "name"),
    ];
    for (name, body, want) in cases {
        let r = h.send_w(put(name, body)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.raw
        );
        assert_eq!(r.error().1.as_deref(), Some(want), "{body}: {}", r.raw);
    }
    let r = h.send_w(put("ok", r#"{"tag": "a"}"#)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    let r = h
        .send_w(put("ok", r#"{"tag": "a", "objective": 99, "burn": 2}"#))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    let r = h.send_w(TestRequest::get().uri("/api/fed/slos")).await;
    assert_eq!(names(&r), ["prod:file"], "nothing stored");
}

#[actix_web::test]
async fn writes_need_the_write_key() {
    let h = harness_with_file_objective();
    let body = r#"{"tag": "a", "objective": 99}"#;
    let r = h.send(put("a", body)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.raw);
    let r = h
        .send(put("a", body).insert_header(("X-API-Key", READ_KEY)))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    let r = h
        .send(
            TestRequest::delete()
                .uri("/api/fed/slos/prod")
                .insert_header(("X-API-Key", READ_KEY)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    let r = h
        .send(
            TestRequest::get()
                .uri("/api/fed/slos/prod")
                .insert_header(("X-API-Key", READ_KEY)),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "reads take the read key: {}",
        r.raw
    );
}

#[actix_web::test]
async fn the_description_documents_the_body_with_accepted_examples() {
    let mut h = with_projects(vec![project("commandcenter")]);
    h.uptime = Arc::new(
        Uptime::new(h.uptime_source.clone(), DegradedCounts::Up)
            .with_slo_store(h.uptime_source.clone()),
    );
    let r = h.send(TestRequest::get().uri("/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let schema = &r.json["components"]["schemas"]["SloInput"];
    let by = schema["oneOf"].as_array().expect("a oneOf by subject");
    assert_eq!(by.len(), 2, "{schema}");
    for (branch, (given, other)) in by.iter().zip([("project", "tag"), ("tag", "project")]) {
        assert_eq!(branch["required"], serde_json::json!([given, "objective"]));
        assert_eq!(branch["properties"][other]["type"], "null", "{branch}");
        assert_eq!(branch["properties"]["objective"]["exclusiveMinimum"], 0.0);
        assert_eq!(branch["properties"]["objective"]["exclusiveMaximum"], 100.0);
        assert_eq!(branch["additionalProperties"], false);
    }
    let name = &r.json["components"]["schemas"]["ObjectiveName"];
    assert!(
        name["pattern"].is_string(),
        "the path's name is a slug: {name}"
    );
    let op = &r.json["paths"]["/api/fed/slos/{name}"];
    for method in ["get", "put", "delete"] {
        assert!(op[method].is_object(), "{method} documented");
    }
    assert_eq!(
        op["put"]["parameters"][0]["schema"]["$ref"],
        "#/components/schemas/ObjectiveName"
    );
    let example = schema["examples"][0].to_string();
    let r = h.send_w(put("example", &example)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{example}: {}", r.raw);
}
