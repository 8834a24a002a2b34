//! The inbound HTTP adapter of the federation service: actix-web handlers over the
//! domain's use cases ([`federation_domain::Federation`]), their DTOs, the JSON error
//! shape, API-key auth and a tracing span per request.
//!
//! Mount it with [`configure`]:
//!
//! ```no_run
//! # use actix_web::{App, HttpServer};
//! # async fn run(state: federation_api::ApiState) -> std::io::Result<()> {
//! HttpServer::new(move || App::new().configure(federation_api::configure(state.clone())))
//!     .bind(("127.0.0.1", 8001))?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! Routes:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/health` | 200 liveness, touches nothing |
//! | GET | `/ready` | 200 / 503 with `checks.database`, `checks.nats`, `checks.partition_guard` |
//! | GET | `/api/fed/projects` | 200 array, `X-Total-Count` |
//! | POST | `/api/fed/projects` | 201 created / 200 updated |
//! | GET, PATCH, DELETE | `/api/fed/projects/{slug}` | 200 / 200 / 204 |
//! | POST | `/api/fed/projects/{slug}/heartbeat` | 202 |
//! | GET | `/api/fed/projects/{slug}/history` | 200 array, newest first |
//! | GET | `/api/fed/events` | the change stream, Server-Sent Events ([`stream`]) |
//! | GET | `/api/fed/summary` | counts by status and tag, longest offline, revision, guard |
//! | GET | `/api/fed/prometheus/targets` | the projects as Prometheus `http_sd_configs` targets |
//! | GET | `/api/fed/projects/{slug}/uptime` | a project's uptime report, JSON or CSV ([`uptime`]) |
//! | GET | `/api/fed/uptime` | a tag's or the fleet's uptime roll-up, JSON or CSV |
//! | GET | `/api/fed/slos` | the service level objectives and their error budgets |
//! | GET, PUT, DELETE | `/api/fed/slos/{name}` | one objective, written over REST |
//! | GET | `/`, `/assets/{file}` | the dashboard ([`dashboard`]), assets compiled in |
//! | GET | `/status` | the public status page ([`status_page`]), when turned on |
//! | GET | `/badge/{slug}/status.svg`, `/badge/{slug}/uptime.svg` | status and uptime badges ([`badge`]) |
//! | GET | `/metrics` | Prometheus/OpenMetrics text ([`metrics`]), no API key |
//! | GET | `/openapi.json` | the OpenAPI 3 description ([`openapi`]), no API key |
//! | GET | `/docs/` | Swagger UI (vendored assets); `/docs` redirects there |
//!
//! [`ROUTES`] lists them all; a test holds it equal to the OpenAPI description and to
//! what the app really serves.
//!
//! Every error is `{"error": {"code", "message", "field"?}}`. Every response carries an
//! `X-Request-Id` ([`request_id`]).

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest};
use federation_domain::Federation;
use tracing::Instrument;

pub mod auth;
pub mod badge;
mod body;
mod compressed;
mod conditional;
pub mod dashboard;
pub mod dto;
pub mod duplicates;
pub mod error;
mod handlers;
pub mod hosts;
pub mod incidents;
pub mod lifecycle;
mod markup;
pub mod metrics;
pub mod notify;
pub mod openapi;
mod queries;
pub mod request_id;
pub mod requests;
mod schemas;
mod slashes;
pub mod status_page;
pub mod stream;
mod throttle;
pub mod uptime;

pub use auth::{Access, ApiKeys, ApiKeysError, API_KEY_HEADER};
pub use body::{BodyTimeout, DEFAULT_BODY_TIMEOUT, MAX_HEARTBEAT_BODY, MAX_JSON_BODY};
pub use dto::{ProjectDto, TransitionDto};
pub use error::ApiError;
pub use handlers::READY_DB_TIMEOUT;
pub use handlers::{tag_label, TargetGroup, SD_PATH};
pub use lifecycle::Lifecycle;
pub use metrics::{Metrics, NatsCounters, NatsStats, Sources as MetricsSources};
pub use request_id::{RequestId, REQUEST_ID_HEADER};
pub use requests::MAX_BULK_PROJECTS;
pub use status_page::StatusPage;
pub use stream::{ChangeHub, StreamOptions};

/// A route the API registers: its path template and the methods it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The template, as actix matches it (and as the metrics' `route` label shows it).
    pub path: &'static str,
    /// The methods, as the `Allow` header of a 405 lists them.
    pub allow: &'static str,
    /// Whether the OpenAPI description lists it (Swagger UI's own pages are not API).
    pub documented: bool,
}

impl Route {
    const fn api(path: &'static str, allow: &'static str) -> Self {
        Route {
            path,
            allow,
            documented: true,
        }
    }

