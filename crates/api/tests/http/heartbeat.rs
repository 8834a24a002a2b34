//! `POST /api/fed/projects/{slug}/heartbeat`: into the presence table, not the store.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use federation_domain::Status;

use crate::common::*;

fn hb(slug_in_path: &str, body: &str) -> TestRequest {
    json_post(&format!("/api/fed/projects/{slug_in_path}/heartbeat"), body)
}

/// The status of the harness's only project as recorded by the next tick.
async fn status_of(h: &Harness) -> Status {
    h.federation.tick().await.unwrap();
    let page = h.federation.list(&federation_domain::ListFilter::default());
    assert_eq!(page.items.len(), 1);
    page.items[0].status
}

#[actix_web::test]
async fn a_valid_heartbeat_is_accepted_and_makes_the_project_online() {
    // The store is not touched: heartbeats are written behind by the tick.
    let h = Builder::stored(&["commandcenter"]).build();
    assert_eq!(status_of(&h).await, Status::Offline);
    let body = r#"{
        "project_slug": "commandcenter",
        "hub_url": "http://localhost:8000",
        "mesh_namespace": "hub.commandcenter",
        "timestamp": "2025-11-18T12:00:00Z",
        "version": "0.9.0"
    }"#;
    let r = h.send_w(hb("commandcenter", body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.raw);
    assert_eq!(r.json, serde_json::json!({"status": "accepted"}));
    assert_eq!(status_of(&h).await, Status::Online);
}

#[actix_web::test]
async fn self_reported_degraded_counts() {
    let h = Builder::stored(&["commandcenter"]).build();
    let r = h
        .send_w(hb(
            "commandcenter",
            r#"{"project_slug":"commandcenter","status":"degraded","reasons":["db slow"]}"#,
        ))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.raw);
    assert_eq!(status_of(&h).await, Status::Degraded);
}

#[actix_web::test]
async fn the_path_slug_is_case_insensitive() {
    let h = Builder::stored(&["commandcenter"]).build();
    let r = h
        .send_w(hb("CommandCenter", r#"{"project_slug":"commandcenter"}"#))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.raw);
    assert_eq!(status_of(&h).await, Status::Online);
}

#[actix_web::test]
async fn a_heartbeat_without_content_type_is_accepted() {
    let h = Builder::stored(&["commandcenter"]).build();
    let r = h
        .send_w(
            TestRequest::post()
                .uri("/api/fed/projects/commandcenter/heartbeat")
                .set_payload(r#"{"project_slug":"commandcenter"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.raw);
}

#[actix_web::test]
async fn an_unknown_project_is_404() {
    let h = Builder::stored(&["commandcenter"]).build();
    let r = h.send_w(hb("ghost", r#"{"project_slug":"ghost"}"#)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.raw);
    assert_eq!(r.error().0, "not_found");
    assert_eq!(status_of(&h).await, Status::Offline);
}

#[actix_web::test]
async fn bad_payloads_are_refused_with_the_kind_and_field() {
    let h = Builder::stored(&["commandcenter"]).build();
    for (body, code, field) in [
        ("not json", "invalid_json", None),
        ("", "invalid_json", None),
        (r#"{"project_slug": 5}"#, "wrong_type", None),
        (r#"{"version":"1"}"#, "missing_slug", Some("project_slug")),
        (
            r#"{"project_slug":"other"}"#,
            "slug_mismatch",
            Some("project_slug"),
        ),
        (
            r#"{"project_slug":"commandcenter","mesh_namespace":"hub..x"}"#,
            "bad_namespace",
            Some("mesh_namespace"),
        ),
        (
            r#"{"project_slug":"commandcenter","hub_url":"ftp://x"}"#,
            "invalid_field",
            Some("hub_url"),
        ),
        (
            r#"{"project_slug":"commandcenter","timestamp":"yesterday"}"#,
            "invalid_field",
            Some("timestamp"),
        ),
        (
            r#"{"project_slug":"commandcenter","timestamp":"2025-11-18T10:59:59Z"}"#,
            "replay",
            Some("timestamp"),
        ),
        (
            r#"{"project_slug":"commandcenter","timestamp":"2025-11-18T13:00:00Z"}"#,
            "future_timestamp",
            Some("timestamp"),
        ),
        (
            r#"{"project_slug":"commandcenter","status":"sleepy"}"#,
            "invalid_field",
            Some("status"),
        ),
    ] {
        let r = h.send_w(hb("commandcenter", body)).await;
        // Another project, or a timestamp outside the window, conflicts with what the
        // heartbeat meets (no schema can say it); the rest break a rule.
        let status = if matches!(code, "slug_mismatch" | "replay" | "future_timestamp") {
            StatusCode::CONFLICT
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(r.status, status, "{body}: {}", r.raw);
        assert_eq!(
            r.error(),
            (code.to_owned(), field.map(str::to_owned)),
            "{body}"
        );
    }
    assert_eq!(status_of(&h).await, Status::Offline);
}

#[actix_web::test]
async fn over_8_kib_is_413() {
    let h = Builder::stored(&["commandcenter"]).build();
    let pad = "x".repeat(8 * 1024);
    let body = format!(r#"{{"project_slug":"commandcenter","pad":"{pad}"}}"#);
    let r = h.send_w(hb("commandcenter", &body)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.raw);
    assert_eq!(r.error().0, "payload_too_large");
    assert_eq!(status_of(&h).await, Status::Offline);
}

#[actix_web::test]
async fn a_non_json_content_type_is_415() {
    let h = Builder::stored(&["commandcenter"]).build();
    let r = h
        .send_w(
            TestRequest::post()
                .uri("/api/fed/projects/commandcenter/heartbeat")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(r#"{"project_slug":"commandcenter"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[actix_web::test]
async fn only_post_is_allowed() {
    let h = Builder::stored(&["commandcenter"]).build();
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects/commandcenter/heartbeat"))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(r.error().0, "method_not_allowed");
}

#[actix_web::test]
async fn a_body_larger_than_its_content_length_claims_is_still_413() {
    // The stream is counted too, not only the declared length (chunked uploads).
    let h = Builder::stored(&["commandcenter"]).build();
    let pad = "x".repeat(20 * 1024);
    let body = format!(r#"{{"project_slug":"commandcenter","pad":"{pad}"}}"#);
    let r = h
        .send_w(hb("commandcenter", &body).insert_header(("content-length", "40")))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.raw);
    assert_eq!(status_of(&h).await, Status::Offline);
}
