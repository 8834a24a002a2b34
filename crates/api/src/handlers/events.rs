//! The change stream (Server-Sent Events).

use super::*;

/// The change stream: Server-Sent Events of registry changes in revision order.
#[utoipa::path(
    get,
    path = "/api/fed/events",
    tag = "projects",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, nullable = false, maximum = 9223372036854775807_u64, description = "Resume: every change after this revision, from the change log (or one `reset` when it was trimmed)"),
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
    let EventsQuery {
        filter,
        last_event_id: from_query,
    } = EventsQuery::parse(&q)?;
    let header_id = req
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().map(str::trim).unwrap_or("-"))
        .filter(|v| !v.is_empty());
    // Each one given must be a revision; the header wins when both are.
    let last_event_id = match header_id {
        None => from_query,
        Some(raw) => {
            Some(revision(raw, "Last-Event-ID").map_err(|e| e.at(crate::error::Location::Header))?)
        }
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