    /// The methods it answers.
    pub fn methods(&self) -> impl Iterator<Item = &'static str> {
        self.allow.split(", ")
    }
}

pub(crate) const FED: &str = "/api/fed";

/// Every route [`configure`] registers. A resource registered through [`resource`] must be
/// listed here (or every test fails at start), and the tests check that the app serves
/// each (path, method) listed and refuses the others with 405.
pub const ROUTES: &[Route] = &[
    Route::api("/health", "GET, HEAD"),
    Route::api("/ready", "GET, HEAD"),
    Route::api("/metrics", "GET"),
    // The original mounted its metrics app at `/metrics/`: scrapers configured for it
    // keep working.
    Route {
        path: "/metrics/",
        allow: "GET",
        documented: false,
    },
    // FastAPI's ReDoc page: sent to the Swagger UI.
    Route {
        path: "/redoc",
        allow: "GET",
        documented: false,
    },
    Route::api(openapi::OPENAPI_PATH, "GET"),
    Route {
        path: "/docs",
        allow: "GET",
        documented: false,
    },
    Route {
        path: "/docs/{_:.*}",
        allow: "GET",
        documented: false,
    },
    Route {
        path: "/",
        allow: "GET",
        documented: false,
    },
    Route {
        path: "/assets/{file}",
        allow: "GET",
        documented: false,
    },
    Route::api("/api/fed/projects", "GET, POST"),
    Route::api("/api/fed/projects/{slug}", "GET, PATCH, DELETE"),
    Route::api("/api/fed/projects/{slug}/heartbeat", "POST"),
    Route::api("/api/fed/projects/{slug}/heartbeat-key", "POST, DELETE"),
    Route::api("/api/fed/projects/{slug}/history", "GET"),
    Route::api("/api/fed/projects/{slug}/maintenance", "PUT, DELETE"),
    Route::api("/api/fed/projects:bulk", "POST"),
    Route::api("/api/fed/events", "GET"),
    Route::api("/api/fed/channels", "GET, POST"),
    Route::api("/api/fed/channels/{name}", "GET, PUT, DELETE"),
    Route::api("/api/fed/channels/{name}/test", "POST"),
    Route::api("/api/fed/deliveries", "GET"),
    Route::api("/api/fed/incidents", "GET"),
    Route::api("/api/fed/incidents/{id}", "GET"),
    Route::api("/api/fed/summary", "GET"),
    Route::api(handlers::SD_PATH, "GET"),
    // HEAD too: link checkers and caches ask it of pages and images.
    Route::api("/status", "GET, HEAD"),
    Route::api("/badge/{slug}/status.svg", "GET, HEAD"),
    Route::api("/badge/{slug}/uptime.svg", "GET, HEAD"),
    Route::api("/api/fed/projects/{slug}/uptime", "GET"),
    Route::api("/api/fed/uptime", "GET"),
    Route::api("/api/fed/slos", "GET"),
    Route::api("/api/fed/slos/{name}", "GET, PUT, DELETE"),
];

fn route(path: &str) -> &'static Route {
    ROUTES
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("route {path} is not listed in federation_api::ROUTES"))
}

/// A resource at `full` (listed in [`ROUTES`]) registered as `local` within its scope,
/// answering other methods with 405 and the `Allow` header.
fn resource(full: &str, local: &str) -> actix_web::Resource {
    let r = route(full);
    web::resource(local.to_owned()).default_service(web::to(handlers::method_not_allowed(r.allow)))
}

fn fed(local: &str) -> actix_web::Resource {
    resource(&format!("{FED}{local}"), local)
}

fn top(path: &str) -> actix_web::Resource {
    resource(path, path)
}

/// The state of the service's link to NATS, as `/ready` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusHealth {
    /// No `NATS_URL`: heartbeats over HTTP only.
    Disabled,
    Up,
    Down,
}

impl BusHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            BusHealth::Disabled => "disabled",
            BusHealth::Up => "ok",
            BusHealth::Down => "down",
        }
    }
}

