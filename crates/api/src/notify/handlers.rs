//! The channel and delivery routes.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use federation_domain::notify::{
    Channel, ChannelInput, ChannelName, ChannelSpec, ChannelWrite, Delivery, DeliveryStatus, Event,
    Message, CHANNELS_MAX, DELIVERIES_LIST_MAX,
};

use super::dto::{ChannelDto, DeliveryDto};
use super::kinds::{read_body, ChannelReplacement, NewChannel};
use super::NotifyApi;
use crate::error::{ApiError, ErrorBody, Location};
use crate::ApiState;

fn notify(state: &ApiState) -> Result<&NotifyApi, ApiError> {
    state.notify.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "notifications are not configured on this service",
        )
    })
}

fn no_channel(name: &str) -> ApiError {
    let shown: String = name.chars().take(60).collect();
    ApiError::not_found(format!("no channel named {shown:?}"))
}

/// The path's channel name; a name that breaks the rule names no channel (404).
fn path_name(raw: &str) -> Result<ChannelName, ApiError> {
    ChannelName::parse(raw).map_err(|_| no_channel(raw))
}

/// The channel named `raw`, or a 404 naming it.
async fn channel_named(n: &NotifyApi, raw: &str) -> Result<(ChannelName, Channel), ApiError> {
    let key = path_name(raw)?;
    let channel = n
        .channels
        .get_channel(&key)
        .await?
        .ok_or_else(|| no_channel(raw))?;
    Ok((key, channel))
}

async fn dto(
    n: &NotifyApi,
    c: &federation_domain::notify::Channel,
) -> Result<ChannelDto, ApiError> {
    let last = n
        .deliveries
        .list_deliveries(Some(c.spec.name.clone()), 1)
        .await?;
    let hour_ago = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let failures = n.deliveries.failures_since(&c.spec.name, hour_ago).await?;
    Ok(ChannelDto::new(c, last.first(), failures))
}

