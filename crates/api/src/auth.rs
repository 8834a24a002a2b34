//! API keys: parsing `FEDERATION_API_KEYS` / `FEDERATION_READ_API_KEYS` and checking the
//! `X-API-Key` header on every `/api/fed/*` request.
//!
//! Keys are kept only as SHA-256 digests, and a presented key is compared with every
//! configured digest in constant time, without stopping at the first match, so neither
//! the position of a matching key nor the length of a prefix leaks through timing.

use std::fmt;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use thiserror::Error;

use federation_domain::{HeartbeatCredential, HeartbeatKeyDigest};

use crate::error::ApiError;
use crate::throttle::Throttle;
use crate::ApiState;

/// The request header carrying the key.
pub const API_KEY_HEADER: &str = "x-api-key";

const WRITE_VAR: &str = "FEDERATION_API_KEYS";
const READ_VAR: &str = "FEDERATION_READ_API_KEYS";

/// Why a key setting could not be read. Never contains a key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiKeysError {
    #[error("{var} is not a valid JSON array of strings (line {line}, column {column})")]
    InvalidJson {
        var: &'static str,
        line: usize,
        column: usize,
    },
    #[error("{var}: entry {index} of the JSON array is not a string")]
    NotAString { var: &'static str, index: usize },
    #[error("a key is listed in both {WRITE_VAR} and {READ_VAR}; list it once")]
    Overlap,
}

type KeyDigest = [u8; 32];

fn digest(key: &[u8]) -> KeyDigest {
    Sha256::digest(key).into()
}

/// What a presented key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every route.
    Write,
    /// `GET` routes only.
    Read,
}

/// The configured API keys (as digests). `Debug` prints only how many there are.
#[derive(Clone, Default)]
pub struct ApiKeys {
    write: Vec<KeyDigest>,
    read: Vec<KeyDigest>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("write", &format_args!("{} key(s)", self.write.len()))
            .field("read", &format_args!("{} key(s)", self.read.len()))
            .finish()
    }
}

fn split(var: &'static str, raw: Option<&str>) -> Result<Vec<String>, ApiKeysError> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(Vec::new());
    };
    let items: Vec<String> = if raw.starts_with('[') {
        let values: Vec<serde_json::Value> =
            serde_json::from_str(raw).map_err(|e| ApiKeysError::InvalidJson {
                var,
                line: e.line(),
                column: e.column(),
            })?;
        values
            .into_iter()
            .enumerate()
            .map(|(index, v)| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(ApiKeysError::NotAString { var, index }),
            })
            .collect::<Result<_, _>>()?
    } else {
        raw.split(',').map(str::to_owned).collect()
    };
    Ok(items
        .into_iter()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .collect())
}

impl ApiKeys {
    /// Reads the values of `FEDERATION_API_KEYS` (`write`) and `FEDERATION_READ_API_KEYS`
    /// (`read`): comma-separated, or a JSON array of strings (as the original accepted).
    /// Blank entries are ignored; surrounding whitespace is trimmed.
    pub fn parse(write: Option<&str>, read: Option<&str>) -> Result<ApiKeys, ApiKeysError> {
        let mut w: Vec<KeyDigest> = split(WRITE_VAR, write)?
            .iter()
            .map(|k| digest(k.as_bytes()))
            .collect();
        let mut r: Vec<KeyDigest> = split(READ_VAR, read)?
            .iter()
            .map(|k| digest(k.as_bytes()))
            .collect();
        w.sort_unstable();
        w.dedup();
        r.sort_unstable();
        r.dedup();
        if r.iter().any(|d| w.contains(d)) {
            return Err(ApiKeysError::Overlap);
        }
        Ok(ApiKeys { write: w, read: r })
    }

    /// No key configured: every request is anonymous and allowed.
    pub fn is_empty(&self) -> bool {
        self.write.is_empty() && self.read.is_empty()
    }