/// Everything the handlers need.
#[derive(Clone)]
pub struct ApiState {
    pub federation: Arc<Federation>,
    pub keys: ApiKeys,
    /// Asked on every `/ready`; must be cheap and must not block.
    pub bus: Arc<dyn Fn() -> BusHealth + Send + Sync>,
    /// Reported by `/health`.
    pub version: &'static str,
    /// Served at `/metrics`; HTTP requests are recorded in it.
    pub metrics: Arc<Metrics>,
    /// Fans applied changes out to change streams and blocking queries; give its
    /// [`ChangeHub::listener`] to [`Federation::on_change`].
    pub changes: Arc<ChangeHub>,
    /// `Some` when requests must name an allowed host (no keys, on loopback: the DNS
    /// rebinding guard of [`hosts`]).
    pub allowed_hosts: Option<Arc<hosts::AllowedHosts>>,
    /// Serving or stopping: `/ready` says `stopping` (503) once the stop began.
    pub lifecycle: Arc<Lifecycle>,
    /// Uptime reports over the store ([`uptime`]).
    pub uptime: Arc<federation_domain::uptime::Uptime>,
    /// Notification channels and deliveries; `None`: their routes answer 503.
    pub notify: Option<notify::NotifyApi>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("keys", &self.keys)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Registers every route, the JSON/query/path extractor configs (errors as JSON), the
/// JSON 404 for unknown routes and 405 for wrong methods, API-key auth on `/api/fed/*`
/// and a tracing span per request.
pub fn configure(state: ApiState) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    // One cache of compressed lists for every worker.
    let lists = web::Data::new(compressed::ListCache::default());
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(lists)
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_JSON_BODY)
                    .error_handler(json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .service(
                web::scope("")
                    .wrap(from_fn(duplicates::refuse_duplicates))
                    .wrap(from_fn(page_headers))
                    .wrap(from_fn(slashes::redirect_slashes))
                    .wrap(from_fn(hosts::check_host))
                    // gzip when the client asks (lists, the dashboard's whole
                    // catalog, /metrics); never the change stream (see `handlers::events`).
                    .wrap(actix_web::middleware::Compress::default())
                    .wrap(from_fn(request_span))
                    .service(
                        top("/health")
                            .route(web::get().to(handlers::health))
                            .route(web::head().to(handlers::health)),
                    )
                    .service(
                        top("/ready")
                            .route(web::get().to(handlers::ready))
                            .route(web::head().to(handlers::ready)),
                    )
                    .service(top("/metrics").route(web::get().to(metrics::metrics)))
                    .service(top("/metrics/").route(web::get().to(metrics::metrics)))
                    .service(top("/redoc").route(web::get().to(openapi::docs_redirect)))
                    .service(top(openapi::OPENAPI_PATH).route(web::get().to(openapi::openapi_json)))
                    .service(top("/docs").route(web::get().to(openapi::docs_redirect)))
                    .service(openapi::swagger_ui())
                    .service(top("/").route(web::get().to(dashboard::index)))
                    .service(top("/assets/{file}").route(web::get().to(dashboard::assets)))
                    .service(
                        top("/status")
                            .route(web::get().to(status_page::page))
                            .route(web::head().to(status_page::page)),
                    )
                    .service(
                        top("/badge/{slug}/status.svg")
                            .route(web::get().to(badge::status_badge))
                            .route(web::head().to(badge::status_badge)),
                    )
                    .service(
                        top("/badge/{slug}/uptime.svg")
                            .route(web::get().to(badge::uptime_badge))
                            .route(web::head().to(badge::uptime_badge)),
                    )
                    // The heartbeat's route stands outside the keyed scope: its handler
                    // judges its own key (a project's heartbeat key, else the API keys).
                    .service(
                        top("/api/fed/projects/{slug}/heartbeat")
                            .route(web::post().to(handlers::heartbeat)),
                    )
                    // Prometheus' service discovery judges its own key: it also takes
                    // `Authorization: Bearer`, all Prometheus can send.
                    .service(
                        top(handlers::SD_PATH).route(web::get().to(handlers::prometheus_targets)),
                    )
                    .service(
                        // Every other `/api/fed` route (and any unknown one) asks for a key.
                        web::scope(FED)
                            .wrap(from_fn(auth::require_key))
                            .service(
                                fed("/projects")
                                    .route(web::get().to(handlers::list_projects))
                                    .route(web::post().to(handlers::register_project)),
                            )
                            .service(
                                fed("/projects/{slug}")
                                    .route(web::get().to(handlers::get_project))
                                    .route(web::patch().to(handlers::patch_project))
                                    .route(web::delete().to(handlers::delete_project)),
                            )
                            .service(
                                fed("/projects/{slug}/heartbeat-key")
                                    .route(web::post().to(handlers::set_heartbeat_key))
                                    .route(web::delete().to(handlers::delete_heartbeat_key)),
                            )
                            .service(
                                fed("/projects/{slug}/history")
                                    .route(web::get().to(handlers::history)),
                            )
                            .service(
                                fed("/projects/{slug}/maintenance")
                                    .route(web::put().to(handlers::start_maintenance))
                                    .route(web::delete().to(handlers::end_maintenance)),
                            )
                            .service(
                                fed("/projects:bulk")
                                    .route(web::post().to(handlers::bulk_register)),
                            )
                            .service(fed("/events").route(web::get().to(handlers::events)))
                            .service(fed("/summary").route(web::get().to(handlers::summary)))
                            .service(
                                fed("/projects/{slug}/uptime")
                                    .route(web::get().to(uptime::project_uptime)),
                            )
                            .service(fed("/uptime").route(web::get().to(uptime::group_uptime)))
                            .service(fed("/slos").route(web::get().to(uptime::slo::slos)))
                            .service(
                                fed("/slos/{name}")
                                    .route(web::get().to(uptime::slo_write::get_slo))
                                    .route(web::put().to(uptime::slo_write::put_slo))
                                    .route(web::delete().to(uptime::slo_write::delete_slo)),
                            )
                            .service(
                                fed("/channels")
                                    .route(web::get().to(notify::handlers::list_channels))
                                    .route(web::post().to(notify::handlers::create_channel)),
                            )
                            .service(
                                fed("/channels/{name}")
                                    .route(web::get().to(notify::handlers::get_channel))
                                    .route(web::put().to(notify::handlers::replace_channel))
                                    .route(web::delete().to(notify::handlers::delete_channel)),
                            )
                            .service(
                                fed("/channels/{name}/test")
                                    .route(web::post().to(notify::handlers::test_channel)),
                            )
                            .service(
                                fed("/deliveries")
                                    .route(web::get().to(notify::handlers::list_deliveries)),
                            )
                            .service(
                                fed("/incidents").route(web::get().to(incidents::list_incidents)),
                            )
                            .service(
                                fed("/incidents/{id}")
                                    .route(web::get().to(incidents::get_incident)),
                            )
                            .default_service(web::to(handlers::not_found)),
                    )
                    .default_service(web::to(handlers::not_found)),
            )
            .default_service(web::to(handlers::not_found));
    }
}

