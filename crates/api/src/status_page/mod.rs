//! The public status page at `/status`: off unless the operator turns it on (a
//! [`StatusPage`] given to the app as `web::Data`), server-rendered HTML that needs no
//! JavaScript and no key, cacheable (`ETag`, `Cache-Control`), with the dashboard's
//! security headers. It shows the chosen projects (by tag or slug; all when none is
//! chosen): name, current status and a 90-day uptime bar, grouped by chosen tag (each
//! with its own bar). No URL, metadata or key is shown, unless `show_urls` shows the
//! hub URLs. The projects it shows are also the ones whose badges are public
//! ([`crate::badge`]). A rendered page is reused for [`cache::RENDER_TTL`], so readers
//! cost the store one uptime read per period however many they are.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use federation_domain::uptime::{DegradedCounts, ProjectUptime, WindowInput};
use federation_domain::{Project, Slug, Status, Tag};

use first::FirstByName;

use crate::error::ApiError;
use crate::{conditional, ApiState};

pub mod bars;
pub mod cache;
mod first;
mod html;
mod incidents;

pub use cache::Renders;

/// The page's title when none is configured.
pub const STATUS_PAGE_TITLE_DEFAULT: &str = "Service status";

/// The most projects the page lists (the first by name); it says how many more it
/// leaves out. A status page is read by people: past a few hundred lines it stops being
/// one, and its bars would weigh megabytes.
pub const STATUS_PAGE_MAX_PROJECTS: usize = 500;

/// How long browsers and shared caches may keep the page (and a public badge) before
/// asking again (with `If-None-Match`).
pub const PUBLIC_CACHE_CONTROL: &str = "public, max-age=30";

/// The status page's settings (`[status_page]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusPage {
    /// Served at all (default: no; `/status` answers 404 and every badge needs a key).
    pub enabled: bool,
    /// The page's title and heading.
    pub title: String,
    /// Projects with any of these tags are shown, one section per tag.
    pub tags: Vec<Tag>,
    /// These projects are shown too.
    pub projects: Vec<Slug>,
    /// Show each project's hub URL (default: no).
    pub show_urls: bool,
    /// Rendered pages and badges, reused a few seconds.
    pub renders: Renders,
}

impl Default for StatusPage {
    fn default() -> Self {
        Self {
            enabled: false,
            title: STATUS_PAGE_TITLE_DEFAULT.to_owned(),
            tags: Vec::new(),
            projects: Vec::new(),
            show_urls: false,
            renders: Renders::default(),
        }
    }
}

/// What the page says of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Shown {
    Operational,
    Maintenance,
    Degraded,
    Down,
}

impl Shown {
    pub(crate) fn of(p: &Project, now: chrono::DateTime<chrono::Utc>) -> Self {
        if p.maintenance.as_ref().is_some_and(|m| m.is_active(now)) {
            return Shown::Maintenance;
        }
        match p.status {
            Status::Online => Shown::Operational,
            Status::Degraded => Shown::Degraded,
            Status::Offline => Shown::Down,
        }
    }

    /// The word shown.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Shown::Operational => "Operational",
            Shown::Maintenance => "Maintenance",
            Shown::Degraded => "Degraded",
            Shown::Down => "Down",
        }
    }

    /// The class and `data-status` value.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Shown::Operational => "online",
            Shown::Maintenance => "maintenance",
            Shown::Degraded => "degraded",
            Shown::Down => "offline",
        }
    }
}

/// A group of the page: a chosen tag's projects, or the chosen projects outside them.
#[derive(Debug)]
pub(crate) struct Section<'a> {
    pub heading: Option<String>,
    pub projects: Vec<&'a Project>,
}

impl StatusPage {
    fn everything(&self) -> bool {
        self.tags.is_empty() && self.projects.is_empty()
    }

    fn tagged(&self, p: &Project) -> bool {
        self.tags
            .iter()
            .any(|chosen| p.tags.iter().any(|t| t.matches(chosen)))
    }

    /// Whether the page is on and shows `p` (whose badges are then public).
    pub fn shows(&self, p: &Project) -> bool {
        self.enabled && (self.everything() || self.projects.contains(&p.slug) || self.tagged(p))
    }

