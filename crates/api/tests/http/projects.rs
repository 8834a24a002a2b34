//! The catalog routes: list, register, get, patch, delete, history.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use federation_domain::ports::MockProjectRepository;
use federation_domain::{RepositoryError, Status, Transition, Upserted};

use crate::common::*;

// ---------- list ----------

#[actix_web::test]
async fn list_returns_an_array_with_total_count_index_and_rfc3339_times() {
    let mut b = project("beta");
    b.status = Status::Online;
    b.last_heartbeat_at = Some(t0() + chrono::TimeDelta::seconds(3));
    b.version = Some(federation_domain::Version::parse("0.9.0").unwrap());
    let h = with_projects(vec![b, project("alpha")]);
    let r = h.send_w(TestRequest::get().uri("/api/fed/projects")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.header("x-total-count"), Some("2"));
    assert_eq!(r.header("x-federation-index"), Some("2"));
    let items = r.json.as_array().expect("a JSON array");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["slug"], "alpha");
    assert_eq!(items[1]["slug"], "beta");
    let b = &items[1];
    let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "id",
        "slug",
        "name",
        "hub_url",
        "mesh_namespace",
        "status",
        "status_reason",
        "tags",
        "metadata",
        "version",
        "last_heartbeat_at",
        "clock_skew_seconds",
        "heartbeat_interval",
        "maintenance",
        "origin",
        "heartbeat_key",
        "flapping",
        "created_at",
        "updated_at",
    ] {
        assert!(keys.contains(&k), "missing {k} in {b}");
    }
    assert_eq!(keys.len(), 19, "{b}");
    assert_eq!(b["heartbeat_key"], false);
    assert_eq!(b["flapping"], false);
    assert_eq!(b["metadata"], serde_json::json!({}));
    assert_eq!(b["status"], "online");
    assert_eq!(b["mesh_namespace"], "hub.beta");
    assert_eq!(b["tags"], serde_json::json!(["python"]));
    assert_eq!(b["version"], "0.9.0");
    assert_eq!(b["last_heartbeat_at"], "2025-11-18T12:00:03.000000Z");
    assert_eq!(b["created_at"], "2025-11-18T12:00:00.000000Z");
    assert_eq!(b["updated_at"], "2025-11-18T12:00:00.250000Z");
    assert_eq!(items[0]["last_heartbeat_at"], serde_json::Value::Null);
    assert_eq!(items[0]["version"], serde_json::Value::Null);
}

/// `n` projects `p00`, `p01`, …: even ones degraded, every third one tagged `go`.
fn fleet(n: usize) -> Vec<federation_domain::Project> {
    (0..n)
        .map(|i| {
            let mut p = project(&format!("p{i:02}"));
            if i % 2 == 0 {
                p.status = Status::Degraded;
            }
            if i % 3 == 0 {
                p.tags = federation_domain::Tags::parse(&["go"]).unwrap();
            }
            p
        })
        .collect()
}

#[actix_web::test]
async fn list_applies_the_parsed_filter_and_page() {
    let h = with_projects(fleet(40));
    // Degraded and tagged go: p00, p06, p12, p18, p24, p30, p36 (7); skip 2, take 3.
    let r = h
        .send_w(
            TestRequest::get()
                .uri("/api/fed/projects?status=DEGRADED&tag=Go&limit=3&offset=2&other=x"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let slugs: Vec<&str> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["p12", "p18", "p24"]);
    assert_eq!(r.header("x-total-count"), Some("7"));
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects?status=online&tag=none"))
        .await;
    assert_eq!(
        (r.json.clone(), r.header("x-total-count")),
        (serde_json::json!([]), Some("0"))
    );
}

#[actix_web::test]
async fn list_treats_empty_text_filters_as_absent_and_refuses_other_empty_values() {
    let h = with_projects(fleet(120));
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects?tag=&after="))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        r.json.as_array().unwrap().len(),
        120,
        "no limit: every project, as the original"
    );
    assert_eq!(r.header("x-total-count"), Some("120"));
    assert_eq!(r.header("link"), None, "nothing follows");
    // An empty status breaks the original's own pattern too (FastAPI answered 422);
    // an empty number is no number.
    for (query, field) in [
        ("status=", "status"),
        ("limit=", "limit"),
        ("offset=", "offset"),
        ("index=", "index"),
    ] {
        let r = h
            .send_w(TestRequest::get().uri(&format!("/api/fed/projects?{query}")))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            r.raw
        );
        assert_eq!(r.error().1.as_deref(), Some(field), "{query}");
    }
}

