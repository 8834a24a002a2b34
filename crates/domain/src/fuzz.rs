//! Property tests (issue 14, item 7) over what arrives from outside: heartbeat bytes,
//! registration fields and list query values. For any input: no panic, a rejection is a
//! typed error naming a field, and what is accepted reads back the same after it is
//! written out again. `cargo xtask fuzz` runs every `fuzz_*` test with
//! `PROPTEST_CASES` (1,000,000 by default); `cargo xtask test` with proptest's usual 256.

use proptest::prelude::*;

use crate::heartbeat::{
    decode, ClaimedNamespace, Heartbeat, HeartbeatError, Reported, Window, MAX_HEARTBEAT_BYTES,
};
use crate::model::{ListFilter, RegistrationInput};
use crate::policy::StatusPolicy;
use crate::testing::t0;

/// Strings an attacker or a careless client might send: plausible tokens, any Unicode,
/// control and format characters, and the empty string.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{0,12}",
        "[ -~]{0,70}",
        any::<String>(),
        "[\\x00-\\x1f\\u{200b}-\\u{200f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069} a]{0,6}",
        Just(String::new()),
    ]
}

fn maybe_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

/// A JSON value for one field of a heartbeat: right or wrong type.
fn json_field() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        text().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        proptest::collection::vec(text().prop_map(Value::String), 0..20).prop_map(Value::Array),
        Just(Value::String("2024-01-01T00:00:00Z".into())),
        Just(Value::String("degraded".into())),
    ]
}

/// A heartbeat object with any of its fields, right or wrong.
fn heartbeat_json() -> impl Strategy<Value = (String, Vec<u8>)> {
    let fields = [
        "project_slug",
        "hub_url",
        "mesh_namespace",
        "timestamp",
        "version",
        "status",
        "reasons",
    ];
    (
        "[a-z0-9_-]{1,10}",
        proptest::collection::vec((0..fields.len(), json_field()), 0..8),
        any::<bool>(),
    )
        .prop_map(move |(slug, picked, slug_matches)| {
            let mut obj = serde_json::Map::new();
            if slug_matches {
                obj.insert("project_slug".into(), slug.clone().into());
            }
            for (i, v) in picked {
                let name = fields.get(i).copied().unwrap_or("extra");
                obj.insert(name.to_owned(), v);
            }
            let bytes = serde_json::to_vec(&obj).unwrap_or_default();
            (slug, bytes)
        })
}

/// The JSON a publisher would send for `hb` (the round trip).
fn encode(hb: &Heartbeat) -> Vec<u8> {
    let mut obj = serde_json::json!({ "project_slug": hb.slug.as_str() });
    if let Some(v) = &hb.version {
        obj["version"] = v.as_str().into();
    }
    if let Some(t) = hb.sent_at {
        obj["timestamp"] = t
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            .into();
    }
    match &hb.namespace {
        ClaimedNamespace::Unstated => {}
        ClaimedNamespace::Default => obj["mesh_namespace"] = format!("hub.{}", hb.slug).into(),
        ClaimedNamespace::Other(ns) => obj["mesh_namespace"] = ns.as_str().into(),
    }
    if let Reported::Degraded { reasons } = &hb.reported {
        obj["status"] = "degraded".into();
        obj["reasons"] = reasons.clone().into();
    }
    serde_json::to_vec(&obj).unwrap_or_default()
}

fn check_heartbeat(subject: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let window = Window::new(t0(), &StatusPolicy::default());
    match decode(subject, bytes, &window, None) {
        Ok(hb) => {
            prop_assert_eq!(hb.slug.as_str(), subject.to_ascii_lowercase());
            let again = decode(subject, &encode(&hb), &window, None);
            prop_assert_eq!(again.as_ref(), Ok(&hb));
        }
        Err(HeartbeatError::Oversize { size }) => prop_assert!(size > MAX_HEARTBEAT_BYTES),
        Err(HeartbeatError::InvalidField(e)) => prop_assert!(!e.field.is_empty()),
        Err(_) => {}
    }
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_heartbeat_bytes(subject in text(), bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_heartbeat(&subject, &bytes)?;
    }

    #[test]
    fn fuzz_heartbeat_json((subject, bytes) in heartbeat_json()) {
        check_heartbeat(&subject, &bytes)?;
    }

    #[test]
    fn fuzz_registration(
        slug in maybe_text(),
        name in maybe_text(),
        hub_url in prop_oneof![
            maybe_text(),
            "https?://[a-z0-9.-]{1,20}(:[0-9]{1,5})?(/[ -~]{0,20})?".prop_map(Some),
        ],
        mesh_namespace in maybe_text(),
        tags in proptest::option::of(proptest::collection::vec(text(), 0..40)),
        heartbeat_interval in proptest::option::of(-10i64..100_000),
    ) {
        let input = RegistrationInput {
            slug,
            name,
            hub_url,
            mesh_namespace,
            tags,
            metadata: None,
            heartbeat_interval,
        };
        match input.validate() {
            Ok(reg) => {
                let again = RegistrationInput {
                    slug: Some(reg.slug.to_string()),
                    name: Some(reg.name.to_string()),
                    hub_url: Some(reg.hub_url.to_string()),
                    mesh_namespace: Some(reg.mesh_namespace.to_string()),
                    tags: Some(reg.tags.iter().map(ToString::to_string).collect()),
                    metadata: serde_json::from_str(&reg.metadata.to_json_string()).ok(),
                    heartbeat_interval: reg.heartbeat_interval.map(|i| i64::from(i.seconds())),
                }
                .validate();
                prop_assert_eq!(again, Ok(reg));
            }
            Err(e) => {
                prop_assert!(!e.field.is_empty());
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn fuzz_list_query(
        status in maybe_text(),
        tag in maybe_text(),
        limit in prop_oneof![maybe_text(), (0u64..2000).prop_map(|n| Some(n.to_string()))],
        offset in prop_oneof![maybe_text(), any::<u64>().prop_map(|n| Some(n.to_string()))],
        after in maybe_text(),
    ) {
        let parsed = ListFilter::parse(
            status.as_deref(),
            tag.as_deref(),
            limit.as_deref(),
            offset.as_deref(),
        )
        .and_then(|f| f.with_after(after.as_deref()));
        match parsed {
            Ok(f) => {
                let status = f.status.map(|s| s.as_str().to_owned());
                let tag = f.tag.as_ref().map(ToString::to_string);
                let limit = f.limit.map(|l| l.to_string());
                let offset = f.offset.to_string();
                let after = f.after.as_ref().map(ToString::to_string);
                let again = ListFilter::parse(
                    status.as_deref(),
                    tag.as_deref(),
                    limit.as_deref(),
                    Some(&offset),
                )
                .and_then(|g| g.with_after(after.as_deref()));
                prop_assert_eq!(again, Ok(f));
            }
            Err(e) => prop_assert!(!e.field.is_empty()),
        }
    }
}
