//! Liveness, readiness and the summary.

use super::*;

/// How long `/ready` waits for the store to answer.
pub const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: answers as long as the process serves HTTP; touches nothing.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "The service is alive", body = HealthDto))
)]
pub(crate) async fn health(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok().json(HealthDto {
        status: "ok",
        service: "federation",
        version: state.version,
    })
}

/// Readiness: the store answers (NATS down, the partition guard or a permission the
/// NATS server refuses only make it `degraded`, still 200). From SIGTERM on it is 503
/// `stopping`, at once, while in-flight requests finish (the drain).
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready (`ok` or `degraded`)", body = ReadyDto),
        (status = 503, description = "The store does not answer, or the replica is stopping", body = ReadyDto),
    )
)]
pub(crate) async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    let database =
        match actix_web::rt::time::timeout(READY_DB_TIMEOUT, state.federation.ping_store()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: store ping failed");
                false
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = READY_DB_TIMEOUT.as_millis() as u64,
                    "readiness: store ping timed out"
                );
                false
            }
        };
    let bus = (state.bus)();
    let guard = state.federation.guard();
    let (denied, _) = state.federation.bus_denials();
    // The rule is the domain's; this adapter only asks.
    let input = federation_domain::readiness::ReadinessInput {
        store_answers: database,
        bus_down: bus == BusHealth::Down,
        follower_lag: state.federation.follower_lag(),
        guard,
        bus_denied: !denied.is_empty(),
        stopping: state.lifecycle.is_stopping(),
    };
    let verdict = input.judge();
    let following = input.following();
    let status = verdict.as_str();
    let body = ReadyDto {
        status,
        checks: ReadyChecks {
            database: if database { "ok" } else { "down" },
            nats: bus.as_str(),
            partition_guard: guard.as_str(),
            partition_guard_until: match guard {
                GuardState::Recovering { until } => Some(rfc3339(until)),
                _ => None,
            },
            follower: if following { "ok" } else { "behind" },
            nats_permissions: if denied.is_empty() { "ok" } else { "denied" },
            nats_denied: denied.iter().map(ToString::to_string).collect(),
        },
        replica: ReplicaDto {
            role: state.federation.role_name(),
            revision: state.federation.revision(),
        },
        mass_expiry: state.federation.last_mass_expiry().map(|m| MassExpiryDto {
            at: rfc3339(m.at),
            expired: m.expired,
            live: m.live,
        }),
    };
    let code = if verdict.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(code).json(body)
}

/// Counts by status and by tag, the offline project silent the longest, the revision
/// and the partition guard: what a status badge or a pager needs, in one cheap call.
#[utoipa::path(
    get,
    path = "/api/fed/summary",
    tag = "projects",
    responses(
        (status = 200, description = "The summary", body = SummaryDto,
         headers(("X-Federation-Index" = u64, description = "The change-log revision it reflects"))),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn summary(state: web::Data<ApiState>) -> HttpResponse {
    let s = state.federation.summary();
    let now = state.federation.now();
    let guard = state.federation.guard();
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    let body = SummaryDto {
        revision: s.revision,
        total: s.total,
        counts: CountsDto::from(s.counts),
        tags: s
            .tags
            .into_iter()
            .map(|(tag, c)| TagCountsDto {
                tag,
                total: n(c.online + c.degraded + c.offline),
                online: n(c.online),
                degraded: n(c.degraded),
                offline: n(c.offline),
            })
            .collect(),
        longest_offline: s.longest_offline.map(|l| LongestOfflineDto {
            slug: l.slug.to_string(),
            last_heartbeat_at: l.last_heartbeat_at.map(rfc3339),
            silent_since: rfc3339(l.silent_since),
            silent_seconds: u64::try_from((now - l.silent_since).num_seconds()).unwrap_or(0),
        }),
        partition_guard: guard.as_str(),
        partition_guard_until: match guard {
            GuardState::Recovering { until } => Some(rfc3339(until)),
            _ => None,
        },
    };
    HttpResponse::Ok()
        .insert_header((INDEX_HEADER, s.revision.to_string()))
        .json(body)
}
