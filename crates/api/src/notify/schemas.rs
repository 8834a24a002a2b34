//! The notification fields' schemas, from the domain's constants (see
//! `crate::schemas`: utoipa's attributes take only literals).

use federation_domain::metadata::METADATA_KEY_MAX;
use federation_domain::model::HUB_URL_PATTERN;
use federation_domain::model::{HUB_URL_MAX, HUB_URL_MIN, SLUG_MAX, SLUG_PATTERN};
use federation_domain::notify::email::{ADDRESS_MAX, RECIPIENTS_MAX};
use federation_domain::notify::rules::{
    HOLD_MAX_SECONDS, REMIND_MAX_SECONDS, REMIND_MIN_SECONDS, RULE_METADATA_MAX, RULE_SLUGS_MAX,
    RULE_TAGS_MAX,
};
use federation_domain::notify::{SECRET_MAX, SECRET_MIN};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Object, Schema};

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

/// A channel's `name` as a create takes it: required.
pub(crate) fn name() -> Object {
    name_of(SchemaType::Type(Type::String))
        .description(Some(
            "The rule of a project's slug (`[a-z0-9_-]`, at most 50 characters); \
             lowercased",
        ))
        .build()
}

/// A channel's `name` as a replace takes it: absent or null is the path's.
pub(crate) fn name_or_path() -> Object {
    name_of(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "The rule of a project's slug; lowercased. Absent or null: the path's; \
             another name than the path's is a 409 (a channel cannot be renamed)",
        ))
        .build()
}

fn name_of(kind: SchemaType) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(kind)
        .min_length(Some(1))
        .max_length(Some(SLUG_MAX))
        .pattern(Some(SLUG_PATTERN))
        .examples(["ops"])
}

/// A webhook's or Slack channel's `url`.
pub(crate) fn url() -> Object {
    string()
        .min_length(Some(HUB_URL_MIN))
        .max_length(Some(HUB_URL_MAX))
        .pattern(Some(HUB_URL_PATTERN))
        .description(Some(
            "An absolute http(s) URL with no credentials in it (422 naming `url` \
             otherwise), by the rule of a project's `hub_url`. Redirects are never \
             followed. A Slack URL is a secret: reads show its scheme and host only.",
        ))
        .examples(["https://receiver.example/federation"])
        .build()
}

/// An email channel's `url`: its SMTP relay.
pub(crate) fn smtp_url() -> Object {
    string()
        .min_length(Some(8))
        .max_length(Some(HUB_URL_MAX))
        .pattern(Some(SMTP_URL_PATTERN))
        .description(Some(
            "The SMTP relay, `smtp://host[:port]`: no credentials (the login is \
             `email.username`, the password `secret`), no path; the port defaults by \
             `email.tls` (587, 465 or 25)",
        ))
        .examples(["smtp://mail.example:587"])
        .build()
}

/// `smtp://host[:port]` as a pattern: a DNS name or dotted quad, a port up to 65535.
const SMTP_URL_PATTERN: &str = concat!(
    "^",
    federation_domain::model::blank!(),
    "*smtp://",
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?/?",
    federation_domain::model::blank!(),
    "*$"
);

/// A webhook's signing secret as a create takes it: required.
pub(crate) fn webhook_secret() -> Object {
    webhook_secret_of(SchemaType::Type(Type::String))
        .description(Some(
            "Write-only: the signing secret (HMAC-SHA256), 16–256 printable ASCII \
             characters without blanks",
        ))
        .build()
}

/// A webhook's signing secret as a replace takes it: absent or null keeps the stored one.
pub(crate) fn webhook_secret_or_kept() -> Object {
    webhook_secret_of(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "Write-only: the signing secret (HMAC-SHA256), 16–256 printable ASCII \
             characters without blanks. Absent or null keeps the stored one (a 409 \
             `no_secret_stored` when the channel was of another kind)",
        ))
        .build()
}

fn webhook_secret_of(kind: SchemaType) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(kind)
        .min_length(Some(SECRET_MIN))
        .max_length(Some(SECRET_MAX))
        .pattern(Some(format!("^[!-~]{{{SECRET_MIN},{SECRET_MAX}}}$")))
        .examples(["whsec-0123456789abcdef"])
}

