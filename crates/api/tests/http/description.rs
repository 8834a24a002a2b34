//! `/openapi.json` tells the truth: its request schemas' examples are accepted as they
//! stand, and every string bound it states (minLength, maxLength, pattern) is the one
//! the handlers' validation enforces — walked property by property, with a value at the
//! bound (accepted) and one just past it (refused).

use actix_web::test::TestRequest;
use federation_domain::ports::MockProjectRepository;
use federation_domain::{RegistrationInput, StatusPolicy};
use serde_json::{json, Value};

use crate::common::*;

async fn description() -> Value {
    let h = harness(MockProjectRepository::new());
    h.send(TestRequest::get().uri("/openapi.json")).await.json
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

/// A registration built from the schema's examples, with `field` set to `value`.
fn registration_with(doc: &Value, field: &str, value: &Value) -> Value {
    let props = schema(doc, "RegisterRequest")["properties"]
        .as_object()
        .unwrap();
    let mut body = serde_json::Map::new();
    for (name, p) in props {
        if let Some(example) = p.get("example") {
            body.insert(name.clone(), example.clone());
        }
    }
    body.insert(field.to_owned(), value.clone());
    Value::Object(body)
}

fn accepted(body: &Value) -> Result<(), String> {
    serde_json::from_value::<RegistrationInput>(body.clone())
        .map_err(|e| e.to_string())?
        .validate()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The first type-level part of a property (its `type`, or the string branch of a
/// `oneOf`/nullable form).
fn string_bounds(p: &Value) -> (Option<usize>, Option<usize>, Option<regex::Regex>) {
    let min = p["minLength"].as_u64().map(|n| n as usize);
    let max = p["maxLength"].as_u64().map(|n| n as usize);
    let pattern = p["pattern"].as_str().map(|r| regex::Regex::new(r).unwrap());
    (min, max, pattern)
}

#[actix_web::test]
async fn register_examples_are_accepted_and_string_bounds_are_the_servers() {
    let doc = description().await;
    let example = registration_with(&doc, "slug", &json!("commandcenter"));
    accepted(&example).unwrap();
    let props = schema(&doc, "RegisterRequest")["properties"]
        .as_object()
        .unwrap()
        .clone();
    for field in ["slug", "name", "mesh_namespace", "hub_url"] {
        let p = &props[field];
        let (min, max, pattern) = string_bounds(p);
        let max = max.unwrap_or_else(|| panic!("{field}: no maxLength in the description"));
        assert!(
            min.is_some() || pattern.is_some(),
            "{field}: no lower bound"
        );
        // A value exactly at the bound, in the field's alphabet, and one past it.
        let at_bound = match field {
            "hub_url" => format!("http://h/{}", "p".repeat(max - 9)),
            "mesh_namespace" => format!("a.{}", "b".repeat(max - 2)),
            _ => "a".repeat(max),
        };
        let past = match field {
            "hub_url" => format!("{at_bound}p"),
            _ => format!("{at_bound}b"),
        };
        for (value, valid) in [(&at_bound, true), (&past, false)] {
            let by_schema = value.chars().count() <= max
                && pattern.as_ref().is_none_or(|re| re.is_match(value));
            assert_eq!(by_schema, valid, "{field}={value:?}: the schema's verdict");
            let by_server = accepted(&registration_with(&doc, field, &json!(value)));
            assert_eq!(by_server.is_ok(), valid, "{field}={value:?}: {by_server:?}");
        }
        // Values the pattern refuses are refused; values it allows are accepted.
        let samples: &[&str] = match field {
            "slug" => &["legacy_hub", "Alpha-1", "-a", "a-", "a.b", "a b", "é"],
            "name" => &["Command Center", "日本", " ", "a\u{7}b"],
            "mesh_namespace" => &["veria.mesh", "hub.x_y-z", "hub..x", "hub.*", "hub x"],
            _ => &[
                "http://localhost:8000",
                "https://a.example/x?y=1",
                "ftp://x",
                "http://u:p@h",
            ],
        };
        for sample in samples {
            let by_schema = pattern.as_ref().is_none_or(|re| re.is_match(sample))
                && min.is_none_or(|m| sample.chars().count() >= m);
            let by_server = accepted(&registration_with(&doc, field, &json!(sample)));
            assert_eq!(
                by_schema,
                by_server.is_ok(),
                "{field}={sample:?}: schema says {by_schema}, server {by_server:?}"
            );
        }
    }
    // Tags: the item schema's bounds.
    let tag = schema(&doc, "TagText");
    let (min, max, pattern) = string_bounds(tag);
    assert_eq!((min, max), (Some(1), Some(64)));
    for (sample, valid) in [
        ("Machine Learning", true),
        ("", false),
        ("a\nb", false),
        (&*"t".repeat(64), true),
        (&*"t".repeat(65), false),
    ] {
        let by_schema = pattern.as_ref().is_none_or(|re| re.is_match(sample))
            && sample.chars().count() <= 64
            && !sample.is_empty();
        assert_eq!(by_schema, valid, "tag {sample:?}: the schema");
        let by_server = accepted(&registration_with(&doc, "tags", &json!([sample])));
        assert_eq!(by_server.is_ok(), valid, "tag {sample:?}: {by_server:?}");
    }
}

#[actix_web::test]
async fn the_heartbeat_schema_has_no_example_that_ages_into_a_replay() {
    let doc = description().await;
    let hb = schema(&doc, "HeartbeatRequest");
    assert!(
        hb["properties"]["timestamp"].get("example").is_none(),
        "a fixed timestamp example becomes a replay within the hour"
    );
    let mut body = serde_json::Map::new();
    for (name, p) in hb["properties"].as_object().unwrap() {
        if let Some(example) = p.get("example") {
            body.insert(name.clone(), example.clone());
        }
    }
    let bytes = serde_json::to_vec(&Value::Object(body)).unwrap();
    federation_domain::heartbeat::decode(
        "commandcenter",
        &bytes,
        chrono::Utc::now(),
        &StatusPolicy::default(),
    )
    .unwrap();
}
