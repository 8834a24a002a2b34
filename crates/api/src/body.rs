//! Reading request bodies: content type (415), size (413), JSON syntax (400), and the
//! JSON types of each field (422 naming the field) before the domain validates values.
//!
//! Bodies are decoded through `serde_json::Value` rather than straight into structs so
//! that a wrong type (`"slug": 42`) is reported as a 422 on that field, like any other
//! invalid value, and malformed JSON stays a 400.

use actix_web::http::header;
use actix_web::mime;
use actix_web::web::{Bytes, Payload};
use actix_web::HttpRequest;
use federation_domain::{
    HeartbeatInterval, HubUrl, ProjectName, ProjectPatch, RegistrationInput, Tags,
};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The largest registration or patch body, in bytes.
pub const MAX_JSON_BODY: usize = 64 * 1024;
/// The largest bulk registration body, in bytes.
pub const MAX_BULK_BODY: usize = 4 * 1024 * 1024;
/// The most projects one bulk registration takes.
pub const MAX_BULK_PROJECTS: usize = 1000;
/// The largest heartbeat body (the domain's limit).
pub const MAX_HEARTBEAT_BODY: usize = federation_domain::heartbeat::MAX_HEARTBEAT_BYTES;
/// A raw `tags` list longer than this is refused before de-duplication.
const MAX_RAW_TAGS: usize = 1024;

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

/// Parses a JSON object: 400 for malformed JSON, 422 when the value is not an object.
pub(crate) fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed_json("the request body is empty"));
    }
    match serde_json::from_slice::<UniqueKeys>(bytes) {
        Ok(UniqueKeys(Value::Object(map))) => Ok(map),
        Ok(_) => Err(ApiError::unprocessable(
            "the request body must be a JSON object",
        )),
        Err(e) => match e.to_string().strip_prefix(DUPLICATE_KEY) {
            Some(rest) => {
                let key = rest.split(SEP).next().unwrap_or_default().to_owned();
                Err(ApiError::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    crate::error::code::DUPLICATE,
                    format!("the request body gives the key {key:?} more than once"),
                )
                .with_field(key))
            }
            None => Err(ApiError::malformed_json(format!(
                "the request body is not valid JSON: {e}"
            ))),
        },
    }
}

const DUPLICATE_KEY: &str = "duplicate key\u{0}";
const SEP: char = '\u{0}';

/// A JSON value whose objects, at every depth, give each key once: a repeated key is an
/// error instead of the last one silently winning.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(UniqueKeys)
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
        while let Some(UniqueKeys(v)) = seq.next_element()? {
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
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::validation(federation_domain::ValidationError::new(
        field,
        format!("must be {expected}, not {}", type_name(got)),
    ))
}

/// A string field; `null` or absent gives `None`.
fn opt_string(obj: &mut Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "a string", &other)),
    }
}

/// A whole number (`30`, or `30.0` as JSON Schema's `integer` allows); `null` or absent
/// gives `None`.
fn opt_whole_number(obj: &mut Map<String, Value>, field: &str) -> Result<Option<i64>, ApiError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| {
                ApiError::validation(federation_domain::ValidationError::new(
                    field,
                    "must be a whole number",
                ))
            }),
        Some(other) => Err(wrong_type(field, "an integer", &other)),
    }
}

