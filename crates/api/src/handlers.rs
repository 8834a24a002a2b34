//! The route handlers.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use federation_domain::model::parse_limit;
use federation_domain::{
    ChangeFilter, GuardState, HeartbeatRejected, ListFilter, MaintenanceInput,
};

use crate::body;
use crate::dto::{
    rfc3339, AcceptedDto, CountsDto, HealthDto, LongestOfflineDto, MassExpiryDto, ProjectDto,
    ReadyChecks, ReadyDto, ReplicaDto, SummaryDto, TagCountsDto, TransitionDto,
};
use crate::dto::{BulkErrorBody, BulkResponse, HeartbeatKeyDto};
use crate::dto::{HeartbeatRequest, StatusName};
use crate::error::{ApiError, ErrorBody};
use crate::requests::{BulkRequest, MaintenanceRequest, PatchRequest, RegisterRequest};
use crate::stream::{self, parse_wait};
use crate::{ApiState, BusHealth};

/// A replica that has not read the change log to its end for longer is `behind`.
const FOLLOWER_BEHIND: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// How long `/ready` waits for the store to answer.
pub const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

type Query = web::Query<HashMap<String, String>>;

/// The change-log revision a reply reflects (Consul's `X-Consul-Index`).
pub const INDEX_HEADER: &str = "X-Federation-Index";

/// A query value; an empty one counts as absent.
fn param<'a>(q: &'a Query, name: &str) -> Option<&'a str> {
    q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// Liveness: answers as long as the process serves HTTP; touches nothing.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "The service is alive", body = HealthDto))
)]
pub(crate) async fn health(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok().json(HealthDto {
        status: "ok",
        service: "federation",
        version: state.version,
    })
}

/// Readiness: the store answers (NATS down or the partition guard only make it
/// `degraded`, still 200).
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready (`ok` or `degraded`)", body = ReadyDto),
        (status = 503, description = "The store does not answer", body = ReadyDto),
    )
)]
pub(crate) async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    let database =
        match actix_web::rt::time::timeout(READY_DB_TIMEOUT, state.federation.ping_store()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: store ping failed");
                false
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = READY_DB_TIMEOUT.as_millis() as u64,
                    "readiness: store ping timed out"
                );
                false
            }
        };
    let bus = (state.bus)();
    let guard = state.federation.guard();
    let following = state
        .federation
        .follower_lag()
        .is_some_and(|lag| lag <= FOLLOWER_BEHIND);
    let status = if !database {
        "unavailable"
    } else if bus == BusHealth::Down
        || !following
        || matches!(guard, GuardState::LinkDown | GuardState::CanaryLost)
    {
        // REST still works; heartbeats over NATS do not arrive. `recovering` (the hold
        // after the link came back, also right after start) is normal and stays "ok".
        "degraded"
    } else {
        "ok"
    };
    let body = ReadyDto {
        status,
        checks: ReadyChecks {
            database: if database { "ok" } else { "down" },
            nats: bus.as_str(),
            partition_guard: guard.as_str(),
            partition_guard_until: match guard {
                GuardState::Recovering { until } => Some(rfc3339(until)),
                _ => None,
            },
            follower: if following { "ok" } else { "behind" },
        },
        replica: ReplicaDto {
            role: state.federation.role_name(),
            revision: state.federation.revision(),
        },
        mass_expiry: state.federation.last_mass_expiry().map(|m| MassExpiryDto {
            at: rfc3339(m.at),
            expired: m.expired,
            live: m.live,
        }),
    };
    let code = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(code).json(body)
}

