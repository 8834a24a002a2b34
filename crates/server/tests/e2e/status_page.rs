//! The public status page and badges on the real service: over HTTP (headers, caching,
//! what is public) and in a real headless Chromium with JavaScript turned off.

use std::time::Duration;

use serde_json::{json, Value};

use crate::dashboard::{target_dir, Driver};
use crate::helpers::{eventually, Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY};

/// Beats `slug` every 300 ms until aborted.
fn keep_beating(app: &TestApp, slug: &str) -> tokio::task::JoinHandle<()> {
    let client = app.client.clone();
    let url = app.url(&format!("/api/fed/projects/{slug}/heartbeat"));
    let body = json!({"project_slug": slug, "version": "1.0.0"});
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

async fn start() -> (TestConfig, TestApp) {
    let mut config = TestConfig::new(Backend::sqlite);
    config
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_DEGRADED_AFTER", "1s")
        .set("FEDERATION_OFFLINE_AFTER", "2s")
        .set("FEDERATION_STATUS_PAGE", "true")
        .set("FEDERATION_STATUS_PAGE_TITLE", "Acme <status>")
        .set("FEDERATION_STATUS_PAGE_TAGS", "public");
    config.write_projects(
        "projects:\n\
         \x20 - {slug: alpha, name: Alpha API, hub_url: 'http://alpha.internal.example', tags: [public]}\n\
         \x20 - {slug: beta, name: Beta Web, hub_url: 'http://beta.internal.example', tags: [public]}\n\
         \x20 - {slug: gamma, name: Gamma Ops, hub_url: 'http://gamma.internal.example', tags: [internal]}\n",
    );
    let app = config.start().await;
    (config, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_and_badges_over_http() {
    let (_config, app) = start().await;
    let alpha = keep_beating(&app, "alpha");
    app.wait_for_status("alpha", "online", Duration::from_secs(10))
        .await;

    let page = app.get("/status").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "public, max-age=30");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<title>Acme &lt;status&gt;</title>"),
        "{html}"
    );
    assert!(!html.contains("internal.example"), "no URL: {html}");
    assert!(!html.contains("gamma"), "gamma is not on the page");
    // 90-day bars for the tag and each project, from the uptime record.
    assert_eq!(html.matches("<div class=\"bar\"").count(), 3, "{html}");
    let again = app
        .get("/status")
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let head = app.client.head(app.url("/status")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert!(head.bytes().await.unwrap().is_empty(), "HEAD has no body");

    // alpha's badge is public; gamma's needs a key.
    let badge = app.get("/badge/alpha/status.svg").send().await.unwrap();
    assert_eq!(badge.status(), 200);
    assert_eq!(
        badge.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );
    assert_eq!(badge.headers()["cache-control"], "public, max-age=30");
    assert!(badge.text().await.unwrap().contains("Alpha API: online"));
    let badge = app
        .get("/badge/alpha/uptime.svg?window=7d")
        .send()
        .await
        .unwrap();
    assert_eq!(badge.status(), 200);
    assert_eq!(badge.headers()["cache-control"], "public, max-age=30");
    let svg = badge.text().await.unwrap();
    assert!(svg.contains("aria-label=\"uptime 7d: "), "{svg}");
    let badge = app.get("/badge/gamma/uptime.svg").send().await.unwrap();
    assert_eq!(badge.status(), 401);
    let badge = app.get("/badge/gamma/status.svg").send().await.unwrap();
    assert_eq!(badge.status(), 401);
    let badge: Value = badge.json().await.unwrap();
    assert_eq!(badge["error"]["code"], "unauthorized");
    let badge = app
        .get("/badge/gamma/status.svg")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(badge.status(), 200);
    assert_eq!(badge.headers()["cache-control"], "private, no-cache");
    alpha.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_in_chromium_without_javascript() {
    let (_config, app) = start().await;
    let alpha = keep_beating(&app, "alpha");
    app.wait_for_status("alpha", "online", Duration::from_secs(10))
        .await;

    let driver = Driver::start().await;
    let browser = driver
        .session_with_prefs(json!({"profile.managed_default_content_settings.javascript": 2}))
        .await;
    browser.goto(&app.url("/status")).await;
    const ROWS: &str = "return [...document.querySelectorAll('li.project')]\
        .map(r => r.dataset.slug + ':' + r.dataset.status + ':' + \
             r.querySelector('.name').textContent + ':' + r.querySelector('.state').textContent)\
        .join(' | ');";
    browser
        .wait_for(
            "rows",
            ROWS,
            json!("alpha:online:Alpha API:Operational | beta:offline:Beta Web:Down"),
        )
        .await;
    let facts = browser
        .js(
            "const o = document.getElementById('overall');\
             return [document.title, o.textContent, o.dataset.status,\
                     getComputedStyle(o).backgroundColor,\
                     document.querySelectorAll('script').length,\
                     document.querySelector('h2').textContent,\
                     document.querySelectorAll('.bar').length,\
                     document.querySelector('li.project .bar .day:last-child').getBoundingClientRect().height];",
            json!([]),
        )
        .await;
    assert_eq!(facts[0], "Acme <status>");
    assert_eq!(facts[1], "Some systems are down");
    assert_eq!(facts[2], "offline");
    // The stylesheet loaded under the content security policy: the banner is red.
    assert_eq!(facts[3], "rgb(207, 34, 46)", "{facts}");
    assert_eq!(facts[4], 0);
    assert_eq!(facts[5], "public");
    assert_eq!(facts[6], 3, "a bar for the tag and each project");
    assert_eq!(facts[7], 28, "the bars are drawn by the stylesheet");
    // The session really runs no page script: one that would set the title does not.
    browser
        .goto("data:text/html,<title>off</title><script>document.title='ran'</script>")
        .await;
    assert_eq!(browser.js("return document.title;", json!([])).await, "off");

    // beta starts beating: a reload shows it operational.
    let beta = keep_beating(&app, "beta");
    app.wait_for_status("beta", "online", Duration::from_secs(10))
        .await;
    // The browser keeps the page for its max-age (30 s): ask for a fresh URL each time.
    let mut n = 0;
    eventually(Duration::from_secs(15), || {
        n += 1;
        let url = app.url(&format!("/status?fresh={n}"));
        let browser = &browser;
        async move {
            browser.goto(&url).await;
            let overall = browser
                .js(
                    "return document.getElementById('overall').textContent;",
                    json!([]),
                )
                .await;
            if overall == "All systems operational" {
                Ok(())
            } else {
                Err(format!("overall: {overall}"))
            }
        }
    })
    .await;
    let shot = browser.screenshot().await;
    let dir = target_dir().join("status-page");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("status.png"), shot).unwrap();

    // A badge opened in the browser is an SVG image.
    browser.goto(&app.url("/badge/alpha/status.svg")).await;
    let root = browser
        .js("return document.documentElement.tagName;", json!([]))
        .await;
    assert_eq!(root, "svg");

    browser.close().await;
    alpha.abort();
    beta.abort();
    app.stop().await;
}