#[actix_web::test]
async fn list_pages_with_a_link_to_the_next_page_by_offset_or_cursor() {
    let h = with_projects(fleet(5));
    let slugs = |r: &Reply| -> Vec<String> {
        r.json
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects?limit=2&status=degraded"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let first = slugs(&r);
    assert_eq!(first.len(), 2);
    assert_eq!(
        r.header("link"),
        Some("</api/fed/projects?limit=2&status=degraded&offset=2>; rel=\"next\"")
    );
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects?limit=2&offset=4"))
        .await;
    assert_eq!((slugs(&r).len(), r.header("link")), (1, None));
    // Cursor paging: the next page starts after the last slug of this one.
    let r = h
        .send_w(TestRequest::get().uri(&format!(
            "/api/fed/projects?limit=2&status=degraded&after={}",
            first[0]
        )))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let page = slugs(&r);
    assert_eq!(page.first(), first.get(1));
    assert_eq!(
        r.header("link"),
        Some(
            format!(
                "</api/fed/projects?limit=2&status=degraded&after={}>; rel=\"next\"",
                page[1]
            )
            .as_str()
        )
    );
}

#[actix_web::test]
async fn list_rejects_bad_query_values_with_422_naming_the_field() {
    // No expectation on the repository: a call would fail the test.
    let h = harness(MockProjectRepository::new());
    for (query, field) in [
        ("status=sleeping", "status"),
        ("tag=a%01b", "tag"),
        ("after=no.dots", "after"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("status=%FF", "status"),
        ("tag=%E2%82", "tag"),
    ] {
        let r = h
            .send_w(TestRequest::get().uri(&format!("/api/fed/projects?{query}")))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            r.raw
        );
        assert_eq!(
            r.error(),
            ("validation_error".to_owned(), Some(field.to_owned())),
            "{query}"
        );
    }
}

#[actix_web::test]
async fn list_accepts_the_limit_bounds() {
    let h = with_projects(fleet(3));
    for l in [1, 1000] {
        let r = h
            .send_w(TestRequest::get().uri(&format!("/api/fed/projects?limit={l}")))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json.as_array().unwrap().len(), l.min(3));
    }
}

// ---------- register ----------

fn upsert_repo(created: bool) -> MockProjectRepository {
    let mut repo = MockProjectRepository::new();
    repo.expect_upsert()
        .withf(|r| {
            r.slug.as_str() == "commandcenter"
                && r.mesh_namespace.as_str() == "hub.commandcenter"
                && r.tags.len() == 1
        })
        .times(1)
        .returning(move |r| {
            let mut p = project(r.slug.as_str());
            p.name = r.name.clone();
            Ok(Upserted {
                project: p,
                created,
                revision: None,
                written: None,
            })
        });
    repo
}