/// Projects in slug order; `X-Total-Count` holds how many match.
///
/// Metadata filters: parameters named `meta.KEY` (at most 16, every one must hold; KEY
/// of `[A-Za-z0-9_.-]`, 1-64 characters, else 422 naming `meta.KEY`) keep the projects
/// whose metadata KEY holds the value: a string equal to it, or another value whose
/// compact JSON is it (`meta.replicas=3`, `meta.allow_fanout=[]`).
#[utoipa::path(
    get,
    path = "/api/fed/projects",
    tag = "projects",
    params(
        ("status" = Option<StatusName>, Query, description = "Only projects in this status"),
        ("tag" = Option<String>, Query, max_length = 64, pattern = r"^[^\x00-\x1f\x7f]*$", description = "Only projects with this tag (ignoring case); empty is the same as absent"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size; without it, every matching project (streamed)"),
        ("offset" = Option<u64>, Query, maximum = 9223372036854775807_u64, description = "Projects to skip"),
        ("after" = Option<String>, Query, min_length = 1, max_length = 50, pattern = r"^\s*[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?\s*$", description = "Cursor: only projects whose slug sorts after this one"),
        ("index" = Option<u64>, Query, nullable = false, maximum = 9223372036854775807_u64, description = "Blocking query: answer once the registry's revision passes this (an `X-Federation-Index` seen before), or when `wait` ends"),
        ("wait" = Option<String>, Query, pattern = r"^[0-9]+(ms|s|m)?$", description = "How long a blocking query may wait (`30s`, `500ms`, `1m`; plain seconds); default 60 s, capped by FEDERATION_BLOCKING_MAX_WAIT"),
    ),
    responses(
        (status = 200, description = "The projects, in slug order", body = Vec<ProjectDto>,
         headers(("X-Total-Count" = u64, description = "How many projects match"),
                 ("X-Federation-Index" = u64, description = "The change-log revision the reply reflects"),
                 ("Link" = String, description = "`<url>; rel=\"next\"` when `limit` was given and more follow"))),
        (status = 422, description = "A bad query value; `field` names it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn list_projects(
    state: web::Data<ApiState>,
    req: HttpRequest,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let filter = ListFilter::parse(
        param(&q, "status"),
        param(&q, "tag"),
        param(&q, "limit"),
        param(&q, "offset"),
    )
    .and_then(|f| f.with_after(param(&q, "after")))
    .and_then(|f| {
        let mut meta: Vec<(&str, &str)> = q
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("meta.")?, v.as_str())))
            .collect();
        meta.sort_unstable();
        f.with_meta(&meta)
    })
    .and_then(|f| query_is_utf8(req.query_string()).map(|()| f))
    .map_err(ApiError::query)?;
    block(&state, &q).await?;
    let page = state.federation.list(&filter);
    let mut reply = HttpResponse::Ok();
    reply
        .insert_header(("X-Total-Count", page.total.to_string()))
        .insert_header((INDEX_HEADER, page.revision.to_string()));
    if let Some(next) = next_link(req.path(), &q, &filter, &page) {
        reply.insert_header((header::LINK, next));
    }
    reply.content_type("application/json");
    if filter.limit.is_none() {
        // The whole catalog may be asked for: stream it in chunks of serialized
        // projects rather than building one large body.
        return Ok(reply.streaming(json_array_stream(page.items)));
    }
    // A page (at most 1,000): one body with its length, no chunking.
    let mut body = Vec::with_capacity(page.items.len() * 320 + 2);
    body.push(b'[');
    for (i, p) in page.items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        write_project(&mut body, p);
    }
    body.push(b']');
    Ok(reply.body(body))
}

/// One project's JSON (a DTO of strings, numbers and options cannot fail to serialize).
fn write_project(buf: &mut Vec<u8>, p: &federation_domain::Project) {
    if serde_json::to_writer(&mut *buf, &ProjectDto::from(p)).is_err() {
        buf.extend_from_slice(b"null");
    }
}

/// Projects per chunk of a streamed list.
const LIST_CHUNK: usize = 256;

/// `[p1,p2,…]` as a stream of chunks of at most [`LIST_CHUNK`] projects.
fn json_array_stream(
    items: Vec<federation_domain::Project>,
) -> impl futures::Stream<Item = Result<web::Bytes, std::convert::Infallible>> {
    let total = items.len();
    let mut items = items.into_iter();
    let mut written = 0usize;
    let mut done = false;
    futures::stream::poll_fn(move |_| {
        if done {
            return std::task::Poll::Ready(None);
        }
        let mut buf = Vec::with_capacity(LIST_CHUNK * 256);
        if written == 0 {
            buf.push(b'[');
        }
        for p in items.by_ref().take(LIST_CHUNK) {
            if written > 0 {
                buf.push(b',');
            }
            write_project(&mut buf, &p);
            written += 1;
        }
        if written == total {
            buf.push(b']');
            done = true;
        }
        std::task::Poll::Ready(Some(Ok(web::Bytes::from(buf))))
    })
}

