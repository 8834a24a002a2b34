//! The dashboard at `/`: plain HTML, CSS and JavaScript compiled into the binary (no
//! CDN, no build step). The page is a shell with no data: everything it shows comes
//! from the API with the key the user gives (kept in `sessionStorage`, sent in the
//! `X-API-Key` header, never in a URL), so the page and its assets need no key.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::error::ApiError;

const INDEX: &str = include_str!("../assets/dashboard/index.html");
const SCRIPT: &str = include_str!("../assets/dashboard/dashboard.js");
/// The DOM helper the dashboard's scripts share (loaded before them).
const DOM_SCRIPT: &str = include_str!("../assets/dashboard/dom.js");
/// Uptime bars, figures and outages of the dashboard (used by [`SCRIPT`]).
const UPTIME_SCRIPT: &str = include_str!("../assets/dashboard/uptime.js");
/// The notification channels' panel (kind, enabled, last delivery, failures).
const CHANNELS_SCRIPT: &str = include_str!("../assets/dashboard/channels.js");
/// The incidents panel (open ones and the last resolved, with their members).
const INCIDENTS_SCRIPT: &str = include_str!("../assets/dashboard/incidents.js");
const STYLE: &str = include_str!("../assets/dashboard/dashboard.css");
/// The public status page's style ([`crate::status_page`]).
const STATUS_STYLE: &str = include_str!("../assets/dashboard/status.css");

/// The security headers of the dashboard: only this origin's script and style files
/// (no inline script or style), data only from this origin, no framing, no sniffing.
pub const DASHBOARD_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
];

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `GET /`.
pub(crate) async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

/// `GET /assets/{file}`.
pub(crate) async fn assets(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match file.as_str() {
        "dashboard.js" => Ok(asset("text/javascript; charset=utf-8", SCRIPT)),
        "dom.js" => Ok(asset("text/javascript; charset=utf-8", DOM_SCRIPT)),
        "uptime.js" => Ok(asset("text/javascript; charset=utf-8", UPTIME_SCRIPT)),
        "channels.js" => Ok(asset("text/javascript; charset=utf-8", CHANNELS_SCRIPT)),
        "incidents.js" => Ok(asset("text/javascript; charset=utf-8", INCIDENTS_SCRIPT)),
        "dashboard.css" => Ok(asset("text/css; charset=utf-8", STYLE)),
        "status.css" => Ok(asset("text/css; charset=utf-8", STATUS_STYLE)),
        _ => Err(ApiError::not_found("no such asset")),
    }
}
