//! `/openapi.json` against the routes really served, Swagger UI, `/metrics`, and
//! `X-Request-Id`.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use federation_api::metrics::{METRIC_NAMES, ORIGINAL_METRIC_NAMES};
use federation_api::{Route, ROUTES};
use federation_domain::ports::MockProjectRepository;
use federation_domain::{RepositoryError, HEARTBEAT_OUTCOMES};
use serde_json::Value;

use crate::common::*;

/// A repository that answers everything with "unavailable": every route reaches its
/// handler and answers without a mock expectation failing.
fn unavailable_repo() -> MockProjectRepository {
    let down = || RepositoryError::Unavailable("down".into());
    let mut repo = MockProjectRepository::new();
    repo.expect_upsert().returning(move |_| Err(down()));
    repo.expect_update().returning(move |_, _| Err(down()));
    repo.expect_delete().returning(move |_, _| Err(down()));
    repo.expect_history().returning(move |_, _| Err(down()));
    repo.expect_set_maintenance()
        .returning(move |_, _| Err(down()));
    repo.expect_ping().returning(move || Err(down()));
    repo
}

/// A concrete path for a template.
fn concrete(path: &str) -> String {
    path.replace("{slug}", "commandcenter")
        .replace("{_:.*}", "")
}

fn request(method: &str, path: &str) -> TestRequest {
    TestRequest::default()
        .method(method.parse().unwrap())
        .uri(path)
        .insert_header(("X-API-Key", WRITE_KEY))
        .insert_header(("Content-Type", "application/json"))
        .set_payload("{}")
}

fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .contains(&method.as_str())
            {
                ops.insert((path.clone(), method.to_ascii_uppercase()));
            }
        }
    }
    ops
}

/// HEAD is answered wherever GET is (HTTP semantics), so the description lists GET only.
fn documented_operations(routes: &[Route]) -> BTreeSet<(String, String)> {
    routes
        .iter()
        .filter(|r| r.documented)
        .flat_map(|r| r.methods().map(move |m| (r.path.to_owned(), m.to_owned())))
        .filter(|(_, m)| m != "HEAD")
        .collect()
}

#[actix_web::test]
async fn the_openapi_description_lists_exactly_the_registered_routes() {
    let h = harness(MockProjectRepository::new());
    let r = h.send(TestRequest::get().uri("/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json["openapi"].as_str().unwrap().starts_with('3'));
    let in_spec = spec_operations(&r.json);
    let registered = documented_operations(ROUTES);
    let missing: Vec<_> = registered.difference(&in_spec).collect();
    let extra: Vec<_> = in_spec.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "registered but not in /openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in /openapi.json but not registered: {extra:?}"
    );
}

#[actix_web::test]
async fn every_listed_route_is_served_and_other_methods_are_405() {
    let h = harness(unavailable_repo());
    // A change stream never ends by itself: with the hub closed, GET /api/fed/events
    // answers at once (503), which still shows the route is served.
    h.changes.close();
    for route in ROUTES {
        let path = concrete(route.path);
        let allowed: Vec<&str> = route.methods().collect();
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
            let r = h.send(request(method, &path)).await;
            let no_route = r.status == StatusCode::NOT_FOUND && r.raw.contains("no such route");
            if allowed.contains(&method) {
                assert!(
                    !no_route && r.status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: {} {}",
                    r.status,
                    r.raw
                );
            } else if route.documented {
                assert_eq!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is not listed in ROUTES but answered: {}",
                    r.raw
                );
                assert_eq!(r.header("allow"), Some(route.allow), "{method} {path}");
            }
        }
    }
}

#[actix_web::test]
async fn every_operation_behind_the_api_key_documents_401_and_403() {
    let h = harness(MockProjectRepository::new());
    let spec = h.send(TestRequest::get().uri("/openapi.json")).await.json;
    let mut secured = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let takes_key = op["security"].as_array().is_some_and(|s| !s.is_empty());
            // Badges take a key, or none for a project on the status page.
            assert_eq!(
                takes_key,
                path.starts_with("/api/fed/") || path.starts_with("/badge/"),
                "{method} {path}: security {}",
                op["security"]
            );
            for code in ["401", "403"] {
                let response = &op["responses"][code];
                if takes_key {
                    secured += 1;
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {code}: {response}"
                    );
                } else {
                    assert!(response.is_null(), "{method} {path} {code}: {response}");
                }
            }
        }
    }
    assert_eq!(secured, 2 * 32, "thirty-two operations take the key");
}

#[actix_web::test]
async fn the_description_has_error_schemas_and_the_api_key_scheme() {
    let h = harness(MockProjectRepository::new());
    let spec = h.send(TestRequest::get().uri("/openapi.json")).await.json;
    let schemes = &spec["components"]["securitySchemes"]["api_key"];
    assert_eq!(schemes["type"], "apiKey", "{schemes}");
    assert_eq!(schemes["in"], "header");
    assert_eq!(schemes["name"], "X-API-Key");
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for name in [
        "Error",
        "ErrorDetail",
        "Project",
        "Transition",
        "RegisterRequest",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let error_props = schemas["ErrorDetail"]["properties"].as_object().unwrap();
    for field in ["code", "message", "field"] {
        assert!(error_props.contains_key(field), "{field}");
    }
    // Every /api/fed operation (and badge) takes the key and documents its 401/403 as
    // an Error.
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !path.starts_with("/api/fed") && !path.starts_with("/badge/") {
                assert!(op.get("security").is_none(), "{method} {path}");
                continue;
            }
            // The key (badges: or none, for a project on the status page).
            assert!(
                op["security"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["api_key"] == serde_json::json!([])),
                "{method} {path}"
            );
            for code in ["401", "403"] {
                let schema = &op["responses"][code]["content"]["application/json"]["schema"];
                assert_eq!(
                    schema["$ref"], "#/components/schemas/Error",
                    "{method} {path} {code}"
                );
            }
        }
    }
}

