//! Badges: `GET /badge/{slug}/status.svg` and `GET /badge/{slug}/uptime.svg?window=30d`,
//! SVGs in the shields.io "flat" style (`label | message`, the message's colour by
//! status or uptime) for READMEs and wikis. Public (no key) for the projects the status
//! page shows, when it is on; keyed like the other reads otherwise (`X-API-Key` or
//! `Authorization: Bearer`): 401/403 before anything is said of the project, then 404
//! for an unknown slug.

use actix_web::{web, HttpRequest, HttpResponse};
use federation_domain::uptime::{named_window, WindowInput};
use federation_domain::{Project, ValidationError};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::markup::escape;
use crate::status_page::bars::percent;
use crate::status_page::{Shown, StatusPage, PUBLIC_CACHE_CONTROL};
use crate::{conditional, ApiState};

/// The badge's media type.
pub const SVG: &str = "image/svg+xml; charset=utf-8";

/// A keyed badge may be kept only by the client that asked, and revalidated each time.
pub const PRIVATE_CACHE_CONTROL: &str = "private, no-cache";

/// The security headers of a badge: an SVG opened on its own runs no script, loads
/// nothing and is never framed.
pub const BADGE_HEADERS: [(&str, &str); 2] = [
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
];

/// Longest label shown, in characters (a longer name is cut, with `…`).
const LABEL_MAX: usize = 40;

/// shields.io's colours.
pub(crate) mod colour {
    pub const GREEN: &str = "#4c1";
    pub const YELLOW: &str = "#dfb317";
    pub const RED: &str = "#e05d44";
    pub const BLUE: &str = "#007ec6";
    pub const YELLOWGREEN: &str = "#a4a61d";
    pub const ORANGE: &str = "#fe7d37";
    pub const GREY: &str = "#9f9f9f";
}

/// The width of `text` in Verdana 11px, approximately (the SVG's `textLength` then
/// fits the glyphs to it exactly, as shields.io does).
fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | 'I' | '.' | ',' | ':' | ';' | '!' | '|' | '\'' => 3.5,
            ' ' | 'f' | 't' | 'r' | '(' | ')' | '[' | ']' => 4.6,
            'm' | 'w' => 9.8,
            'M' | 'W' | '%' => 11.0,
            c if c.is_ascii_uppercase() => 7.6,
            c if c.is_ascii_digit() => 7.0,
            c if c.is_ascii_lowercase() => 6.6,
            _ => 7.6,
        })
        .sum()
}

/// `text` cut to `max` characters (with `…`).
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A flat badge: `label` on grey, `message` on `colour`.
pub(crate) fn render(label: &str, message: &str, colour: &str) -> String {
    let label = cut(label, LABEL_MAX);
    // Tenths of a pixel, as shields.io scales its text by 0.1 for sharper rendering.
    let lw = (text_width(&label) * 10.0).round() as u32;
    let mw = (text_width(message) * 10.0).round() as u32;
    let (left, right) = (lw / 10 + 10, mw / 10 + 10);
    let total = left + right;
    let (l, m) = (escape(&label), escape(message));
    let lx = left * 5;
    let mx = left * 10 + right * 5;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" \
         aria-label=\"{l}: {m}\"><title>{l}: {m}</title>\
         <linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" \
         stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
         <clipPath id=\"r\"><rect width=\"{total}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>\
         <g clip-path=\"url(#r)\"><rect width=\"{left}\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"{left}\" width=\"{right}\" height=\"20\" fill=\"{colour}\"/>\
         <rect width=\"{total}\" height=\"20\" fill=\"url(#s)\"/></g>\
         <g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" \
         text-rendering=\"geometricPrecision\" font-size=\"110\">\
         <text aria-hidden=\"true\" x=\"{lx}\" y=\"150\" fill=\"#010101\" fill-opacity=\".3\" \
         transform=\"scale(.1)\" textLength=\"{lw}\">{l}</text>\
         <text x=\"{lx}\" y=\"140\" transform=\"scale(.1)\" fill=\"#fff\" textLength=\"{lw}\">{l}</text>\
         <text aria-hidden=\"true\" x=\"{mx}\" y=\"150\" fill=\"#010101\" fill-opacity=\".3\" \
         transform=\"scale(.1)\" textLength=\"{mw}\">{m}</text>\
         <text x=\"{mx}\" y=\"140\" transform=\"scale(.1)\" fill=\"#fff\" textLength=\"{mw}\">{m}</text>\
         </g></svg>"
    )
}