    /// The projects the page shows of the catalog `each_project` offers (any order),
    /// copied: at most [`STATUS_PAGE_MAX_PROJECTS`], the first by name; also how many
    /// more it shows not. Only those are copied, however large the catalog.
    pub(crate) fn chosen(
        &self,
        each_project: impl FnOnce(&mut dyn FnMut(&Project)),
    ) -> (Vec<Project>, usize) {
        let mut first = FirstByName::new();
        each_project(&mut |p| {
            if self.shows(p) {
                first.offer(p, || p.clone());
            }
        });
        first.finish()
    }

    /// The sections of the page over `chosen` (by name, see [`StatusPage::chosen`]):
    /// one per chosen tag, then the chosen projects in none of them (under "Other
    /// projects" when tag sections precede). Empty sections are left out.
    pub(crate) fn sections<'a>(&self, chosen: &'a [Project]) -> Vec<Section<'a>> {
        self.group(chosen.iter().collect())
    }

    fn group<'a>(&self, shown: Vec<&'a Project>) -> Vec<Section<'a>> {
        if self.everything() {
            return vec![Section {
                heading: None,
                projects: shown,
            }];
        }
        let mut sections: Vec<Section> = self
            .tags
            .iter()
            .map(|tag| Section {
                heading: Some(tag.to_string()),
                projects: shown
                    .iter()
                    .copied()
                    .filter(|p| p.tags.iter().any(|t| t.matches(tag)))
                    .collect(),
            })
            .filter(|s| !s.projects.is_empty())
            .collect();
        let rest: Vec<&Project> = shown.into_iter().filter(|p| !self.tagged(p)).collect();
        if !rest.is_empty() {
            sections.push(Section {
                heading: (!sections.is_empty()).then(|| "Other projects".to_owned()),
                projects: rest,
            });
        }
        sections
    }
}

/// The public status page (HTML, no JavaScript): the chosen projects' names and current
/// status. 404 unless the operator turned it on (`FEDERATION_STATUS_PAGE`).
#[utoipa::path(
    get,
    path = "/status",
    tag = "status page",
    responses(
        (status = 200, description = "The page (`ETag`, `Cache-Control: public, max-age=30`)", content_type = "text/html"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "The status page is off", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn page(
    state: web::Data<ApiState>,
    page: Option<web::Data<StatusPage>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Some(page) = page.filter(|p| p.enabled) else {
        return Err(ApiError::no_route());
    };
    const KEY: &str = "status";
    let body = match page.renders.get(KEY) {
        Some(body) => body,
        None => {
            let (chosen, left_out) = page.chosen(|each| state.federation.for_each_project(each));
            let sections = page.sections(&chosen);
            let uptime = Uptimes::of(&state, &sections).await;
            // Open incidents, when recorded here and readable (the page renders without).
            let incidents = match &state.notify {
                Some(n) => n
                    .incidents
                    .list_incidents(
                        Some(federation_domain::incident::IncidentState::Open),
                        incidents::OPEN_INCIDENTS_MAX,
                    )
                    .await
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            let body = html::render(
                &page,
                &sections,
                left_out,
                uptime.as_ref(),
                &incidents,
                state.federation.now(),
            );
            page.renders.put(KEY.to_owned(), body.clone());
            body
        }
    };
    Ok(conditional::reply(
        &req,
        "text/html; charset=utf-8",
        PUBLIC_CACHE_CONTROL,
        body,
    ))
}

/// The 90-day uptime of the projects on the page.
#[derive(Debug)]
pub(crate) struct Uptimes {
    pub degraded: DegradedCounts,
    pub by_slug: HashMap<Slug, ProjectUptime>,
}

impl Uptimes {
    /// Read from the store; `None` (the page goes without bars, and says so) when it
    /// cannot answer.
    async fn of(state: &ApiState, sections: &[Section<'_>]) -> Option<Self> {
        let mut slugs: Vec<Slug> = sections
            .iter()
            .flat_map(|s| s.projects.iter().map(|p| p.slug.clone()))
            .collect();
        slugs.sort_unstable();
        slugs.dedup();
        let window = WindowInput {
            window: Some(bars::BAR_WINDOW.to_owned()),
            ..WindowInput::default()
        }
        .validate(state.federation.now())
        .ok()?;
        match state.uptime.group(&slugs, false, window).await {
            Ok((_, reports)) => Some(Uptimes {
                degraded: state.uptime.degraded(),
                by_slug: reports.into_iter().map(|r| (r.slug.clone(), r)).collect(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "status page: uptime unavailable, shown without it");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