#[actix_web::test]
async fn register_creates_with_201_and_location() {
    let h = harness(upsert_repo(true));
    let r = h.send_w(json_post("/api/fed/projects", SEED_BODY)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(
        r.header("location"),
        Some("/api/fed/projects/commandcenter")
    );
    assert_eq!(r.json["slug"], "commandcenter");
    assert_eq!(r.json["status"], "offline");
    assert_eq!(r.json["hub_url"], "http://localhost:8000");
    // The project is now known to the presence table: a heartbeat is accepted.
    let beat = br#"{"project_slug":"commandcenter"}"#;
    assert!(h.federation.record_heartbeat("commandcenter", beat).is_ok());
}

#[actix_web::test]
async fn register_again_answers_201_as_the_original_did_saying_it_updated() {
    let h = harness(upsert_repo(false));
    let r = h.send_w(json_post("/api/fed/projects", SEED_BODY)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["slug"], "commandcenter");
    assert_eq!(
        r.header("location"),
        Some("/api/fed/projects/commandcenter")
    );
    assert_eq!(r.header("x-federation-created"), Some("false"));
}

#[actix_web::test]
async fn register_without_a_content_type_is_read_as_json() {
    let h = harness(upsert_repo(true));
    let req = TestRequest::post()
        .uri("/api/fed/projects")
        .set_payload(SEED_BODY);
    let r = h.send_w(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.header("x-federation-created"), Some("true"));
}

#[actix_web::test]
async fn register_lowercases_the_slug_and_ignores_unknown_fields() {
    let h = harness(upsert_repo(true));
    let body = r#"{"slug":"CommandCenter","name":"CommandCenter","hub_url":"http://localhost:8000","tags":["Python"],"allow_fanout":true}"#;
    let r = h.send_w(json_post("/api/fed/projects", body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["slug"], "commandcenter");
}

#[actix_web::test]
async fn register_accepts_json_with_charset_and_plus_json() {
    let h = harness(upsert_repo(true));
    let r = h
        .send_w(
            TestRequest::post()
                .uri("/api/fed/projects")
                .insert_header(("content-type", "application/json; charset=utf-8"))
                .set_payload(SEED_BODY),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
}

#[actix_web::test]
async fn register_rejects_invalid_fields_with_422_naming_the_field() {
    let h = harness(MockProjectRepository::new());
    let cases = [
        (r#"{"slug": 42, "name":"n", "hub_url":"http://x"}"#, "slug"),
        (
            r#"{"slug": "ok", "name": ["n"], "hub_url":"http://x"}"#,
            "name",
        ),
        (r#"{"slug": "ok", "name":"n", "hub_url": true}"#, "hub_url"),
        (
            r#"{"slug": "ok", "name":"n", "hub_url":"http://x", "tags": "python"}"#,
            "tags",
        ),
        (
            r#"{"slug": "ok", "name":"n", "hub_url":"http://x", "tags": ["a", {}]}"#,
            "tags[1]",
        ),
        (
            r#"{"slug": "ok", "name":"n", "hub_url":"http://x", "mesh_namespace": 1}"#,
            "mesh_namespace",
        ),
        (r#"{"name":"n", "hub_url":"http://x"}"#, "slug"),
        (
            r#"{"slug": "bad_slug!", "name":"n", "hub_url":"http://x"}"#,
            "slug",
        ),
        (r#"{"slug": "", "name":"n", "hub_url":"http://x"}"#, "slug"),
        (r#"{"slug": "ok", "hub_url":"http://x"}"#, "name"),
        (
            r#"{"slug": "ok", "name":"   ", "hub_url":"http://x"}"#,
            "name",
        ),
        (r#"{"slug": "ok", "name":"n"}"#, "hub_url"),
        (
            r#"{"slug": "ok", "name":"n", "hub_url":"ftp://x"}"#,
            "hub_url",
        ),
        (
            r#"{"slug": "ok", "name":"n", "hub_url":"not a url"}"#,
            "hub_url",
        ),
        (
            r#"{"slug": "ok", "name":"n", "hub_url":"http://x", "mesh_namespace":"hub..other"}"#,
            "mesh_namespace",
        ),
        (
            r#"{"slug": "ok", "name":"n", "hub_url":"http://x", "tags":["ok", "not\u0001ok"]}"#,
            "tags[1]",
        ),
    ];
    for (body, field) in cases {
        let r = h.send_w(json_post("/api/fed/projects", body)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.raw
        );
        assert_eq!(
            r.error(),
            ("validation_error".to_owned(), Some(field.to_owned())),
            "{body}"
        );
    }
    let r = h.send_w(json_post("/api/fed/projects", "[]")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error(), ("validation_error".to_owned(), None));
}

#[actix_web::test]
async fn register_rejects_malformed_json_with_400() {
    let h = harness(MockProjectRepository::new());
    for body in ["{\"slug\": ", "not json", "", "{\"a\":1}}", "\u{0}"] {
        let r = h.send_w(json_post("/api/fed/projects", body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.raw);
        assert_eq!(r.error().0, "malformed_json");
    }
}

#[actix_web::test]
async fn register_rejects_non_json_content_types_with_415() {
    let h = harness(MockProjectRepository::new());
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        Some("not a mime type"),
    ] {
        let mut req = TestRequest::post()
            .uri("/api/fed/projects")
            .set_payload(SEED_BODY);
        if let Some(ct) = ct {
            req = req.insert_header(("content-type", ct));
        }
        let r = h.send_w(req).await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        assert_eq!(r.error().0, "unsupported_media_type");
    }
}

#[actix_web::test]
async fn register_rejects_bodies_over_64_kib_with_413() {
    let h = harness(MockProjectRepository::new());
    let pad = "x".repeat(64 * 1024);
    let body = format!(r#"{{"slug":"ok","name":"n","hub_url":"http://x","pad":"{pad}"}}"#);
    let r = h.send_w(json_post("/api/fed/projects", &body)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.raw);
    assert_eq!(r.error().0, "payload_too_large");
}

#[actix_web::test]
async fn register_accepts_a_body_just_under_the_limit() {
    let h = harness(upsert_repo(true));
    let head = r#"{"slug":"commandcenter","name":"n","hub_url":"http://localhost:8000","tags":["python"],"pad":""#;
    let tail = r#""}"#;
    let pad = "x".repeat(64 * 1024 - head.len() - tail.len());
    let body = format!("{head}{pad}{tail}");
    assert_eq!(body.len(), 64 * 1024);
    let r = h.send_w(json_post("/api/fed/projects", &body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
}

// ---------- get ----------

#[actix_web::test]
async fn get_matches_the_slug_case_insensitively() {
    let h = with_projects(vec![project("commandcenter")]);
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects/CommandCenter"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.header("x-federation-index"), Some("1"));
    assert_eq!(r.json["slug"], "commandcenter");
    assert_eq!(r.json["id"], 7);
}

#[actix_web::test]
async fn get_unknown_is_404() {
    let h = with_projects(vec![project("commandcenter")]);
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects/nope"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error().0, "not_found");
}

#[actix_web::test]
async fn get_with_an_impossible_slug_is_404_without_a_query() {
    let h = harness(MockProjectRepository::new());
    for uri in [
        "/api/fed/projects/bad_slug",
        "/api/fed/projects/%F0%9F%98%80",
        "/api/fed/projects/%FF%FE",
        "/api/fed/projects/-x-",
    ] {
        let r = h.send_w(TestRequest::get().uri(uri)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}: {}", r.raw);
        assert_eq!(r.error().0, "not_found");
    }
}

// ---------- patch ----------

#[actix_web::test]
async fn patch_updates_descriptive_fields() {
    let mut repo = MockProjectRepository::new();
    repo.expect_update()
        .withf(|s, p| {
            s.as_str() == "commandcenter"
                && p.name.as_ref().map(|n| n.as_str()) == Some("Renamed")
                && p.hub_url.is_none()
                && p.tags.as_ref().map(|t| t.len()) == Some(2)
        })
        .times(1)
        .returning(|s, p| {
            let mut proj = project(s.as_str());
            proj.name = p.name.clone().unwrap();
            proj.tags = p.tags.clone().unwrap();
            Ok(Some(proj))
        });
    let h = harness(repo);
    let r = h
        .send_w(json_patch(
            "/api/fed/projects/COMMANDCENTER",
            r#"{"name":"Renamed","tags":["a","B","a"]}"#,
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["name"], "Renamed");
    assert_eq!(r.json["tags"], serde_json::json!(["a", "B"]));
}

#[actix_web::test]
async fn patch_with_nothing_to_change_returns_the_project() {
    let h = with_projects(vec![project("commandcenter")]);
    let r = h
        .send_w(json_patch("/api/fed/projects/commandcenter", "{}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["slug"], "commandcenter");
}

#[actix_web::test]
async fn patch_rejects_other_fields_and_bad_values_with_422() {
    let h = harness(MockProjectRepository::new());
    for (body, field) in [
        (r#"{"slug":"other"}"#, "slug"),
        (r#"{"name":"ok","status":"online"}"#, "status"),
        (r#"{"mesh_namespace":"hub.x"}"#, "mesh_namespace"),
        (r#"{"name":null}"#, "name"),
        (r#"{"name":5}"#, "name"),
        (r#"{"hub_url":"javascript:alert(1)"}"#, "hub_url"),
        (r#"{"tags":["x\ty"]}"#, "tags[0]"),
    ] {
        let r = h
            .send_w(json_patch("/api/fed/projects/commandcenter", body))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.raw
        );
        assert_eq!(
            r.error(),
            ("validation_error".to_owned(), Some(field.to_owned())),
            "{body}"
        );
    }
}

#[actix_web::test]
async fn patch_body_errors() {
    let h = harness(MockProjectRepository::new());
    let r = h
        .send_w(json_patch("/api/fed/projects/commandcenter", "{"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .send_w(
            TestRequest::patch()
                .uri("/api/fed/projects/commandcenter")
                .insert_header(("content-type", "text/plain"))
                .set_payload(r#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = format!(r#"{{"name":"{}"}}"#, "n".repeat(70 * 1024));
    let r = h
        .send_w(json_patch("/api/fed/projects/commandcenter", &big))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[actix_web::test]
async fn patch_accepts_merge_patch_json() {
    let mut repo = MockProjectRepository::new();
    repo.expect_update()
        .times(1)
        .returning(|s, _| Ok(Some(project(s.as_str()))));
    let h = harness(repo);
    let r = h
        .send_w(
            TestRequest::patch()
                .uri("/api/fed/projects/commandcenter")
                .insert_header(("content-type", "application/merge-patch+json"))
                .set_payload(r#"{"hub_url":"https://cc.example.org"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
}

#[actix_web::test]
async fn patch_unknown_is_404() {
    let mut repo = MockProjectRepository::new();
    repo.expect_update().times(1).returning(|_, _| Ok(None));
    let h = harness(repo);
    let r = h
        .send_w(json_patch("/api/fed/projects/ghost", r#"{"name":"x"}"#))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error().0, "not_found");
}

// ---------- delete ----------

#[actix_web::test]
async fn delete_answers_204_then_404() {
    let mut repo = MockProjectRepository::new();
    let mut seq = mockall::Sequence::new();
    repo.expect_delete()
        .withf(|s, why| s.as_str() == "commandcenter" && why == "deleted")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(true));
    repo.expect_delete()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(false));
    let h = Builder::new(repo).known(&["commandcenter"]).build();
    let beat = br#"{"project_slug":"commandcenter"}"#;
    assert!(h.federation.record_heartbeat("commandcenter", beat).is_ok());
    let r = h
        .send_w(TestRequest::delete().uri("/api/fed/projects/CommandCenter"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.raw.is_empty());
    // Gone from the presence table too: heartbeats for it are now refused.
    let refused = h.federation.record_heartbeat("commandcenter", beat);
    assert_eq!(refused.unwrap_err().outcome(), "unknown_project");
    let r = h
        .send_w(TestRequest::delete().uri("/api/fed/projects/commandcenter"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error().0, "not_found");
}

// ---------- history ----------

#[actix_web::test]
async fn history_lists_transitions_newest_first() {
    let mut repo = MockProjectRepository::new();
    repo.expect_history()
        .withf(|s, limit| s.as_str() == "commandcenter" && *limit == 100)
        .times(1)
        .returning(|s, _| {
            let slug = s.clone();
            Ok(Some(vec![
                Transition {
                    slug: slug.clone(),
                    from: Status::Online,
                    to: Status::Offline,
                    reason: Some("heartbeat_timeout".into()),
                    at: t0() + chrono::TimeDelta::seconds(90),
                    last_heartbeat_at: Some(t0()),
                },
                Transition {
                    slug,
                    from: Status::Offline,
                    to: Status::Online,
                    reason: Some("heartbeat".into()),
                    at: t0(),
                    last_heartbeat_at: None,
                },
            ]))
        });
    let h = harness(repo);
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects/CommandCenter/history"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        r.json,
        serde_json::json!([
            {"from":"online","to":"offline","reason":"heartbeat_timeout",
             "at":"2025-11-18T12:01:30.000000Z","last_heartbeat_at":"2025-11-18T12:00:00.000000Z"},
            {"from":"offline","to":"online","reason":"heartbeat",
             "at":"2025-11-18T12:00:00.000000Z","last_heartbeat_at":null},
        ])
    );
}

#[actix_web::test]
async fn history_limit_and_404() {
    let mut repo = MockProjectRepository::new();
    repo.expect_history()
        .withf(|_, limit| *limit == 3)
        .times(1)
        .returning(|_, _| Ok(None));
    let h = harness(repo);
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects/ghost/history?limit=3"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error().0, "not_found");
    for q in ["limit=0", "limit=1001", "limit=ten"] {
        let r = h
            .send_w(TestRequest::get().uri(&format!("/api/fed/projects/ghost/history?{q}")))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(
            r.error(),
            ("validation_error".to_owned(), Some("limit".to_owned()))
        );
    }
}

// ---------- store failures ----------

const DB_TEXT: &str = "connection to server at \"10.1.2.3\", port 5432 failed: FATAL: password authentication failed for user \"fed\"; relation \"projects\" SELECT";

fn assert_no_leak(r: &Reply) {
    for needle in [
        "10.1.2.3", "5432", "password", "relation", "SELECT", "FATAL", "fed\"",
    ] {
        assert!(!r.raw.contains(needle), "leaked {needle:?}: {}", r.raw);
    }
}

#[actix_web::test]
async fn unavailable_store_is_503_without_its_text() {
    // Reads are answered from memory; every write and the history need the store.
    let mut repo = MockProjectRepository::new();
    repo.expect_upsert()
        .returning(|_| Err(RepositoryError::Unavailable(DB_TEXT.into())));
    repo.expect_delete()
        .returning(|_, _| Err(RepositoryError::Unavailable(DB_TEXT.into())));
    repo.expect_update()
        .returning(|_, _| Err(RepositoryError::Unavailable(DB_TEXT.into())));
    repo.expect_history()
        .returning(|_, _| Err(RepositoryError::Unavailable(DB_TEXT.into())));
    let h = harness(repo);
    for req in [
        json_post("/api/fed/projects", SEED_BODY),
        json_patch("/api/fed/projects/commandcenter", r#"{"name":"x"}"#),
        TestRequest::delete().uri("/api/fed/projects/commandcenter"),
        TestRequest::get().uri("/api/fed/projects/commandcenter/history"),
    ] {
        let r = h.send_w(req).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.raw);
        assert_eq!(r.error(), ("unavailable".to_owned(), None));
        assert!(r.header("retry-after").is_some());
        assert_no_leak(&r);
    }
}

#[actix_web::test]
async fn internal_store_error_is_500_without_its_text() {
    let mut repo = MockProjectRepository::new();
    repo.expect_upsert()
        .returning(|_| Err(RepositoryError::Internal(DB_TEXT.into())));
    repo.expect_history()
        .returning(|_, _| Err(RepositoryError::Internal(DB_TEXT.into())));
    let h = harness(repo);
    for req in [
        json_post("/api/fed/projects", SEED_BODY),
        TestRequest::get().uri("/api/fed/projects/commandcenter/history"),
    ] {
        let r = h.send_w(req).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.raw);
        assert_eq!(r.error(), ("internal".to_owned(), None));
        assert_no_leak(&r);
    }
}

#[actix_web::test]
async fn lists_are_gzipped_when_asked_and_the_change_stream_never() {
    let h = with_projects(fleet(200));
    let plain = h.send_w(TestRequest::get().uri("/api/fed/projects")).await;
    assert_eq!(plain.header("content-encoding"), None);
    let r = h
        .send_w(
            TestRequest::get()
                .uri("/api/fed/projects")
                .insert_header(("accept-encoding", "gzip")),
        )
        .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(
        r.raw.len() * 4 < plain.raw.len(),
        "{} bytes gzipped, {} plain",
        r.raw.len(),
        plain.raw.len()
    );
    // The stream's head only: its body never ends.
    let app = actix_web::test::init_service(
        actix_web::App::new().configure(federation_api::configure(h.state())),
    )
    .await;
    let req = TestRequest::get()
        .uri("/api/fed/events")
        .insert_header(("accept-encoding", "gzip"))
        .insert_header(("X-API-Key", WRITE_KEY))
        .to_request();
    let res = actix_web::test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"identity"[..])
    );
}

/// A maintenance end the clock has passed (or that is too far away) conflicts with the
/// clock, which no schema can state: 409. A `for` out of bounds breaks a bound the
/// description shows: 422. Nothing is written either way (the mock expects no write).
#[actix_web::test]
async fn maintenance_against_the_clock_is_409_and_out_of_bounds_is_422() {
    let h = with_projects(vec![project("alpha")]);
    let put = |body: &str| {
        TestRequest::put()
            .uri("/api/fed/projects/alpha/maintenance")
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_owned())
    };
    for (body, status, code, field) in [
        (
            r#"{"reason":"r","until":"2000-01-01T00:00:00Z"}"#,
            StatusCode::CONFLICT,
            "clock_conflict",
            "until",
        ),
        (
            r#"{"reason":"r","until":"2999-01-01T00:00:00Z"}"#,
            StatusCode::CONFLICT,
            "clock_conflict",
            "until",
        ),
        (
            r#"{"reason":"r","for":"31d"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "for",
        ),
    ] {
        let r = h.send_w(put(body)).await;
        assert_eq!(r.status, status, "{body}: {}", r.raw);
        assert_eq!(
            r.error(),
            (code.to_owned(), Some(field.to_owned())),
            "{body}"
        );
    }
}
