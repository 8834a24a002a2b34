//! The query strings: each type here both reads its parameters (the domain's parsers
//! validate the values) and documents them (utoipa's `IntoParams`), with the schemas of
//! [`crate::schemas`], so a bound the parser enforces is the bound the description shows.
//!
//! A parameter given empty (`?tag=`) counts as absent; any other value, blanks and all,
//! is the parser's to judge (the description's patterns allow blanks only around a
//! value, as the parsers trim them).

use std::collections::HashMap;
use std::time::Duration;

use actix_web::web;
use federation_domain::model::{parse_limit, LIST_LIMIT_DEFAULT};
use federation_domain::{ChangeFilter, ListFilter, ValidationError};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{RefOr, Required, Schema};
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::schemas;

/// The query string as actix reads it.
pub(crate) type Query = web::Query<HashMap<String, String>>;

/// A text filter's value (`tag`, `slug`, `after`); an empty one counts as absent, as
/// their patterns (`^$|…`) say.
pub(crate) fn param<'a>(q: &'a Query, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|s| !s.is_empty())
}

/// Any other parameter's value, as given: an empty `limit` or `status` is refused, as
/// their schemas (an integer, a status) say.
fn given<'a>(q: &'a Query, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str)
}

fn query_param(name: &str, schema: impl Into<RefOr<Schema>>, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

/// `GET /api/fed/projects`: the filter and the page. (`meta.KEY` parameters are read
/// too; the route's description states them, as a schema cannot name a family.)
#[derive(Debug)]
pub(crate) struct ListQuery(pub ListFilter);

impl ListQuery {
    pub(crate) fn parse(q: &Query) -> Result<Self, ApiError> {
        ListFilter::parse(
            given(q, "status"),
            param(q, "tag"),
            given(q, "limit"),
            given(q, "offset"),
        )
        .and_then(|f| f.with_after(param(q, "after")))
        .and_then(|f| {
            let mut meta: Vec<(&str, &str)> = q
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("meta.")?, v.as_str())))
                .collect();
            meta.sort_unstable();
            f.with_meta(&meta)
        })
        .map(Self)
        .map_err(ApiError::query)
    }
}

/// The status and tag filters a list and the targets share.
fn status_and_tag() -> [Parameter; 2] {
    [
        query_param("status", schemas::status(), "Only projects in this status"),
        query_param(
            "tag",
            schemas::tag_filter(),
            "Only projects with this tag (ignoring case); empty is the same as absent",
        ),
    ]
}

impl IntoParams for ListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = status_and_tag().to_vec();
        params.extend([
            query_param(
                "limit",
                schemas::limit(),
                "Page size; without it, every matching project (streamed)",
            ),
            query_param("offset", schemas::offset(), "Projects to skip"),
            query_param(
                "after",
                schemas::slug_filter(),
                "Cursor: only projects whose slug sorts after this one; empty is the same as absent",
            ),
        ]);
        params
    }
}

/// `GET /api/fed/prometheus/targets`: the list's status and tag filters.
#[derive(Debug)]
pub(crate) struct TargetsQuery(pub ListFilter);

impl TargetsQuery {
    pub(crate) fn parse(q: &Query) -> Result<Self, ApiError> {
        ListFilter::parse(given(q, "status"), param(q, "tag"), None, None)
            .map(Self)
            .map_err(ApiError::query)
    }
}

impl IntoParams for TargetsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        status_and_tag().to_vec()
    }
}

/// `GET /api/fed/deliveries`: the channel and how many (the handler reads them).
#[derive(Debug)]
pub(crate) struct DeliveriesQuery;

impl IntoParams for DeliveriesQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param(
                "channel",
                schemas::slug_filter(),
                "Only this channel's; empty is the same as absent",
            ),
            query_param(
                "limit",
                crate::notify::schemas::deliveries_limit(),
                "At most this many (default 100)",
            ),
        ]
    }
}

/// A blocking query (`?index=N&wait=30s`, Consul's pattern) of a list or a project.
#[derive(Debug, Default)]
pub(crate) struct BlockingQuery {
    /// Answer once the registry's revision passes this.
    pub index: Option<u64>,
    /// How long to wait at most; `None`: the default.
    pub wait: Option<Duration>,
}

