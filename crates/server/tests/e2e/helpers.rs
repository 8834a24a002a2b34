//! Starts the real service on port 0 against a real database, and talks HTTP to it.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use federation_server::{AppHandle, Application, ServeOptions, Settings};
use serde_json::Value;
use tokio::task::JoinHandle;

/// Runs `check` every 50 ms until it returns `Ok`, and returns what it gave; panics after
/// `within` with the last `Err` (what `check` saw instead).
pub async fn eventually<T, E, F, Fut>(within: Duration, mut check: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "not within {within:?}: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub const WRITE_KEY: &str = "write-key-0123456789";
pub const READ_KEY: &str = "read-key-0123456789";

/// Which database a test runs against.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A fresh database on the test kit's PostgreSQL.
    Postgres(String),
    /// A SQLite file in the test's temp dir.
    Sqlite(PathBuf),
}

impl Backend {
    pub fn postgres() -> Self {
        let db = federation_testkit::postgres_database().expect("test PostgreSQL");
        let url = db.url.clone();
        // The database lives as long as the test binary's cluster.
        std::mem::forget(db);
        Backend::Postgres(url)
    }

    pub fn sqlite(dir: &Path) -> Self {
        Backend::Sqlite(dir.join("data/federation.db"))
    }

    pub fn url(&self) -> String {
        match self {
            Backend::Postgres(url) => url.clone(),
            Backend::Sqlite(path) => format!("sqlite://{}", path.display()),
        }
    }
}

/// Everything needed to (re)start the service the same way.
pub struct TestConfig {
    pub dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
}

impl TestConfig {
    pub fn new(backend_of: impl FnOnce(&Path) -> Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = backend_of(dir.path());
        let mut env = HashMap::new();
        env.insert("DATABASE_URL".into(), backend.url());
        env.insert("SERVICE_PORT".into(), "0".into());
        env.insert("FEDERATION_AUTO_MIGRATE".into(), "true".into());
        env.insert(
            "FEDERATION_PROJECTS_FILE".into(),
            dir.path().join("projects.yaml").display().to_string(),
        );
        env.insert("LOG_LEVEL".into(), "warn".into());
        env.insert("FEDERATION_API_KEYS".into(), WRITE_KEY.into());
        env.insert("FEDERATION_READ_API_KEYS".into(), READ_KEY.into());
        // A lone offline status waits this long to be told (it may join an incident);
        // the default of 30 s would make tests wait.
        env.insert("FEDERATION_INCIDENT_WINDOW".into(), "1s".into());
        Self { dir, env }
    }

    /// With NATS at `nats_url`: a fast sweep and canary, and the status thresholds given
    /// (the defaults of 60 s and 90 s would make tests wait).
    pub fn with_nats(
        backend_of: impl FnOnce(&Path) -> Backend,
        nats_url: &str,
        degraded_after: &str,
        offline_after: &str,
    ) -> Self {
        let mut config = Self::new(backend_of);
        config
            .set("NATS_URL", nats_url)
            .set("FEDERATION_DEGRADED_AFTER", degraded_after)
            .set("FEDERATION_OFFLINE_AFTER", offline_after)
            .set("FEDERATION_SWEEP_INTERVAL", "100ms")
            .set("FEDERATION_CANARY_INTERVAL", "200ms");
        config
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.env.insert(key.into(), value.into());
        self
    }

    pub fn write_projects(&self, yaml: &str) {
        std::fs::write(self.dir.path().join("projects.yaml"), yaml).expect("write projects.yaml");
    }

    pub fn settings(&self) -> anyhow::Result<Settings> {
        let env = self.env.clone();
        Settings::load_from(self.dir.path(), move |k| env.get(k).cloned())
    }

    pub async fn try_start(&self) -> anyhow::Result<TestApp> {
        // TEST_LOG=debug (or any RUST_LOG filter) shows the service's logs.
        if let Ok(level) = std::env::var("TEST_LOG") {
            federation_server::telemetry::init(
                &level,
                federation_server::settings::LogFormat::Pretty,
            )?;
        }
        let app = Application::build(self.settings()?, ServeOptions::default()).await?;
        let port = app.port();
        let handle = app.handle();
        let federation = app.federation().clone();
        let task = tokio::spawn(app.run_until_stopped());
        Ok(TestApp {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            handle,
            task: Some(task),
            federation,
        })
    }

