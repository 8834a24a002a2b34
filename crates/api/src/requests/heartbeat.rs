//! The HTTP heartbeat's body: parsed by the wire crate's [`federation_wire::HeartbeatWire`]
//! (the one type publishers encode and the service decodes, over NATS and HTTP alike),
//! described here from the same crate's bounds and the model's field schemas.

use federation_domain::heartbeat::{MAX_REASONS, MAX_REASON_CHARS};
use federation_domain::model::{
    NO_FORMAT_CHARS_PATTERN, TEXT_PATTERN, TIMESTAMP_PATTERN, VERSION_MAX,
};
use federation_domain::HeartbeatInterval;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{KnownFormat, Object, RefOr, Schema, SchemaFormat};
use utoipa::ToSchema;

use crate::schemas;

/// A heartbeat: the original service's payload (also accepted wrapped in
/// CommandCenter's envelope `{"payload": {…}, "correlation_id": "…"}`).
pub struct HeartbeatRequest;

fn nullable_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn nullable(mut o: Object) -> Object {
    o.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    o
}

impl utoipa::PartialSchema for HeartbeatRequest {
    fn schema() -> RefOr<Schema> {
        let mut slug = schemas::slug();
        slug.description = Some("Must be the path's slug (`slug` is read as an alias)".to_owned());
        let reason = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NO_FORMAT_CHARS_PATTERN));
        ObjectBuilder::new()
            .description(Some(
                "A heartbeat, as publishers send it on NATS. Status is measured on the \
                 service's clock; a `timestamp` more than an hour old (or older than the \
                 offline threshold, when that is longer) or more than 5 minutes ahead \
                 conflicts with it (409). A `mesh_namespace` other than the project's \
                 registered one conflicts with it too (409, `bad_namespace`).",
            ))
            .property("project_slug", slug)
            .required("project_slug")
            .property("hub_url", nullable(schemas::hub_url()))
            .property("mesh_namespace", schemas::mesh_namespace())
            .property(
                "timestamp",
                nullable_string()
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .pattern(Some(TIMESTAMP_PATTERN))
                    .description(Some(
                        "The sender's clock, RFC 3339 (without an offset: UTC). Leave it out \
                         when the sender's clock is not to be trusted.",
                    )),
            )
            .property(
                "version",
                nullable_string()
                    .min_length(Some(1))
                    .max_length(Some(VERSION_MAX))
                    .pattern(Some(TEXT_PATTERN))
                    .examples(["0.9.0"]),
            )
            .property(
                "status",
                nullable_string()
                    .pattern(Some(concat!(
                        "^",
                        federation_domain::model::blank!(),
                        "*([Oo][Nn][Ll][Ii][Nn][Ee]|[Oo][Kk]|[Dd][Ee][Gg][Rr][Aa][Dd][Ee][Dd])",
                        federation_domain::model::blank!(),
                        "*$"
                    )))
                    .description(Some(
                        "`online` (also `ok`) or `degraded`, any case; absent: online",
                    ))
                    .examples(["online"]),
            )
            .property(
                "reasons",
                ArrayBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
                    .items(reason)
                    .description(Some(format!(
                        "With `degraded`: why. The first {MAX_REASONS} are kept, each without \
                         control characters and cut to {MAX_REASON_CHARS} characters; \
                         invisible format characters are refused."
                    ))),
            )
            .property(
                "interval",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
                    .minimum(Some(1))
                    .maximum(Some(HeartbeatInterval::MAX_SECONDS))
                    .description(Some(
                        "Seconds between this sender's heartbeats: the project is then \
                         degraded after 2 and offline after 3 of them without a heartbeat \
                         (within the service's bounds)",
                    ))
                    .examples([5]),
            )
            .into()
    }
}

impl ToSchema for HeartbeatRequest {}