impl BlockingQuery {
    pub(crate) fn parse(q: &Query) -> Result<Self, ApiError> {
        // Given empty, `wait` breaks its pattern: refused, as the description says.
        let wait = q
            .get("wait")
            .map(|w| {
                parse_wait(w).ok_or_else(|| {
                    ApiError::query(ValidationError::new(
                        "wait",
                        "must be a duration such as 30s, 500ms, 1m or plain seconds",
                    ))
                })
            })
            .transpose()?;
        let index = given(q, "index")
            .map(|raw| revision(raw, "index"))
            .transpose()?;
        Ok(Self { index, wait })
    }
}

impl IntoParams for BlockingQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param(
                "index",
                schemas::revision(),
                "Blocking query: answer once the registry's revision passes this (an \
                 `X-Federation-Index` seen before), or when `wait` ends",
            ),
            query_param(
                "wait",
                schemas::wait(),
                "How long a blocking query may wait (`30s`, `500ms`, `1m`; plain seconds); \
                 default 60 s, capped by FEDERATION_BLOCKING_MAX_WAIT",
            ),
        ]
    }
}

/// `GET /api/fed/events`: the filter, and where to resume (the `Last-Event-ID` header,
/// which wins, is read by the handler).
#[derive(Debug)]
pub(crate) struct EventsQuery {
    pub filter: ChangeFilter,
    pub last_event_id: Option<u64>,
}

impl EventsQuery {
    pub(crate) fn parse(q: &Query) -> Result<Self, ApiError> {
        let filter = ChangeFilter::parse(param(q, "slug"), param(q, "tag"), given(q, "status"))
            .map_err(ApiError::query)?;
        let last_event_id = given(q, "last_event_id")
            .map(|raw| revision(raw, "last_event_id"))
            .transpose()?;
        Ok(Self {
            filter,
            last_event_id,
        })
    }
}

impl IntoParams for EventsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param(
                "slug",
                schemas::slug_filter(),
                "Only this project's changes; empty is the same as absent",
            ),
            query_param(
                "tag",
                schemas::tag_filter(),
                "Only projects with this tag (ignoring case); deletions always pass",
            ),
            query_param(
                "status",
                schemas::status(),
                "Only projects in this status (a transition passes when it leaves or \
                 enters it); deletions always pass",
            ),
            query_param(
                "last_event_id",
                schemas::revision(),
                "The same as the `Last-Event-ID` header, for clients that cannot set it",
            ),
        ]
    }
}

/// `GET /api/fed/projects/{slug}/history`: how many transitions.
#[derive(Debug)]
pub(crate) struct HistoryQuery {
    pub limit: u32,
}

impl HistoryQuery {
    pub(crate) fn parse(q: &Query) -> Result<Self, ApiError> {
        let limit = parse_limit(given(q, "limit")).map_err(ApiError::query)?;
        Ok(Self { limit })
    }
}

impl IntoParams for HistoryQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query_param(
            "limit",
            schemas::limit(),
            &format!("How many (default {LIST_LIMIT_DEFAULT})"),
        )]
    }
}

/// A revision given as a parameter: 0 to the largest 64-bit signed integer, as the
/// description states (`format: int64`).
pub(crate) fn revision(raw: &str, name: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| {
            ApiError::query(ValidationError::new(
                name,
                "must be a revision: an integer from 0 to 9223372036854775807",
            ))
        })
}

/// A `wait` of a blocking query: seconds, or a number with `ms`, `s`, `m` (`30s`,
/// `500ms`, `1m`). A number too large for 64 bits is taken as the longest wait (the
/// setting caps every wait anyway), so any value the description's pattern allows is
/// accepted.
pub fn parse_wait(raw: &str) -> Option<Duration> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n = saturating_u64(number)?;
    match unit {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => Some(Duration::from_secs(n.saturating_mul(60))),
        _ => None,
    }
}

/// A string of decimal digits as a number, `u64::MAX` when it is larger; `None` when it
/// is empty or not all digits.
pub fn saturating_u64(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_seconds_or_have_a_unit() {
        assert_eq!(parse_wait("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_wait("2m"), Some(Duration::from_secs(120)));
        for bad in ["", "s", "-1", "1h", "1.5s", "ten"] {
            assert_eq!(parse_wait(bad), None, "{bad}");
        }
        let huge = "1011763741171384535786307518155970";
        assert_eq!(parse_wait(huge), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(
            parse_wait(&format!("{huge}m")),
            Some(Duration::from_secs(u64::MAX))
        );
    }
}