/// Refuses a query value that is not UTF-8 once percent-decoded (the query extractor
/// would replace the bad bytes by U+FFFD and go on), naming its parameter.
fn query_is_utf8(raw: &str) -> Result<(), federation_domain::ValidationError> {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    for pair in raw.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let mut bytes = Vec::with_capacity(value.len());
        let mut it = value.bytes();
        while let Some(b) = it.next() {
            match b {
                b'%' => {
                    let mut rest = it.clone();
                    match (rest.next().and_then(hex), rest.next().and_then(hex)) {
                        (Some(h), Some(l)) => {
                            bytes.push(h * 16 + l);
                            it = rest;
                        }
                        _ => bytes.push(b),
                    }
                }
                b'+' => bytes.push(b' '),
                other => bytes.push(other),
            }
        }
        if std::str::from_utf8(&bytes).is_err() {
            let field: String = key.chars().take(64).collect();
            return Err(federation_domain::ValidationError::new(
                field,
                "must be UTF-8 text",
            ));
        }
    }
    Ok(())
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode_query_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `Link: <…>; rel="next"` of a page asked for with `limit`, when more follow: by
/// cursor when the request used `after`, by offset otherwise. Other parameters are kept.
fn next_link(
    path: &str,
    q: &Query,
    filter: &ListFilter,
    page: &federation_domain::ProjectPage,
) -> Option<String> {
    let limit = filter.limit?;
    let got = u64::try_from(page.items.len()).ok()?;
    let (name, value) = if filter.after.is_some() {
        if got < u64::from(limit) {
            return None;
        }
        ("after", page.items.last()?.slug.to_string())
    } else {
        let next = filter.offset.checked_add(got)?;
        if got == 0 || next >= page.total {
            return None;
        }
        ("offset", next.to_string())
    };
    let mut params: Vec<(&str, &str)> = q
        .iter()
        .filter(|(k, _)| k.as_str() != name && k.as_str() != "offset" && k.as_str() != "after")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    params.sort_unstable();
    let mut query: Vec<String> = params
        .into_iter()
        .map(|(k, v)| format!("{}={}", encode_query_value(k), encode_query_value(v)))
        .collect();
    query.push(format!("{name}={}", encode_query_value(&value)));
    Some(format!("<{path}?{}>; rel=\"next\"", query.join("&")))
}

/// Registers a project, or updates the one with this slug (status untouched). Answers
/// 201 either way, as the original did (hubs that register at boot check for it);
/// `X-Federation-Created` tells the two apart.
#[utoipa::path(
    post,
    path = "/api/fed/projects",
    tag = "projects",
    request_body(content = RegisterRequest, content_type = "application/json",
        description = "JSON; a body without `Content-Type` is read as JSON too, as the original did"),
    responses(
        (status = 201, description = "Registered: created, or updated when the slug was known", body = ProjectDto,
         headers(
            ("Location" = String, description = "The project's URL"),
            ("X-Federation-Created" = String, description = "`true` when the project is new, `false` when it was updated"),
         )),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "An invalid field; `field` names it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn register_project(
    state: web::Data<ApiState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    body::require_json(&req)?;
    let bytes = body::read_limited(&req, payload, body::MAX_JSON_BODY).await?;
    let input = body::json::<RegisterRequest>(&bytes)?.into_input()?;
    let upserted = state.federation.register(&input).await?;
    state.metrics.registered(1);
    let dto = ProjectDto::from(&upserted.project);
    if upserted.created {
        tracing::info!(slug = %dto.slug, "project registered");
    } else {
        tracing::info!(slug = %dto.slug, "project updated");
    }
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/fed/projects/{}", dto.slug)))
        .insert_header((
            CREATED_HEADER,
            if upserted.created { "true" } else { "false" },
        ))
        .insert_header((INDEX_HEADER, state.federation.revision().to_string()))
        .json(dto))
}

/// Whether `POST /api/fed/projects` created the project (`true`) or updated it.
pub const CREATED_HEADER: &str = "x-federation-created";

