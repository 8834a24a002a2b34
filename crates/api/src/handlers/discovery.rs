//! Prometheus HTTP service discovery (`http_sd_configs`): the projects as scrape
//! targets, one target group per project, with labels relabelling can filter on.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::*;

/// The route Prometheus' `http_sd_configs` polls.
pub const SD_PATH: &str = "/api/fed/prometheus/targets";

/// The prefix of every label this service adds (`__meta_*` labels are dropped after
/// relabelling, so they cost nothing unless a rule keeps them).
pub const META_PREFIX: &str = "__meta_federation_";

/// One target group of Prometheus' HTTP SD format: the project's hub as `host:port` and
/// its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "targets": ["hub.example.com:443"],
    "labels": {
        "__scheme__": "https",
        "__meta_federation_slug": "commandcenter",
        "__meta_federation_name": "CommandCenter",
        "__meta_federation_status": "online",
        "__meta_federation_namespace": "hub.commandcenter",
        "__meta_federation_version": "1.4.2",
        "__meta_federation_hub_url": "https://hub.example.com/cc",
        "__meta_federation_hub_path": "/cc",
        "__meta_federation_maintenance": "false",
        "__meta_federation_tags": ",python,Machine Learning,",
        "__meta_federation_tag_python": "true",
        "__meta_federation_tag_machine_learning": "true"
    }
}))]
pub struct TargetGroup {
    /// One target: the hub URL's host and port (the scheme's default port when the URL
    /// names none).
    pub targets: Vec<String>,
    /// `__scheme__` (the hub URL's scheme) and the `__meta_federation_*` labels
    /// (`version` and `tags` absent when the project has none: Prometheus drops empty
    /// labels anyway).
    pub labels: BTreeMap<String, String>,
}

/// The label of a tag: `__meta_federation_tag_` and the tag lowercased, every character
/// outside `[a-z0-9_]` replaced by `_` (Prometheus' label-name rule, as its own
/// discoveries sanitize names). Tags that differ only there share a label.
pub fn tag_label(tag: &str) -> String {
    let mut label = format!("{META_PREFIX}tag_");
    label.extend(tag.to_lowercase().chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    label
}

impl TargetGroup {
    /// The group of one project; `None` when its hub URL names no host (the domain's
    /// validation refuses such URLs, so this does not happen for a stored project).
    /// `maintenance` is `true` while a window is open at `now`.
    pub fn of(p: &federation_domain::Project, now: chrono::DateTime<chrono::Utc>) -> Option<Self> {
        let url = url::Url::parse(p.hub_url.as_ref()).ok()?;
        let host = url.host_str().filter(|h| !h.is_empty())?;
        let port = url.port_or_known_default()?;
        let mut labels = BTreeMap::new();
        let mut meta = |name: &str, value: String| {
            labels.insert(format!("{META_PREFIX}{name}"), value);
        };
        meta("slug", p.slug.to_string());
        meta("name", p.name.to_string());
        meta("status", p.status.as_str().to_owned());
        meta("namespace", p.mesh_namespace.to_string());
        // Prometheus drops empty labels: a label that would be empty is left out.
        if let Some(v) = &p.version {
            meta("version", v.to_string());
        }
        meta("hub_url", p.hub_url.to_string());
        meta("hub_path", url.path().to_owned());
        meta(
            "maintenance",
            p.maintenance
                .as_ref()
                .is_some_and(|m| m.is_active(now))
                .to_string(),
        );
        let tags: Vec<String> = p.tags.iter().map(ToString::to_string).collect();
        if !tags.is_empty() {
            meta("tags", format!(",{},", tags.join(",")));
        }
        for tag in &tags {
            labels.insert(tag_label(tag), "true".to_owned());
        }
        labels.insert("__scheme__".to_owned(), url.scheme().to_owned());
        Some(TargetGroup {
            targets: vec![format!("{host}:{port}")],
            labels,
        })
    }
}

/// The projects as Prometheus scrape targets, in the `http_sd_configs` format: one
/// group per project (filtered like the project list), its hub URL's `host:port` as the
/// target and `__scheme__` as its scheme. The hub URL's path is in
/// `__meta_federation_hub_path` (the job's `metrics_path` is left alone: a relabel rule
/// can join them). Takes the key in `X-API-Key` or as `Authorization: Bearer` (what
/// Prometheus' `authorization` block sends).
#[utoipa::path(
    get,
    path = "/api/fed/prometheus/targets",
    tag = "projects",
    params(TargetsQuery),
    responses(
        (status = 200, description = "Target groups (an empty array when none match)", body = Vec<TargetGroup>,
         headers(("X-Federation-Index" = u64, description = "The change-log revision the reply reflects"))),
        (status = 422, description = "A bad `status` or `tag`; `field` names it", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub(crate) async fn prometheus_targets(
    state: web::Data<ApiState>,
    req: HttpRequest,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    state
        .keys
        .authorize(req.method(), crate::auth::presented_key(req.headers()))
        .inspect_err(crate::auth::log_refusal)?;
    let TargetsQuery(filter) = TargetsQuery::parse(&q)?;
    let page = state.federation.list(&filter);
    let now = state.federation.now();
    Ok(HttpResponse::Ok()
        .insert_header((INDEX_HEADER, page.revision.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .streaming(groups_stream(page.items, now)))
}

/// Projects per chunk of the answer.
const SD_CHUNK: usize = 256;

/// `[group, …]` in chunks of at most [`SD_CHUNK`] projects: a fleet of 100,000 is never
/// one body in memory.
fn groups_stream(
    items: Vec<federation_domain::Project>,
    now: chrono::DateTime<chrono::Utc>,
) -> impl futures::Stream<Item = Result<web::Bytes, std::convert::Infallible>> {
    let mut items = items.into_iter().peekable();
    let mut opened = false;
    let mut any = false;
    let mut done = false;
    futures::stream::poll_fn(move |_| {
        if done {
            return std::task::Poll::Ready(None);
        }
        let mut buf = Vec::with_capacity(SD_CHUNK * 512);
        if !opened {
            buf.push(b'[');
            opened = true;
        }
        for p in items.by_ref().take(SD_CHUNK) {
            let Some(group) = TargetGroup::of(&p, now) else {
                continue;
            };
            if any {
                buf.push(b',');
            }
            // Strings in a list and a map: serializing cannot fail.
            let _ = serde_json::to_writer(&mut buf, &group);
            any = true;
        }
        if items.peek().is_none() {
            buf.push(b']');
            done = true;
        }
        std::task::Poll::Ready(Some(Ok(web::Bytes::from(buf))))
    })
}
