//! A small REST client for the operator commands (`federation projects …`, `simulate`).

use std::time::Duration;

use anyhow::{anyhow, Context};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The service's default address.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8001";

/// A project as the API returns it (the fields the commands show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    pub slug: String,
    pub name: String,
    pub hub_url: String,
    pub mesh_namespace: String,
    pub status: String,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub last_heartbeat_at: Option<String>,
    #[serde(default)]
    pub maintenance: Option<MaintenanceView>,
}

/// A project's maintenance window, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceView {
    pub reason: String,
    pub until: String,
    pub by: String,
}

/// The end of a maintenance window: a time or a length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowEnd {
    /// RFC 3339.
    Until(String),
    /// `30m`, `2h`, …
    For(String),
}

/// A registration body (`POST /api/fed/projects`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewProject {
    pub slug: String,
    pub name: String,
    pub hub_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_namespace: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Seconds between its heartbeats (its thresholds follow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval: Option<u32>,
}

/// The filters of `GET /api/fed/projects`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<String>,
    pub tag: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// A page of projects, with the raw JSON for `--json`.
#[derive(Debug, Clone)]
pub struct Page {
    pub projects: Vec<ProjectView>,
    pub total: Option<u64>,
    pub raw: Value,
}

/// The answer to a registration.
#[derive(Debug, Clone)]
pub struct Registered {
    pub created: bool,
    pub project: ProjectView,
    pub raw: Value,
}

/// The counts of a bulk registration's answer (its projects are not read).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct BulkRegistered {
    pub created: u64,
    pub updated: u64,
}

