//! One project: register (alone or in bulk), read, change, remove.

use super::*;

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
    let input = body::read_json::<RegisterRequest>(&req, payload, body::MAX_JSON_BODY)
        .await?
        .into_input()?;
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
    let parsed = body::read_json::<BulkRequest>(&req, payload, body::MAX_BULK_BODY)
        .await
        .and_then(BulkRequest::into_registrations);
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

/// One project (slug matched case-insensitively).
#[utoipa::path(
    get,
    path = "/api/fed/projects/{slug}",
    tag = "projects",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        BlockingQuery,
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
    let (body, revision) = state.federation.get_rendered(&slug, render_project)?;
    Ok(HttpResponse::Ok()
        .insert_header((INDEX_HEADER, revision.to_string()))
        .content_type("application/json")
        .body(body))
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
    let patch = body::read_json::<PatchRequest>(&req, payload, body::MAX_JSON_BODY)
        .await?
        .into_patch()?;
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
