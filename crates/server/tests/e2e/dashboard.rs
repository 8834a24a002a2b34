//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver, the
//! Debian packages `chromium` and `chromium-driver`) by a small W3C WebDriver client:
//! rows and counts from the DOM, live updates without a reload, filters, a project's
//! history, and a reconnect after the service restarts. A screenshot is saved under
//! cargo's target directory on every run (`dashboard/dashboard.png`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::binary::Binary;
use crate::helpers::{eventually, project, Backend, TestApp, TestConfig, WRITE_KEY};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, killed when dropped.
pub(crate) struct Driver {
    _process: Binary,
    url: String,
    http: reqwest::Client,
}

impl Driver {
    pub(crate) async fn start() -> Self {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: install the Debian packages chromium and chromium-driver \
                 (cargo xtask test does, as root)"
            );
        }
        let port = federation_testkit::free_port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"));
        let driver = Self {
            _process: Binary::start(cmd),
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        eventually(Duration::from_secs(30), || async {
            let status: Value = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if status["value"]["ready"] == true {
                Ok(())
            } else {
                Err(format!("chromedriver not ready: {status}"))
            }
        })
        .await;
        driver
    }

    pub(crate) async fn session(&self) -> Browser<'_> {
        self.session_with_prefs(json!({})).await
    }

    /// A session with Chromium preferences (`{"profile.managed_default_content_settings.javascript": 2}`
    /// turns the page's JavaScript off).
    pub(crate) async fn session_with_prefs(&self, prefs: Value) -> Browser<'_> {
        let body = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,860",
                         "--force-prefers-reduced-motion"],
                "prefs": prefs
            }
        }}});
        let r: Value = self
            .http
            .post(format!("{}/session", self.url))
            .json(&body)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        Browser {
            driver: self,
            base: format!("{}/session/{id}", self.url),
        }
    }
}

/// One browser session.
pub(crate) struct Browser<'a> {
    driver: &'a Driver,
    base: String,
}

impl Browser<'_> {
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut req = self
            .driver
            .http
            .request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r: Value = req
            .send()
            .await
            .expect("WebDriver call")
            .json()
            .await
            .expect("WebDriver JSON");
        if r["value"].get("error").is_some() {
            panic!("WebDriver {path}: {r}");
        }
        r["value"].clone()
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub(crate) async fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Waits until `script` returns `expected`.
    pub(crate) async fn wait_for(&self, what: &str, script: &str, expected: Value) {
        eventually(Duration::from_secs(30), || async {
            let got = self.js(script, json!([])).await;
            if got == expected {
                Ok(())
            } else {
                Err(format!("{what}: {got}, not {expected}"))
            }
        })
        .await;
    }

    pub(crate) async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 screenshot"))
            .expect("PNG")
    }

    pub(crate) async fn close(self) {
        let _ = self.driver.http.delete(self.base.clone()).send().await;
    }
}

/// Cargo's target directory, found from this test binary (`<target>/debug/deps/e2e-…`),
/// so `CARGO_TARGET_DIR` is honoured.
pub(crate) fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .map(PathBuf::from)
        .expect("target directory")
}

const ROWS: &str = "return [...document.querySelectorAll('#rows tr')]\
    .map(r => r.dataset.slug + ':' + r.dataset.status).join(' ');";
const COUNTS: &str = "return ['total','online','degraded','offline']\
    .map(s => document.getElementById('count-' + s).textContent).join(' ');";
const CONNECTION: &str = "return document.getElementById('connection').dataset.state;";

async fn beat(app: &TestApp, slug: &str) {
    app.beat(slug, "2.4.1").await;
}