#[actix_web::test]
async fn swagger_ui_is_served_from_vendored_assets() {
    let h = harness(MockProjectRepository::new());
    let r = h.send(TestRequest::get().uri("/docs")).await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.header("location"), Some("/docs/"));
    let r = h.send(TestRequest::get().uri("/docs/")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.raw.contains("swagger-ui"), "{}", r.raw);
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"] {
        let r = h.send(TestRequest::get().uri(asset)).await;
        assert_eq!(r.status, StatusCode::OK, "{asset}");
        assert!(r.raw.len() > 1000, "{asset}");
    }
    let r = h
        .send(TestRequest::get().uri("/docs/swagger-initializer.js"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.raw.contains("/openapi.json"), "{}", r.raw);
}

#[actix_web::test]
async fn the_docs_pages_send_a_content_security_policy_and_refuse_framing() {
    let h = harness(MockProjectRepository::new());
    for uri in ["/docs", "/docs/", "/docs/swagger-initializer.js"] {
        let r = h.send(TestRequest::get().uri(uri)).await;
        for (name, value) in federation_api::PAGE_HEADERS {
            assert_eq!(r.header(name), Some(value), "{uri}: {name}");
        }
    }
    // The policy allows no inline script: the page must have none.
    let page = h.send(TestRequest::get().uri("/docs/")).await.raw;
    for tag in page.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap_or_default();
        assert!(
            open.contains("src="),
            "an inline script in /docs/: <script{open}>"
        );
    }
    // The API's JSON answers are not pages.
    let r = h.send(TestRequest::get().uri("/health")).await;
    assert_eq!(r.header("x-frame-options"), None);
}

/// Series names in an exposition (`# TYPE` lines give the base names; samples give
/// `_total`, `_bucket`, … names).
pub fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn metrics_use_route_templates_and_closed_label_sets() {
    let h = harness(unavailable_repo());
    for path in [
        "/api/fed/projects/secret-slug-one",
        "/api/fed/projects/secret-slug-two/history",
        "/no/such/thing",
        "/api/fed/nothing-here",
    ] {
        h.send(request("GET", path)).await;
    }
    h.send(request("BREW", "/health")).await;
    let r = h.send(TestRequest::get().uri("/metrics")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = r.raw;
    assert!(!text.contains("secret-slug"), "a raw path leaked:\n{text}");
    assert!(!text.contains("no/such"), "a raw path leaked:\n{text}");
    assert!(!text.contains("nothing-here"), "a raw path leaked:\n{text}");
    assert!(
        text.contains(
            r#"federation_http_requests_total{route="/api/fed/projects/{slug}",method="GET",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"federation_http_requests_total{route="unmatched",method="GET",status="404"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/health",method="other",status="405"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"federation_build_info{version="9.9.9-test"} 1"#),
        "{text}"
    );
    for outcome in HEARTBEAT_OUTCOMES {
        assert!(
            text.contains(&format!(
                r#"federation_heartbeats_received_total{{outcome="{outcome}"}} 0"#
            )),
            "{outcome}:\n{text}"
        );
    }
    assert!(text.contains(r#"federation_status_transitions_total{from="offline",to="online"} 0"#));
    assert!(text.contains(r#"federation_projects{status="offline"} 0"#));
    assert!(text.contains("federation_nats_enabled 0"));
    assert!(text.contains("federation_partition_guard_active 0"));
    // Every documented name is exposed (histograms and counters on a fresh registry too).
    h.metrics
        .observe_flush(std::time::Duration::from_millis(3), 2, 1, false);
    h.metrics
        .observe_tick(std::time::Duration::from_millis(4), true);
    let text = h.send(TestRequest::get().uri("/metrics")).await.raw;
    let names = sample_names(&text);
    // (The per-project series have samples only once a project is registered: the
    // e2e `compat` module checks them on a live service.)
    let without_projects = ORIGINAL_METRIC_NAMES.iter().filter(|n| {
        ![
            "federation_project_catalog_last_updated_timestamp",
            "federation_nats_messages_total",
        ]
        .contains(n)
    });
    for name in METRIC_NAMES.iter().chain(without_projects) {
        let present = names.contains(*name)
            || names.contains(&format!("{name}_bucket"))
            || names.contains(&format!("{name}_count"));
        assert!(present, "{name} not exposed:\n{text}");
    }
    assert!(
        text.contains("federation_store_flush_errors_total 1"),
        "{text}"
    );
    assert!(
        text.contains(r#"federation_store_flush_batch_size_sum{kind="updates"} 2.0"#),
        "{text}"
    );
}

#[actix_web::test]
async fn request_ids_are_honoured_when_sane_and_generated_otherwise() {
    let h = harness(MockProjectRepository::new());
    let r = h
        .send(
            TestRequest::get()
                .uri("/health")
                .insert_header(("X-Request-Id", "abc-123.x:y_z")),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("abc-123.x:y_z"));

    let long = "a".repeat(200);
    for bad in ["has space", "quote\"", long.as_str()] {
        let r = h
            .send(
                TestRequest::get()
                    .uri("/health")
                    .insert_header(("X-Request-Id", bad)),
            )
            .await;
        let got = r.header("x-request-id").unwrap();
        assert_ne!(got, bad);
        assert_eq!(got.len(), 36, "{got}");
    }
    let a = h.send(TestRequest::get().uri("/nope")).await;
    let b = h.send(TestRequest::get().uri("/nope")).await;
    let (a, b) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert_eq!(a.len(), 36);
    assert_ne!(a, b);
}