    /// Number of write and read keys.
    pub fn counts(&self) -> (usize, usize) {
        (self.write.len(), self.read.len())
    }

    /// What `presented` grants, if it is a configured key. Constant time in the key's
    /// content: every digest is compared, whatever matches.
    pub fn check(&self, presented: &[u8]) -> Option<Access> {
        let d = digest(presented);
        let any = |set: &[KeyDigest]| {
            set.iter()
                .fold(Choice::from(0), |acc, k| acc | k.as_slice().ct_eq(&d))
        };
        let write: bool = any(&self.write).into();
        let read: bool = any(&self.read).into();
        if write {
            Some(Access::Write)
        } else if read {
            Some(Access::Read)
        } else {
            None
        }
    }

    /// Decides a request: `Ok` when allowed, else the 401/403 to answer.
    pub fn authorize(&self, method: &Method, presented: Option<&[u8]>) -> Result<(), ApiError> {
        if self.is_empty() {
            return Ok(());
        }
        let Some(presented) = presented.filter(|k| !k.is_empty()) else {
            return Err(ApiError::unauthorized());
        };
        match self.check(presented) {
            Some(Access::Write) => Ok(()),
            Some(Access::Read) if is_read(method) => Ok(()),
            Some(Access::Read) => Err(ApiError::forbidden(
                "this API key is read-only; it cannot change the catalog",
            )),
            None => Err(ApiError::invalid_key()),
        }
    }
}

/// The prefix of a heartbeat key (`fhk_`: federation heartbeat key).
pub const HEARTBEAT_KEY_PREFIX: &str = "fhk_";

/// A new heartbeat key: 32 bytes from the operating system's generator, shown as
/// [`HEARTBEAT_KEY_PREFIX`] and base64url, and the digest to keep (of the whole string,
/// as clients will present it). `None` when the generator fails.
pub fn new_heartbeat_key() -> Option<(String, HeartbeatKeyDigest)> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).ok()?;
    let key = format!(
        "{HEARTBEAT_KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let d = HeartbeatKeyDigest::from_bytes(digest(key.as_bytes()));
    Some((key, d))
}

/// What an HTTP heartbeat presented in `X-API-Key`: a write key, another key (by its
/// digest: a project's heartbeat key, a read key, anything), or none.
pub fn heartbeat_credential(keys: &ApiKeys, presented: Option<&[u8]>) -> HeartbeatCredential {
    match presented.filter(|k| !k.is_empty()) {
        None => HeartbeatCredential::None,
        Some(k) if keys.check(k) == Some(Access::Write) => HeartbeatCredential::WriteKey,
        Some(k) => HeartbeatCredential::Key(HeartbeatKeyDigest::from_bytes(digest(k))),
    }
}

/// Who made a request, for records such as a maintenance window's `by`: `anonymous`
/// when no key is configured, else `key:` and the first 8 hex digits of the key's SHA-256
/// (a name that identifies the key without revealing it).
pub fn caller(keys: &ApiKeys, req: &actix_web::HttpRequest) -> String {
    match req.headers().get(API_KEY_HEADER) {
        Some(key) if !keys.is_empty() => {
            let d = digest(key.as_bytes());
            let hex: String = d.iter().take(4).map(|b| format!("{b:02x}")).collect();
            format!("key:{hex}")
        }
        _ => "anonymous".to_owned(),
    }
}