/// Talks to one federation service.
#[derive(Debug, Clone)]
pub struct FederationClient {
    base: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl FederationClient {
    pub fn new(server: &str, api_key: Option<String>) -> anyhow::Result<Self> {
        let base = server.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            anyhow::bail!(
                "--server must be an http:// or https:// URL, not {:?}",
                federation_domain::redact::url(server)
            );
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base,
            api_key: api_key.filter(|k| !k.is_empty()),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.api_key {
            rb = rb.header("X-API-Key", key);
        }
        rb
    }

    async fn send(
        &self,
        what: &str,
        rb: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let response = rb.send().await.with_context(|| {
            format!(
                "{what}: cannot reach {}",
                federation_domain::redact::url(&self.base)
            )
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(anyhow!("{what}: {}", api_error(status, &body)))
    }

    /// `GET /api/fed/projects` with filters.
    pub async fn list(&self, query: &ListQuery) -> anyhow::Result<Page> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(s) = &query.status {
            params.push(("status", s.clone()));
        }
        if let Some(t) = &query.tag {
            params.push(("tag", t.clone()));
        }
        if let Some(l) = query.limit {
            params.push(("limit", l.to_string()));
        }
        if let Some(o) = query.offset {
            params.push(("offset", o.to_string()));
        }
        let response = self
            .send(
                "listing projects",
                self.request(Method::GET, "/api/fed/projects")
                    .query(&params),
            )
            .await?;
        let total = response
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let raw: Value = response.json().await.context("reading the project list")?;
        let projects = serde_json::from_value(raw.clone()).context("reading the project list")?;
        Ok(Page {
            projects,
            total,
            raw,
        })
    }

    /// `GET /api/fed/projects/{slug}`: the project and its raw JSON.
    pub async fn get(&self, slug: &str) -> anyhow::Result<(ProjectView, Value)> {
        let response = self
            .send(
                &format!("getting {slug}"),
                self.request(Method::GET, &format!("/api/fed/projects/{}", path(slug))),
            )
            .await?;
        let raw: Value = response.json().await.context("reading the project")?;
        Ok((serde_json::from_value(raw.clone())?, raw))
    }

    /// `POST /api/fed/projects`: 201, created or updated as `X-Federation-Created`
    /// says (a server that answers 200 for an update is understood too).
    pub async fn register(&self, project: &NewProject) -> anyhow::Result<Registered> {
        let response = self
            .send(
                &format!("registering {}", project.slug),
                self.request(Method::POST, "/api/fed/projects")
                    .json(project),
            )
            .await?;
        let created = response.status() == StatusCode::CREATED
            && response
                .headers()
                .get("x-federation-created")
                .is_none_or(|v| v.as_bytes() != b"false");
        let raw: Value = response.json().await.context("reading the registration")?;
        Ok(Registered {
            created,
            project: serde_json::from_value(raw.clone())?,
            raw,
        })
    }

    /// `POST /api/fed/projects:bulk`: up to 1,000 registrations in one transaction.
    pub async fn register_bulk(&self, projects: &[NewProject]) -> anyhow::Result<BulkRegistered> {
        let first = projects.first().map_or("", |p| p.slug.as_str());
        let response = self
            .send(
                &format!("registering {} projects from {first}", projects.len()),
                self.request(Method::POST, "/api/fed/projects:bulk")
                    .json(&serde_json::json!({ "projects": projects })),
            )
            .await?;
        response
            .json()
            .await
            .context("reading the bulk registration")
    }

    /// `POST /api/fed/projects/{slug}/heartbeat` with a ready-made JSON body (202).
    pub async fn heartbeat(&self, slug: &str, body: Vec<u8>) -> anyhow::Result<()> {
        self.send(
            &format!("heartbeat of {slug}"),
            self.request(
                Method::POST,
                &format!("/api/fed/projects/{}/heartbeat", path(slug)),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body),
        )
        .await?;
        Ok(())
    }

    /// `PUT /api/fed/projects/{slug}/maintenance`: the project in its window.
    pub async fn start_maintenance(
        &self,
        slug: &str,
        reason: &str,
        end: &WindowEnd,
    ) -> anyhow::Result<(ProjectView, Value)> {
        let body = match end {
            WindowEnd::Until(t) => serde_json::json!({ "reason": reason, "until": t }),
            WindowEnd::For(d) => serde_json::json!({ "reason": reason, "for": d }),
        };
        let response = self
            .send(
                &format!("starting maintenance of {slug}"),
                self.request(
                    Method::PUT,
                    &format!("/api/fed/projects/{}/maintenance", path(slug)),
                )
                .json(&body),
            )
            .await?;
        let raw: Value = response.json().await.context("reading the project")?;
        Ok((serde_json::from_value(raw.clone())?, raw))
    }

    /// `DELETE /api/fed/projects/{slug}/maintenance`: the project out of its window.
    pub async fn end_maintenance(&self, slug: &str) -> anyhow::Result<(ProjectView, Value)> {
        let response = self
            .send(
                &format!("ending maintenance of {slug}"),
                self.request(
                    Method::DELETE,
                    &format!("/api/fed/projects/{}/maintenance", path(slug)),
                ),
            )
            .await?;
        let raw: Value = response.json().await.context("reading the project")?;
        Ok((serde_json::from_value(raw.clone())?, raw))
    }

    /// `DELETE /api/fed/projects/{slug}`.
    pub async fn delete(&self, slug: &str) -> anyhow::Result<()> {
        self.send(
            &format!("deleting {slug}"),
            self.request(Method::DELETE, &format!("/api/fed/projects/{}", path(slug))),
        )
        .await?;
        Ok(())
    }
}

/// A slug as a path segment: anything but `[A-Za-z0-9_-]` is percent-encoded, so a
/// typo cannot reach another route.
fn path(slug: &str) -> String {
    slug.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `404 not_found: no project x` from the API's `{"error":{…}}` body, or the raw text.
fn api_error(status: StatusCode, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    match parsed.as_ref().and_then(|v| v.get("error")) {
        Some(e) => {
            let code = e["code"].as_str().unwrap_or("error");
            let message = e["message"].as_str().unwrap_or("");
            match e["field"].as_str() {
                Some(field) => format!("{} {code}: {message} (field {field})", status.as_u16()),
                None => format!("{} {code}: {message}", status.as_u16()),
            }
        }
        None => {
            let text: String = body.trim().chars().take(300).collect();
            format!("{status} {text}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_well() {
        assert_eq!(
            api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                r#"{"error":{"code":"validation","message":"bad","field":"slug"}}"#
            ),
            "422 validation: bad (field slug)"
        );
        assert_eq!(
            api_error(StatusCode::BAD_GATEWAY, "oops"),
            "502 Bad Gateway oops"
        );
        assert_eq!(path("a/b"), "a%2Fb");
    }
}