/// The project a badge is asked for, and whether its badge is public; keys are judged
/// (and refused with 401/403) first when it is not, so a caller without a key learns
/// nothing of which slugs exist.
pub(crate) fn badge_project(
    state: &ApiState,
    page: Option<&StatusPage>,
    slug: &str,
    req: &HttpRequest,
) -> Result<(Project, bool), ApiError> {
    let found = state.federation.get(slug).map(|(p, _)| p);
    let public = match (&found, page) {
        (Ok(p), Some(page)) => page.shows(p),
        _ => false,
    };
    if !public {
        state
            .keys
            .authorize(req.method(), crate::auth::presented_key(req.headers()))
            .inspect_err(crate::auth::log_refusal)?;
    }
    Ok((found?, public))
}

/// An SVG answer, cacheable as public or private.
pub(crate) fn svg_reply(req: &HttpRequest, public: bool, svg: String) -> HttpResponse {
    let cache = if public {
        PUBLIC_CACHE_CONTROL
    } else {
        PRIVATE_CACHE_CONTROL
    };
    conditional::reply(req, SVG, cache, svg)
}

/// A project's current status as a badge: its name, and `online`, `degraded`,
/// `offline` or `maintenance`.
#[utoipa::path(
    get,
    path = "/badge/{slug}/status.svg",
    tag = "status page",
    params(("slug" = String, Path, description = "The project's slug", example = "commandcenter")),
    responses(
        (status = 200, description = "The badge (`ETag`; `Cache-Control` public for a project on the status page, private otherwise)", content_type = "image/svg+xml"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 401, description = "No key, for a project not on the status page", body = crate::error::ErrorBody),
        (status = 403, description = "Wrong key", body = crate::error::ErrorBody),
        (status = 404, description = "No such project", body = crate::error::ErrorBody),
    ),
    security((), ("api_key" = []), ("bearer" = []))
)]
pub(crate) async fn status_badge(
    state: web::Data<ApiState>,
    page: Option<web::Data<StatusPage>>,
    slug: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (project, public) = badge_project(&state, page.as_ref().map(|p| p.get_ref()), &slug, &req)?;
    let (message, colour) = match Shown::of(&project, state.federation.now()) {
        Shown::Operational => ("online", colour::GREEN),
        Shown::Maintenance => ("maintenance", colour::BLUE),
        Shown::Degraded => ("degraded", colour::YELLOW),
        Shown::Down => ("offline", colour::RED),
    };
    let svg = render(project.name.as_str(), message, colour);
    Ok(svg_reply(&req, public, svg))
}

/// The window of an uptime badge when none is given.
pub const UPTIME_BADGE_WINDOW: &str = "30d";

/// The window of an uptime badge.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BadgeParams {
    /// 24h, 7d, 30d (default) or 90d, ending now.
    #[param(schema_with = crate::uptime::window_schema)]
    pub window: Option<String>,
}

/// An uptime's colour: green from 99.9 %, yellow-green from 99 %, yellow from 95 %,
/// orange from 90 %, red below; grey when nothing was counted.
fn uptime_colour(p: Option<f64>) -> &'static str {
    match p {
        None => colour::GREY,
        Some(p) if p >= 99.9 => colour::GREEN,
        Some(p) if p >= 99.0 => colour::YELLOWGREEN,
        Some(p) if p >= 95.0 => colour::YELLOW,
        Some(p) if p >= 90.0 => colour::ORANGE,
        Some(_) => colour::RED,
    }
}