/// A list of strings; `null` or absent gives `None`.
fn opt_strings(obj: &mut Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, ApiError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() > MAX_RAW_TAGS {
                return Err(ApiError::validation(
                    federation_domain::ValidationError::new(
                        field,
                        format!(
                            "at most {} distinct tags",
                            federation_domain::model::TAGS_MAX
                        ),
                    ),
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s),
                    other => Err(wrong_type(&format!("{field}[{i}]"), "a string", &other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        Some(other) => Err(wrong_type(field, "an array of strings", &other)),
    }
}

/// A JSON object field; `null` or absent gives `None`.
fn opt_object(obj: &mut Map<String, Value>, field: &str) -> Result<Option<Value>, ApiError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(other) => Err(wrong_type(field, "an object", &other)),
    }
}

/// The registration body (`POST /api/fed/projects`). The original's `allow_fanout` is
/// kept in `metadata` (unless `metadata` sets that key itself); other unknown fields are
/// ignored, as the original service did; every known field must have the right JSON type.
pub(crate) fn registration(bytes: &[u8]) -> Result<RegistrationInput, ApiError> {
    registration_fields(json_object(bytes)?)
}

fn registration_fields(mut obj: Map<String, Value>) -> Result<RegistrationInput, ApiError> {
    let mut metadata = opt_object(&mut obj, "metadata")?;
    if let Some(fanout) = obj.remove("allow_fanout").filter(|v| !v.is_null()) {
        let meta = metadata.get_or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = meta {
            map.entry("allow_fanout").or_insert(fanout);
        }
    }
    Ok(RegistrationInput {
        slug: opt_string(&mut obj, "slug")?,
        name: opt_string(&mut obj, "name")?,
        hub_url: opt_string(&mut obj, "hub_url")?,
        mesh_namespace: opt_string(&mut obj, "mesh_namespace")?,
        tags: opt_strings(&mut obj, "tags")?,
        metadata,
        heartbeat_interval: opt_whole_number(&mut obj, "heartbeat_interval")?,
    })
}

/// One entry of a bulk registration that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct EntryError {
    /// Its place in `projects`.
    pub index: usize,
    /// The field to blame, within the entry (`slug`, `tags[2]`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// The bulk registration body, `{"projects": [ … ]}`: every entry read and validated
/// like a single registration. Refused as a whole (the error names `projects`) when it
/// is not such a list or holds more than [`MAX_BULK_PROJECTS`]; otherwise every entry's
/// problems are listed, and a slug given twice is one.
pub(crate) fn bulk(
    bytes: &[u8],
) -> Result<Result<Vec<federation_domain::Registration>, Vec<EntryError>>, ApiError> {
    let mut obj = json_object(bytes)?;
    let entries = match obj.remove("projects") {
        Some(Value::Array(entries)) => entries,
        Some(other) => return Err(wrong_type("projects", "an array of projects", &other)),
        None => {
            return Err(ApiError::validation(
                federation_domain::ValidationError::new("projects", "is required"),
            ))
        }
    };
    if entries.is_empty() || entries.len() > MAX_BULK_PROJECTS {
        return Err(ApiError::validation(
            federation_domain::ValidationError::new(
                "projects",
                format!(
                    "must hold 1 to {MAX_BULK_PROJECTS} projects (got {})",
                    entries.len()
                ),
            ),
        ));
    }
    let mut registrations = Vec::with_capacity(entries.len());
    let mut errors = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let validated = match entry {
            Value::Object(map) => registration_fields(map)
                .and_then(|input| input.validate().map_err(ApiError::validation)),
            other => Err(wrong_type("entry", "an object", &other)),
        };
        match validated {
            Ok(r) => {
                if let Some(first) = seen.insert(r.slug.clone(), index) {
                    errors.push(EntryError {
                        index,
                        field: Some("slug".into()),
                        message: format!("{} is also projects[{first}]", r.slug),
                    });
                }
                registrations.push(r);
            }
            Err(e) => errors.push(EntryError {
                index,
                field: e.field().filter(|f| *f != "entry").map(str::to_owned),
                message: e.message().to_owned(),
            }),
        }
    }
    Ok(if errors.is_empty() {
        Ok(registrations)
    } else {
        Err(errors)
    })
}

/// The maintenance body (`PUT /api/fed/projects/{slug}/maintenance`): `reason`, and
/// `until` (RFC 3339) or `for` (`30m`, or a number of seconds).
pub(crate) fn maintenance(bytes: &[u8]) -> Result<federation_domain::MaintenanceInput, ApiError> {
    let mut obj = json_object(bytes)?;
    let duration = match obj.remove("for") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(wrong_type(
                "for",
                "a string such as 30m, or seconds",
                &other,
            ))
        }
    };
    Ok(federation_domain::MaintenanceInput {
        reason: opt_string(&mut obj, "reason")?,
        until: opt_string(&mut obj, "until")?,
        duration,
    })
}

