//! Issue 14, item 6: one rule for repeated query parameters, headers and JSON keys (400,
//! naming what is repeated), and no invisible format characters in names, tags or
//! reasons (422 naming the field).

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;

use crate::common::*;

#[actix_web::test]
async fn repeated_query_parameters_are_refused_naming_the_parameter() {
    let h = with_projects(vec![project("alpha")]);
    for uri in [
        "/api/fed/projects?status=online&status=offline",
        "/api/fed/projects?limit=5&tag=a&l%69mit=10",
    ] {
        let r = h.send_w(TestRequest::get().uri(uri)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.raw);
        let (code, field) = r.error();
        assert_eq!(code, "duplicate");
        assert!(
            matches!(field.as_deref(), Some("status" | "limit")),
            "{field:?}"
        );
        assert!(r.header("x-request-id").is_some());
    }
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects?status=online&tag=a"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
}

#[actix_web::test]
async fn repeated_headers_the_service_reads_are_refused() {
    let h = with_projects(vec![project("alpha")]);
    for (name, a, b) in [
        ("x-api-key", WRITE_KEY, "another"),
        ("x-api-key", WRITE_KEY, WRITE_KEY),
        ("x-request-id", "one", "two"),
    ] {
        let req = TestRequest::get()
            .uri("/api/fed/projects")
            .append_header((name, a))
            .append_header((name, b));
        let req = if name == "x-api-key" {
            req
        } else {
            req.insert_header(("X-API-Key", WRITE_KEY))
        };
        let r = h.send(req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.raw);
        assert_eq!(r.error(), ("duplicate".to_owned(), Some(name.to_owned())));
    }
}

#[actix_web::test]
async fn repeated_json_keys_are_refused_at_any_depth() {
    let h = with_projects(vec![]);
    for body in [
        r#"{"slug":"a","slug":"b","name":"A","hub_url":"http://a.example.com"}"#,
        r#"{"slug":"a","name":"A","hub_url":"http://a.example.com","metadata":{"k":1,"k":2}}"#,
    ] {
        let r = h.send_w(json_post("/api/fed/projects", body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.raw);
        let (code, field) = r.error();
        assert_eq!(code, "duplicate");
        assert!(
            matches!(field.as_deref(), Some("slug" | "metadata.k")),
            "{field:?}"
        );
    }
}

#[actix_web::test]
async fn invisible_format_characters_are_refused_in_names_and_tags() {
    let h = with_projects(vec![]);
    for (body, field) in [
        (
            r#"{"slug":"a","name":"evil\u202egnp.exe","hub_url":"http://a.example.com"}"#,
            "name",
        ),
        (
            r#"{"slug":"a","name":"A","hub_url":"http://a.example.com","tags":["ok","zero\u200bwidth"]}"#,
            "tags[1]",
        ),
        (
            r#"{"slug":"a","name":"line\u2028break","hub_url":"http://a.example.com"}"#,
            "name",
        ),
    ] {
        let r = h.send_w(json_post("/api/fed/projects", body)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.raw
        );
        assert_eq!(r.error().1.as_deref(), Some(field), "{}", r.raw);
    }
}
