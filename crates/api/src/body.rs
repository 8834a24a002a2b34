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

/// `application/json` or any `…+json` type.
fn is_json(m: &mime::Mime) -> bool {
    m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
}

/// 415 unless the request says its body is JSON. With `allow_missing`, a request without
/// a `Content-Type` passes too.
pub(crate) fn require_json(req: &HttpRequest, allow_missing: bool) -> Result<(), ApiError> {
    let Some(raw) = req.headers().get(header::CONTENT_TYPE) else {
        return if allow_missing {
            Ok(())
        } else {
            Err(ApiError::unsupported_media_type())
        };
    };
    let parsed = raw.to_str().ok().and_then(|s| s.parse::<mime::Mime>().ok());
    match parsed {
        Some(m) if is_json(&m) => Ok(()),
        _ => Err(ApiError::unsupported_media_type()),
    }
}

/// Reads the whole body, refusing (413) one larger than `limit` as early as possible.
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
    match payload.to_bytes_limited(limit).await {
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
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::unprocessable(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::malformed_json(format!(
            "the request body is not valid JSON: {e}"
        ))),
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
