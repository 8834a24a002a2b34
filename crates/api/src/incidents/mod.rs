//! Incidents over REST (`/api/fed/incidents`), read from the store the leader records
//! them in. See docs/notifications.md § Incidents.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use federation_domain::incident::{IncidentState, INCIDENTS_LIST_MAX};
use federation_domain::ValidationError;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::Required;
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorBody, Location};
use crate::ApiState;

pub mod dto;

use dto::IncidentDto;

/// The default page.
pub const INCIDENTS_LIST_DEFAULT: u32 = 50;

/// `GET /api/fed/incidents`: which and how many.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct IncidentsQuery {
    pub state: Option<IncidentState>,
    pub limit: u32,
}

impl IncidentsQuery {
    /// Reads the query string; a bad value is a 422 naming the parameter.
    pub(crate) fn parse(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        let state = match q.get("state").map(String::as_str) {
            None => None,
            Some("open") => Some(IncidentState::Open),
            Some("resolved") => Some(IncidentState::Resolved),
            Some(_) => {
                return Err(ApiError::validation(ValidationError::new(
                    "state",
                    "must be open or resolved",
                ))
                .at(Location::Query))
            }
        };
        let limit = match q.get("limit").map(String::as_str) {
            None => INCIDENTS_LIST_DEFAULT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=INCIDENTS_LIST_MAX).contains(l))
                .ok_or_else(|| {
                    ApiError::validation(ValidationError::new(
                        "limit",
                        format!("must be a whole number from 1 to {INCIDENTS_LIST_MAX}"),
                    ))
                    .at(Location::Query)
                })?,
        };
        Ok(Self { state, limit })
    }
}

impl IntoParams for IncidentsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let state = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some([
                IncidentState::Open.as_str(),
                IncidentState::Resolved.as_str(),
            ]))
            .build();
        let limit = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .minimum(Some(1))
            .maximum(Some(INCIDENTS_LIST_MAX))
            .build();
        [
            (
                "state",
                state,
                "Only open or only resolved ones; absent: both",
            ),
            (
                "limit",
                limit,
                "At most this many, newest first (default 50)",
            ),
        ]
        .into_iter()
        .map(|(name, schema, description)| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .schema(Some(schema))
                .description(Some(description))
                .build()
        })
        .collect()
    }
}

fn api(state: &ApiState) -> Result<&crate::notify::NotifyApi, ApiError> {
    state.notify.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "incidents are not recorded on this service",
        )
    })
}

/// Incidents, newest first.
#[utoipa::path(
    get,
    path = "/api/fed/incidents",
    tag = "notifications",
    params(IncidentsQuery),
    responses(
        (status = 200, description = "Incidents, newest first; each item's `id` is its \
            `GET /api/fed/incidents/{id}`", body = [IncidentDto],
            links(("GetIncident" = (
                operation_id = "get_incident",
                parameters(("id" = "$response.body#/0/id")),
                description = "The first (newest) incident listed; every item's `id` reads \
                    the same way"
            )))
        ),
        (status = 422, description = "A bad `state` or `limit`; `field` names it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn list_incidents(
    state: web::Data<ApiState>,
    q: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let n = api(&state)?;
    let query = IncidentsQuery::parse(&q)?;
    let now = state.federation.now();
    let list = n.incidents.list_incidents(query.state, query.limit).await?;
    Ok(HttpResponse::Ok().json(
        list.iter()
            .map(|i| IncidentDto::new(i, now))
            .collect::<Vec<_>>(),
    ))
}

/// One incident, with its members.
#[utoipa::path(
    get,
    path = "/api/fed/incidents/{id}",
    tag = "notifications",
    params(("id" = u64, Path, description = "The incident's id (the revision that opened it)", example = 4711)),
    responses(
        (status = 200, description = "The incident", body = IncidentDto),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 422, description = "An `id` that is not a whole number", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn get_incident(
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let n = api(&state)?;
    let id = id.trim().parse::<u64>().map_err(|_| {
        ApiError::validation(ValidationError::new("id", "must be a whole number"))
            .at(Location::Path)
    })?;
    let Some(incident) = n.incidents.get_incident(id).await? else {
        return Err(ApiError::not_found(format!("incident {id} not found")));
    };
    Ok(HttpResponse::Ok().json(IncidentDto::new(&incident, state.federation.now())))
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;

    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn the_query_reads_state_and_limit_and_names_a_bad_one() {
        assert_eq!(
            IncidentsQuery::parse(&q(&[])).unwrap(),
            IncidentsQuery {
                state: None,
                limit: INCIDENTS_LIST_DEFAULT
            }
        );
        let open = IncidentsQuery::parse(&q(&[("state", "open"), ("limit", "3")])).unwrap();
        assert_eq!(open.state, Some(IncidentState::Open));
        assert_eq!(open.limit, 3);
        for bad in [
            [("state", "closed")],
            [("limit", "0")],
            [("limit", "501")],
            [("limit", "x")],
        ] {
            let e = IncidentsQuery::parse(&q(&bad)).unwrap_err();
            assert_eq!(e.status_code(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        }
    }
}
