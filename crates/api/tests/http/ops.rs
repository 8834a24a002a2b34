//! `/health`, `/ready`, unknown routes and wrong methods.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use async_trait::async_trait;
use federation_api::BusHealth;
use federation_domain::ports::MockProjectRepository;
use federation_domain::{
    BusOperation, DeniedUse, ListFilter, Presence, PresenceRecord, Project, ProjectPage,
    ProjectPatch, ProjectRepository, Registration, RepositoryError, Slug, StatusPolicy, Term,
    Transition, Upserted,
};
use serde_json::json;

use crate::common::*;

fn pinging(result: fn() -> Result<(), RepositoryError>) -> MockProjectRepository {
    let mut repo = MockProjectRepository::new();
    repo.expect_ping().returning(result);
    repo
}

#[actix_web::test]
async fn health_is_ok_and_touches_nothing() {
    // No expectation at all: any port call would fail the test.
    let h = harness(MockProjectRepository::new());
    let r = h.send(TestRequest::get().uri("/health")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json,
        json!({"status": "ok", "service": "federation", "version": "9.9.9-test"})
    );
}

#[actix_web::test]
async fn health_only_answers_get() {
    let h = harness(MockProjectRepository::new());
    let r = h.send(TestRequest::post().uri("/health")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(r.error(), ("method_not_allowed".to_owned(), None));
    let r = h
        .send(
            TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri("/health"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[actix_web::test]
async fn ready_when_everything_is_up() {
    let h = Builder::new(pinging(|| Ok(()))).bus(BusHealth::Up).build();
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        r.json,
        json!({
            "status": "ok",
            "checks": {"database": "ok", "nats": "ok", "partition_guard": "inactive", "follower": "ok",
                       "nats_permissions": "ok"},
            "replica": {"role": "leader", "revision": 0}
        })
    );
}

#[actix_web::test]
async fn ready_is_503_stopping_from_the_moment_the_stop_begins() {
    let h = Builder::new(pinging(|| Ok(()))).bus(BusHealth::Up).build();
    h.lifecycle.begin_stopping();
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.raw);
    assert_eq!(r.json["status"], "stopping");
    assert_eq!(
        r.json["checks"]["database"], "ok",
        "the checks still say why not"
    );
    let r = h.send(TestRequest::get().uri("/health")).await;
    assert_eq!(r.status, StatusCode::OK, "alive while it drains");
}

#[actix_web::test]
async fn ready_without_nats_says_disabled() {
    let h = Builder::new(pinging(|| Ok(()))).build();
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["status"], "ok");
    assert_eq!(r.json["checks"]["nats"], "disabled");
}

#[actix_web::test]
async fn ready_with_nats_down_stays_200_but_says_degraded() {
    let mut presence = Presence::with_bus(StatusPolicy::default());
    presence.bus_disconnected(t0());
    let h = Builder::new(pinging(|| Ok(())))
        .presence(presence)
        .bus(BusHealth::Down)
        .build();
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["status"], "degraded");
    assert_eq!(r.json["checks"]["database"], "ok");
    assert_eq!(r.json["checks"]["nats"], "down");
    assert_eq!(r.json["checks"]["partition_guard"], "link_down");
}

#[actix_web::test]
async fn ready_names_a_refused_nats_permission_until_it_is_two_minutes_old() {
    let h = Builder::new(pinging(|| Ok(())))
        .presence(Presence::with_bus(StatusPolicy::default()))
        .bus(BusHealth::Up)
        .build();
    h.federation.bus_connected();
    h.federation.bus_denied(
        DeniedUse::Canary,
        BusOperation::Publish,
        "hub.federation.canary.1f",
    );
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["status"], "degraded");
    assert_eq!(r.json["checks"]["nats_permissions"], "denied");
    assert_eq!(
        r.json["checks"]["nats_denied"],
        json!(["canary: publish to \"hub.federation.canary.1f\" denied"])
    );
    h.clock.advance(chrono::TimeDelta::seconds(120));
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.json["checks"]["nats_permissions"], "ok", "{}", r.raw);
    assert!(r.json["checks"].get("nats_denied").is_none(), "{}", r.raw);
}

