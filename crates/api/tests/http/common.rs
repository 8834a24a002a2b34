//! Shared test harness: a `Federation` over mocked ports and a manual clock, mounted with
//! `federation_api::configure`, driven through `actix_web::test`.

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::App;
use federation_api::{
    configure, ApiKeys, ApiState, BusHealth, ChangeHub, Metrics, MetricsSources, StreamOptions,
};
use federation_domain::memory::MemoryStore;
use federation_domain::ports::MockProjectRepository;
use federation_domain::ProjectRepository;
use federation_domain::{
    Federation, HubUrl, ManualClock, MeshNamespace, NoRelay, NoStatusEvents, Ports, Presence,
    Project, ProjectName, ReplicaOptions, Slug, Snapshot, Status, StatusPolicy, Tags,
};
use serde_json::Value;

pub const WRITE_KEY: &str = "write-key-0123456789";
pub const READ_KEY: &str = "read-key-9876543210";

pub use federation_domain::testing::t0;

pub fn project(slug: &str) -> Project {
    let slug = Slug::parse(slug).unwrap();
    Project {
        id: 7,
        mesh_namespace: MeshNamespace::for_slug(&slug),
        name: ProjectName::parse("CommandCenter").unwrap(),
        hub_url: HubUrl::parse("http://localhost:8000").unwrap(),
        slug,
        status: Status::Offline,
        status_reason: None,
        tags: Tags::parse(&["python"]).unwrap(),
        metadata: federation_domain::Metadata::default(),
        version: None,
        last_heartbeat_at: None,
        clock_skew_seconds: None,
        heartbeat_interval: None,
        maintenance: None,
        flapping_since: None,
        origin: federation_domain::Origin::Api,
        heartbeat_key: None,
        created_at: t0(),
        updated_at: t0() + chrono::TimeDelta::milliseconds(250),
    }
}

pub fn keys() -> ApiKeys {
    ApiKeys::parse(Some(WRITE_KEY), Some(READ_KEY)).unwrap()
}

pub struct Harness {
    pub federation: Arc<Federation>,
    pub clock: Arc<ManualClock>,
    pub keys: ApiKeys,
    pub bus: BusHealth,
    /// Kept across requests, so tests can read what earlier requests recorded.
    pub metrics: Arc<Metrics>,
    /// The change stream's hub, fed by the federation.
    pub changes: Arc<ChangeHub>,
    /// Serving or stopping.
    pub lifecycle: Arc<federation_api::Lifecycle>,
    /// The status page's settings given to the app, if any (absent: off).
    pub status_page: Option<federation_api::StatusPage>,
    /// What uptime reports read: empty unless a test adds rows and spans.
    pub uptime_source: Arc<federation_domain::uptime::MemoryUptime>,
    pub uptime: Arc<federation_domain::uptime::Uptime>,
}

/// Uptime reports over a source in memory (degraded counts as up).
pub fn memory_uptime() -> (
    Arc<federation_domain::uptime::MemoryUptime>,
    Arc<federation_domain::uptime::Uptime>,
) {
    let source = Arc::new(federation_domain::uptime::MemoryUptime::new());
    let uptime = Arc::new(federation_domain::uptime::Uptime::new(
        source.clone(),
        federation_domain::uptime::DegradedCounts::Up,
    ));
    (source, uptime)
}

pub fn metrics_for(federation: &Arc<Federation>, bus: BusHealth) -> Arc<Metrics> {
    let metrics = Metrics::new("9.9.9-test");
    metrics.attach(MetricsSources {
        federation: federation.clone(),
        bus: Arc::new(move || bus),
        nats: None,
        presence_subject: "hub.presence".to_owned(),
    });
    Arc::new(metrics)
}

pub struct Builder {
    repo: MockProjectRepository,
    /// Set by [`Builder::stored`]: every port is this store in memory.
    memory: Option<(Arc<MemoryStore>, Arc<ManualClock>)>,
    projects: Vec<Project>,
    presence: Presence,
    keys: ApiKeys,
    bus: BusHealth,
}

impl Builder {
    pub fn new(repo: MockProjectRepository) -> Self {
        Self {
            repo,
            memory: None,
            projects: Vec::new(),
            presence: Presence::new(StatusPolicy::default()),
            keys: keys(),
            bus: BusHealth::Disabled,
        }
    }

    pub fn presence(mut self, presence: Presence) -> Self {
        self.presence = presence;
        self
    }

    /// Registers `slugs` in the presence table (as a start-up load would).
    pub fn known(mut self, slugs: &[&str]) -> Self {
        for s in slugs {
            self.presence.register(&Slug::parse(s).unwrap());
        }
        self
    }

