//! The notification fields' schemas, from the domain's constants (see
//! `crate::schemas`: utoipa's attributes take only literals).

use federation_domain::model::{HUB_URL_MAX, HUB_URL_MIN, SLUG_MAX, SLUG_PATTERN};
use federation_domain::notify::rules::{
    HOLD_MAX_SECONDS, REMIND_MAX_SECONDS, REMIND_MIN_SECONDS, RULE_METADATA_MAX, RULE_SLUGS_MAX,
    RULE_TAGS_MAX,
};
use federation_domain::notify::SECRET_MAX;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::Object;

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

/// A channel's `name`.
pub(crate) fn name() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .min_length(Some(1))
        .max_length(Some(SLUG_MAX))
        .pattern(Some(SLUG_PATTERN))
        .description(Some(
            "The rule of a project's slug; lowercased. Required when created; on \
             replace, absent or null is the path's",
        ))
        .examples(["ops"])
        .build()
}

/// A channel's `url`.
pub(crate) fn url() -> Object {
    string()
        .min_length(Some(HUB_URL_MIN))
        .max_length(Some(HUB_URL_MAX))
        .description(Some(
            "An absolute http(s) URL with no credentials in it (422 naming `url` \
             otherwise), or `smtp://host[:port]` for an email channel. Redirects are \
             never followed. A Slack URL is a secret: reads show its scheme and host only.",
        ))
        .examples(["https://receiver.example/federation"])
        .build()
}

/// A webhook's `secret` (null: none given).
pub(crate) fn secret() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .min_length(Some(1))
        .max_length(Some(SECRET_MAX))
        .description(Some(
            "Write-only: a webhook's signing secret (HMAC-SHA256; 16–256 printable \
             characters, required when created) or an email channel's SMTP password \
             (with `email.username`). On replace, absent keeps the stored one. Refused \
             for Slack.",
        ))
        .examples(["whsec-0123456789abcdef"])
        .build()
}

/// `rules.slugs`.
pub(crate) fn rule_slugs() -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            string()
                .max_length(Some(SLUG_MAX))
                .pattern(Some(SLUG_PATTERN)),
        )
        .max_items(Some(RULE_SLUGS_MAX))
        .description(Some("Projects by slug; empty or absent: any"))
}

/// `rules.tags`.
pub(crate) fn rule_tags() -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(string().max_length(Some(federation_domain::model::TAG_MAX)))
        .max_items(Some(RULE_TAGS_MAX))
        .description(Some(
            "Projects carrying any of these tags (ignoring case); empty or absent: any",
        ))
}

/// `rules.metadata`.
pub(crate) fn rule_metadata() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .max_properties(Some(RULE_METADATA_MAX))
        .description(Some(
            "Projects whose metadata has every key with exactly this value",
        ))
        .build()
}

/// `rules.hold_seconds` (null: the default).
pub(crate) fn hold() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .minimum(Some(0))
        .maximum(Some(HOLD_MAX_SECONDS))
        .description(Some(
            "How long offline or degraded must hold before it is told; a project back \
             within it causes no message. Default 0.",
        ))
        .examples([120])
        .build()
}

/// `rules.remind_every_seconds`.
pub(crate) fn remind() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .minimum(Some(REMIND_MIN_SECONDS))
        .maximum(Some(REMIND_MAX_SECONDS))
        .description(Some(
            "While a told bad status lasts, tell it again this often; absent: never",
        ))
        .build()
}

/// `limit` of the deliveries' list.
pub(crate) fn deliveries_limit() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Integer))
        .minimum(Some(1))
        .maximum(Some(federation_domain::notify::DELIVERIES_LIST_MAX))
        .description(Some("At most this many (default 100)"))
        .build()
}
