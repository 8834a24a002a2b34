//! A project's status transitions.

use super::*;

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
        HistoryQuery,
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
    let HistoryQuery { limit } = HistoryQuery::parse(&q)?;
    let transitions = state.federation.history(&slug, limit).await?;
    let items: Vec<TransitionDto> = transitions.iter().map(TransitionDto::from).collect();
    Ok(HttpResponse::Ok().json(items))
}
