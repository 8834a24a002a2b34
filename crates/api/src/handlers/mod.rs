//! The route handlers, one file per resource (as crates.io lays out its controllers);
//! what they share is here.

use std::time::Duration;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use federation_domain::{GuardState, HeartbeatRejected, ListFilter, MaintenanceInput};

use crate::body;
use crate::dto::{
    rfc3339, AcceptedDto, CountsDto, HealthDto, LongestOfflineDto, MassExpiryDto, ProjectDto,
    ReadyChecks, ReadyDto, ReplicaDto, SummaryDto, TagCountsDto, TransitionDto,
};
use crate::dto::{BulkErrorBody, BulkResponse, HeartbeatKeyDto};
use crate::error::{ApiError, ErrorBody};
use crate::queries::{
    revision, BlockingQuery, EventsQuery, HistoryQuery, ListQuery, Query, TargetsQuery,
};
use crate::requests::{
    BulkRequest, HeartbeatRequest, MaintenanceRequest, PatchRequest, RegisterRequest,
};
use crate::stream;
use crate::{ApiState, BusHealth};

mod discovery;
mod events;
mod heartbeats;
mod history;
mod list;
mod maintenance;
mod ops;
mod projects;

pub(crate) use discovery::*;
pub use discovery::{tag_label, TargetGroup, SD_PATH};
pub(crate) use events::*;
pub(crate) use heartbeats::*;
pub(crate) use history::*;
pub(crate) use list::*;
pub(crate) use maintenance::*;
pub use ops::READY_DB_TIMEOUT;
pub(crate) use ops::*;
pub(crate) use projects::*;

/// The change-log revision a reply reflects (Consul's `X-Consul-Index`).
pub const INDEX_HEADER: &str = "X-Federation-Index";

/// 200 with the project after a write, and the revision it reflects.
fn project_reply(state: &ApiState, project: &federation_domain::Project) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((INDEX_HEADER, state.federation.revision().to_string()))
        .json(ProjectDto::from(project))
}

/// How long a blocking query waits when it gives an `index` but no `wait`.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// A blocking query (`?index=N&wait=30s`, Consul's pattern): waits until the registry's
/// revision passes `index` or `wait` ends (capped by the setting). Without `index`,
/// returns at once.
async fn block(state: &ApiState, q: &Query) -> Result<(), ApiError> {
    let BlockingQuery { index, wait } = BlockingQuery::parse(q)?;
    let Some(index) = index else {
        return Ok(());
    };
    state
        .changes
        .wait_past(&state.federation, index, wait.unwrap_or(DEFAULT_WAIT))
        .await;
    Ok(())
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::no_route())
}

type Refusal = std::future::Ready<Result<HttpResponse, ApiError>>;

/// The default service of a resource: 405 with `Allow`.
pub(crate) fn method_not_allowed(allow: &'static str) -> impl Fn() -> Refusal + Clone + 'static {
    move || std::future::ready(Err(ApiError::method_not_allowed(allow)))
}
