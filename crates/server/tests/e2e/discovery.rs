//! Prometheus' HTTP service discovery against a real Prometheus: the projects appear in
//! its `/api/v1/targets` with their labels, and a filter by status drops a project that
//! goes offline.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{eventually, Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY};

/// The active targets of `job` in Prometheus: `(slug, discovered labels, scrape URL)`.
async fn active_targets(
    client: &reqwest::Client,
    prometheus: &str,
    job: &str,
) -> Result<Vec<(String, Value, String)>, String> {
    let body: Value = client
        .get(format!("{prometheus}/api/v1/targets?state=active"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let targets = body["data"]["activeTargets"]
        .as_array()
        .ok_or_else(|| format!("no activeTargets in {body}"))?;
    let mut found: Vec<(String, Value, String)> = targets
        .iter()
        .filter(|t| t["scrapePool"] == job)
        .map(|t| {
            (
                t["discoveredLabels"]["__meta_federation_slug"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                t["discoveredLabels"].clone(),
                t["scrapeUrl"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

fn slugs(targets: &[(String, Value, String)]) -> Vec<&str> {
    targets.iter().map(|t| t.0.as_str()).collect()
}

/// Beats `slug` every 300 ms until dropped.
fn keep_beating(app: &TestApp, slug: &str) -> tokio::task::JoinHandle<()> {
    let client = app.client.clone();
    let url = app.url(&format!("/api/fed/projects/{slug}/heartbeat"));
    let body = json!({"project_slug": slug, "version": "2.0.1"});
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(300));
        loop {
            every.tick().await;
            let _ = client
                .post(&url)
                .header("X-API-Key", WRITE_KEY)
                .json(&body)
                .send()
                .await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_discovers_the_projects_with_their_labels_and_filters_by_status() {
    let mut config = TestConfig::new(Backend::sqlite);
    config
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_DEGRADED_AFTER", "1s")
        .set("FEDERATION_OFFLINE_AFTER", "2s");
    let app = config.start().await;
    // Hubs on ports nothing listens on: Prometheus lists them (their scrapes fail).
    for (slug, hub, tags) in [
        (
            "alpha",
            "http://127.0.0.1:9/alpha",
            json!(["python", "Machine Learning", "production"]),
        ),
        ("beta", "https://127.0.0.1:19/", json!(["rust"])),
        ("gamma", "http://127.0.0.1:29", json!(["rust"])),
    ] {
        let r = app
            .register(
                &json!({"slug": slug, "name": slug.to_uppercase(), "hub_url": hub, "tags": tags}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let alpha = keep_beating(&app, "alpha");
    let beta = keep_beating(&app, "beta");
    app.wait_for_status("alpha", "online", Duration::from_secs(10))
        .await;
    app.wait_for_status("beta", "online", Duration::from_secs(10))
        .await;

    let sd = app.url(federation_api::SD_PATH);
    // With `type: Bearer` as the docs show it, and without (Prometheus then sends the
    // bare key, prometheus/prometheus#12762): both are taken.
    let job = |name: &str, query: &str, auth_type: &str| {
        format!(
            "  - job_name: {name}\n    http_sd_configs:\n      - url: '{sd}{query}'\n        \
             refresh_interval: 1s\n        authorization:\n{auth_type}          \
             credentials: '{READ_KEY}'\n"
        )
    };
    let bearer = "          type: Bearer\n";
    // And the example of deploy/, pointed at this service and refreshed every second.
    let key_file = config.dir.path().join("read-key");
    std::fs::write(&key_file, READ_KEY).unwrap();
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/prometheus/hubs-sd.yml"),
    )
    .unwrap();
    let example = example
        .split_once("scrape_configs:\n")
        .expect("the example has scrape_configs")
        .1
        .replace("http://federation:8001", &app.address)
        .replace(
            "/etc/prometheus/federation-read-key",
            &key_file.display().to_string(),
        )
        .replace("refresh_interval: 30s", "refresh_interval: 1s");
    let prometheus = federation_testkit::PrometheusServer::start(&format!(
        "{}{}{}{example}",
        job("all", "", bearer),
        job("online", "?status=online", bearer),
        job("rust", "?tag=RUST", "")
    ))
    .expect("prometheus starts");
    let client = reqwest::Client::new();
    let url = prometheus.url();

    let all = eventually(Duration::from_secs(60), || async {
        let t = active_targets(&client, &url, "all").await?;
        if slugs(&t) == ["alpha", "beta", "gamma"] {
            Ok(t)
        } else {
            Err(format!(
                "job all: {:?}; log: {}",
                slugs(&t),
                prometheus.log()
            ))
        }
    })
    .await;
    let (_, labels, scrape) = &all[0];
    assert_eq!(labels["__meta_federation_status"], "online");
    assert_eq!(labels["__meta_federation_namespace"], "hub.alpha");
    assert_eq!(labels["__meta_federation_version"], "2.0.1");
    assert_eq!(labels["__meta_federation_name"], "ALPHA");
    assert_eq!(labels["__meta_federation_hub_path"], "/alpha");
    assert_eq!(labels["__meta_federation_tag_python"], "true");
    assert_eq!(labels["__meta_federation_tag_machine_learning"], "true");
    assert_eq!(
        labels["__meta_federation_tags"],
        ",python,Machine Learning,production,"
    );
    assert_eq!(labels["__address__"], "127.0.0.1:9");
    assert_eq!(scrape, "http://127.0.0.1:9/metrics");
    let (_, labels, scrape) = &all[1];
    assert_eq!(labels["__scheme__"], "https");
    assert_eq!(labels["__address__"], "127.0.0.1:19");
    assert!(labels.get("__meta_federation_tag_python").is_none());
    assert_eq!(scrape, "https://127.0.0.1:19/metrics");
    assert_eq!(all[2].1["__meta_federation_status"], "offline");
    assert!(all[2].1.get("__meta_federation_version").is_none());

    // The example keeps online hubs tagged production, under their URL's path.
    let hubs = eventually(Duration::from_secs(60), || async {
        let t = active_targets(&client, &url, "hubs").await?;
        if slugs(&t) == ["alpha"] {
            Ok(t)
        } else {
            Err(format!("job hubs: {:?}", slugs(&t)))
        }
    })
    .await;
    assert_eq!(hubs[0].2, "http://127.0.0.1:9/alpha/metrics");
    let body: Value = client
        .get(format!("{url}/api/v1/targets?state=active"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hub = body["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["scrapePool"] == "hubs")
        .unwrap();
    assert_eq!(hub["labels"]["project"], "alpha");
    assert_eq!(hub["labels"]["namespace"], "hub.alpha");

    eventually(Duration::from_secs(60), || async {
        let online = active_targets(&client, &url, "online").await?;
        let rust = active_targets(&client, &url, "rust").await?;
        if slugs(&online) == ["alpha", "beta"] && slugs(&rust) == ["beta", "gamma"] {
            Ok(())
        } else {
            Err(format!(
                "online: {:?}, rust: {:?}",
                slugs(&online),
                slugs(&rust)
            ))
        }
    })
    .await;

    // beta goes silent, then offline: it leaves the job that asks for online projects.
    beta.abort();
    app.wait_for_status("beta", "offline", Duration::from_secs(15))
        .await;
    eventually(Duration::from_secs(60), || async {
        let online = active_targets(&client, &url, "online").await?;
        match slugs(&online).as_slice() {
            ["alpha"] => Ok(()),
            other => Err(format!("online: {other:?}")),
        }
    })
    .await;
    let all = active_targets(&client, &url, "all").await.unwrap();
    assert_eq!(slugs(&all), ["alpha", "beta", "gamma"]);

    alpha.abort();
    drop(prometheus);
    app.stop().await;
}