/// The key a request presents on the routes machines poll (Prometheus' service
/// discovery, badges): `X-API-Key`, else the token of `Authorization: Bearer <key>`
/// (what Prometheus' `authorization` block sends; it cannot send other headers), else
/// the whole `Authorization` value: Prometheus' `http_sd_configs` sends the credentials
/// without the `Bearer` its documentation promises unless `type: Bearer` is written out
/// (prometheus/prometheus#12762). Judged as a key like any other, whatever it holds.
pub fn presented_key(headers: &actix_web::http::header::HeaderMap) -> Option<&[u8]> {
    if let Some(key) = headers.get(API_KEY_HEADER) {
        return Some(key.as_bytes());
    }
    let value = headers
        .get(actix_web::http::header::AUTHORIZATION)?
        .as_bytes()
        .trim_ascii();
    match value.split_at_checked(7) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"bearer ") => {
            Some(token.trim_ascii())
        }
        _ => Some(value),
    }
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Logs a refused request: at warning level, as the original did ("API key missing from
/// request", "Invalid API key attempted"), at most once a minute with the number refused
/// since (see [`crate::throttle`]); the others at debug. Never the key itself.
pub(crate) fn log_refusal(e: &ApiError) {
    static REFUSALS: Throttle = Throttle::new();
    match REFUSALS.due() {
        Some(refused) => {
            let what = if e.status() == actix_web::http::StatusCode::UNAUTHORIZED {
                "API key missing from request"
            } else {
                "Invalid API key attempted"
            };
            tracing::warn!(
                status = e.status().as_u16(),
                code = e.code(),
                refused,
                "{what} (refused requests are logged once a minute)"
            );
        }
        None => tracing::debug!(
            status = e.status().as_u16(),
            code = e.code(),
            "request refused"
        ),
    }
}

/// The middleware guarding each `/api/fed/*` resource but the heartbeat's (whose handler
/// judges a project's heartbeat key): chosen by route, not by reading the path.
pub(crate) async fn require_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let decision = match req.app_data::<web::Data<ApiState>>() {
        Some(state) => state.keys.authorize(
            req.method(),
            req.headers().get(API_KEY_HEADER).map(|v| v.as_bytes()),
        ),
        None => {
            // A wiring bug: refuse rather than serve unguarded.
            tracing::error!("API state missing; refusing request");
            Err(ApiError::internal())
        }
    };
    match decision {
        Ok(()) => Ok(next.call(req).await?.map_into_boxed_body()),
        Err(e) => {
            log_refusal(&e);
            Ok(req.into_response(e.error_response()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comma_separated_and_trims_blanks() {
        let keys = ApiKeys::parse(Some(" a1 , ,b2,"), Some("r1")).unwrap();
        assert_eq!(keys.counts(), (2, 1));
        assert_eq!(keys.check(b"a1"), Some(Access::Write));
        assert_eq!(keys.check(b"b2"), Some(Access::Write));
        assert_eq!(keys.check(b"r1"), Some(Access::Read));
        assert_eq!(keys.check(b" a1 "), None);
        assert_eq!(keys.check(b"a"), None);
        assert_eq!(keys.check(b""), None);
    }

    #[test]
    fn parses_json_arrays() {
        let keys = ApiKeys::parse(Some(r#"["k1", "k,2", " "]"#), Some(" [] ")).unwrap();
        assert_eq!(keys.counts(), (2, 0));
        assert_eq!(keys.check(b"k,2"), Some(Access::Write));
    }

    #[test]
    fn none_and_blank_mean_no_keys() {
        assert!(ApiKeys::parse(None, None).unwrap().is_empty());
        assert!(ApiKeys::parse(Some(""), Some(" , ")).unwrap().is_empty());
        assert!(!ApiKeys::parse(None, Some("r")).unwrap().is_empty());
    }

    #[test]
    fn duplicates_collapse() {
        let keys = ApiKeys::parse(Some("a,a,b"), None).unwrap();
        assert_eq!(keys.counts(), (2, 0));
    }

    #[test]
    fn bad_json_names_the_variable_but_not_the_key() {
        let e = ApiKeys::parse(Some(r#"["secret-one", "#), None).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("FEDERATION_API_KEYS"), "{text}");
        assert!(!text.contains("secret"), "{text}");

        let e = ApiKeys::parse(None, Some(r#"["ok", 12345]"#)).unwrap_err();
        assert_eq!(
            e,
            ApiKeysError::NotAString {
                var: "FEDERATION_READ_API_KEYS",
                index: 1
            }
        );
        assert!(!e.to_string().contains("12345"));
    }

    #[test]
    fn a_key_in_both_lists_is_an_error() {
        let e = ApiKeys::parse(Some("shared,w"), Some("shared")).unwrap_err();
        assert_eq!(e, ApiKeysError::Overlap);
        assert!(!e.to_string().contains("shared,"));
    }

    #[test]
    fn debug_never_prints_a_key() {
        let keys = ApiKeys::parse(Some("topsecretwrite"), Some("topsecretread")).unwrap();
        let dbg = format!("{keys:?}");
        assert!(!dbg.contains("topsecret"), "{dbg}");
        assert!(dbg.contains("1 key(s)"), "{dbg}");
    }

    #[test]
    fn heartbeat_keys_are_fresh_prefixed_url_safe_and_judged_by_digest() {
        let (key, d) = new_heartbeat_key().unwrap();
        let (other, d2) = new_heartbeat_key().unwrap();
        assert_ne!(key, other);
        assert!(!d.matches(&d2));
        let body = key.strip_prefix(HEARTBEAT_KEY_PREFIX).unwrap();
        assert_eq!(body.len(), 43, "32 bytes in base64url without padding");
        assert!(body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(!format!("{d:?}").contains(body));
        let keys = ApiKeys::parse(Some("w"), Some("r")).unwrap();
        assert_eq!(heartbeat_credential(&keys, None), HeartbeatCredential::None);
        assert_eq!(
            heartbeat_credential(&keys, Some(b"")),
            HeartbeatCredential::None
        );
        assert_eq!(
            heartbeat_credential(&keys, Some(b"w")),
            HeartbeatCredential::WriteKey
        );
        match heartbeat_credential(&keys, Some(key.as_bytes())) {
            HeartbeatCredential::Key(p) => assert!(d.matches(&p)),
            other => panic!("{other:?}"),
        }
        // A read key is only a key like any other here: never a write key.
        assert!(matches!(
            heartbeat_credential(&keys, Some(b"r")),
            HeartbeatCredential::Key(_)
        ));
    }

    #[test]
    fn presented_key_is_the_header_else_a_bearer_token() {
        use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
        let with = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            h
        };
        let h = with(&[("x-api-key", "k1"), ("authorization", "Bearer k2")]);
        assert_eq!(presented_key(&h), Some(&b"k1"[..]));
        let h = with(&[("authorization", "bearer  k2 ")]);
        assert_eq!(presented_key(&h), Some(&b"k2"[..]));
        // Prometheus' http_sd without `type: Bearer` sends the bare key.
        let h = with(&[("authorization", " k3")]);
        assert_eq!(presented_key(&h), Some(&b"k3"[..]));
        // Anything else is a key that matches nothing.
        let h = with(&[("authorization", "Basic dTpw")]);
        assert_eq!(presented_key(&h), Some(&b"Basic dTpw"[..]));
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn authorize_matrix() {
        let keys = ApiKeys::parse(Some("w"), Some("r")).unwrap();
        let status = |m: Method, k: Option<&str>| {
            keys.authorize(&m, k.map(str::as_bytes))
                .err()
                .map(|e| e.status().as_u16())
        };
        assert_eq!(status(Method::GET, None), Some(401));
        assert_eq!(status(Method::GET, Some("")), Some(401));
        assert_eq!(status(Method::GET, Some("x")), Some(403));
        assert_eq!(status(Method::GET, Some("r")), None);
        assert_eq!(status(Method::GET, Some("w")), None);
        assert_eq!(status(Method::POST, Some("r")), Some(403));
        assert_eq!(status(Method::PATCH, Some("r")), Some(403));
        assert_eq!(status(Method::DELETE, Some("r")), Some(403));
        assert_eq!(status(Method::POST, Some("w")), None);
        let open = ApiKeys::default();
        assert!(open.authorize(&Method::DELETE, None).is_ok());
    }
}