    pub async fn start(&self) -> TestApp {
        self.try_start().await.expect("the service starts")
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub handle: AppHandle,
    pub task: Option<JoinHandle<anyhow::Result<()>>>,
    pub federation: std::sync::Arc<federation_domain::Federation>,
}

/// The value of one series (name and labels as written, e.g.
/// `federation_projects{status="online"}`) in `/metrics` text; `None` when it is absent.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// The original README's example registration.
pub fn seed_body() -> Value {
    serde_json::json!({
        "slug": "commandcenter",
        "name": "CommandCenter",
        "hub_url": "http://localhost:8000",
        "mesh_namespace": "hub.commandcenter",
        "tags": ["python"]
    })
}

pub fn project(slug: &str) -> Value {
    serde_json::json!({"slug": slug, "name": format!("Project {slug}"), "hub_url": format!("http://{slug}.example.com")})
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path))
    }

    pub async fn register(&self, body: &Value) -> reqwest::Response {
        self.post("/api/fed/projects")
            .header("X-API-Key", WRITE_KEY)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `GET path` with the read key, its body as JSON.
    pub async fn read_json(&self, path: &str) -> Value {
        self.get(path)
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    pub async fn project(&self, slug: &str) -> Value {
        let resp = self
            .get(&format!("/api/fed/projects/{slug}"))
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "GET {slug}");
        resp.json().await.expect("json")
    }

    /// `PATCH /api/fed/projects/{slug}` with the write key.
    pub async fn patch_project(&self, slug: &str, body: &Value) -> reqwest::Response {
        self.client
            .patch(self.url(&format!("/api/fed/projects/{slug}")))
            .header("X-API-Key", WRITE_KEY)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// A project's whole history, newest first (200 expected).
    pub async fn history(&self, slug: &str) -> Vec<Value> {
        let resp = self
            .get(&format!("/api/fed/projects/{slug}/history"))
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "history of {slug}");
        resp.json().await.expect("json")
    }

    pub async fn status_of(&self, slug: &str) -> String {
        self.project(slug).await["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Polls until `slug` has `status`, or panics after `within`.
    pub async fn wait_for_status(&self, slug: &str, status: &str, within: Duration) {
        eventually(within, || async {
            match self.status_of(slug).await {
                now if now == status => Ok(()),
                now => Err(format!("{slug} still {now}, not {status}")),
            }
        })
        .await;
    }

    /// An HTTP heartbeat for `slug` reporting `version`, with the write key; asserts 202.
    /// A pooled connection the server closed as idle just as it is reused fails before
    /// the request was taken (hyper's IncompleteMessage): heartbeats are idempotent, so
    /// it is sent again, up to 3 times.
    pub async fn beat(&self, slug: &str, version: &str) {
        let mut tries = 0;
        let r = loop {
            tries += 1;
            match self
                .post(&format!("/api/fed/projects/{slug}/heartbeat"))
                .header("X-API-Key", WRITE_KEY)
                .json(&serde_json::json!({"project_slug": slug, "version": version}))
                .send()
                .await
            {
                Ok(r) => break r,
                Err(e) if tries < 3 && e.is_request() => continue,
                Err(e) => panic!("heartbeat for {slug}: {e}"),
            }
        };
        assert_eq!(r.status(), 202);
    }

    /// `GET /metrics`'s text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("text")
    }

    /// `GET /ready`'s body.
    pub async fn ready(&self) -> Value {
        self.get("/ready")
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    /// Until the service's link is up and its subscription proven (its canary came back),
    /// with no recovery hold left.
    pub async fn wait_bus_healthy(&self) {
        eventually(Duration::from_secs(40), || async {
            let r = self.ready().await;
            if r["checks"]["nats"] == "ok" && r["checks"]["partition_guard"] == "inactive" {
                Ok(())
            } else {
                Err(format!("bus not healthy: {r}"))
            }
        })
        .await;
    }

    pub async fn stop(mut self) {
        self.handle.stop().await;
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

/// A test NATS client that waits for the server and reconnects for ever.
pub async fn nats_client(url: &str, options: async_nats::ConnectOptions) -> async_nats::Client {
    options
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(url)
        .await
        .expect("test NATS client")
}