    /// A service over a store in memory holding `slugs` (registered at `t0`), loaded
    /// and leading the sweep: heartbeats, ticks and reads behave as in production.
    pub fn stored(slugs: &[&str]) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let memory = Arc::new(MemoryStore::new(clock.clone()));
        for s in slugs {
            let reg = federation_domain::RegistrationInput {
                slug: Some((*s).into()),
                name: Some("CommandCenter".into()),
                hub_url: Some("http://localhost:8000".into()),
                ..Default::default()
            }
            .validate()
            .unwrap();
            futures::executor::block_on(memory.upsert(&reg)).unwrap();
        }
        Self {
            memory: Some((memory, clock)),
            ..Self::new(MockProjectRepository::new())
        }
    }

    /// The catalog the registry holds (reads are answered from it).
    pub fn projects(mut self, projects: Vec<Project>) -> Self {
        self.projects = projects;
        self
    }

    pub fn keys(mut self, keys: ApiKeys) -> Self {
        self.keys = keys;
        self
    }

    pub fn bus(mut self, bus: BusHealth) -> Self {
        self.bus = bus;
        self
    }

    pub fn build(self) -> Harness {
        // Writes go to the mocked repository; the log and the lease are a store in
        // memory that stays empty (reads come from the registry, seeded below) unless
        // the whole service runs over it (`stored`).
        let in_memory = self.memory.is_some();
        let (memory, clock, repo): (_, _, Arc<dyn ProjectRepository>) = match self.memory {
            Some((memory, clock)) => (memory.clone(), clock, memory),
            None => {
                let clock = Arc::new(ManualClock::new(t0()));
                (
                    Arc::new(MemoryStore::new(clock.clone())),
                    clock,
                    Arc::new(self.repo),
                )
            }
        };
        let federation = Arc::new(Federation::new(
            Ports {
                repo,
                log: memory.clone(),
                lease: memory,
                events: Arc::new(NoStatusEvents),
                relay: Arc::new(NoRelay),
                clock: clock.clone(),
            },
            self.presence,
            ReplicaOptions::default(),
        ));
        if !self.projects.is_empty() {
            let known: Vec<Slug> = federation_slugs(&self.projects);
            federation.restore(Snapshot::of(self.projects.len() as u64, self.projects));
            debug_assert!(known.iter().all(|s| federation.get(s.as_str()).is_ok()));
        } else if in_memory {
            futures::executor::block_on(federation.load()).unwrap();
        }
        // The only replica: it leads (its store in memory answers at once).
        futures::executor::block_on(federation.campaign()).unwrap();
        let metrics = metrics_for(&federation, self.bus);
        let changes = ChangeHub::new(
            StreamOptions::default(),
            federation.revision(),
            metrics.clone(),
        );
        federation.on_change(changes.listener());
        let (uptime_source, uptime) = memory_uptime();
        Harness {
            metrics,
            changes,
            federation,
            clock,
            keys: self.keys,
            bus: self.bus,
            lifecycle: Default::default(),
            status_page: None,
            uptime_source,
            uptime,
        }
    }
}

fn federation_slugs(projects: &[Project]) -> Vec<Slug> {
    projects.iter().map(|p| p.slug.clone()).collect()
}

/// A harness whose registry holds `projects`.
pub fn with_projects(projects: Vec<Project>) -> Harness {
    Builder::new(MockProjectRepository::new())
        .projects(projects)
        .build()
}

pub fn harness(repo: MockProjectRepository) -> Harness {
    Builder::new(repo).build()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub raw: String,
    pub json: Value,
}

impl Reply {
    /// Asserts the JSON error shape and returns (code, field).
    pub fn error(&self) -> (String, Option<String>) {
        let err = self
            .json
            .get("error")
            .unwrap_or_else(|| panic!("no error object in {}", self.raw));
        let code = err["code"].as_str().expect("error.code is a string");
        let message = err["message"].as_str().expect("error.message is a string");
        assert!(!message.is_empty());
        let obj = err.as_object().unwrap();
        assert!(
            obj.keys()
                .all(|k| ["code", "message", "field"].contains(&k.as_str())),
            "unexpected keys in {}",
            self.raw
        );
        assert_eq!(
            self.headers.get("content-type").unwrap(),
            "application/json",
            "errors are JSON"
        );
        (
            code.to_owned(),
            err.get("field").and_then(Value::as_str).map(str::to_owned),
        )
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Harness {
    pub fn state(&self) -> ApiState {
        let bus = self.bus;
        ApiState {
            federation: self.federation.clone(),
            keys: self.keys.clone(),
            bus: Arc::new(move || bus),
            version: "9.9.9-test",
            metrics: self.metrics.clone(),
            changes: self.changes.clone(),
            lifecycle: self.lifecycle.clone(),
            allowed_hosts: None,
            uptime: self.uptime.clone(),
            notify: None,
        }
    }

    pub async fn send(&self, req: TestRequest) -> Reply {
        let mut app = App::new();
        if let Some(page) = &self.status_page {
            app = app.app_data(actix_web::web::Data::new(page.clone()));
        }
        let app = test::init_service(app.configure(configure(self.state()))).await;
        let res = test::call_service(&app, req.to_request()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = test::read_body(res).await;
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Reply {
            status,
            headers,
            raw,
            json,
        }
    }

    /// A request with the write key.
    pub async fn send_w(&self, req: TestRequest) -> Reply {
        self.send(req.insert_header(("X-API-Key", WRITE_KEY))).await
    }
}

pub fn json_post(uri: &str, body: &str) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned())
}

pub fn json_patch(uri: &str, body: &str) -> TestRequest {
    TestRequest::patch()
        .uri(uri)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned())
}

pub const SEED_BODY: &str = r#"{
  "slug": "commandcenter",
  "name": "CommandCenter",
  "hub_url": "http://localhost:8000",
  "mesh_namespace": "hub.commandcenter",
  "tags": ["python"]
}"#;
