//! `GET /api/fed/prometheus/targets`: Prometheus' HTTP service discovery format.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use federation_domain::{HubUrl, Status, Tags};
use serde_json::json;

use crate::common::*;

fn fleet() -> Harness {
    let mut alpha = project("alpha");
    alpha.status = Status::Online;
    alpha.hub_url = HubUrl::parse("https://hub.example.com/cc/").unwrap();
    alpha.tags = Tags::parse(&["python", "Machine Learning", "ÉTÉ-2"]).unwrap();
    alpha.version = Some(federation_domain::Version::parse("1.4.2").unwrap());
    // A window that ended: no longer in maintenance. beta's is open.
    let window = |since: i64, until: i64| federation_domain::Maintenance {
        reason: "upgrade".into(),
        since: t0() + chrono::TimeDelta::minutes(since),
        until: t0() + chrono::TimeDelta::minutes(until),
        by: "anonymous".into(),
    };
    alpha.maintenance = Some(Box::new(window(-60, -1)));
    let mut beta = project("beta");
    beta.hub_url = HubUrl::parse("http://[::1]:8000").unwrap();
    beta.tags = Tags::parse(&["rust"]).unwrap();
    beta.maintenance = Some(Box::new(window(-1, 60)));
    with_projects(vec![alpha, beta])
}

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

#[actix_web::test]
async fn every_project_is_a_target_group_with_its_labels() {
    let h = fleet();
    let r = h
        .send(get("/api/fed/prometheus/targets").insert_header(("X-API-Key", READ_KEY)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-federation-index").is_some());
    assert_eq!(
        r.json,
        json!([
            {
                "targets": ["hub.example.com:443"],
                "labels": {
                    "__scheme__": "https",
                    "__meta_federation_slug": "alpha",
                    "__meta_federation_name": "CommandCenter",
                    "__meta_federation_status": "online",
                    "__meta_federation_namespace": "hub.alpha",
                    "__meta_federation_version": "1.4.2",
                    "__meta_federation_hub_url": "https://hub.example.com/cc/",
                    "__meta_federation_hub_path": "/cc/",
                    "__meta_federation_maintenance": "false",
                    "__meta_federation_tags": ",python,Machine Learning,ÉTÉ-2,",
                    "__meta_federation_tag_python": "true",
                    "__meta_federation_tag_machine_learning": "true",
                    "__meta_federation_tag__t__2": "true",
                }
            },
            {
                "targets": ["[::1]:8000"],
                "labels": {
                    "__scheme__": "http",
                    "__meta_federation_slug": "beta",
                    "__meta_federation_name": "CommandCenter",
                    "__meta_federation_status": "offline",
                    "__meta_federation_namespace": "hub.beta",
                    "__meta_federation_hub_url": "http://[::1]:8000",
                    "__meta_federation_hub_path": "/",
                    "__meta_federation_maintenance": "true",
                    "__meta_federation_tags": ",rust,",
                    "__meta_federation_tag_rust": "true",
                }
            }
        ])
    );
    // Every label name follows Prometheus' rule.
    let name = regex::Regex::new("^[a-zA-Z_][a-zA-Z0-9_]*$").unwrap();
    for group in r.json.as_array().unwrap() {
        for key in group["labels"].as_object().unwrap().keys() {
            assert!(name.is_match(key), "{key}");
        }
    }
}

#[actix_web::test]
async fn filters_by_status_and_tag_and_refuses_bad_ones() {
    let h = fleet();
    let slugs = |r: &Reply| -> Vec<String> {
        r.json
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                g["labels"]["__meta_federation_slug"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let read = |uri: &str| get(uri).insert_header(("X-API-Key", READ_KEY));
    let r = h
        .send(read("/api/fed/prometheus/targets?status=online"))
        .await;
    assert_eq!(slugs(&r), ["alpha"]);
    let r = h.send(read("/api/fed/prometheus/targets?tag=RUST")).await;
    assert_eq!(slugs(&r), ["beta"]);
    let r = h
        .send(read("/api/fed/prometheus/targets?status=degraded"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.raw, "[]", "no match is an empty list, as Prometheus asks");
    let r = h.send(read("/api/fed/prometheus/targets?status=up")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error().1.as_deref(), Some("status"));
}

#[actix_web::test]
async fn keyed_like_the_other_reads_and_takes_a_bearer_token() {
    let h = fleet();
    let path = "/api/fed/prometheus/targets";
    let r = h.send(get(path)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error().0, "unauthorized");
    let r = h.send(get(path).insert_header(("X-API-Key", "nope"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .send(get(path).insert_header(("Authorization", "Bearer nope")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .send(get(path).insert_header(("Authorization", format!("Bearer {READ_KEY}"))))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let r = h
        .send(
            TestRequest::post()
                .uri(path)
                .insert_header(("X-API-Key", WRITE_KEY)),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn a_large_fleet_is_streamed_as_one_valid_array() {
    let projects = (0..600)
        .map(|i| {
            let mut p = project(&format!("p{i:03}"));
            p.id = i;
            p
        })
        .collect();
    let h = with_projects(projects);
    let r = h
        .send(get("/api/fed/prometheus/targets").insert_header(("X-API-Key", READ_KEY)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let groups = r.json.as_array().expect("one JSON array");
    assert_eq!(groups.len(), 600);
    assert_eq!(groups[599]["labels"]["__meta_federation_slug"], "p599");
}
