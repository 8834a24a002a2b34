//! `X-Request-Id`: taken from the request when it is a sane token, generated otherwise,
//! returned on the response and recorded in the request's log span.
//!
//! An incoming id is untrusted: it is honoured only when it is 1–[`MAX_REQUEST_ID_LEN`]
//! characters of `[A-Za-z0-9._:-]` (enough for UUIDs, ULIDs, W3C trace ids and most proxy
//! formats), so it can never inject log lines, JSON or header text. Anything else is
//! replaced by a fresh UUID v4.

use std::fmt;

use actix_web::dev::ServiceRequest;
use actix_web::HttpMessage;

/// The header carrying the id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest incoming id honoured.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The id of one request, kept in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh random id (UUID v4).
    pub fn generate() -> Self {
        RequestId(uuid::Uuid::new_v4().to_string())
    }

    /// An incoming id, if it is acceptable as is.
    pub fn from_untrusted(raw: &[u8]) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_REQUEST_ID_LEN
            && raw
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        // Every byte is ASCII, so this cannot fail.
        ok.then(|| RequestId(String::from_utf8_lossy(raw).into_owned()))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The request's id: the one already decided for it (by an outer middleware such as the
/// server's root span), else the acceptable `X-Request-Id` it came with, else a new one.
/// The result is stored in the request's extensions, so every later caller gets the same.
pub fn ensure(req: &ServiceRequest) -> RequestId {
    if let Some(id) = req.extensions().get::<RequestId>() {
        return id.clone();
    }
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| RequestId::from_untrusted(v.as_bytes()))
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(id.clone());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_refused() {
        for ok in [
            "abc",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "01HZY3:a.b_c",
        ] {
            assert_eq!(
                RequestId::from_untrusted(ok.as_bytes()).unwrap().as_str(),
                ok
            );
        }
        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        for bad in ["", "a b", "a\nb", "x\"}", "é", long.as_str(), "a/b"] {
            assert!(
                RequestId::from_untrusted(bad.as_bytes()).is_none(),
                "{bad:?}"
            );
        }
        let max = "a".repeat(MAX_REQUEST_ID_LEN);
        assert!(RequestId::from_untrusted(max.as_bytes()).is_some());
    }

    #[test]
    fn generated_ids_are_unique_uuids() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 36);
        assert!(RequestId::from_untrusted(a.as_str().as_bytes()).is_some());
    }
}
