//! The description's field schemas, built from the domain's constants: a bound the
//! domain enforces is the bound the description shows (utoipa's attributes take only
//! literals, so these fields name a function here with `schema_with`).

use federation_domain::model::{
    HeartbeatInterval, HUB_URL_MAX, HUB_URL_MIN, HUB_URL_PATTERN, MESH_NAMESPACE_MAX,
    MESH_NAMESPACE_PATTERN, NAME_MAX, SLUG_MAX, SLUG_PATTERN, TAGS_MAX, TAG_MAX, TEXT_PATTERN,
};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Object, RefOr, Schema};

fn string(nullable: bool) -> ObjectBuilder {
    let kind = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new().schema_type(kind)
}

fn bounded(nullable: bool, min: usize, max: usize, pattern: &str) -> ObjectBuilder {
    string(nullable)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
}

/// `slug`.
pub(crate) fn slug() -> Object {
    bounded(false, 1, SLUG_MAX, SLUG_PATTERN)
        .description(Some(
            "`[a-z0-9_-]`, at most 50 characters, no `-` at either end, not `_` first; \
             input is lowercased, so slugs are case-insensitive",
        ))
        .examples(["commandcenter"])
        .build()
}

/// `name`, required (not null).
pub(crate) fn name() -> Object {
    bounded(false, 1, NAME_MAX, TEXT_PATTERN)
        .description(Some(
            "At most 200 characters, no control or invisible format characters",
        ))
        .examples(["CommandCenter"])
        .build()
}

/// `hub_url`, required (not null).
pub(crate) fn hub_url() -> Object {
    bounded(false, HUB_URL_MIN, HUB_URL_MAX, HUB_URL_PATTERN)
        .description(Some(
            "An absolute http(s) URL with a host, no credentials, no backslash and no \
             invisible format characters, at most 500 characters",
        ))
        .examples(["http://localhost:8000"])
        .build()
}

/// `mesh_namespace`, which may be null.
pub(crate) fn mesh_namespace() -> Object {
    // Blank (or null, or absent) means the default, `hub.<slug>`.
    let pattern = format!("^\\s*$|{MESH_NAMESPACE_PATTERN}");
    bounded(true, 0, MESH_NAMESPACE_MAX, &pattern)
        .description(Some(
            "A NATS subject prefix: dot-separated tokens of `[A-Za-z0-9_-]`, at most 100 \
             characters; `hub.<slug>` when absent, null or blank",
        ))
        .examples(["hub.commandcenter"])
        .build()
}

/// One tag.
pub(crate) fn tag() -> Object {
    bounded(false, 1, TAG_MAX, TEXT_PATTERN)
        .description(Some("At most 64 characters of printable text, case kept"))
        .examples(["Machine Learning"])
        .build()
}

/// `tags`, which may be null.
pub(crate) fn tags() -> utoipa::openapi::Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(RefOr::<Schema>::T(Schema::Object(tag())))
        .max_items(Some(TAGS_MAX))
        .description(Some(
            "At most 32 tags; duplicates (ignoring case) are kept once",
        ))
        .examples([serde_json::json!(["python"])])
        .build()
}

/// `heartbeat_interval`, which may be null.
pub(crate) fn interval() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .minimum(Some(1))
        .maximum(Some(HeartbeatInterval::MAX_SECONDS))
        .description(Some(
            "Seconds between the project's heartbeats: degraded after 2 and offline after \
             3 intervals of silence (within the service's deadline bounds); null or \
             absent keeps the one it had (in a PATCH, null removes it)",
        ))
        .examples([30])
        .build()
}