/// Heartbeats for `slug` every 500 ms until aborted.
fn keep_beating(app: &TestApp, slug: &str) -> tokio::task::JoinHandle<()> {
    let url = app.url(&format!("/api/fed/projects/{slug}/heartbeat"));
    let client = app.client.clone();
    let body = json!({"project_slug": slug, "version": "2.4.1"});
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(500));
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
async fn dashboard_in_a_real_browser() {
    let mut config = TestConfig::new(Backend::sqlite);
    config
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_DEGRADED_AFTER", "2s")
        .set("FEDERATION_OFFLINE_AFTER", "4s");
    config.write_projects(
        "projects:\n\
         \x20 - {slug: alpha, name: Alpha, hub_url: 'http://alpha.example.com', tags: [python]}\n\
         \x20 - {slug: beta, name: Beta, hub_url: 'http://beta.example.com', tags: [rust, edge]}\n\
         \x20 - {slug: gamma, name: Gamma, hub_url: 'http://gamma.example.com', tags: [rust]}\n",
    );
    let app = config.start().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    config.set("SERVICE_PORT", port);

    // The page and its security headers.
    let page = app.get("/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style"
    );

    let driver = Driver::start().await;
    let browser = driver.session().await;
    browser.goto(&app.url("/")).await;

    // Keys are configured: the login form first; the key goes in, not into the URL.
    browser
        .wait_for(
            "login form",
            "return !document.getElementById('login').hidden;",
            json!(true),
        )
        .await;
    browser
        .js(
            "document.getElementById('login-key').value = arguments[0];\
             document.getElementById('login-form').requestSubmit();",
            json!([crate::helpers::READ_KEY]),
        )
        .await;
    browser
        .wait_for(
            "three rows",
            ROWS,
            json!("alpha:offline beta:offline gamma:offline"),
        )
        .await;
    browser.wait_for("counts", COUNTS, json!("3 0 0 3")).await;
    browser.wait_for("live", CONNECTION, json!("live")).await;
    let url: Value = browser.js("return location.href;", json!([])).await;
    assert!(!url.as_str().unwrap().contains(crate::helpers::READ_KEY));

    // A heartbeat turns the row online, without a reload.
    browser.js("window.__noReload = 1;", json!([])).await;
    beat(&app, "alpha").await;
    browser
        .wait_for(
            "alpha online",
            ROWS,
            json!("alpha:online beta:offline gamma:offline"),
        )
        .await;
    browser.wait_for("counts", COUNTS, json!("3 1 0 2")).await;
    // Silence: degraded, then offline.
    browser
        .wait_for(
            "alpha degraded",
            "return document.querySelector('#rows tr[data-slug=alpha]').dataset.status;",
            json!("degraded"),
        )
        .await;
    browser
        .wait_for(
            "alpha offline",
            "return document.querySelector('#rows tr[data-slug=alpha]').dataset.status;",
            json!("offline"),
        )
        .await;
    assert_eq!(
        browser.js("return window.__noReload;", json!([])).await,
        json!(1),
        "the page was not reloaded"
    );

    // Filters: by status, by tag, by search.
    let beta = keep_beating(&app, "beta");
    browser
        .wait_for(
            "beta online",
            ROWS,
            json!("alpha:offline beta:online gamma:offline"),
        )
        .await;
    let set = "const e = document.getElementById(arguments[0]); e.value = arguments[1];\
               e.dispatchEvent(new Event('input', {bubbles: true}));";
    browser.js(set, json!(["status-filter", "online"])).await;
    browser
        .wait_for("online only", ROWS, json!("beta:online"))
        .await;
    browser.js(set, json!(["status-filter", "offline"])).await;
    browser
        .wait_for("offline only", ROWS, json!("alpha:offline gamma:offline"))
        .await;
    browser.js(set, json!(["status-filter", ""])).await;
    browser.js(set, json!(["tag-filter", "rust"])).await;
    browser
        .wait_for("tag rust", ROWS, json!("beta:online gamma:offline"))
        .await;
    browser.js(set, json!(["tag-filter", ""])).await;
    browser.js(set, json!(["search", "gam"])).await;
    browser
        .wait_for("search", ROWS, json!("gamma:offline"))
        .await;
    browser.js(set, json!(["search", ""])).await;
    // Sort by status: online first.
    browser
        .js(
            "document.querySelector('button[data-sort=status]').click();",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "sorted by status",
            ROWS,
            json!("beta:online alpha:offline gamma:offline"),
        )
        .await;
    browser
        .wait_for(
            "aria-sort",
            "return document.querySelector('button[data-sort=status]').parentElement\
             .getAttribute('aria-sort');",
            json!("ascending"),
        )
        .await;

    // 90-day uptime bars: the fleet's above the table, one per row (91 UTC days each).
    browser
        .wait_for(
            "uptime bars",
            "return [document.querySelectorAll('#group-uptime .ubar span').length,\
                     document.querySelectorAll('#rows td.uptime .ubar').length,\
                     document.querySelector('#rows td.uptime .ubar span').getBoundingClientRect().height];",
            json!([91, 3, 16]),
        )
        .await;
    // Every tag's bar, once the list is opened (tags: edge, python, rust).
    browser
        .js(
            "document.getElementById('tag-uptime').open = true;",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "tag bars",
            "return [...document.querySelectorAll('#tag-uptime-list .tag-line')]\
                .map(t => t.dataset.tag + ':' + t.querySelectorAll('.ubar span').length).join(' ');",
            json!("edge:91 python:91 rust:91"),
        )
        .await;

    let shot = browser.screenshot().await;
    assert!(shot.starts_with(b"\x89PNG"), "a PNG");
    let dir = target_dir().join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dashboard.png");
    std::fs::write(&path, &shot).unwrap();
    eprintln!("dashboard screenshot: {}", path.display());

    // A project's page: its fields and its history, newest first.
    browser
        .js(
            "document.querySelector('#rows tr[data-slug=alpha] td.slug a').click();",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "project page",
            "return !document.getElementById('project').hidden && \
             document.querySelector('dd[data-field=slug]')?.textContent;",
            json!("alpha"),
        )
        .await;
    browser
        .wait_for(
            "history",
            "return [...document.querySelectorAll('#history li')].map(l => l.className).join(' ');",
            json!("offline degraded online"),
        )
        .await;
    // Its uptime bar, and its outage with its cause: offline since the heartbeats stopped.
    browser
        .wait_for(
            "outages",
            "return [document.querySelectorAll('#project-uptime .ubar span').length,\
                     [...document.querySelectorAll('#outages li')]\
                       .map(l => l.className + ':' + l.dataset.cause).join(' ')];",
            json!([91, "outage ongoing:heartbeat_timeout"]),
        )
        .await;
    let version = browser
        .js(
            "return document.querySelector('dd[data-field=version]').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(version, json!("2.4.1"));
    let shot = browser.screenshot().await;
    std::fs::write(dir.join("project.png"), &shot).unwrap();
    beta.abort();
    browser.js("location.hash = '#/';", json!([])).await;

    // The service restarts: the page shows the lost connection, then reconnects and
    // resumes by revision.
    app.stop().await;
    browser
        .wait_for("connection lost", CONNECTION, json!("lost"))
        .await;
    let text = browser
        .js(
            "return document.getElementById('connection').textContent;",
            json!([]),
        )
        .await;
    assert!(text.as_str().unwrap().contains("lost"), "{text}");
    // From the restart: flapping at 3 status changes within a minute, and an incident
    // when 2 projects go offline within 3 s of each other.
    config
        .set("FEDERATION_NOTIFY_FLAP_CHANGES", "3")
        .set("FEDERATION_NOTIFY_FLAP_WINDOW", "1m")
        .set("FEDERATION_INCIDENT_MIN_PROJECTS", "2")
        .set("FEDERATION_INCIDENT_WINDOW", "3s");
    let app = config.start().await;
    browser
        .wait_for("reconnected", CONNECTION, json!("live"))
        .await;
    assert_eq!(
        app.register(&project("delta")).await.status(),
        201,
        "register delta"
    );
    let gamma = keep_beating(&app, "gamma");
    browser
        .wait_for(
            "live after the restart",
            "return [...document.querySelectorAll('#rows tr')]\
             .map(r => r.dataset.slug + ':' + r.dataset.status).sort().join(' ');",
            json!("alpha:offline beta:offline delta:offline gamma:online"),
        )
        .await;
    browser.wait_for("counts", COUNTS, json!("4 1 0 3")).await;

    // Delta flaps (online, degraded, online): a marker on its row; its status stays one
    // of the three.
    let degraded = json!({"project_slug": "delta", "status": "degraded", "reasons": ["slow"]});
    let online = json!({"project_slug": "delta"});
    for (body, status) in [
        (&online, "online"),
        (&degraded, "degraded"),
        (&online, "online"),
    ] {
        let r = app
            .post("/api/fed/projects/delta/heartbeat")
            .header("X-API-Key", WRITE_KEY)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        browser
            .wait_for(
                status,
                "return document.querySelector('#rows tr[data-slug=delta]').dataset.status;",
                json!(status),
            )
            .await;
    }
    browser
        .wait_for(
            "delta flapping",
            "const r = document.querySelector('#rows tr[data-slug=delta]');\
             return [r.dataset.status, r.dataset.flapping,\
                     r.querySelector('.flapping')?.textContent ?? null,\
                     document.querySelectorAll('#rows .flapping').length];",
            json!(["online", "true", "flapping", 1]),
        )
        .await;

    // Beta, gamma and delta fall silent together: one open incident listing them,
    // each linked to its project's page, with its start and length.
    let beta = keep_beating(&app, "beta");
    let delta = keep_beating(&app, "delta");
    browser
        .wait_for(
            "three online",
            "return [...document.querySelectorAll('#rows tr')]\
             .map(r => r.dataset.slug + ':' + r.dataset.status).sort().join(' ');",
            json!("alpha:offline beta:online delta:online gamma:online"),
        )
        .await;
    for beating in [beta, gamma, delta] {
        beating.abort();
    }
    browser
        .wait_for(
            "an open incident",
            "const open = document.querySelectorAll('#incident-list li[data-state=open]');\
             return [document.getElementById('incidents').hidden, open.length,\
                     [...document.querySelectorAll('#incident-list li[data-state=open] .member')]\
                       .map(m => m.dataset.slug + '=' + m.querySelector('a').getAttribute('href'))\
                       .sort().join(' ')];",
            json!([false, 1, "beta=#/p/beta delta=#/p/delta gamma=#/p/gamma"]),
        )
        .await;
    let when = browser
        .js(
            "const i = document.querySelector('#incident-list li[data-state=open]');\
             return [i.querySelector('.when time').dateTime, i.querySelector('.length').textContent];",
            json!([]),
        )
        .await;
    assert!(when[0].as_str().unwrap().ends_with('Z'), "{when}");
    assert!(when[1].as_str().unwrap().ends_with(" s"), "{when}");
    let shot = browser.screenshot().await;
    std::fs::write(dir.join("incident.png"), &shot).unwrap();
    // A member's link opens its project's page.
    browser
        .js(
            "document.querySelector('#incident-list .member[data-slug=beta] a').click();",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "beta's page",
            "return !document.getElementById('project').hidden && \
             document.querySelector('dd[data-field=slug]')?.textContent;",
            json!("beta"),
        )
        .await;
    browser.close().await;
    app.stop().await;
}