/// Registers (or updates) up to 1,000 projects in one transaction: all or nothing.
/// Each entry is read and validated like `POST /api/fed/projects`; when any is refused,
/// nothing is written and `errors` lists every refused entry by index and field.
#[utoipa::path(
    post,
    path = "/api/fed/projects:bulk",
    tag = "projects",
    request_body(content = BulkRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Every entry registered or updated", body = BulkResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body over 4 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Nothing registered: `projects` is not a list of 1 to 1,000 entries, or `errors` lists the refused entries", body = BulkErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn bulk_register(
    state: web::Data<ApiState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    body::require_json(&req)?;
    let bytes = body::read_limited(&req, payload, body::MAX_BULK_BODY).await?;
    let parsed = body::json::<BulkRequest>(&bytes).and_then(BulkRequest::into_registrations);
    let registrations = match parsed {
        Ok(Ok(r)) => r,
        Ok(Err(errors)) => return Ok(BulkErrorBody::entries(errors)),
        // Every 422 of this route has the bulk shape (with no entry to blame).
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            return Ok(BulkErrorBody::whole(&e))
        }
        Err(e) => return Err(e),
    };
    let upserted = state.federation.register_all(&registrations).await?;
    state.metrics.registered(upserted.len());
    let created = upserted.iter().filter(|u| u.created).count();
    tracing::info!(
        created,
        updated = upserted.len() - created,
        "projects registered in bulk"
    );
    Ok(HttpResponse::Ok()
        .insert_header((INDEX_HEADER, state.federation.revision().to_string()))
        .json(BulkResponse {
            created,
            updated: upserted.len() - created,
            projects: upserted
                .iter()
                .map(|u| ProjectDto::from(&u.project))
                .collect(),
        }))
}

/// Starts (or replaces) a maintenance window: until it ends no degraded or offline
/// transition is recorded or published for the project, and `status` stays what it
/// was. It ends by itself at `until`, then the normal rules apply at once.
#[utoipa::path(
    put,
    path = "/api/fed/projects/{slug}/maintenance",
    tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body(content = MaintenanceRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The project, with its `maintenance`", body = ProjectDto),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "No reason, no end or both ends, an end in the past or more than 30 days away", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn start_maintenance(
    state: web::Data<ApiState>,
    slug: web::Path<String>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    body::require_json(&req)?;
    let bytes = body::read_limited(&req, payload, body::MAX_JSON_BODY).await?;
    let input = MaintenanceInput::from(body::json::<MaintenanceRequest>(&bytes)?);
    let by = crate::auth::caller(&state.keys, &req);
    let project = state
        .federation
        .start_maintenance(&slug, &input, &by)
        .await?;
    tracing::info!(slug = %project.slug, by = %by, "maintenance started");
    Ok(project_reply(&state, &project))
}

/// Ends a maintenance window now; the normal rules apply at once. A project not in
/// maintenance is answered as it is.
#[utoipa::path(
    delete,
    path = "/api/fed/projects/{slug}/maintenance",
    tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 200, description = "The project, without `maintenance`", body = ProjectDto),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn end_maintenance(
    state: web::Data<ApiState>,
    slug: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let by = crate::auth::caller(&state.keys, &req);
    let project = state.federation.end_maintenance(&slug, &by).await?;
    tracing::info!(slug = %project.slug, by = %by, "maintenance ended");
    Ok(project_reply(&state, &project))
}

/// 200 with the project after a write, and the revision it reflects.
fn project_reply(state: &ApiState, project: &federation_domain::Project) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((INDEX_HEADER, state.federation.revision().to_string()))
        .json(ProjectDto::from(project))
}

