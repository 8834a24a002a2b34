//! `GET /api/fed/slos`: the objectives of the catalog file's `slos:` and where they
//! stand.

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
    /// `project` or `tag`.
    #[schema(example = "tag")]
    pub kind: &'static str,
    /// The slug or the tag.
    #[schema(example = "production")]
    pub name: String,
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

impl From<&SloStatus> for SloDto {
    fn from(s: &SloStatus) -> Self {
        Self {
            kind: s.objective.subject.kind(),
            name: s.objective.subject.name().to_owned(),
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

/// The service level objectives (the catalog file's `slos:`) with their SLI now and
/// the error budget left over their window (docs/uptime.md).
#[utoipa::path(
    get,
    path = "/api/fed/slos",
    tag = "uptime",
    responses(
        (status = 200, description = "Every objective, in the catalog file's order", body = Vec<SloDto>),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn slos(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let items: Vec<SloDto> = state
        .uptime
        .slos()
        .statuses()
        .iter()
        .map(SloDto::from)
        .collect();
    Ok(HttpResponse::Ok().json(items))
}