#[actix_web::test]
async fn ready_reports_the_recovering_guard() {
    let h = Builder::new(pinging(|| Ok(())))
        .presence(Presence::with_bus(StatusPolicy::default()))
        .bus(BusHealth::Up)
        .build();
    h.federation.bus_connected();
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["status"], "ok");
    assert_eq!(r.json["checks"]["partition_guard"], "recovering");
    assert_eq!(
        r.json["checks"]["partition_guard_until"],
        "2025-11-18T12:01:30.000000Z"
    );
    h.clock.advance(chrono::TimeDelta::seconds(91));
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.json["checks"]["partition_guard"], "inactive");
}

#[actix_web::test]
async fn ready_is_503_when_the_store_is_down_without_its_text() {
    for err in [
        (|| {
            Err(RepositoryError::Unavailable(
                "connect 10.9.9.9:5432 refused".into(),
            ))
        }) as fn() -> Result<(), RepositoryError>,
        || {
            Err(RepositoryError::Internal(
                "ERROR: relation \"x\" does not exist".into(),
            ))
        },
    ] {
        let h = Builder::new(pinging(err)).bus(BusHealth::Up).build();
        let r = h.send(TestRequest::get().uri("/ready")).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.raw);
        assert_eq!(r.json["status"], "unavailable");
        assert_eq!(r.json["checks"]["database"], "down");
        assert_eq!(r.json["checks"]["nats"], "ok");
        assert!(
            !r.raw.contains("10.9.9.9") && !r.raw.contains("relation"),
            "{}",
            r.raw
        );
    }
}

/// A store whose ping never answers.
struct Hanging;

#[async_trait]
impl ProjectRepository for Hanging {
    async fn upsert(&self, _: &Registration) -> Result<Upserted, RepositoryError> {
        unimplemented!()
    }
    async fn upsert_all(&self, _: &[Registration]) -> Result<Vec<Upserted>, RepositoryError> {
        unimplemented!()
    }
    async fn apply_catalog(
        &self,
        _: &[Registration],
        _: bool,
    ) -> Result<federation_domain::CatalogApplied, RepositoryError> {
        unimplemented!()
    }
    async fn update(&self, _: &Slug, _: &ProjectPatch) -> Result<Option<Project>, RepositoryError> {
        unimplemented!()
    }
    async fn set_maintenance(
        &self,
        _: &Slug,
        _: &federation_domain::MaintenanceChange,
    ) -> Result<Option<Project>, RepositoryError> {
        unimplemented!()
    }
    async fn get(&self, _: &Slug) -> Result<Option<Project>, RepositoryError> {
        unimplemented!()
    }
    async fn list(&self, _: &ListFilter) -> Result<ProjectPage, RepositoryError> {
        unimplemented!()
    }
    async fn delete(&self, _: &Slug, _: &str) -> Result<bool, RepositoryError> {
        unimplemented!()
    }
    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, RepositoryError> {
        unimplemented!()
    }
    async fn write_presence(
        &self,
        _: &[PresenceRecord],
        _: &[Transition],
        _: Term,
    ) -> Result<federation_domain::LoggedSteps, RepositoryError> {
        unimplemented!()
    }
    async fn write_flapping(
        &self,
        _: &[federation_domain::FlapMark],
        _: Term,
    ) -> Result<(), RepositoryError> {
        unimplemented!()
    }
    async fn history(&self, _: &Slug, _: u32) -> Result<Option<Vec<Transition>>, RepositoryError> {
        unimplemented!()
    }
    async fn trim_history(
        &self,
        _: chrono::DateTime<chrono::Utc>,
        _: u32,
    ) -> Result<u64, RepositoryError> {
        unimplemented!()
    }
    async fn ping(&self) -> Result<(), RepositoryError> {
        std::future::pending().await
    }
}

#[actix_web::test]
async fn ready_is_503_when_the_store_does_not_answer_in_time() {
    tokio::time::pause(); // the timeout fires as soon as everything is idle
    let clock = Arc::new(federation_domain::ManualClock::new(t0()));
    let memory = Arc::new(federation_domain::memory::MemoryStore::new(clock.clone()));
    let federation = Arc::new(federation_domain::Federation::new(
        federation_domain::Ports {
            repo: Arc::new(Hanging),
            log: memory.clone(),
            lease: memory,
            events: Arc::new(federation_domain::NoStatusEvents),
            relay: Arc::new(federation_domain::NoRelay),
            clock,
        },
        Presence::new(StatusPolicy::default()),
        federation_domain::ReplicaOptions::default(),
    ));
    let metrics = metrics_for(&federation, BusHealth::Disabled);
    let (uptime_source, uptime) = memory_uptime();
    let h = Harness {
        changes: federation_api::ChangeHub::new(Default::default(), 0, metrics.clone()),
        metrics,
        federation,
        clock: Arc::new(federation_domain::ManualClock::new(t0())),
        keys: keys(),
        bus: BusHealth::Disabled,
        lifecycle: Default::default(),
        status_page: None,
        uptime_source,
        uptime,
    };
    let started = tokio::time::Instant::now();
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.raw);
    assert_eq!(r.json["checks"]["database"], "down");
    assert!(started.elapsed() >= federation_api::READY_DB_TIMEOUT);
}

