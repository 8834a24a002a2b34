//! Maintenance windows.

use super::*;

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
        (status = 409, description = "An `until` in the past or more than 30 days away (`clock_conflict`)", body = ErrorBody),
        (status = 422, description = "No reason, no end or both ends, a `for` out of bounds", body = ErrorBody),
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
    let input = MaintenanceInput::from(
        body::read_json::<MaintenanceRequest>(&req, payload, body::MAX_JSON_BODY).await?,
    );
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
