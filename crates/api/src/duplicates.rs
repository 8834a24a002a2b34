//! One rule for anything a request says twice: **refused with 400**. A repeated query
//! parameter (`?status=online&status=offline`), a repeated header the service reads
//! (`X-API-Key`, `X-Request-Id`, `Content-Type`, `Content-Length`, `Authorization`,
//! `Host`) and a repeated key in any JSON object of a body are ambiguous (which one
//! wins differs between proxies, frameworks and this service's own layers), so none
//! wins.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::ResponseError;

use crate::error::{code, ApiError};

/// The headers that may appear once at most.
pub const SINGLE_HEADERS: [&str; 6] = [
    "x-api-key",
    "x-request-id",
    "content-type",
    "content-length",
    "authorization",
    "host",
];

/// The first header of [`SINGLE_HEADERS`] the request repeats.
pub fn repeated_header(headers: &actix_web::http::header::HeaderMap) -> Option<&'static str> {
    SINGLE_HEADERS
        .into_iter()
        .find(|name| headers.get_all(*name).nth(1).is_some())
}

/// The first parameter name the query string repeats (names compared decoded).
pub fn repeated_parameter(query: &str) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let raw = pair.split('=').next().unwrap_or_default().replace('+', " ");
        let name = percent_encoding::percent_decode_str(&raw)
            .decode_utf8_lossy()
            .into_owned();
        if !seen.insert(name.clone()) {
            return Some(name);
        }
    }
    None
}

/// The middleware: 400 for a repeated header or query parameter.
pub(crate) async fn refuse_duplicates(
    req: ServiceRequest,
    next: Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refusal = if let Some(name) = repeated_header(req.headers()) {
        Some(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                code::DUPLICATE,
                format!("the {name} header is given more than once"),
            )
            .with_field(name),
        )
    } else {
        repeated_parameter(req.query_string()).map(|name| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                code::DUPLICATE,
                "a query parameter is given more than once",
            )
            .with_field(name)
        })
    };
    match refusal {
        Some(e) => Ok(req.into_response(e.error_response())),
        None => Ok(next.call(req).await?.map_into_boxed_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_found_by_their_decoded_name() {
        assert_eq!(repeated_parameter(""), None);
        assert_eq!(repeated_parameter("status=online&tag=a&limit=5"), None);
        assert_eq!(
            repeated_parameter("status=online&status=offline").as_deref(),
            Some("status")
        );
        assert_eq!(repeated_parameter("tag=a&t%61g=b").as_deref(), Some("tag"));
        assert_eq!(repeated_parameter("a+b=1&a%20b=2").as_deref(), Some("a b"));
        assert_eq!(repeated_parameter("flag&flag").as_deref(), Some("flag"));
        assert_eq!(repeated_parameter("a=1&&b=2"), None);
    }

    #[test]
    fn repeated_single_headers_are_found() {
        use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
        let mut h = HeaderMap::new();
        h.append(
            HeaderName::from_static("x-api-key"),
            HeaderValue::from_static("a"),
        );
        h.append(
            HeaderName::from_static("accept"),
            HeaderValue::from_static("x"),
        );
        h.append(
            HeaderName::from_static("accept"),
            HeaderValue::from_static("y"),
        );
        assert_eq!(repeated_header(&h), None, "other headers may repeat");
        h.append(
            HeaderName::from_static("x-api-key"),
            HeaderValue::from_static("b"),
        );
        assert_eq!(repeated_header(&h), Some("x-api-key"));
    }
}