#[actix_web::test]
async fn ready_reports_a_mass_expiry() {
    let slugs = ["a1", "a2", "a3", "a4", "a5", "a6"];
    let mut repo = pinging(|| Ok(()));
    repo.expect_write_presence()
        .returning(|_, _, _| Ok(Default::default()));
    let h = Builder::new(repo).known(&slugs).build();
    for s in slugs {
        h.federation
            .record_heartbeat(s, format!(r#"{{"project_slug":"{s}"}}"#).as_bytes())
            .unwrap();
    }
    h.federation.tick().await.unwrap();
    h.clock.advance(chrono::TimeDelta::seconds(91));
    let report = h.federation.tick().await.unwrap();
    assert!(report.mass_expiry.is_some(), "{report:?}");
    // As the follower task does every second: the log read to its end just now.
    h.federation.follow().await.unwrap();
    let r = h.send(TestRequest::get().uri("/ready")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["status"], "ok");
    assert_eq!(
        r.json["mass_expiry"],
        json!({"at": "2025-11-18T12:01:31.000000Z", "expired": 6, "live": 6})
    );
}

#[actix_web::test]
async fn unknown_routes_are_json_404() {
    let h = harness(MockProjectRepository::new());
    for uri in [
        "/assets/nope.js",
        "/nope",
        "/api",
        "/api/fed",
        "/health/x",
        "/api/fed/projects/a/b/c",
    ] {
        let r = h.send_w(TestRequest::get().uri(uri)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(r.error(), ("not_found".to_owned(), None), "{uri}");
    }
}

#[actix_web::test]
async fn wrong_methods_are_json_405_with_allow() {
    let h = harness(MockProjectRepository::new());
    for (req, allow) in [
        (TestRequest::put().uri("/api/fed/projects"), "GET, POST"),
        (TestRequest::delete().uri("/api/fed/projects"), "GET, POST"),
        (
            TestRequest::post().uri("/api/fed/projects/x"),
            "GET, PATCH, DELETE",
        ),
        (
            TestRequest::put().uri("/api/fed/projects/x"),
            "GET, PATCH, DELETE",
        ),
        (
            TestRequest::delete().uri("/api/fed/projects/x/history"),
            "GET",
        ),
        (TestRequest::put().uri("/ready"), "GET, HEAD"),
    ] {
        let r = h.send_w(req).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.header("allow"), Some(allow));
        assert_eq!(r.error().0, "method_not_allowed");
    }
}

#[actix_web::test]
async fn the_dashboard_and_its_assets_are_served_with_a_strict_policy() {
    let h = harness(MockProjectRepository::new());
    for (uri, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/dashboard.js", "text/javascript; charset=utf-8"),
        ("/assets/dashboard.css", "text/css; charset=utf-8"),
    ] {
        let r = h.send(TestRequest::get().uri(uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        let header = |name: &str| r.headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), content_type, "{uri}");
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
    let page = h.send(TestRequest::get().uri("/")).await.raw;
    assert!(page.contains(r#"<script src="/assets/dashboard.js" defer></script>"#));
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline code"
    );
}

#[actix_web::test]
async fn a_stopping_service_ends_each_change_stream_with_a_short_retry_hint() {
    let h = Builder::new(pinging(|| Ok(()))).build();
    let app = actix_web::test::init_service(
        actix_web::App::new().configure(federation_api::configure(h.state())),
    )
    .await;
    let req = TestRequest::get()
        .uri("/api/fed/events")
        .insert_header(("X-API-Key", READ_KEY))
        .to_request();
    let res = actix_web::test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    h.changes.close();
    let body = actix_web::test::read_body(res).await;
    let text = String::from_utf8_lossy(&body);
    assert!(text.starts_with("retry: 2000\n\n"), "{text}");
    assert!(
        text.ends_with(&format!(
            "retry: {}\n\n",
            federation_api::stream::RETRY_ON_STOP_MS
        )),
        "{text}"
    );
}