/// An email channel's SMTP password (null: none given).
pub(crate) fn password() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .min_length(Some(1))
        .max_length(Some(SECRET_MAX))
        .pattern(Some(format!(
            "^[^\\x00-\\x1f\\x7f-\\x9f]{{1,{SECRET_MAX}}}$"
        )))
        .description(Some(
            "Write-only: the SMTP password, given exactly when `email.username` is (on \
             a replace, absent keeps the stored one; a 409 `no_secret_stored` when there \
             is none)",
        ))
        .examples(["hunter2-password"])
        .build()
}

/// An email address (`email.from`, `email.to[i]`).
pub(crate) fn address() -> Object {
    let b = federation_domain::model::blank!();
    let part = r#"[^@<>,;"\s\x00-\x1f\x7f-\x9f]+"#;
    string()
        .min_length(Some(3))
        .max_length(Some(ADDRESS_MAX))
        .pattern(Some(format!("^{b}*{part}@{part}{b}*$")))
        .description(Some(
            "local@domain: one `@`, no blanks, control characters or `<>,;\"`, at most \
             254 characters",
        ))
        .examples(["ops@example.org"])
        .build()
}

/// `email.to`.
pub(crate) fn recipients() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(address())
        .min_items(Some(1))
        .max_items(Some(RECIPIENTS_MAX))
        .description(Some("1–20 recipient addresses"))
}

/// `email.username` (null or blank: none).
pub(crate) fn username() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(ADDRESS_MAX))
        .pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]*$"))
        .description(Some(
            "The SMTP login, when the relay wants one (the password is `secret`); \
             blank is none. At most 254 characters, no control characters",
        ))
        .examples(["federation-bot"])
        .build()
}

/// `email.tls`.
pub(crate) fn tls() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([
            serde_json::json!("starttls"),
            serde_json::json!("tls"),
            serde_json::json!("none"),
            serde_json::Value::Null,
        ]))
        .description(Some(
            "`starttls` (default: required, port 587), `tls` (port 465) or `none` (a \
             local relay only)",
        ))
        .examples(["starttls"])
        .build()
}

/// `rules.slugs`.
pub(crate) fn rule_slugs() -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            string()
                .min_length(Some(1))
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
        .items(crate::schemas::tag())
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
        .property_names(Some(
            string()
                .min_length(Some(1))
                .max_length(Some(METADATA_KEY_MAX))
                .pattern(Some(crate::requests::METADATA_KEY_PATTERN)),
        ))
        .description(Some(
            "Projects whose metadata has every key with exactly this value (keys of \
             `[A-Za-z0-9_.-]`, values as a project's metadata takes them)",
        ))
        .build()
}

/// `rules.on`.
pub(crate) fn rule_on() -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(utoipa::openapi::Ref::from_schema_name("TriggerName"))
        .min_items(Some(1))
        .description(Some(
            "The changes told (at least one); absent or null: all three",
        ))
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

/// The login rule of an email channel, which no single field's schema can state: a
/// `secret` (the SMTP password) is given exactly with a non-blank `email.username`. On
/// a replace (`create` false) a login without a secret keeps the stored password.
pub(crate) fn login_rule(create: bool) -> Schema {
    let b = federation_domain::model::blank!();
    let login = ObjectBuilder::new()
        .property(
            "secret",
            ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)),
        )
        .required("secret")
        .property(
            "email",
            ObjectBuilder::new()
                .property(
                    "username",
                    string().pattern(Some(format!(
                        "[^{}]",
                        federation_domain::model::blank_chars!()
                    ))),
                )
                .required("username"),
        );
    let mut none = ObjectBuilder::new().property(
        "secret",
        ObjectBuilder::new().schema_type(SchemaType::Type(Type::Null)),
    );
    if create {
        none = none.property(
            "email",
            ObjectBuilder::new().property(
                "username",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .pattern(Some(format!("^{b}*$"))),
            ),
        );
    }
    let description = if create {
        "With an SMTP login: `secret` and a non-blank `email.username`, or neither"
    } else {
        "A `secret` only with a non-blank `email.username`; a login without a secret \
         keeps the stored password"
    };
    Schema::OneOf(
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(login)
            .item(none)
            .description(Some(description))
            .build(),
    )
}