/// Lists the notification channels by name, each with its newest delivery (its health).
#[utoipa::path(
    get,
    path = "/api/fed/channels",
    tag = "notifications",
    responses(
        (status = 200, description = "Every channel, by name; no secret", body = [ChannelDto]),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn list_channels(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let n = notify(&state)?;
    let mut out = Vec::new();
    for c in n.channels.list_channels().await? {
        out.push(dto(n, &c).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

/// Creates a channel. A webhook needs a `secret` (it signs every message); a Slack
/// channel takes none (its URL is its secret). At most 100 channels.
#[utoipa::path(
    post,
    path = "/api/fed/channels",
    tag = "notifications",
    request_body(content = NewChannel, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = ChannelDto,
         headers(("Location" = String, description = "The channel's URL"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "A channel with this name exists, or there are 100 channels already", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "An invalid field (a URL that is not http(s) or carries credentials, a missing secret…); `field` names it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn create_channel(
    state: web::Data<ApiState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let n = notify(&state)?;
    let body = NewChannel::from_value(read_body(&req, payload).await?)?;
    let spec = ChannelSpec::parse(ChannelInput::from(body)).map_err(ApiError::validation)?;
    match n.channels.create_channel(&spec).await? {
        ChannelWrite::Created(c) => {
            tracing::info!(channel = %c.spec.name, kind = c.spec.kind.as_str(), "notification channel created");
            Ok(HttpResponse::Created()
                .insert_header((
                    header::LOCATION,
                    format!("/api/fed/channels/{}", c.spec.name),
                ))
                .json(ChannelDto::new(&c, None, 0)))
        }
        ChannelWrite::Exists => Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!(
                "a channel named {:?} exists; replace it with PUT",
                spec.name.as_str()
            ),
        )
        .with_field("name")),
        ChannelWrite::Full => Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many",
            format!("at most {CHANNELS_MAX} channels; delete one first"),
        )),
    }
}

/// One channel, with its newest delivery.
#[utoipa::path(
    get,
    path = "/api/fed/channels/{name}",
    tag = "notifications",
    params(("name" = String, Path, description = "The channel's name")),
    responses(
        (status = 200, description = "The channel; no secret", body = ChannelDto),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn get_channel(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let n = notify(&state)?;
    let (_, c) = channel_named(n, &name).await?;
    Ok(HttpResponse::Ok().json(dto(n, &c).await?))
}

/// Replaces a channel's definition. A webhook given no `secret` keeps its stored one;
/// `name`, if given, must be the path's.
#[utoipa::path(
    put,
    path = "/api/fed/channels/{name}",
    tag = "notifications",
    params(("name" = String, Path, description = "The channel's name")),
    request_body(content = ChannelReplacement, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = ChannelDto),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 409, description = "A `name` other than the path's: a channel cannot be renamed (`name_conflict`); or no `secret` given and none stored to keep (`no_secret_stored`: the kind changed, or an email login is new)", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "An invalid field; `field` names it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn replace_channel(
    state: web::Data<ApiState>,
    name: web::Path<String>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let n = notify(&state)?;
    let key = path_name(&name)?;
    let body = ChannelReplacement::from_value(read_body(&req, payload).await?)?;
    if let Some(given) = body.name() {
        if ChannelName::parse(given).ok().as_ref() != Some(&key) {
            // Another name than the path's conflicts with the channel addressed.
            return Err(ApiError::validation(
                federation_domain::ValidationError::conflict(
                    "name_conflict",
                    "name",
                    "must be the channel's name in the path (a channel cannot be renamed)",
                ),
            ));
        }
    }
    let existing = n
        .channels
        .get_channel(&key)
        .await?
        .ok_or_else(|| no_channel(&name))?;
    let spec = ChannelSpec::parse_replacing(body.into_input(key.as_str()), &existing.spec)
        .map_err(ApiError::validation)?;
    let c = n
        .channels
        .replace_channel(&spec)
        .await?
        .ok_or_else(|| no_channel(&name))?;
    tracing::info!(channel = %c.spec.name, "notification channel replaced");
    Ok(HttpResponse::Ok().json(dto(n, &c).await?))
}

/// Removes a channel with its cursor and deliveries.
#[utoipa::path(
    delete,
    path = "/api/fed/channels/{name}",
    tag = "notifications",
    params(("name" = String, Path, description = "The channel's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn delete_channel(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let n = notify(&state)?;
    let key = path_name(&name)?;
    if !n.channels.delete_channel(&key).await? {
        return Err(no_channel(&name));
    }
    tracing::info!(channel = %key, "notification channel deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Sends a test message to the channel now (one attempt, no retries, also when the
/// channel is disabled) and records it as a delivery (`event` `test`, `revision` 0).
#[utoipa::path(
    post,
    path = "/api/fed/channels/{name}/test",
    tag = "notifications",
    params(("name" = String, Path, description = "The channel's name")),
    responses(
        (status = 200, description = "The delivery: `status` says whether the receiver took it", body = DeliveryDto),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn test_channel(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let n = notify(&state)?;
    let (key, c) = channel_named(n, &name).await?;
    let now = chrono::Utc::now();
    let message = Message {
        channel: key.clone(),
        revision: 0,
        event: Event::Test,
        subject: None,
        at: now,
        outage_seconds: None,
        incident: None,
    };
    let attempt = n.sender.send(&c.spec, &message).await;
    let delivery = Delivery {
        id: 0,
        channel: key.as_str().to_owned(),
        revision: 0,
        event: Event::Test.as_str().to_owned(),
        slug: None,
        status: if attempt.delivered() {
            DeliveryStatus::Sent
        } else {
            DeliveryStatus::Failed
        },
        attempts: 1,
        http_status: attempt.http_status,
        last_error: attempt.error.clone(),
        latency_ms: attempt.latency_ms,
        at: now,
    };
    n.deliveries.record_delivery(&delivery).await?;
    tracing::info!(channel = %key, status = delivery.status.as_str(), "notification test sent");
    Ok(HttpResponse::Ok().json(DeliveryDto::from(&delivery)))
}

/// The newest deliveries first, of one channel or all.
#[utoipa::path(
    get,
    path = "/api/fed/deliveries",
    tag = "notifications",
    params(crate::queries::DeliveriesQuery),
    responses(
        (status = 200, description = "Deliveries, newest first", body = [DeliveryDto]),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 422, description = "A bad `limit`", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn list_deliveries(
    state: web::Data<ApiState>,
    q: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let n = notify(&state)?;
    let limit = match q.get("limit").map(String::as_str) {
        None => 100,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=DELIVERIES_LIST_MAX).contains(l))
            .ok_or_else(|| {
                ApiError::validation(federation_domain::ValidationError::new(
                    "limit",
                    format!("must be a whole number from 1 to {DELIVERIES_LIST_MAX}"),
                ))
                .at(Location::Query)
            })?,
    };
    let channel = match q
        .get("channel")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(raw) => Some(channel_named(n, raw).await?.0),
    };
    let list = n.deliveries.list_deliveries(channel, limit).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(DeliveryDto::from).collect::<Vec<_>>()))
}
