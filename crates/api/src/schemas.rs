//! The description's field schemas, built from the domain's constants: a bound the
//! domain enforces is the bound the description shows (utoipa's attributes take only
//! literals, so these fields name a function here with `schema_with`).

use federation_domain::model::blank;
use federation_domain::model::{
    HeartbeatInterval, HUB_URL_MAX, HUB_URL_MIN, HUB_URL_PATTERN, LIST_LIMIT_MAX, MAINTENANCE_MAX,
    MESH_NAMESPACE_MAX, MESH_NAMESPACE_PATTERN, NAME_MAX, SLUG_MAX, SLUG_PATTERN, TAGS_MAX,
    TAG_MAX, TEXT_PATTERN,
};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Object, Ref, RefOr, Schema};

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
            "An absolute http(s) URL with a host, no credentials, at most 500 characters, \
             written as every reader reads it: an ASCII host (an internationalised name in \
             its punycode form), IPv4 as a dotted quad, and only URL characters after the \
             host (percent-encode others). The pattern states it; beyond it only IPv6 hosts \
             in other spellings and punycode (`xn--`) labels are taken.",
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

/// A project's status, as a filter.
pub(crate) fn status() -> RefOr<Schema> {
    Ref::from_schema_name("StatusName").into()
}

/// A slug as a filter or cursor: empty means absent.
pub(crate) fn slug_filter() -> Object {
    bounded(false, 0, SLUG_MAX, &format!("^$|{SLUG_PATTERN}"))
        .examples(["commandcenter"])
        .build()
}

/// A tag as a filter: empty means absent.
pub(crate) fn tag_filter() -> Object {
    bounded(false, 0, TAG_MAX, &format!("^$|{TEXT_PATTERN}"))
        .examples(["python"])
        .build()
}

/// A page size.
pub(crate) fn limit() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(LIST_LIMIT_MAX))
        .build()
}

/// How many to skip: as the stores take it, a signed 64-bit integer.
pub(crate) fn offset() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(i64::MAX))
        .build()
}

/// A change-log revision.
pub(crate) fn revision() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(0))
        .maximum(Some(i64::MAX))
        .build()
}

/// The pattern of a blocking query's `wait`, as the description shows it.
pub const WAIT_PATTERN: &str = "^[0-9]+(ms|s|m)?$";

/// A blocking query's `wait`.
pub(crate) fn wait() -> Object {
    string(false)
        .pattern(Some(WAIT_PATTERN))
        .examples(["30s"])
        .build()
}

/// A maintenance window's length as text (`90s`, `30m`, `2h`, `1d`), positive and at
/// most [`MAINTENANCE_MAX`], as the pattern states exactly: for each unit, the numbers
/// from 1 to the most that unit allows (leading zeros taken), blanks around and between.
pub(crate) fn span_pattern() -> String {
    let max = u64::try_from(MAINTENANCE_MAX.num_seconds()).unwrap_or(u64::MAX);
    let b = blank!();
    let unit = |per: u64, name: &str| format!("0*({}){b}*{name}", positive_up_to(max / per));
    format!(
        "^{b}*(0*({s})({b}*s)?|{m}|{h}|{d}){b}*$",
        s = positive_up_to(max),
        m = unit(60, "m"),
        h = unit(3600, "h"),
        d = unit(86_400, "d"),
    )
}

/// A regular expression for the whole numbers 1 to `max`, written without leading
/// zeros (`max` ≥ 1).
pub(crate) fn positive_up_to(max: u64) -> String {
    let digits: Vec<u32> = max
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let len = digits.len();
    let mut alternatives = Vec::new();
    // Every number with fewer digits.
    for shorter in 1..len {
        alternatives.push(match shorter {
            1 => "[1-9]".to_owned(),
            n => format!("[1-9][0-9]{{{}}}", n - 1),
        });
    }
    // As many digits: the same first `i` digits, then a smaller one, then any.
    let prefix: String = digits.iter().map(u32::to_string).collect();
    for (i, &d) in digits.iter().enumerate() {
        let low = u32::from(i == 0);
        if d > low {
            let rest = len - i - 1;
            let tail = if rest == 0 {
                String::new()
            } else {
                format!("[0-9]{{{rest}}}")
            };
            alternatives.push(format!("{}[{low}-{}]{tail}", &prefix[..i], d - 1));
        }
    }
    alternatives.push(prefix);
    alternatives.join("|")
}

#[cfg(test)]
mod tests;