/// A project's uptime over a window ending now, as a badge: `uptime 30d | 99.95%`
/// (`no data` when the whole window was maintenance or unknown). Figures as the
/// uptime report's (`/api/fed/projects/{slug}/uptime`, docs/uptime.md).
#[utoipa::path(
    get,
    path = "/badge/{slug}/uptime.svg",
    tag = "status page",
    params(("slug" = String, Path, description = "The project's slug", example = "commandcenter"), BadgeParams),
    responses(
        (status = 200, description = "The badge (`ETag`; `Cache-Control` public for a project on the status page, private otherwise)", content_type = "image/svg+xml"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 401, description = "No key, for a project not on the status page", body = crate::error::ErrorBody),
        (status = 403, description = "Wrong key", body = crate::error::ErrorBody),
        (status = 404, description = "No such project", body = crate::error::ErrorBody),
        (status = 422, description = "A bad `window`", body = crate::error::ErrorBody),
        (status = 503, description = "The store is unavailable", body = crate::error::ErrorBody),
    ),
    security((), ("api_key" = []), ("bearer" = []))
)]
pub(crate) async fn uptime_badge(
    state: web::Data<ApiState>,
    page: Option<web::Data<StatusPage>>,
    slug: web::Path<String>,
    q: web::Query<BadgeParams>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = page.as_ref().map(|p| p.get_ref());
    let (project, public) = badge_project(&state, page, &slug, &req)?;
    let name = q.window.as_deref().unwrap_or(UPTIME_BADGE_WINDOW);
    if named_window(name).is_none() {
        return Err(ApiError::query(ValidationError::new(
            "window",
            "must be one of 24h, 7d, 30d, 90d",
        )));
    }
    let key = format!("uptime:{}:{name}", project.slug);
    let cached = page.and_then(|p| p.renders.get(&key));
    let svg = match cached {
        Some(svg) => svg,
        None => {
            let window = WindowInput {
                window: Some(name.to_owned()),
                ..WindowInput::default()
            }
            .validate(state.federation.now())
            .map_err(ApiError::query)?;
            let report = state.uptime.project(&project.slug, window).await?;
            let p = report.figures.uptime_percent(state.uptime.degraded());
            let message = p.map_or_else(|| "no data".to_owned(), percent);
            let svg = render(&format!("uptime {name}"), &message, uptime_colour(p));
            if let Some(page) = page {
                page.renders.put(key, svg.clone());
            }
            svg
        }
    };
    Ok(svg_reply(&req, public, svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_badge_with_escaped_text_and_growing_width() {
        let svg = render("A<b>&\"c\"", "online", colour::GREEN);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("aria-label=\"A&lt;b&gt;&amp;&quot;c&quot;: online\""));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("fill=\"#4c1\""));
        let width = |svg: &str| -> u32 {
            let rest = svg.split("width=\"").nth(1).unwrap();
            rest[..rest.find('"').unwrap()].parse().unwrap()
        };
        assert!(width(&render("a", "online", colour::GREEN)) < width(&svg));
        assert!(
            width(&render("aaaaaaaaaa", "x", colour::GREEN))
                > width(&render("a", "x", colour::GREEN))
        );
    }

    #[test]
    fn uptime_colours_follow_shields_thresholds() {
        assert_eq!(uptime_colour(None), colour::GREY);
        assert_eq!(uptime_colour(Some(100.0)), colour::GREEN);
        assert_eq!(uptime_colour(Some(99.5)), colour::YELLOWGREEN);
        assert_eq!(uptime_colour(Some(97.0)), colour::YELLOW);
        assert_eq!(uptime_colour(Some(92.0)), colour::ORANGE);
        assert_eq!(uptime_colour(Some(10.0)), colour::RED);
    }

    #[test]
    fn long_labels_are_cut() {
        let long = "n".repeat(100);
        let svg = render(&long, "online", colour::GREEN);
        assert!(svg.contains(&format!("{}…", "n".repeat(LABEL_MAX - 1))));
        assert!(!svg.contains(&"n".repeat(LABEL_MAX)));
    }
}