const PATCHABLE: [&str; 5] = ["name", "hub_url", "tags", "metadata", "heartbeat_interval"];

/// The patch body (`PATCH /api/fed/projects/{slug}`): only `name`, `hub_url`, `tags` and
/// `metadata`; `name` and `hub_url` must not be `null`, `tags: null` removes every tag
/// (as in a JSON merge patch); `metadata` merges one level deep (`null` removes a key,
/// `metadata: null` every key); any other field is a 422 naming it.
pub(crate) fn patch(bytes: &[u8]) -> Result<ProjectPatch, ApiError> {
    let mut obj = json_object(bytes)?;
    if let Some(unknown) = obj.keys().find(|k| !PATCHABLE.contains(&k.as_str())) {
        return Err(ApiError::validation(
            federation_domain::ValidationError::new(
                unknown.chars().take(64).collect::<String>(),
                "cannot be changed; a patch may set only name, hub_url, tags, metadata and heartbeat_interval",
            ),
        ));
    }
    let clear_tags = matches!(obj.get("tags"), Some(Value::Null));
    let clear_interval = matches!(obj.get("heartbeat_interval"), Some(Value::Null));
    for field in ["name", "hub_url"] {
        if matches!(obj.get(field), Some(Value::Null)) {
            return Err(ApiError::validation(
                federation_domain::ValidationError::new(field, "must not be null"),
            ));
        }
    }
    let name = opt_string(&mut obj, "name")?
        .map(|s| ProjectName::parse(&s))
        .transpose()
        .map_err(ApiError::validation)?;
    let hub_url = opt_string(&mut obj, "hub_url")?
        .map(|s| HubUrl::parse(&s))
        .transpose()
        .map_err(ApiError::validation)?;
    let tags = opt_strings(&mut obj, "tags")?
        .map(|t| Tags::parse(&t))
        .transpose()
        .map_err(ApiError::validation)?
        .or_else(|| clear_tags.then(Tags::default));
    let metadata = match obj.remove("metadata") {
        None => None,
        Some(v @ (Value::Null | Value::Object(_))) => {
            Some(federation_domain::MetadataPatch::from_json(v).map_err(ApiError::validation)?)
        }
        Some(other) => return Err(wrong_type("metadata", "an object or null", &other)),
    };
    let heartbeat_interval = match opt_whole_number(&mut obj, "heartbeat_interval")? {
        Some(s) => Some(Some(
            HeartbeatInterval::from_seconds(s, "heartbeat_interval")
                .map_err(ApiError::validation)?,
        )),
        None => clear_interval.then_some(None),
    };
    Ok(ProjectPatch {
        name,
        hub_url,
        tags,
        metadata,
        heartbeat_interval,
        // Only the heartbeat-key routes set it.
        heartbeat_key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl std::fmt::Debug, ApiError>) -> (u16, Option<String>) {
        let e = r.unwrap_err();
        (e.status().as_u16(), e.field().map(str::to_owned))
    }

    #[test]
    fn registration_types_are_checked_per_field() {
        assert_eq!(
            err(registration(br#"{"slug": 42}"#)),
            (422, Some("slug".into()))
        );
        assert_eq!(
            err(registration(br#"{"slug":"a","tags":"x"}"#)),
            (422, Some("tags".into()))
        );
        assert_eq!(
            err(registration(br#"{"slug":"a","tags":["x", 1]}"#)),
            (422, Some("tags[1]".into()))
        );
        assert_eq!(err(registration(b"[1,2]")), (422, None));
        assert_eq!(err(registration(b"{\"slug\":")), (400, None));
        assert_eq!(err(registration(b"  ")), (400, None));
    }

    #[test]
    fn registration_keeps_values_and_ignores_unknown_fields() {
        let input = registration(
            br#"{"slug":"cc","name":"CC","hub_url":"http://x","tags":["a"],"extra":true,"mesh_namespace":null}"#,
        )
        .unwrap();
        assert_eq!(input.slug.as_deref(), Some("cc"));
        assert_eq!(input.mesh_namespace, None);
        assert_eq!(input.tags, Some(vec!["a".to_owned()]));
    }

    #[test]
    fn patch_rules() {
        assert_eq!(
            err(patch(br#"{"slug":"other"}"#)),
            (422, Some("slug".into()))
        );
        assert_eq!(err(patch(br#"{"name":null}"#)), (422, Some("name".into())));
        assert_eq!(err(patch(br#"{"name":""}"#)), (422, Some("name".into())));
        assert_eq!(
            err(patch(br#"{"hub_url":"ftp://x"}"#)),
            (422, Some("hub_url".into()))
        );
        assert_eq!(
            err(patch(br#"{"tags":["ok",""]}"#)),
            (422, Some("tags[1]".into()))
        );
        let spaced = patch(br#"{"tags":["Machine Learning"]}"#).unwrap();
        assert_eq!(spaced.tags.unwrap().len(), 1);
        // tags: null clears the tags, as a JSON merge patch does.
        let cleared = patch(br#"{"tags":null}"#).unwrap();
        assert!(cleared.tags.unwrap().is_empty());
        // heartbeat_interval: seconds sets it, null removes it, anything else names it.
        let set = patch(br#"{"heartbeat_interval":5}"#).unwrap();
        assert_eq!(
            set.heartbeat_interval.map(|i| i.map(|i| i.seconds())),
            Some(Some(5))
        );
        let whole = patch(br#"{"heartbeat_interval":30.0}"#).unwrap();
        assert!(whole.heartbeat_interval.is_some());
        let removed = patch(br#"{"heartbeat_interval":null}"#).unwrap();
        assert_eq!(removed.heartbeat_interval, Some(None));
        for bad in [r#""5""#, "0", "2.5", "86401", "-1"] {
            let body = format!(r#"{{"heartbeat_interval":{bad}}}"#);
            assert_eq!(
                err(patch(body.as_bytes())),
                (422, Some("heartbeat_interval".into())),
                "{bad}"
            );
        }
        assert!(patch(b"{}").unwrap().is_empty());
        let p = patch(br#"{"name":" New ","tags":[]}"#).unwrap();
        assert_eq!(p.name.unwrap().as_str(), "New");
        assert!(p.tags.unwrap().is_empty());
        assert!(p.hub_url.is_none());
    }

    #[test]
    fn metadata_is_an_object_and_takes_the_originals_allow_fanout() {
        let input = registration(
            br#"{"slug":"cc","name":"CC","hub_url":"http://x","allow_fanout":["a"],"metadata":{"team":"ops"}}"#,
        )
        .unwrap();
        assert_eq!(
            input.metadata,
            Some(serde_json::json!({"team": "ops", "allow_fanout": ["a"]}))
        );
        let own =
            registration(br#"{"slug":"cc","allow_fanout":[],"metadata":{"allow_fanout":true}}"#)
                .unwrap();
        assert_eq!(
            own.metadata,
            Some(serde_json::json!({"allow_fanout": true}))
        );
        assert_eq!(registration(br#"{"slug":"cc"}"#).unwrap().metadata, None);
        assert_eq!(
            err(registration(br#"{"metadata":[1]}"#)),
            (422, Some("metadata".into()))
        );
        assert_eq!(
            err(patch(br#"{"metadata":"x"}"#)),
            (422, Some("metadata".into()))
        );
        assert_eq!(
            err(patch(br#"{"metadata":{"a b":1}}"#)),
            (422, Some("metadata.a b".into()))
        );
        assert!(patch(br#"{"metadata":null}"#).unwrap().metadata.is_some());
        assert!(!patch(br#"{"metadata":{"k":null}}"#).unwrap().is_empty());
    }

    #[test]
    fn too_many_raw_tags_is_refused_early() {
        let tags: Vec<String> = (0..2000).map(|i| format!("\"t{i}\"")).collect();
        let body = format!(r#"{{"tags":[{}]}}"#, tags.join(","));
        assert_eq!(err(patch(body.as_bytes())), (422, Some("tags".into())));
    }
}

/// Property tests (issue 14, item 7): registration and patch bodies, and query strings.
/// `cargo xtask fuzz` runs every `fuzz_*` test with `PROPTEST_CASES`.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_.-]{0,12}",
            "https?://[a-z0-9.-]{1,16}(/[ -~]{0,12})?",
            any::<String>(),
            "[\\x00-\\x1f\\u{200b}\\u{202e} a\"\\\\]{0,6}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            text().prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(text(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A body: an object with the known fields, right or wrong, or any value, or bytes.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let known = ["slug", "name", "hub_url", "mesh_namespace", "tags", "other"];
        let object =
            proptest::collection::vec((0..known.len(), value()), 0..8).prop_map(move |fields| {
                let mut obj = Map::new();
                for (i, v) in fields {
                    obj.insert(known.get(i).copied().unwrap_or("x").to_owned(), v);
                }
                serde_json::to_vec(&Value::Object(obj)).unwrap_or_default()
            });
        prop_oneof![
            4 => object,
            1 => value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
            1 => proptest::collection::vec(any::<u8>(), 0..300),
        ]
    }

    fn typed(e: &ApiError) -> Result<(), TestCaseError> {
        prop_assert!(e.status().is_client_error(), "{e:?}");
        prop_assert!(!e.code().is_empty() && !e.message().is_empty());
        Ok(())
    }

    proptest! {
        #[test]
        fn fuzz_registration_body(bytes in body()) {
            match registration(&bytes) {
                Ok(input) => {
                    let mut obj = Map::new();
                    for (k, v) in [
                        ("slug", &input.slug),
                        ("name", &input.name),
                        ("hub_url", &input.hub_url),
                        ("mesh_namespace", &input.mesh_namespace),
                    ] {
                        if let Some(v) = v {
                            obj.insert(k.to_owned(), json!(v));
                        }
                    }
                    if let Some(tags) = &input.tags {
                        obj.insert("tags".to_owned(), json!(tags));
                    }
                    let again = registration(&serde_json::to_vec(&obj).unwrap_or_default());
                    prop_assert_eq!(again, Ok(input.clone()));
                    // And the domain's verdict on it is typed too.
                    if let Err(e) = input.validate() {
                        prop_assert!(!e.field.is_empty());
                    }
                }
                Err(e) => typed(&e)?,
            }
        }

        #[test]
        fn fuzz_patch_body(bytes in body()) {
            match patch(&bytes) {
                Ok(p) => {
                    let mut obj = Map::new();
                    if let Some(n) = &p.name {
                        obj.insert("name".to_owned(), json!(n.as_str()));
                    }
                    if let Some(u) = &p.hub_url {
                        obj.insert("hub_url".to_owned(), json!(u.as_str()));
                    }
                    if let Some(t) = &p.tags {
                        let tags: Vec<&str> = t.iter().map(|t| t.as_str()).collect();
                        obj.insert("tags".to_owned(), json!(tags));
                    }
                    let again = patch(&serde_json::to_vec(&obj).unwrap_or_default());
                    prop_assert_eq!(again, Ok(p));
                }
                Err(e) => typed(&e)?,
            }
        }

        #[test]
        fn fuzz_query_string(query in prop_oneof![
            "[a-z=&%+0-9]{0,40}",
            any::<String>(),
            proptest::collection::vec(("(status|tag|limit|offset|after|x)", text()), 0..6)
                .prop_map(|pairs| pairs
                    .into_iter()
                    .map(|(k, v)| format!(
                        "{k}={}",
                        percent_encoding::utf8_percent_encode(&v, percent_encoding::NON_ALPHANUMERIC)
                    ))
                    .collect::<Vec<_>>()
                    .join("&")),
        ]) {
            // A repeated name is found whenever two decoded names are equal.
            let names: Vec<String> = query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let raw = p.split('=').next().unwrap_or_default().replace('+', " ");
                    percent_encoding::percent_decode_str(&raw).decode_utf8_lossy().into_owned()
                })
                .collect();
            let unique: std::collections::HashSet<&String> = names.iter().collect();
            let found = crate::duplicates::repeated_parameter(&query);
            prop_assert_eq!(found.is_some(), unique.len() < names.len());
        }
    }
}
