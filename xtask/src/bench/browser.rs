//! The dashboard in headless Chromium, for (e): how long until the first rows of a
//! large catalog are on screen, and what the catalog cost on the wire. Chromium is
//! driven over W3C WebDriver (the Debian packages `chromium` and `chromium-driver`,
//! which `.ci/run` and `cargo xtask test` install) with the bench's keep-alive client.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::http::KeepAlive;
use super::service::Service;
use super::{at, num, wait_until, API_KEY};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// What the dashboard showed, and when.
pub(super) struct FirstPaint {
    /// From the start of navigation to the dashboard's `federation:rows` mark (its first
    /// render with rows).
    pub(super) rows_ms: f64,
    /// The catalog's bytes on the wire and decoded.
    pub(super) catalog_wire: f64,
    pub(super) catalog_decoded: f64,
    /// Rows in the table's DOM, and the count the page shows.
    pub(super) dom_rows: u64,
    pub(super) shown_total: String,
}

/// Opens the dashboard of `service` signed in, and reads its first paint.
pub(super) fn first_paint(service: &Service) -> anyhow::Result<FirstPaint> {
    let mut chromium = Chromium::start()?;
    let result = chromium.first_paint(&service.url());
    chromium.close();
    result
}

/// chromedriver on a free port with one session, ended and killed on [`Chromium::close`]
/// (or when dropped).
struct Chromium {
    driver: Child,
    http: KeepAlive,
    session: String,
}

impl Chromium {
    fn start() -> anyhow::Result<Self> {
        for path in [CHROMIUM, CHROMEDRIVER] {
            if !std::path::Path::new(path).exists() {
                bail!(
                    "{path} is missing: install the Debian packages chromium and chromium-driver"
                );
            }
        }
        let port = federation_testkit::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let mut chromium = Chromium {
            driver,
            http: KeepAlive::new(port),
            session: String::new(),
        };
        wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            let ready = chromium.http.get("/status").ok().and_then(|(_, body)| {
                at(&serde_json::from_str::<Value>(&body).ok()?, "/value/ready").as_bool()
            });
            Ok((ready == Some(true)).then_some(()))
        })?
        .context("chromedriver did not become ready within 30 s")?;
        let body = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,860"]
            }
        }}});
        let created = chromium.call("POST", "/session", Some(body))?;
        chromium.session = at(&created, "/sessionId")
            .as_str()
            .context("chromedriver gave no session")?
            .to_owned();
        Ok(chromium)
    }

    /// A WebDriver command: its `value`, or its error.
    fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, text) = match body {
            Some(body) => self.http.post_json(path, &body.to_string())?,
            None if method == "DELETE" => self.http.delete(path)?,
            None => self.http.get(path)?,
        };
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("WebDriver {path}: {status} {text:.200}"))?;
        if status != 200 || !at(&v, "/value/error").is_null() {
            bail!("WebDriver {path}: {status} {:.300}", at(&v, "/value"));
        }
        Ok(at(&v, "/value").clone())
    }

    fn goto(&mut self, url: &str) -> anyhow::Result<()> {
        let path = format!("/session/{}/url", self.session);
        self.call("POST", &path, Some(json!({ "url": url })))
            .map(drop)
    }

    fn js(&mut self, script: &str) -> anyhow::Result<Value> {
        let path = format!("/session/{}/execute/sync", self.session);
        self.call("POST", &path, Some(json!({"script": script, "args": []})))
    }

    fn first_paint(&mut self, base: &str) -> anyhow::Result<FirstPaint> {
        // Signed in as the login form would: the key in the tab's session storage.
        self.goto(&format!("{base}/"))?;
        self.js(&format!(
            "sessionStorage.setItem('federation.apiKey', '{API_KEY}');"
        ))?;
        self.goto(&format!("{base}/"))?;
        let marked = wait_until(Duration::from_secs(60), Duration::from_millis(50), || {
            let v = self.js(
                "const m = performance.getEntriesByName('federation:rows')[0];\
                 return m ? m.startTime : null;",
            )?;
            Ok(v.as_f64())
        })?
        .context("the dashboard showed no rows within 60 s")?;
        let page = self.js("const r = performance.getEntriesByType('resource')\
               .find(e => new URL(e.name).pathname === '/api/fed/projects');\
             return {wire: r ? r.encodedBodySize : 0, decoded: r ? r.decodedBodySize : 0,\
                     rows: document.querySelectorAll('#rows tr').length,\
                     total: document.getElementById('count-total').textContent};")?;
        Ok(FirstPaint {
            rows_ms: marked,
            catalog_wire: num(&page, "/wire"),
            catalog_decoded: num(&page, "/decoded"),
            dom_rows: at(&page, "/rows").as_u64().unwrap_or(0),
            shown_total: at(&page, "/total").as_str().unwrap_or("").to_owned(),
        })
    }

    fn close(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = self.call("DELETE", &path, None);
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
