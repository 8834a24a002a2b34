//! Uptime reports: a project's (`/api/fed/projects/{slug}/uptime`) and a tag's or the
//! fleet's (`/api/fed/uptime`), as JSON or CSV.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use federation_domain::uptime::{Scope, WindowInput, DEFAULT_WINDOW, WINDOWS};
use federation_domain::{ListFilter, Tag, ValidationError};
use serde::Deserialize;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::Object;
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorBody};
use crate::ApiState;

pub mod csv;
pub mod dto;
pub mod slo;
pub(crate) mod slo_write;

use dto::{DayDto, FiguresDto, GroupUptimeDto, LineDto, ProjectUptimeDto};

/// The CSV media type.
pub const CSV: &str = "text/csv; charset=utf-8";

pub(crate) fn window_schema() -> Object {
    let names: Vec<&str> = WINDOWS.iter().map(|(n, _)| *n).collect();
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(names))
        .description(Some(format!(
            "A window ending now (default {DEFAULT_WINDOW}); not with from/to"
        )))
        .examples(["30d"])
        .build()
}

fn format_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(["json", "csv"]))
        .description(Some(
            "json (default) or csv; without it, `Accept: text/csv` asks for CSV",
        ))
        .examples(["csv"])
        .build()
}

fn instant_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::DateTime,
        )))
        .pattern(Some(federation_domain::model::RFC3339_PATTERN))
        .build()
}

/// The window and form of a report.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UptimeParams {
    #[param(schema_with = window_schema)]
    pub window: Option<String>,
    /// The window's start (RFC 3339); before `to`, at most 90 days before it, at most
    /// 400 days ago (rules against the clock and the other bound, which a schema cannot
    /// state: a 422 naming the parameter).
    #[param(schema_with = instant_schema)]
    pub from: Option<String>,
    /// The window's end (RFC 3339), default now; a later one is cut to now.
    #[param(schema_with = instant_schema)]
    pub to: Option<String>,
    #[param(schema_with = format_schema)]
    pub format: Option<String>,
}

/// The group's filter.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupParams {
    /// Only projects with this tag (ignoring case); without it (or empty), the whole
    /// fleet.
    #[param(schema_with = crate::schemas::tag_filter)]
    pub tag: Option<String>,
    /// `true`: also each project's figures over the window (reads each member's daily
    /// rollups, projects × days rows: slow for a large fleet). Default false.
    #[param(example = true)]
    pub projects: Option<bool>,
}

impl UptimeParams {
    fn window(&self) -> WindowInput {
        WindowInput {
            window: self.window.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }

    /// Whether CSV is asked for: `format`, else the `Accept` header.
    fn csv(&self, req: &HttpRequest) -> Result<bool, ApiError> {
        match self
            .format
            .clone()
            .map(|f| f.to_ascii_lowercase())
            .as_deref()
        {
            Some("csv") => Ok(true),
            Some("json") => Ok(false),
            Some(_) => Err(ApiError::query(ValidationError::new(
                "format",
                "must be json or csv",
            ))),
            None => Ok(req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.to_ascii_lowercase().contains("text/csv"))),
        }
    }
}

fn reply<T: serde::Serialize>(csv: Option<String>, body: &T) -> HttpResponse {
    match csv {
        Some(text) => HttpResponse::Ok().content_type(CSV).body(text),
        None => HttpResponse::Ok().json(body),
    }
}

/// A project's uptime over a window: seconds online, degraded, offline, in maintenance
/// and unknown; uptime in percent; outages, MTTR, the longest outage; and daily
/// buckets (UTC). Unknown is never guessed: time before the project's history starts
/// (or what retention trimmed), and time the service could not hear the bus or was not
/// running, is unknown and left out of the percentage (docs/uptime.md).
#[utoipa::path(
    get,
    path = "/api/fed/projects/{slug}/uptime",
    tag = "uptime",
    params(("slug" = String, Path, description = "The project's slug"), UptimeParams),
    responses(
        (status = 200, description = "The report (JSON, or CSV with format=csv)",
         content((ProjectUptimeDto = "application/json"), (String = "text/csv"))),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 422, description = "A bad window or format (field names the parameter)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn project_uptime(
    req: HttpRequest,
    state: web::Data<ApiState>,
    slug: web::Path<String>,
    q: web::Query<UptimeParams>,
) -> Result<HttpResponse, ApiError> {
    let window = q
        .window()
        .validate(state.federation.now())
        .map_err(ApiError::query)?;
    let csv = q.csv(&req)?;
    let (project, _) = state.federation.get(&slug)?;
    let report = state.uptime.project(&project.slug, window).await?;
    let dto = ProjectUptimeDto::new(&report, window, state.uptime.degraded());
    Ok(reply(csv.then(|| csv::project(&dto)), &dto))
}

/// The uptime of a tag's projects, or of the whole fleet, over a window: their figures
/// added up (overall and per UTC day; whole days from the group rollups, counting the
/// members of that day) and, with `projects=true`, each project's.
#[utoipa::path(
    get,
    path = "/api/fed/uptime",
    tag = "uptime",
    params(GroupParams, UptimeParams),
    responses(
        (status = 200, description = "The roll-up (JSON, or CSV with format=csv)",
         content((GroupUptimeDto = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A bad window, format or tag (field names the parameter)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn group_uptime(
    req: HttpRequest,
    state: web::Data<ApiState>,
    group: web::Query<GroupParams>,
    q: web::Query<UptimeParams>,
) -> Result<HttpResponse, ApiError> {
    let window = q
        .window()
        .validate(state.federation.now())
        .map_err(ApiError::query)?;
    let csv = q.csv(&req)?;
    let tag = group
        .tag
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(Tag::parse)
        .transpose()
        .map_err(ApiError::query)?;
    let fleet = tag.is_none();
    let slugs = state.federation.slugs(&ListFilter {
        tag: tag.clone(),
        ..ListFilter::default()
    });
    let scope = tag.as_ref().map_or(Scope::Fleet, Scope::of_tag);
    let rolled = state.uptime.scope_report(&scope, &slugs, window).await?;
    let reports = match group.projects {
        Some(true) => Some(state.uptime.group(&slugs, fleet, window).await?.1),
        _ => None,
    };
    let degraded = state.uptime.degraded();
    let dto = GroupUptimeDto {
        tag: tag.map(|t| t.as_str().to_owned()),
        from: crate::dto::rfc3339(window.from),
        to: crate::dto::rfc3339(window.to),
        degraded_counts_as: degraded.as_str(),
        project_count: rolled.projects,
        figures: FiguresDto::new(&rolled.figures, degraded),
        days: rolled
            .days
            .iter()
            .map(|d| DayDto::new(d, degraded))
            .collect(),
        projects: reports.map(|reports| {
            reports
                .iter()
                .map(|r| LineDto {
                    slug: r.slug.as_str().to_owned(),
                    figures: FiguresDto::new(&r.figures, degraded),
                })
                .collect()
        }),
    };
    Ok(reply(csv.then(|| csv::group(&dto)), &dto))
}
