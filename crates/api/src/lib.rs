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
//!
//! Every error is `{"error": {"code", "message", "field"?}}`.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest};
use federation_domain::Federation;
use tracing::Instrument;

pub mod auth;
mod body;
pub mod dto;
pub mod error;
mod handlers;

pub use auth::{Access, ApiKeys, ApiKeysError, API_KEY_HEADER};
pub use body::{MAX_HEARTBEAT_BODY, MAX_JSON_BODY};
pub use dto::{ProjectDto, TransitionDto};
pub use error::ApiError;
pub use handlers::READY_DB_TIMEOUT;

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
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_JSON_BODY)
                    .error_handler(json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .service(
                web::scope("")
                    .wrap(from_fn(request_span))
                    .service(
                        web::resource("/health")
                            .route(web::get().to(handlers::health))
                            .route(web::head().to(handlers::health))
                            .default_service(web::to(handlers::method_not_allowed("GET, HEAD"))),
                    )
                    .service(
                        web::resource("/ready")
                            .route(web::get().to(handlers::ready))
                            .route(web::head().to(handlers::ready))
                            .default_service(web::to(handlers::method_not_allowed("GET, HEAD"))),
                    )
                    .service(
                        web::scope("/api/fed")
                            .wrap(from_fn(auth::require_key))
                            .service(
                                web::resource("/projects")
                                    .route(web::get().to(handlers::list_projects))
                                    .route(web::post().to(handlers::register_project))
                                    .default_service(web::to(handlers::method_not_allowed(
                                        "GET, POST",
                                    ))),
                            )
                            .service(
                                web::resource("/projects/{slug}")
                                    .route(web::get().to(handlers::get_project))
                                    .route(web::patch().to(handlers::patch_project))
                                    .route(web::delete().to(handlers::delete_project))
                                    .default_service(web::to(handlers::method_not_allowed(
                                        "GET, PATCH, DELETE",
                                    ))),
                            )
                            .service(
                                web::resource("/projects/{slug}/heartbeat")
                                    .route(web::post().to(handlers::heartbeat))
                                    .default_service(web::to(handlers::method_not_allowed("POST"))),
                            )
                            .service(
                                web::resource("/projects/{slug}/history")
                                    .route(web::get().to(handlers::history))
                                    .default_service(web::to(handlers::method_not_allowed("GET"))),
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
    ApiError::not_found("no such resource").into()
}

/// A span per request with method and path, and one event when it ends (status and
/// elapsed time). When an outer middleware already opened a request span (the server's
/// `tracing_actix_web::TracingLogger`), that span is used instead of a nested duplicate.
/// Headers (the API key among them) and query strings are never recorded.
async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let probe = matches!(req.path(), "/health" | "/ready");
    let current = tracing::Span::current();
    let span = if current.is_none() {
        tracing::info_span!("http", method = %req.method(), path = %req.path())
    } else {
        current
    };
    let started = Instant::now();
    let res = next.call(req).instrument(span.clone()).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
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
