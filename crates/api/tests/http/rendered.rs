//! Reads answered from the bytes the registry keeps per project, and lists kept per
//! generation (plain and gzip'd): every answer is byte for byte what encoding the project
//! afresh gives, after each kind of change (registration, heartbeat and status
//! change, metadata change, deletion).

use std::io::Read;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::App;
use federation_api::configure;
use federation_api::dto::ProjectDto;
use federation_domain::{ListFilter, Status};

use crate::common::*;

/// A project JSON of some 350 bytes: 40 of them make a list worth keeping compressed.
const FLEET: usize = 40;

fn fresh(h: &Harness) -> Vec<(String, Vec<u8>)> {
    h.federation
        .list(&ListFilter::default())
        .items
        .iter()
        .map(|p| {
            (
                p.slug.to_string(),
                serde_json::to_vec(&ProjectDto::from(p)).unwrap(),
            )
        })
        .collect()
}

fn array<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = b"[".to_vec();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    out
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Every read against a fresh encoding of the registry's projects.
async fn same_as_fresh<S>(app: &S, h: &Harness, step: &str)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
{
    let get = |uri: String, gzip: bool| {
        let mut r = TestRequest::get()
            .uri(&uri)
            .insert_header(("X-API-Key", READ_KEY));
        if gzip {
            r = r.insert_header(("Accept-Encoding", "gzip, deflate, br"));
        }
        r.to_request()
    };
    let expected = fresh(h);
    for (slug, json) in &expected {
        let res = test::call_service(app, get(format!("/api/fed/projects/{slug}"), false)).await;
        assert_eq!(res.status(), StatusCode::OK, "{step}: {slug}");
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "application/json"
        );
        let body = test::read_body(res).await;
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(json),
            "{step}: GET {slug}"
        );
    }
    let whole = array(expected.iter().map(|(_, j)| j.as_slice()));
    let online = array(
        h.federation
            .list(&ListFilter::default())
            .items
            .iter()
            .zip(&expected)
            .filter(|(p, _)| p.status == Status::Online)
            .map(|(_, (_, j))| j.as_slice()),
    );
    let page = array(expected.iter().skip(3).take(5).map(|(_, j)| j.as_slice()));
    for (uri, want) in [
        ("/api/fed/projects".to_owned(), &whole),
        ("/api/fed/projects?limit=5&offset=3".to_owned(), &page),
        ("/api/fed/projects?status=online".to_owned(), &online),
    ] {
        // Twice plain: the first builds the body (and keeps one large enough), the
        // second may come from the kept body; both are the same JSON.
        let mut total = None;
        for round in 0..2 {
            let plain = test::call_service(app, get(uri.clone(), false)).await;
            assert_eq!(plain.status(), StatusCode::OK, "{step}: {uri}");
            assert!(plain.headers().get("content-encoding").is_none());
            total = plain.headers().get("x-total-count").cloned();
            let body = test::read_body(plain).await;
            assert_eq!(
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(want),
                "{step}: {uri}, round {round}"
            );
        }
        // Twice compressed: the first compresses (or the middleware does, for a small
        // body), the second may come from the kept body; both are the same JSON.
        for round in 0..2 {
            let res = test::call_service(app, get(uri.clone(), true)).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(
                res.headers().get("content-encoding").unwrap(),
                "gzip",
                "{step}: {uri}"
            );
            assert!(res.headers().get("vary").is_some());
            assert_eq!(res.headers().get("x-total-count").cloned(), total);
            let body = gunzip(&test::read_body(res).await);
            assert_eq!(
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(want),
                "{step}: {uri} gzip'd, round {round}"
            );
        }
    }
}

#[actix_web::test]
async fn reads_are_byte_identical_to_a_fresh_encoding_after_every_change() {
    let slugs: Vec<String> = (0..FLEET).map(|i| format!("project-{i:02}")).collect();
    let refs: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let h = Builder::stored(&refs).build();
    let app = test::init_service(App::new().configure(configure(h.state()))).await;
    let write = |req: TestRequest| req.insert_header(("X-API-Key", WRITE_KEY)).to_request();
    assert!(
        fresh(&h).iter().map(|(_, j)| j.len() + 1).sum::<usize>() > 8 * 1024,
        "the whole list is large enough to be kept compressed"
    );
    same_as_fresh(&app, &h, "start").await;

    let res = test::call_service(
        &app,
        write(json_post(
            "/api/fed/projects",
            r#"{"slug":"newcomer","name":"New","hub_url":"http://new.example.com","tags":["x"]}"#,
        )),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    same_as_fresh(&app, &h, "registered").await;

    let res = test::call_service(
        &app,
        write(json_post(
            "/api/fed/projects/project-05/heartbeat",
            r#"{"project_slug":"project-05","version":"1.2.3"}"#,
        )),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    h.federation.tick().await.unwrap();
    assert_eq!(
        h.federation.get("project-05").unwrap().0.status,
        Status::Online
    );
    same_as_fresh(&app, &h, "heartbeat: online").await;

    let res = test::call_service(
        &app,
        write(json_patch(
            "/api/fed/projects/project-07",
            r#"{"metadata":{"team":"platform","replicas":3}}"#,
        )),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    same_as_fresh(&app, &h, "metadata").await;

    let res = test::call_service(
        &app,
        write(TestRequest::delete().uri("/api/fed/projects/project-01")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    same_as_fresh(&app, &h, "deleted").await;
}

/// A catalog past the size whose whole list is read and sent in parts (20,000): the
/// same JSON as one read gives, plain and gzip'd, filtered and from a cursor, with the
/// count and revision of its start.
#[actix_web::test]
async fn the_whole_list_of_a_large_catalog_is_the_same_when_sent_in_parts() {
    let n = 20_300;
    let h = with_projects((0..n).map(|i| project(&format!("p-{i:05}"))).collect());
    let app = test::init_service(App::new().configure(configure(h.state()))).await;
    let expected = fresh(&h);
    let from = |skip: usize| array(expected.iter().skip(skip).map(|(_, j)| j.as_slice()));
    let revision = h.federation.revision().to_string();
    for (uri, want, total) in [
        ("/api/fed/projects", from(0), n),
        ("/api/fed/projects?tag=python", from(0), n),
        ("/api/fed/projects?after=p-00099", from(100), n),
    ] {
        for gzip in [false, true] {
            let mut req = TestRequest::get()
                .uri(uri)
                .insert_header(("X-API-Key", READ_KEY));
            if gzip {
                req = req.insert_header(("Accept-Encoding", "gzip"));
            }
            let res = test::call_service(&app, req.to_request()).await;
            assert_eq!(res.status(), StatusCode::OK, "{uri}");
            assert_eq!(
                res.headers()
                    .get("x-total-count")
                    .unwrap()
                    .to_str()
                    .unwrap(),
                total.to_string(),
                "{uri}"
            );
            assert_eq!(
                res.headers()
                    .get("x-federation-index")
                    .unwrap()
                    .to_str()
                    .unwrap(),
                revision
            );
            assert_eq!(
                res.headers().get("content-encoding").is_some(),
                gzip,
                "{uri}, gzip {gzip}"
            );
            let mut body = test::read_body(res).await.to_vec();
            if gzip {
                body = gunzip(&body);
            }
            assert!(
                body == want,
                "{uri}, gzip {gzip}: not the list read at once"
            );
        }
    }
}
