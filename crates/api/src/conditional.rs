//! Cacheable answers: a strong `ETag` (of the body's SHA-256) with `Cache-Control`, and
//! `304 Not Modified` when the client already holds that body (`If-None-Match`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// The strong entity tag of `body`: the first 16 bytes of its SHA-256, in hex, quoted.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` names `tag` (or is `*`). Weak tags compare by their opaque
/// part, as RFC 9110 asks for `If-None-Match`.
fn client_holds(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

/// 200 with `body`, or 304 when the client holds it; both with `ETag` and
/// `cache_control`.
pub fn reply(
    req: &HttpRequest,
    content_type: &'static str,
    cache_control: &'static str,
    body: String,
) -> HttpResponse {
    let tag = etag(body.as_bytes());
    let mut reply = if client_holds(req, &tag) {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    reply
        .insert_header((header::ETAG, tag.clone()))
        .insert_header((header::CACHE_CONTROL, cache_control));
    if client_holds(req, &tag) {
        return reply.finish();
    }
    reply.content_type(content_type).body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn answers_304_only_for_the_same_body() {
        let tag = etag(b"body");
        assert_eq!(tag.len(), 34);
        assert_ne!(tag, etag(b"other"));
        let plain = TestRequest::get().to_http_request();
        assert_eq!(
            reply(&plain, "text/plain", "no-cache", "body".into()).status(),
            200
        );
        for held in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
            "*".into(),
        ] {
            let req = TestRequest::get()
                .insert_header((header::IF_NONE_MATCH, held.as_str()))
                .to_http_request();
            let r = reply(&req, "text/plain", "no-cache", "body".into());
            assert_eq!(r.status(), 304, "{held}");
            assert_eq!(r.headers().get(header::ETAG).unwrap(), tag.as_str());
        }
        let stale = TestRequest::get()
            .insert_header((header::IF_NONE_MATCH, "\"x\""))
            .to_http_request();
        assert_eq!(
            reply(&stale, "text/plain", "no-cache", "body".into()).status(),
            200
        );
    }
}
