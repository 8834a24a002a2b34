//! Reading request bodies: content type (415), size (413), JSON syntax (400), and the
//! JSON types of each field (422 naming the field, found by `serde_path_to_error`) into
//! the request types of [`crate::requests`], before the domain validates values.

use actix_web::http::header;
use actix_web::mime;
use actix_web::web::{Bytes, Payload};
use actix_web::HttpRequest;
use federation_domain::ValidationError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The largest registration or patch body, in bytes.
pub const MAX_JSON_BODY: usize = 64 * 1024;
/// The largest bulk registration body, in bytes.
pub const MAX_BULK_BODY: usize = 4 * 1024 * 1024;
/// The largest heartbeat body (the domain's limit).
pub const MAX_HEARTBEAT_BODY: usize = federation_domain::heartbeat::MAX_HEARTBEAT_BYTES;

/// How long a handler waits for a request body, unless the server registers another
/// [`BodyTimeout`] as app data.
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// App data: how long a handler waits for the whole request body before answering 408
/// (a client that announces a body and stalls must not hold its connection for ever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout(pub std::time::Duration);

/// `application/json` or any `…+json` type.
fn is_json(m: &mime::Mime) -> bool {
    m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
}

/// 415 when the request says its body is something other than JSON. A request without
/// a `Content-Type` is read as JSON, as the original service (FastAPI) read it.
pub(crate) fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(raw) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let parsed = raw.to_str().ok().and_then(|s| s.parse::<mime::Mime>().ok());
    match parsed {
        Some(m) if is_json(&m) => Ok(()),
        _ => Err(ApiError::unsupported_media_type()),
    }
}

/// Reads the whole body, refusing (413) one larger than `limit` as early as possible, and
/// (408) one not received within the [`BodyTimeout`].
pub(crate) async fn read_limited(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    let within = req
        .app_data::<BodyTimeout>()
        .map_or(DEFAULT_BODY_TIMEOUT, |t| t.0);
    let Ok(read) = actix_web::rt::time::timeout(within, payload.to_bytes_limited(limit)).await
    else {
        return Err(ApiError::request_timeout(within));
    };
    match read {
        Err(_) => Err(ApiError::payload_too_large(limit)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            Err(ApiError::malformed_json(
                "the request body could not be read",
            ))
        }
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// A whole JSON request body as its request type: the content type (415), the size
/// (413), the time it takes to arrive (408), then [`json`]. Every handler that takes a
/// request type reads its body through here.
pub(crate) async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<T, ApiError> {
    require_json(req)?;
    let bytes = read_limited(req, payload, limit).await?;
    json(&bytes)
}

/// Parses a JSON body into its request type: 400 for malformed JSON (or a key given
/// twice), 422 naming the field for a value of the wrong type, a missing required field
/// or an unknown one where the type refuses them.
pub(crate) fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(ApiError::malformed_json("the request body is empty")),
        // Every request body is an object (serde would read a struct from an array too).
        Some(b'{') => {}
        Some(_) => {
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                    Ok(_) => ApiError::unprocessable("the request body must be a JSON object"),
                    Err(e) => {
                        ApiError::malformed_json(format!("the request body is not valid JSON: {e}"))
                    }
                },
            )
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
    de.end().map_err(|e| {
        ApiError::malformed_json(format!("the request body is not valid JSON: {e}"))
    })?;
    Ok(value)
}

/// As [`json`], from a value already parsed (an entry of a bulk body).
pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    // An object, as every request body (serde would read a struct from an array too).
    if !value.is_object() {
        return Err(ApiError::unprocessable("must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(path_error)
}

/// The API's error for a body that did not parse, naming the field serde stopped at.
fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let path = e.path().to_string();
    let inner = e.into_inner();
    if !matches!(inner.classify(), Category::Data) {
        return ApiError::malformed_json(format!("the request body is not valid JSON: {inner}"));
    }
    let text = inner.to_string();
    // serde_json appends the position; the field names the place better.
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(t, _)| t);
    let field = (path != ".").then_some(path);
    if let Some(rest) = text.strip_prefix(DUPLICATE_KEY) {
        let key = rest.split(SEP).next().unwrap_or_default();
        return duplicate(field.map_or_else(|| key.to_owned(), |f| format!("{f}.{key}")));
    }
    let named = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(|name| match &field {
                // An unknown or duplicate key is the last step of the path already.
                Some(f) if f == name || f.ends_with(&format!(".{name}")) => f.clone(),
                Some(f) => format!("{f}.{name}"),
                None => name.to_owned(),
            })
    };
    let (field, message) = if let Some(name) = named("duplicate field `") {
        return duplicate(name);
    } else if let Some(name) = named("missing field `") {
        (Some(name), "is required".to_owned())
    } else if let Some(name) = named("unknown field `") {
        let expected = text
            .split_once(", expected ")
            .map_or(String::new(), |(_, e)| format!("; expected {e}"));
        (
            Some(name.chars().take(64).collect()),
            format!("is not a field of this request{expected}"),
        )
    } else if let Some(rest) = text.strip_prefix("invalid type: ") {
        let (got, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        let got = got.split([' ', '`', '"']).next().unwrap_or(got);
        (field, format!("must be {expected}, not {}", a_or_an(got)))
    } else {
        (field, text.to_owned())
    };
    let e = ValidationError::new(field.clone().unwrap_or_default(), message);
    match field {
        Some(_) => ApiError::validation(e),
        None => ApiError::unprocessable(e.message),
    }
}

fn a_or_an(kind: &str) -> String {
    match kind {
        "null" | "unit" => "null".to_owned(),
        "map" => "an object".to_owned(),
        "sequence" => "an array".to_owned(),
        k if k.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {k}"),
        k => format!("a {k}"),
    }
}

fn duplicate(key: String) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        crate::error::code::DUPLICATE,
        format!("the request body gives the key {key:?} more than once"),
    )
    .with_field(key)
}

const DUPLICATE_KEY: &str = "duplicate key\u{0}";
const SEP: char = '\u{0}';

/// A JSON value whose objects, at every depth, give each key once: a repeated key is an
/// error instead of the last one silently winning.
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueJson(pub Value);

impl<'de> serde::Deserialize<'de> for UniqueJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(UniqueJson)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueJson(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "{DUPLICATE_KEY}{key}{SEP}"
                )));
            }
            let UniqueJson(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}