/// One project (slug matched case-insensitively).
#[utoipa::path(
    get,
    path = "/api/fed/projects/{slug}",
    tag = "projects",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("index" = Option<u64>, Query, nullable = false, maximum = 9223372036854775807_u64, description = "Blocking query: answer once the registry's revision passes this, or when `wait` ends"),
        ("wait" = Option<String>, Query, pattern = r"^[0-9]+(ms|s|m)?$", description = "How long a blocking query may wait; default 60 s, capped by FEDERATION_BLOCKING_MAX_WAIT"),
    ),
    responses(
        (status = 200, description = "The project", body = ProjectDto,
         headers(("X-Federation-Index" = u64, description = "The change-log revision the reply reflects"))),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 422, description = "A bad `index` or `wait`", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn get_project(
    state: web::Data<ApiState>,
    slug: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    block(&state, &q).await?;
    state.metrics.looked_up();
    let (project, revision) = state.federation.get(&slug)?;
    Ok(HttpResponse::Ok()
        .insert_header((INDEX_HEADER, revision.to_string()))
        .json(ProjectDto::from(&project)))
}

/// Changes name, hub_url and/or tags.
#[utoipa::path(
    patch,
    path = "/api/fed/projects/{slug}",
    tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body(content = PatchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated project", body = ProjectDto),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "An invalid or unchangeable field; `field` names it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn patch_project(
    state: web::Data<ApiState>,
    slug: web::Path<String>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    body::require_json(&req)?;
    let bytes = body::read_limited(&req, payload, body::MAX_JSON_BODY).await?;
    let patch = body::json::<PatchRequest>(&bytes)?.into_patch()?;
    let project = if patch.is_empty() {
        // Nothing to change: answer with the project as it is.
        state.federation.get(&slug)?.0
    } else {
        state.federation.update(&slug, &patch).await?
    };
    Ok(project_reply(&state, &project))
}

/// Removes a project with its tags and history.
#[utoipa::path(
    delete,
    path = "/api/fed/projects/{slug}",
    tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn delete_project(
    state: web::Data<ApiState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.federation.deregister(&slug).await?;
    tracing::info!(slug = %slug.to_ascii_lowercase(), "project deregistered");
    Ok(HttpResponse::NoContent().finish())
}

/// A heartbeat over HTTP, for projects that cannot reach NATS. Held in memory and
/// written behind with the next tick.
#[utoipa::path(
    post,
    path = "/api/fed/projects/{slug}/heartbeat",
    tag = "heartbeats",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body(content = HeartbeatRequest, content_type = "application/json",
        description = "A JSON body; a missing Content-Type is accepted"),
    responses(
        (status = 202, description = "Accepted", body = AcceptedDto),
        (status = 401, description = "No key: API keys are configured, or the project has a heartbeat key (`heartbeat_key_required`)", body = ErrorBody),
        (status = 403, description = "A key that may not send it: not a write key, nor the project's heartbeat key when it has one (`heartbeat_key_invalid`)", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 413, description = "Body over 8 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A rejected heartbeat; `code` says why (slug_mismatch, bad_namespace, replay, …)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn heartbeat(
    state: web::Data<ApiState>,
    slug: web::Path<String>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    // Keys first, as the middleware does for every other route: a project's heartbeat
    // key (or a write key) when it has one, else the API keys' rule.
    let presented = req
        .headers()
        .get(crate::auth::API_KEY_HEADER)
        .map(|v| v.as_bytes());
    let credential = crate::auth::heartbeat_credential(&state.keys, presented);
    if !state.federation.check_heartbeat_key(&slug, &credential)? {
        state
            .keys
            .authorize(req.method(), presented)
            .inspect_err(crate::auth::log_refusal)?;
    }
    body::require_json(&req)?;
    let bytes = body::read_limited(&req, payload, body::MAX_HEARTBEAT_BODY).await?;
    let accepted = state.federation.accept_heartbeat(&slug, &bytes).await;
    if let Err(HeartbeatRejected::UnknownProject(unknown)) = &accepted {
        static UNKNOWN: crate::throttle::Throttle = crate::throttle::Throttle::new();
        if let Some(n) = UNKNOWN.due() {
            // The original's words, which its operators may grep for.
            tracing::warn!(
                heartbeats = n,
                "Heartbeat for unknown project '{}': Project must be registered via \
                 config/projects.yaml or API first (logged once a minute)",
                unknown.escape_debug()
            );
        }
    }
    let changed = accepted?;
    if changed {
        tracing::debug!(slug = %slug.to_ascii_lowercase(), "heartbeat changed status");
    }
    Ok(HttpResponse::Accepted().json(AcceptedDto { status: "accepted" }))
}

/// Makes a new heartbeat key for the project, replacing any other (rotation): from then
/// its HTTP heartbeats need this key or a write key in `X-API-Key`. The key is in this
/// answer only; the service keeps its SHA-256 digest.
#[utoipa::path(
    post,
    path = "/api/fed/projects/{slug}/heartbeat-key",
    tag = "heartbeats",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 201, description = "The new key, shown this once", body = HeartbeatKeyDto),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn set_heartbeat_key(
    state: web::Data<ApiState>,
    slug: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (key, digest) = crate::auth::new_heartbeat_key().ok_or_else(ApiError::internal)?;
    let project = state
        .federation
        .set_heartbeat_key(&slug, Some(digest))
        .await?;
    let by = crate::auth::caller(&state.keys, &req);
    tracing::info!(slug = %project.slug, by = %by, "heartbeat key set");
    Ok(HttpResponse::Created().json(HeartbeatKeyDto {
        slug: project.slug.to_string(),
        heartbeat_key: key,
    }))
}

/// Removes the project's heartbeat key: its HTTP heartbeats follow the API keys again.
#[utoipa::path(
    delete,
    path = "/api/fed/projects/{slug}/heartbeat-key",
    tag = "heartbeats",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 204, description = "Removed (or there was none)"),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn delete_heartbeat_key(
    state: web::Data<ApiState>,
    slug: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let project = state.federation.set_heartbeat_key(&slug, None).await?;
    let by = crate::auth::caller(&state.keys, &req);
    tracing::info!(slug = %project.slug, by = %by, "heartbeat key removed");
    Ok(HttpResponse::NoContent().finish())
}

/// A project's status transitions, newest first. The history outlives the project: after
/// a removal (`DELETE`, the catalog file, expiry) this still answers 200 with the
/// transitions kept, the last one `removed: <why>`, by design (an audit trail); 404 only
/// for a slug that never had any.
#[utoipa::path(
    get,
    path = "/api/fed/projects/{slug}/history",
    tag = "projects",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "How many (default 100)"),
    ),
    responses(
        (status = 200, description = "Transitions, newest first", body = Vec<TransitionDto>),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 422, description = "A bad limit", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn history(
    state: web::Data<ApiState>,
    slug: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let limit = parse_limit(param(&q, "limit")).map_err(ApiError::query)?;
    let transitions = state.federation.history(&slug, limit).await?;
    let items: Vec<TransitionDto> = transitions.iter().map(TransitionDto::from).collect();
    Ok(HttpResponse::Ok().json(items))
}

/// How long a blocking query waits when it gives an `index` but no `wait`.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// A blocking query (`?index=N&wait=30s`, Consul's pattern): waits until the registry's
/// revision passes `index` or `wait` ends (capped by the setting). Without `index`,
/// returns at once.
async fn block(state: &ApiState, q: &Query) -> Result<(), ApiError> {
    // Given empty, `wait` breaks its pattern: refused, as the description says.
    let wait = q
        .get("wait")
        .map(|w| parse_wait(w).ok_or_else(bad_wait))
        .transpose()?;
    let Some(raw) = param(q, "index") else {
        return Ok(());
    };
    let index = revision_param(raw, "index")?;
    let wait = wait.unwrap_or(DEFAULT_WAIT);
    state
        .changes
        .wait_past(&state.federation, index, wait)
        .await;
    Ok(())
}

/// A revision given as a parameter: 0 to the largest 64-bit signed integer, as the
/// description states (`format: int64`).
fn revision_param(raw: &str, name: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| {
            ApiError::query(federation_domain::ValidationError::new(
                name,
                "must be a revision: an integer from 0 to 9223372036854775807",
            ))
        })
}

