//! `GET /api/fed/slos`: the objectives (the catalog file's `slos:`, then those made
//! over REST) and where they stand.

use actix_web::{web, HttpResponse};
use federation_domain::uptime::SloStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::ApiState;

/// An objective and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = Slo)]
pub struct SloDto {
    /// The objective's name (`/api/fed/slos/{name}`).
    #[schema(example = "tag-production")]
    pub name: String,
    /// Where it is declared: `file` (the catalog file, which wins for its names) or
    /// `api` (made over REST, stored).
    #[schema(example = "file")]
    pub source: &'static str,
    /// `project` or `tag`.
    #[schema(example = "tag")]
    pub kind: &'static str,
    /// The slug or the tag.
    #[schema(example = "production")]
    pub subject: String,
    /// The target uptime, in percent.
    #[schema(example = 99.9)]
    pub objective_percent: f64,
    /// The window it is kept over (`7d`, `30d`, `90d`).
    #[schema(example = "30d")]
    pub window: String,
    /// The available share of its projects now, among those not in maintenance; null
    /// when none counts.
    pub sli: Option<f64>,
    /// Uptime over the window (null: not computed yet, or no time counted).
    pub uptime_percent: Option<f64>,
    /// Unavailable seconds the objective allows over the window's counted time.
    pub budget_seconds: Option<f64>,
    /// Unavailable seconds spent.
    pub spent_seconds: Option<f64>,
    /// The budget left: 1 untouched, 0 spent, below 0 overspent.
    pub remaining_ratio: Option<f64>,
    /// When the budget was computed (every minute).
    #[schema(format = DateTime)]
    pub computed_at: Option<String>,
}

impl SloDto {
    /// `s` as the API shows it; `in_file`: the catalog file declares it.
    pub fn of(s: &SloStatus, in_file: bool) -> Self {
        Self {
            name: s.objective.name.clone(),
            source: if in_file { "file" } else { "api" },
            kind: s.objective.subject.kind(),
            subject: s.objective.subject.name().to_owned(),
            objective_percent: s.objective.percent,
            window: s.objective.window.clone(),
            sli: s.sli,
            uptime_percent: s.budget.and_then(|b| b.uptime_percent),
            budget_seconds: s.budget.map(|b| b.budget_seconds),
            spent_seconds: s.budget.map(|b| b.spent_seconds),
            remaining_ratio: s.budget.and_then(|b| b.remaining_ratio),
            computed_at: s.computed_at.map(rfc3339),
        }
    }
}

/// The service level objectives (the catalog file's `slos:`, then those made over REST
/// by name) with their SLI now and the error budget left over their window
/// (docs/uptime.md).
#[utoipa::path(
    get,
    path = "/api/fed/slos",
    tag = "uptime",
    responses(
        (status = 200, description = "Every objective: the catalog file's in its order, then the stored ones by name", body = Vec<SloDto>),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn slos(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let uptime = &state.uptime;
    let items: Vec<SloDto> = uptime
        .slos()
        .statuses()
        .iter()
        .map(|s| SloDto::of(s, uptime.slo_in_file(&s.objective.name)))
        .collect();
    Ok(HttpResponse::Ok().json(items))
}
