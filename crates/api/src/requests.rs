//! The request bodies: each type here both parses its body (serde, with
//! [`crate::body::json`] naming the field at fault) and documents it (utoipa), so the
//! description and the parser cannot drift. Bounds come from the domain's constants;
//! the domain's types then validate the values (one validation for every source).

use std::collections::HashMap;

use federation_domain::metadata::{METADATA_KEYS_MAX, METADATA_KEY_MAX};
use federation_domain::model::TAGS_MAX;
use federation_domain::{
    HeartbeatInterval, HubUrl, MaintenanceInput, MetadataPatch, ProjectName, ProjectPatch,
    Registration, RegistrationInput, Tags, ValidationError,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::ToSchema;

use crate::body::{self, UniqueJson};
use crate::error::ApiError;
use crate::schemas;

mod heartbeat;
pub use heartbeat::HeartbeatRequest;

/// The most projects one bulk registration takes.
pub const MAX_BULK_PROJECTS: usize = 1000;

/// `POST /api/fed/projects`: registers a project, or updates it when the slug exists
/// (tags and metadata are replaced). The original's `allow_fanout` is kept under
/// `metadata.allow_fanout`; other unknown fields are ignored, as the original did.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Required.
    #[schema(schema_with = schemas::slug, required = true)]
    pub slug: Option<String>,
    /// Required.
    #[schema(schema_with = schemas::name, required = true)]
    pub name: Option<String>,
    /// Required.
    #[schema(schema_with = schemas::hub_url, required = true)]
    pub hub_url: Option<String>,
    #[schema(schema_with = schemas::mesh_namespace)]
    pub mesh_namespace: Option<String>,
    #[schema(schema_with = schemas::tags)]
    pub tags: Option<Vec<TagText>>,
    /// Free JSON values under named keys (see `MetadataObject`). None when absent or
    /// null.
    #[schema(value_type = Option<MetadataObject>, nullable)]
    pub metadata: Option<MetadataObject>,
    #[schema(schema_with = schemas::interval)]
    pub heartbeat_interval: Option<WholeNumber>,
    /// The original service's field: kept as `metadata.allow_fanout` (unless
    /// `metadata` gives that key itself).
    ///
    /// Any JSON value is taken (the original's REST ignored the field, and its catalog
    /// file held a list of slugs); null or absent keeps nothing.
    #[schema(value_type = Option<serde_json::Value>)]
    pub allow_fanout: Option<UniqueJson>,
}

impl RegisterRequest {
    /// The registration as the domain validates it.
    pub fn into_input(self) -> Result<RegistrationInput, ApiError> {
        let mut metadata = self.metadata.map(|m| m.0);
        if let Some(fanout) = self.allow_fanout.map(|f| f.0).filter(|v| !v.is_null()) {
            let meta = metadata.get_or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Value::Object(map) = meta {
                map.entry("allow_fanout").or_insert(fanout);
            }
        }
        Ok(RegistrationInput {
            slug: self.slug,
            name: self.name,
            hub_url: self.hub_url,
            mesh_namespace: self.mesh_namespace,
            tags: self.tags.map(raw_tags).transpose()?,
            metadata,
            heartbeat_interval: self.heartbeat_interval.map(|n| n.0),
        })
    }
}

/// The raw tags, refused when there are more than the schema's `maxItems`.
fn raw_tags(tags: Vec<TagText>) -> Result<Vec<String>, ApiError> {
    if tags.len() > TAGS_MAX {
        return Err(ApiError::validation(ValidationError::new(
            "tags",
            format!("must hold at most {TAGS_MAX} tags (got {})", tags.len()),
        )));
    }
    Ok(tags.into_iter().map(|t| t.0).collect())
}

/// A tag: at most 64 characters of printable text, case kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct TagText(pub String);

impl utoipa::PartialSchema for TagText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schemas::tag().into()
    }
}

impl ToSchema for TagText {}

/// A whole number: JSON `30`, or `30.0` (JSON Schema's `integer` takes both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholeNumber(pub i64);

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Number::deserialize(d)? {
            n if n.is_i64() || n.is_u64() => n.as_i64().map(WholeNumber).ok_or_else(|| {
                serde::de::Error::custom("must be a whole number within the allowed range")
            }),
            n => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| WholeNumber(f as i64))
                .ok_or_else(|| serde::de::Error::custom("must be a whole number")),
        }
    }
}

/// Metadata: free JSON values under named keys, a key given once. Parsed as a JSON
/// object; its bounds are the domain's (the schema shows the same constants).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataObject(pub Value);