fn json_error(e: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &e {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::payload_too_large(*limit),
        JsonPayloadError::ContentType => ApiError::unsupported_media_type(),
        JsonPayloadError::Deserialize(d) if d.is_data() => ApiError::unprocessable(d.to_string()),
        JsonPayloadError::Deserialize(d) => {
            ApiError::malformed_json(format!("the request body is not valid JSON: {d}"))
        }
        _ => ApiError::malformed_json("the request body could not be read"),
    };
    api.into()
}

fn query_error(e: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::unprocessable(format!("invalid query string: {e}")).into()
}

fn path_error(_e: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::no_route().into()
}

/// A span per request with method, path and request id, one event when it ends (status
/// and elapsed time), the request in the metrics (by route template), and the
/// `X-Request-Id` on the response. When an outer middleware already opened a request
/// span (the server's `tracing_actix_web::TracingLogger`, whose root span carries the
/// same request id), that span is used instead of a nested duplicate. Headers (the API
/// key among them) and query strings are never recorded.
/// The browser-facing security headers of every HTML page served (`/docs`): a content
/// security policy that allows only this origin's scripts and styles (Swagger UI sets
/// inline styles and data: images), no framing, no MIME sniffing.
pub const PAGE_HEADERS: [(&str, &str); 3] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

/// Adds [`PAGE_HEADERS`] to the pages under `/docs`,
/// [`dashboard::DASHBOARD_HEADERS`] to the dashboard, its assets and the status page, and
/// [`badge::BADGE_HEADERS`] to badges.
async fn page_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let headers: &[(&str, &str)] = if req.path() == "/docs" || req.path().starts_with("/docs/") {
        &PAGE_HEADERS
    } else if req.path() == "/" || req.path() == "/status" || req.path().starts_with("/assets/") {
        &dashboard::DASHBOARD_HEADERS
    } else if req.path().starts_with("/badge/") {
        &badge::BADGE_HEADERS
    } else {
        &[]
    };
    let mut res = next.call(req).await?;
    for &(name, value) in headers {
        res.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Ok(res)
}

async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let probe = matches!(req.path(), "/health" | "/ready" | "/metrics");
    let id = request_id::ensure(&req);
    let current = tracing::Span::current();
    let span = if current.is_none() {
        tracing::info_span!("http", method = %req.method(), path = %req.path(), request_id = %id)
    } else {
        current
    };
    let method = req.method().clone();
    let metrics = req
        .app_data::<web::Data<ApiState>>()
        .map(|s| s.metrics.clone());
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    let (status, route) = match &mut res {
        Ok(r) => {
            if let Ok(value) = HeaderValue::from_str(id.as_str()) {
                r.headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            let pattern = r.request().match_pattern();
            (
                r.status().as_u16(),
                metrics::route_label(pattern.as_deref()),
            )
        }
        Err(e) => (e.as_response_error().status_code().as_u16(), "unmatched"),
    };
    if let Some(m) = metrics {
        m.observe_request(route, &method, status, elapsed);
    }
    let _enter = span.enter();
    if status >= 500 {
        tracing::warn!(status, elapsed_ms, "request failed");
    } else if probe {
        tracing::debug!(status, elapsed_ms, "request");
    } else {
        tracing::info!(status, elapsed_ms, "request");
    }
    res
}
