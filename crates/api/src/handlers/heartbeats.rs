//! Heartbeats over HTTP and the projects' heartbeat keys.

use super::*;

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
        (status = 409, description = "A heartbeat that conflicts with what it meets: another project than the path's (`slug_mismatch`), another namespace than the registered one (`bad_namespace`), a timestamp outside the window our clock allows: more than an hour old, or than the offline threshold when that is longer (`replay`), or more than 5 minutes ahead (`future_timestamp`)", body = ErrorBody),
        (status = 422, description = "A heartbeat that breaks a rule of its own; `code` says which (invalid_field, bad_namespace, …)", body = ErrorBody),
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