fn bad_wait() -> ApiError {
    ApiError::query(federation_domain::ValidationError::new(
        "wait",
        "must be a duration such as 30s, 500ms, 1m or plain seconds",
    ))
}

/// The change stream: Server-Sent Events of registry changes in revision order.
#[utoipa::path(
    get,
    path = "/api/fed/events",
    tag = "projects",
    params(
        ("slug" = Option<String>, Query, description = "Only this project's changes"),
        ("tag" = Option<String>, Query, description = "Only projects with this tag (ignoring case); deletions always pass"),
        ("status" = Option<StatusName>, Query, description = "Only projects in this status (a transition passes when it leaves or enters it); deletions always pass"),
        ("Last-Event-ID" = Option<u64>, Header, nullable = false, maximum = 9223372036854775807_u64, description = "Resume: every change after this revision, from the change log (or one `reset` when it was trimmed)"),
        ("last_event_id" = Option<u64>, Query, nullable = false, maximum = 9223372036854775807_u64, description = "The same as the header, for clients that cannot set it"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`. Each event's `id:` is its revision. \
         Events: `registered`, `updated` (data: `{revision, slug, at, project}`), `deleted` \
         (`{revision, slug, at}`), `transition` (the NATS status event `{slug, from, to, reason, \
         at, last_heartbeat_at, revision}` plus `project`), `reset` (`{revision}`: changes were \
         missed, reload), `ready` (`{revision}`: caught up, live from here). A comment line \
         every 15 s (FEDERATION_STREAM_KEEP_ALIVE). A client that does not keep up is \
         disconnected.", content_type = "text/event-stream", body = stream::SseEvent),
        (status = 422, description = "A bad filter or Last-Event-ID", body = ErrorBody),
        (status = 503, description = "Too many streams open (FEDERATION_STREAM_MAX); see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn events(
    state: web::Data<ApiState>,
    req: HttpRequest,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let filter = ChangeFilter::parse(param(&q, "slug"), param(&q, "tag"), param(&q, "status"))
        .map_err(ApiError::query)?;
    let header_id = req
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().map(str::trim).unwrap_or("-"))
        .filter(|v| !v.is_empty());
    // Each one given must be a revision; the header wins when both are.
    let from_query = param(&q, "last_event_id")
        .map(|raw| revision_param(raw, "last_event_id"))
        .transpose()?;
    let last_event_id = match header_id {
        None => from_query,
        Some(raw) => Some(revision_param(raw, "Last-Event-ID")?),
    };
    let revision = state.federation.revision();
    let body = stream::open_stream(
        &state.changes,
        state.federation.clone(),
        filter,
        last_event_id,
    )
    .map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "too many change streams are open; try again later",
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        // Never compressed: a compressor holds events back until its block fills.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header((INDEX_HEADER, revision.to_string()))
        .streaming(body))
}

/// Counts by status and by tag, the offline project silent the longest, the revision
/// and the partition guard: what a status badge or a pager needs, in one cheap call.
#[utoipa::path(
    get,
    path = "/api/fed/summary",
    tag = "projects",
    responses(
        (status = 200, description = "The summary", body = SummaryDto,
         headers(("X-Federation-Index" = u64, description = "The change-log revision it reflects"))),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn summary(state: web::Data<ApiState>) -> HttpResponse {
    let s = state.federation.summary();
    let now = state.federation.now();
    let guard = state.federation.guard();
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    let body = SummaryDto {
        revision: s.revision,
        total: s.total,
        counts: CountsDto::from(s.counts),
        tags: s
            .tags
            .into_iter()
            .map(|(tag, c)| TagCountsDto {
                tag,
                total: n(c.online + c.degraded + c.offline),
                online: n(c.online),
                degraded: n(c.degraded),
                offline: n(c.offline),
            })
            .collect(),
        longest_offline: s.longest_offline.map(|l| LongestOfflineDto {
            slug: l.slug.to_string(),
            last_heartbeat_at: l.last_heartbeat_at.map(rfc3339),
            silent_since: rfc3339(l.silent_since),
            silent_seconds: u64::try_from((now - l.silent_since).num_seconds()).unwrap_or(0),
        }),
        partition_guard: guard.as_str(),
        partition_guard_until: match guard {
            GuardState::Recovering { until } => Some(rfc3339(until)),
            _ => None,
        },
    };
    HttpResponse::Ok()
        .insert_header((INDEX_HEADER, s.revision.to_string()))
        .json(body)
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::no_route())
}

type Refusal = std::future::Ready<Result<HttpResponse, ApiError>>;

/// The default service of a resource: 405 with `Allow`.
pub(crate) fn method_not_allowed(allow: &'static str) -> impl Fn() -> Refusal + Clone + 'static {
    move || std::future::ready(Err(ApiError::method_not_allowed(allow)))
}
