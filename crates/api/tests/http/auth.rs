//! The API-key matrix on `/api/fed/*`.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use federation_api::ApiKeys;
use federation_domain::ports::MockProjectRepository;
use federation_domain::Upserted;

use crate::common::*;

fn open_repo() -> MockProjectRepository {
    let mut repo = MockProjectRepository::new();
    repo.expect_history().returning(|_, _| Ok(Some(vec![])));
    repo.expect_upsert().returning(|r| {
        Ok(Upserted {
            project: project(r.slug.as_str()),
            created: true,
            revision: None,
            written: None,
        })
    });
    repo.expect_update()
        .returning(|s, _| Ok(Some(project(s.as_str()))));
    repo.expect_delete().returning(|_, _| Ok(true));
    repo
}

/// Every `/api/fed` route, with whether it writes.
fn requests() -> Vec<(&'static str, bool, TestRequest)> {
    vec![
        ("list", false, TestRequest::get().uri("/api/fed/projects")),
        (
            "get",
            false,
            TestRequest::get().uri("/api/fed/projects/commandcenter"),
        ),
        (
            "history",
            false,
            TestRequest::get().uri("/api/fed/projects/commandcenter/history"),
        ),
        ("register", true, json_post("/api/fed/projects", SEED_BODY)),
        (
            "patch",
            true,
            json_patch("/api/fed/projects/commandcenter", r#"{"name":"X"}"#),
        ),
        (
            "heartbeat",
            true,
            json_post(
                "/api/fed/projects/commandcenter/heartbeat",
                r#"{"project_slug":"commandcenter"}"#,
            ),
        ),
        // Last: it also removes the project from the presence table.
        (
            "delete",
            true,
            TestRequest::delete().uri("/api/fed/projects/commandcenter"),
        ),
    ]
}

fn ok_status(name: &str) -> StatusCode {
    match name {
        "register" => StatusCode::CREATED,
        "delete" => StatusCode::NO_CONTENT,
        "heartbeat" => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    }
}

#[actix_web::test]
async fn no_key_is_401_on_every_route() {
    let h = Builder::new(MockProjectRepository::new()).build();
    for (name, _, req) in requests() {
        let r = h.send(req).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(r.error(), ("unauthorized".to_owned(), None), "{name}");
    }
}

#[actix_web::test]
async fn empty_key_is_401() {
    let h = Builder::new(MockProjectRepository::new()).build();
    let r = h
        .send(
            TestRequest::get()
                .uri("/api/fed/projects")
                .insert_header(("X-API-Key", "")),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn wrong_key_is_403_on_every_route() {
    let h = Builder::new(MockProjectRepository::new()).build();
    for key in [
        "nope",
        "write-key-012345678",
        "write-key-01234567890",
        "WRITE-KEY-0123456789",
    ] {
        for (name, _, req) in requests() {
            let r = h.send(req.insert_header(("X-API-Key", key))).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{name} {key}");
            assert_eq!(r.error().0, "forbidden");
            assert!(!r.raw.contains(key), "the key is echoed: {}", r.raw);
        }
    }
}

#[actix_web::test]
async fn read_key_reads_but_cannot_write() {
    let h = Builder::new(open_repo())
        .projects(vec![project("alpha"), project("commandcenter")])
        .known(&["commandcenter"])
        .build();
    for (name, writes, req) in requests() {
        let r = h.send(req.insert_header(("x-api-key", READ_KEY))).await;
        if writes {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {}", r.raw);
            assert_eq!(r.error().0, "forbidden");
        } else {
            assert_eq!(r.status, ok_status(name), "{name}: {}", r.raw);
        }
    }
    // The heartbeat was refused before it reached the presence table.
    assert_eq!(h.federation.counts().online, 0);
}

#[actix_web::test]
async fn write_key_does_everything() {
    let h = Builder::new(open_repo())
        .projects(vec![project("alpha"), project("commandcenter")])
        .known(&["commandcenter"])
        .build();
    for (name, _, req) in requests() {
        let r = h.send(req.insert_header(("X-API-Key", WRITE_KEY))).await;
        assert_eq!(r.status, ok_status(name), "{name}: {}", r.raw);
    }
}

#[actix_web::test]
async fn several_keys_each_work() {
    let keys = ApiKeys::parse(Some(r#"["first", "second"]"#), Some("r1, r2")).unwrap();
    let h = Builder::new(open_repo())
        .projects(vec![project("alpha"), project("commandcenter")])
        .keys(keys)
        .build();
    for key in ["first", "second"] {
        let r = h
            .send(json_post("/api/fed/projects", SEED_BODY).insert_header(("X-API-Key", key)))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{key}");
    }
    for key in ["r1", "r2"] {
        let r = h
            .send(
                TestRequest::get()
                    .uri("/api/fed/projects")
                    .insert_header(("X-API-Key", key)),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{key}");
        let r = h
            .send(json_post("/api/fed/projects", SEED_BODY).insert_header(("X-API-Key", key)))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{key}");
    }
}

#[actix_web::test]
async fn no_keys_configured_means_anonymous_access() {
    let h = Builder::new(open_repo())
        .projects(vec![project("alpha"), project("commandcenter")])
        .keys(ApiKeys::parse(None, None).unwrap())
        .known(&["commandcenter"])
        .build();
    for (name, _, req) in requests() {
        let r = h.send(req).await;
        assert_eq!(r.status, ok_status(name), "{name}: {}", r.raw);
    }
    // A key sent anyway is ignored.
    let r = h
        .send(
            TestRequest::get()
                .uri("/api/fed/projects")
                .insert_header(("X-API-Key", "x")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[actix_web::test]
async fn auth_comes_before_body_checks_and_routing() {
    let h = Builder::new(MockProjectRepository::new()).build();
    // Oversize, wrong type, unknown route, wrong method: all 401 without a key.
    let big = "x".repeat(100 * 1024);
    let r = h.send(json_post("/api/fed/projects", &big)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .send(
            TestRequest::post()
                .uri("/api/fed/projects")
                .insert_header(("content-type", "text/plain"))
                .set_payload("x"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .send(TestRequest::get().uri("/api/fed/secret-route"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h.send(TestRequest::put().uri("/api/fed/projects")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn health_and_ready_need_no_key() {
    let mut repo = MockProjectRepository::new();
    repo.expect_ping().returning(|| Ok(()));
    let h = Builder::new(repo).build();
    let r = h.send(TestRequest::get().uri("/health")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[actix_web::test]
async fn without_keys_on_loopback_only_loopback_host_names_are_served() {
    use actix_web::{test, App};
    use federation_api::hosts::AllowedHosts;
    let h = with_projects(vec![]);
    let mut state = h.state();
    state.keys = federation_api::ApiKeys::parse(None, None).unwrap();
    state.allowed_hosts = Some(std::sync::Arc::new(AllowedHosts::parse(Some(
        "fed.internal",
    ))));
    let app = test::init_service(App::new().configure(federation_api::configure(state))).await;
    // A page that rebound its own name to 127.0.0.1 sends that name: refused, reads and
    // writes alike.
    for (host, want) in [
        ("evil.attacker.com", 403),
        ("evil.attacker.com:8001", 403),
        ("localhost:8001", 200),
        ("127.0.0.1:8001", 200),
        ("fed.internal", 200),
    ] {
        let req = test::TestRequest::get()
            .uri("/api/fed/projects")
            .insert_header(("host", host))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status().as_u16(), want, "{host}");
    }
    let req = test::TestRequest::post()
        .uri("/api/fed/projects")
        .insert_header(("host", "evil.attacker.com"))
        .set_payload(r#"{"slug":"x","name":"x","hub_url":"http://x"}"#)
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status().as_u16(), 403);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["error"]["code"], "host_not_allowed");
}
