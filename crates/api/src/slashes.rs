//! Trailing slashes as the original service (Starlette's `redirect_slashes`) treated them:
//! a request for `/health/` or `/api/fed/projects/` is answered with a 307 to the same
//! URL without the trailing slash when that names a route, so the client repeats it
//! there with the same method and body. A path that is a route as it is (`/docs/`,
//! `/metrics/`) is served, and a path that is no route either way gets the usual 404.

use std::sync::OnceLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::HttpResponse;

use crate::ROUTES;

fn routes() -> &'static [ResourceDef] {
    static DEFS: OnceLock<Vec<ResourceDef>> = OnceLock::new();
    DEFS.get_or_init(|| ROUTES.iter().map(|r| ResourceDef::new(r.path)).collect())
}

fn is_route(path: &str) -> bool {
    routes().iter().any(|d| d.is_match(path))
}

/// Where a request for `path` (with `query`) is sent instead, when it has a trailing
/// slash that names no route while the path without it does.
pub(crate) fn redirect_target(path: &str, query: &str) -> Option<String> {
    if path.len() < 2 || !path.ends_with('/') || is_route(path) {
        return None;
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() || !is_route(trimmed) {
        return None;
    }
    Some(if query.is_empty() {
        trimmed.to_owned()
    } else {
        format!("{trimmed}?{query}")
    })
}

/// The middleware: a 307 to the path without its trailing slash, before any other rule
/// (the original redirected before it asked for a key).
pub(crate) async fn redirect_slashes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(to) = redirect_target(req.path(), req.query_string()) {
        let res = HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, to))
            .finish();
        return Ok(req.into_response(res));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::redirect_target;

    #[test]
    fn a_trailing_slash_on_a_route_is_redirected_keeping_the_query() {
        assert_eq!(redirect_target("/health/", ""), Some("/health".into()));
        assert_eq!(
            redirect_target("/api/fed/projects/", "status=online&limit=5"),
            Some("/api/fed/projects?status=online&limit=5".into())
        );
        assert_eq!(
            redirect_target("/api/fed/projects/alpha/history/", ""),
            Some("/api/fed/projects/alpha/history".into())
        );
        assert_eq!(
            redirect_target("/api/fed/projects/alpha//", ""),
            Some("/api/fed/projects/alpha".into())
        );
    }

    #[test]
    fn routes_with_a_slash_no_routes_and_the_root_are_left_alone() {
        for path in [
            "/",
            "/docs/",
            "/docs/index.html",
            "/metrics/",
            "/health",
            "/nope/",
            "//",
        ] {
            assert_eq!(redirect_target(path, ""), None, "{path}");
        }
    }
}