impl<'de> Deserialize<'de> for MetadataObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match UniqueJson::deserialize(d)?.0 {
            v @ Value::Object(_) => Ok(MetadataObject(v)),
            _ => Err(serde::de::Error::custom("must be a JSON object")),
        }
    }
}

/// A metadata key's pattern (1–64 characters).
pub const METADATA_KEY_PATTERN: &str = r"^[A-Za-z0-9_.-]{1,64}$";

impl utoipa::PartialSchema for MetadataObject {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Free JSON values under keys of `[A-Za-z0-9_.-]` (1-64 characters): at most \
                 64 keys, 8 KiB as compact JSON, arrays and objects nested at most 8 deep. \
                 A `null` value is the same as an absent key (in a PATCH: removes it).",
            ))
            .max_properties(Some(METADATA_KEYS_MAX))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(METADATA_KEY_MAX))
                    .pattern(Some(METADATA_KEY_PATTERN)),
            ))
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .examples([serde_json::json!({"allow_fanout": [], "team": "platform"})])
            .into()
    }
}

impl ToSchema for MetadataObject {}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/fed/projects/{slug}`: only these fields may be set (any other is a
/// 422); `name` and `hub_url` must not be null; `tags: null` removes every tag.
/// `metadata` is merged one level deep (RFC 7396): each key given is set, a key given
/// `null` is removed, others stay; `metadata: null` removes every key.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    /// Must not be null.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::name)]
    pub name: Option<Option<String>>,
    /// Must not be null.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::hub_url)]
    pub hub_url: Option<Option<String>>,
    /// Null removes every tag.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::tags)]
    pub tags: Option<Option<Vec<TagText>>>,
    /// Keys to set (a value) or remove (`null`); the result holds the bounds of
    /// `RegisterRequest.metadata`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<MetadataObject>, nullable)]
    pub metadata: Option<Option<MetadataObject>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::interval)]
    pub heartbeat_interval: Option<Option<WholeNumber>>,
}

fn not_null<T>(field: &str, v: Option<Option<T>>) -> Result<Option<T>, ApiError> {
    match v {
        Some(None) => Err(ApiError::validation(ValidationError::new(
            field,
            "must not be null",
        ))),
        Some(Some(v)) => Ok(Some(v)),
        None => Ok(None),
    }
}

impl PatchRequest {
    /// The patch as the domain validates it.
    pub fn into_patch(self) -> Result<ProjectPatch, ApiError> {
        let name = not_null("name", self.name)?
            .map(|s| ProjectName::parse(&s))
            .transpose()
            .map_err(ApiError::validation)?;
        let hub_url = not_null("hub_url", self.hub_url)?
            .map(|s| HubUrl::parse(&s))
            .transpose()
            .map_err(ApiError::validation)?;
        let tags = match self.tags {
            None => None,
            Some(None) => Some(Tags::default()),
            Some(Some(t)) => Some(Tags::parse(&raw_tags(t)?).map_err(ApiError::validation)?),
        };
        let metadata = match self.metadata {
            None => None,
            Some(m) => Some(
                MetadataPatch::from_json(m.map_or(Value::Null, |m| m.0))
                    .map_err(ApiError::validation)?,
            ),
        };
        let heartbeat_interval = match self.heartbeat_interval {
            None => None,
            Some(None) => Some(None),
            Some(Some(n)) => Some(Some(
                HeartbeatInterval::from_seconds(n.0, "heartbeat_interval")
                    .map_err(ApiError::validation)?,
            )),
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
}

/// A maintenance window's length from now: `90s`, `30m`, `2h`, `1d`, or seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span(pub String);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Span(s)),
            // Seconds: JSON `90`, or `90.0` (JSON Schema's `integer` takes both).
            Value::Number(n) => match n.as_u64() {
                Some(whole) => Ok(Span(whole.to_string())),
                None => WholeNumber::deserialize(Value::Number(n))
                    .map(|w| Span(w.0.to_string()))
                    .map_err(serde::de::Error::custom),
            },
            _ => Err(serde::de::Error::custom(
                "must be a string such as 30m, or seconds",
            )),
        }
    }
}

/// `PUT /api/fed/projects/{slug}/maintenance`: a reason and exactly one of `until` and
/// `for` (the schema says so with `oneOf`); the window lasts at most 30 days, and an
/// `until` in the past or more than 30 days away is a 409 (a conflict with the clock,
/// which a schema cannot state).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    /// 1–200 characters, no control characters.
    pub reason: Option<String>,
    /// The end, RFC 3339, in the future.
    pub until: Option<String>,
    /// The length from now.
    #[serde(rename = "for")]
    pub duration: Option<Span>,
}

impl utoipa::PartialSchema for MaintenanceRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let reason = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(federation_domain::model::MAINTENANCE_REASON_MAX))
                .pattern(Some(federation_domain::model::TEXT_PATTERN))
                .examples(["kernel upgrade"])
        };
        let until = ObjectBuilder::new()
            .property("reason", reason())
            .property(
                "until",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::DateTime,
                    )))
                    .pattern(Some(federation_domain::model::RFC3339_PATTERN))
                    .description(Some("The end, RFC 3339, in the future (at most 30 days)")),
            )
            .required("reason")
            .required("until")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .title(Some("Until"));
        let span = ObjectBuilder::new()
            .property("reason", reason())
            .property(
                "for",
                OneOfBuilder::new()
                    .item(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(schemas::span_pattern()))
                            .examples(["30m"]),
                    )
                    .item(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(1))
                            .maximum(Some(
                                federation_domain::model::MAINTENANCE_MAX.num_seconds(),
                            )),
                    )
                    .description(Some(
                        "The length from now: `90s`, `30m`, `2h`, `1d`, or seconds (at most 30 days)",
                    )),
            )
            .required("reason")
            .required("for")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .title(Some("For"));
        OneOfBuilder::new()
            .item(until)
            .item(span)
            .description(Some(
                "A reason and exactly one of `until` and `for`; the window lasts at most 30 days.",
            ))
            .into()
    }
}

impl ToSchema for MaintenanceRequest {}

impl From<MaintenanceRequest> for MaintenanceInput {
    fn from(r: MaintenanceRequest) -> Self {
        MaintenanceInput {
            reason: r.reason,
            until: r.until,
            duration: r.duration.map(|s| s.0),
        }
    }
}

/// `POST /api/fed/projects:bulk`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// 1 to 1,000 registrations, each as `POST /api/fed/projects` takes it; a slug
    /// given more than once is registered once, with its last entry (as posting them
    /// in order would leave it).
    #[schema(schema_with = bulk_projects)]
    pub projects: Vec<UniqueJson>,
}

fn bulk_projects() -> utoipa::openapi::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(utoipa::openapi::Ref::from_schema_name("RegisterRequest"))
        .min_items(Some(1))
        .max_items(Some(MAX_BULK_PROJECTS))
        .description(Some(
            "1 to 1,000 registrations, each as `POST /api/fed/projects` takes it; a slug \
             given more than once is registered once, with its last entry",
        ))
        .build()
}

/// One entry of a bulk registration that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ToSchema)]
pub struct EntryError {
    /// Its place in `projects`.
    pub index: usize,
    /// The field to blame, within the entry (`slug`, `tags[2]`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl BulkRequest {
    /// Every entry read and validated like a single registration. Refused as a whole
    /// (the error names `projects`) when it holds none or more than
    /// [`MAX_BULK_PROJECTS`]; otherwise every entry's problems are listed. A slug given
    /// more than once is registered once, with its last entry.
    pub fn into_registrations(
        self,
    ) -> Result<Result<Vec<Registration>, Vec<EntryError>>, ApiError> {
        let entries = self.projects;
        if entries.is_empty() || entries.len() > MAX_BULK_PROJECTS {
            return Err(ApiError::validation(ValidationError::new(
                "projects",
                format!(
                    "must hold 1 to {MAX_BULK_PROJECTS} projects (got {})",
                    entries.len()
                ),
            )));
        }
        let mut registrations = Vec::with_capacity(entries.len());
        let mut errors = Vec::new();
        // A slug given again replaces its earlier entry, in the earlier one's place: as
        // posting the entries in order would leave it.
        let mut seen = HashMap::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let validated = body::from_value::<RegisterRequest>(entry.0)
                .and_then(RegisterRequest::into_input)
                .and_then(|input| input.validate().map_err(ApiError::validation));
            match validated {
                Ok(r) => match seen.get(&r.slug).and_then(|&at| registrations.get_mut(at)) {
                    Some(earlier) => *earlier = r,
                    None => {
                        seen.insert(r.slug.clone(), registrations.len());
                        registrations.push(r);
                    }
                },
                Err(e) => errors.push(EntryError {
                    index,
                    field: e.field().map(str::to_owned),
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
}

#[cfg(test)]
mod tests;
