//! `/status` (the public status page) and `/badge/{slug}/status.svg`.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use federation_api::StatusPage;
use federation_domain::{HubUrl, Status, Tag, Tags};

use crate::common::*;

fn fleet(page: Option<StatusPage>) -> Harness {
    let mut web = project("web");
    web.name = federation_domain::ProjectName::parse("Web <front>").unwrap();
    web.status = Status::Online;
    web.hub_url = HubUrl::parse("http://web.internal.example:8000").unwrap();
    web.tags = Tags::parse(&["public"]).unwrap();
    let mut db = project("db");
    db.status = Status::Offline;
    db.tags = Tags::parse(&["internal"]).unwrap();
    let mut h = with_projects(vec![web, db]);
    h.status_page = page;
    h
}

fn public_tag() -> StatusPage {
    StatusPage {
        enabled: true,
        title: "Acme status".into(),
        tags: vec![Tag::parse("public").unwrap()],
        ..StatusPage::default()
    }
}

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

#[actix_web::test]
async fn the_page_is_off_by_default() {
    for page in [None, Some(StatusPage::default())] {
        let h = fleet(page);
        let r = h.send(get("/status")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.raw);
        assert_eq!(r.error().0, "not_found");
    }
}

#[actix_web::test]
async fn the_page_shows_the_chosen_projects_without_a_key_and_is_cacheable() {
    let h = fleet(Some(public_tag()));
    let r = h.send(get("/status")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=30"));
    let etag = r.header("etag").unwrap().to_owned();
    // The dashboard's security headers.
    for (name, value) in federation_api::dashboard::DASHBOARD_HEADERS {
        assert_eq!(r.header(name), Some(value), "{name}");
    }
    assert!(r.raw.contains("<title>Acme status</title>"));
    assert!(r.raw.contains("Web &lt;front&gt;"));
    assert!(r.raw.contains("data-slug=\"web\" data-status=\"online\""));
    assert!(r.raw.contains("All systems operational"));
    assert!(!r.raw.contains("data-slug=\"db\""), "db is not chosen");
    assert!(!r.raw.contains("web.internal"), "no URL unless configured");
    assert!(!r.raw.contains("<script"));
    // HEAD: the same head (the server leaves the body off the wire: e2e/status_page.rs).
    let head = h
        .send(
            TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri("/status"),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    // Asked again with its tag: 304, no body.
    let r = h
        .send(get("/status").insert_header(("If-None-Match", etag.as_str())))
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.raw.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
}

#[actix_web::test]
async fn the_page_changes_its_etag_when_a_status_changes_and_shows_urls_when_asked() {
    let mut page = public_tag();
    page.show_urls = true;
    page.projects = vec![federation_domain::Slug::parse("db").unwrap()];
    let h = fleet(Some(page));
    let first = h.send(get("/status")).await;
    assert!(first
        .raw
        .contains("href=\"http://web.internal.example:8000\""));
    assert!(first
        .raw
        .contains("data-slug=\"db\" data-status=\"offline\""));
    assert!(first.raw.contains("Some systems are down"));
    assert!(first.raw.contains("<h2>public</h2>") && first.raw.contains("<h2>Other projects</h2>"));
    let second = h.send(get("/status")).await;
    assert_eq!(
        first.header("etag"),
        second.header("etag"),
        "same page, same tag"
    );
    // The same page with db online: another body, another tag.
    let mut page = public_tag();
    page.show_urls = true;
    page.projects = vec![federation_domain::Slug::parse("db").unwrap()];
    let mut other = fleet(Some(page));
    let mut projects = other.federation.list(&Default::default()).items;
    projects.iter_mut().for_each(|p| p.status = Status::Online);
    other = {
        let mut h = with_projects(projects);
        h.status_page = other.status_page.take();
        h
    };
    let third = other.send(get("/status")).await;
    assert!(
        third
            .raw
            .contains("data-slug=\"db\" data-status=\"online\""),
        "{}",
        third.raw
    );
    assert_ne!(first.header("etag"), third.header("etag"));
}

#[actix_web::test]
async fn a_badge_is_public_only_for_a_project_on_the_page() {
    let h = fleet(Some(public_tag()));
    let r = h.send(get("/badge/web/status.svg")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        r.header("content-type"),
        Some("image/svg+xml; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=30"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .starts_with("default-src 'none'"));
    assert!(r.header("etag").is_some());
    assert!(r
        .raw
        .starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(
        r.raw.contains("aria-label=\"Web &lt;front&gt;: online\""),
        "{}",
        r.raw
    );
    assert!(r.raw.contains("fill=\"#4c1\""));

    // Not on the page, or no such project: a key first, as every other read.
    for slug in ["db", "nope"] {
        let r = h.send(get(&format!("/badge/{slug}/status.svg"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{slug}");
        assert_eq!(r.error().0, "unauthorized");
        let r = h
            .send(get(&format!("/badge/{slug}/status.svg")).insert_header(("X-API-Key", "bad")))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{slug}");
    }
    let r = h
        .send(get("/badge/db/status.svg").insert_header(("X-API-Key", READ_KEY)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));
    assert!(r.raw.contains(": offline\"") && r.raw.contains("fill=\"#e05d44\""));
    let r = h
        .send(
            get("/badge/nope/status.svg")
                .insert_header(("Authorization", format!("Bearer {READ_KEY}"))),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error().0, "not_found");
}

#[actix_web::test]
async fn with_the_page_off_every_badge_needs_a_key() {
    let h = fleet(None);
    let r = h.send(get("/badge/web/status.svg")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .send(get("/badge/web/status.svg").insert_header(("X-API-Key", READ_KEY)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let etag = r.header("etag").unwrap().to_owned();
    let r = h
        .send(
            get("/badge/web/status.svg")
                .insert_header(("X-API-Key", READ_KEY))
                .insert_header(("If-None-Match", etag.as_str())),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
}

/// web: online from t0-2h, offline t0-1h30..t0-1h, heard for the last three hours
/// (75 % over any window that holds those two hours).
async fn with_uptime(page: Option<StatusPage>) -> Harness {
    use chrono::TimeDelta;
    use federation_domain::uptime::{Span, UptimeSource};
    use federation_domain::{Slug, Transition};
    let h = fleet(page);
    let row = |from, to, at| Transition {
        slug: Slug::parse("web").unwrap(),
        from,
        to,
        reason: Some("heartbeat".into()),
        at,
        last_heartbeat_at: None,
    };
    let h0 = t0() - TimeDelta::hours(2);
    h.uptime_source.add_rows([
        row(Status::Offline, Status::Online, h0),
        row(Status::Online, Status::Offline, h0 + TimeDelta::minutes(30)),
        row(Status::Offline, Status::Online, h0 + TimeDelta::minutes(60)),
    ]);
    h.uptime_source
        .record_heard(Span::new(t0() - TimeDelta::hours(3), t0()))
        .await
        .unwrap();
    h
}

#[actix_web::test]
async fn the_uptime_badge_shows_the_reports_figure_and_refuses_bad_windows() {
    let h = with_uptime(Some(public_tag())).await;
    let r = h.send(get("/badge/web/uptime.svg")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        r.header("content-type"),
        Some("image/svg+xml; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=30"));
    assert!(
        r.raw.contains("aria-label=\"uptime 30d: 75.00%\""),
        "{}",
        r.raw
    );
    assert!(r.raw.contains("fill=\"#e05d44\""), "under 90 %: red");
    let r = h.send(get("/badge/web/uptime.svg?window=24h")).await;
    assert!(
        r.raw.contains("aria-label=\"uptime 24h: 75.00%\""),
        "{}",
        r.raw
    );
    // The windows are spelled as the description lists them; empty is no window.
    for bad in ["1y", "24H", ""] {
        let r = h
            .send(get(&format!("/badge/web/uptime.svg?window={bad}")))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert_eq!(r.error().1.as_deref(), Some("window"));
    }

    // db has no history: nothing is known, nothing guessed. Keyed: not on the page.
    let r = h.send(get("/badge/db/uptime.svg")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .send(get("/badge/db/uptime.svg").insert_header(("X-API-Key", READ_KEY)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.raw.contains("aria-label=\"uptime 30d: no data\""),
        "{}",
        r.raw
    );
    assert!(r.raw.contains("fill=\"#9f9f9f\""));
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));
    let r = h
        .send(get("/badge/nope/uptime.svg").insert_header(("X-API-Key", READ_KEY)))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_page_shows_90_day_bars_per_project_and_per_tag() {
    let h = with_uptime(Some(public_tag())).await;
    let r = h.send(get("/status")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    // One bar for the tag, one for web: 91 day cells each (90 days ending mid-day).
    assert_eq!(r.raw.matches("<div class=\"bar\"").count(), 2, "{}", r.raw);
    assert_eq!(r.raw.matches("<span class=\"day ").count(), 2 * 91);
    assert!(r.raw.contains("Uptime over 90 days: 75.00%"));
    assert!(r.raw.contains("<span class=\"pct\">75.00% uptime</span>"));
    // The last day holds the outage; the days before are unknown.
    assert!(
        r.raw.contains("title=\"2025-11-18: 75.00%, 1 outage\""),
        "{}",
        r.raw
    );
    assert!(r
        .raw
        .contains("class=\"day d-none\" title=\"2025-11-17: no data\""));
    assert!(r.raw.contains("class=\"day d-low\""));
}

/// The value a parameter's description gives as its example.
fn example(p: &serde_json::Value) -> Option<String> {
    let v = p
        .get("example")
        .or_else(|| p["schema"].get("example"))
        .or_else(|| p["schema"]["examples"].get(0))?;
    Some(v.as_str().map_or_else(|| v.to_string(), str::to_owned))
}

#[actix_web::test]
async fn the_descriptions_examples_of_these_routes_are_accepted() {
    let mut cc = project("commandcenter");
    cc.tags = Tags::parse(&["python"]).unwrap();
    let h = with_projects(vec![cc]);
    let doc = h.send(get("/openapi.json")).await.json;
    for path in [
        "/badge/{slug}/status.svg",
        "/badge/{slug}/uptime.svg",
        "/api/fed/prometheus/targets",
    ] {
        let params = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} is not described"));
        let mut uri = path.to_owned();
        let mut query = Vec::new();
        for p in params {
            let name = p["name"].as_str().unwrap();
            let Some(value) = example(p) else { continue };
            if p["in"] == "path" {
                uri = uri.replace(&format!("{{{name}}}"), &value);
            } else {
                query.push(format!("{name}={value}"));
            }
        }
        assert!(
            !uri.contains('{'),
            "{path}: a path parameter without example"
        );
        let full = format!("{uri}?{}", query.join("&"));
        let r = h
            .send(get(&full).insert_header(("X-API-Key", READ_KEY)))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{full}: {}", r.raw);
    }
}
