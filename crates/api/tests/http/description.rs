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
        // `examples` (JSON Schema 2020-12), or the older `example`.
        if let Some(example) = p
            .get("examples")
            .and_then(|e| e.get(0))
            .or_else(|| p.get("example"))
        {
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
        // `examples` (JSON Schema 2020-12), or the older `example`.
        if let Some(example) = p
            .get("examples")
            .and_then(|e| e.get(0))
            .or_else(|| p.get("example"))
        {
            body.insert(name.clone(), example.clone());
        }
    }
    let bytes = serde_json::to_vec(&Value::Object(body)).unwrap();
    federation_domain::heartbeat::decode(
        "commandcenter",
        &bytes,
        &federation_domain::heartbeat::Window::new(chrono::Utc::now(), &StatusPolicy::default()),
        None,
    )
    .unwrap();
}

#[actix_web::test]
async fn the_heartbeat_schema_names_every_field_of_the_wire_type() {
    let doc = description().await;
    let hb = schema(&doc, "HeartbeatRequest");
    let described: std::collections::BTreeSet<&str> = hb["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // Every field set (but the envelope, which the schema's description names).
    let wire = federation_wire::HeartbeatWire {
        project_slug: Some("a".into()),
        hub_url: Some("http://x".into()),
        mesh_namespace: Some("hub.a".into()),
        timestamp: Some("2025-11-18T12:00:00Z".into()),
        version: Some("1".into()),
        status: Some("online".into()),
        reasons: Some(vec![]),
        interval: Some(30.0),
        payload: None,
    };
    let encoded: Value = serde_json::from_slice(&wire.encode().unwrap()).unwrap();
    let sent: std::collections::BTreeSet<&str> = encoded
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(described, sent);
}

/// Registration through the handlers (the HTTP layer's own decoding, not only the
/// domain's): the status and the reply.
async fn register(h: &Harness, body: &Value) -> Reply {
    h.send_w(json_post("/api/fed/projects", &body.to_string()))
        .await
}

#[actix_web::test]
async fn metadata_bounds_in_the_description_are_the_servers() {
    let doc = description().await;
    let h = Builder::stored(&[]).build();
    // The example as it stands is accepted and comes back as written.
    let meta = schema(&doc, "MetadataObject");
    let meta_example = meta["examples"][0].clone();
    assert!(meta_example.is_object(), "metadata has an example: {meta}");
    let example = registration_with(&doc, "metadata", &meta_example);
    let r = register(&h, &example).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.raw);
    assert_eq!(r.json["metadata"], meta_example);

    assert_eq!(meta["type"], "object");
    let max_keys = meta["maxProperties"].as_u64().unwrap() as usize;
    let names = &meta["propertyNames"];
    let (min, max, pattern) = string_bounds(names);
    let (min, max, pattern) = (min.unwrap(), max.unwrap(), pattern.unwrap());
    let with_meta = |m: Value| registration_with(&doc, "metadata", &m);
    for n in [max_keys, max_keys + 1] {
        let m: serde_json::Map<String, Value> =
            (0..n).map(|i| (format!("k{i}"), json!(i))).collect();
        let r = register(&h, &with_meta(Value::Object(m))).await;
        let valid = n <= max_keys;
        assert_eq!(r.status.is_success(), valid, "{n} keys: {}", r.raw);
        if !valid {
            assert_eq!(r.error().1.as_deref(), Some("metadata"));
        }
    }
    let long = "k".repeat(max);
    let longer = "k".repeat(max + 1);
    for key in [
        "allow_fanout",
        "team.name-2",
        "a b",
        "é",
        "",
        "a=b",
        long.as_str(),
        longer.as_str(),
    ] {
        let by_schema = pattern.is_match(key) && (min..=max).contains(&key.chars().count());
        let r = register(&h, &with_meta(json!({ key: 1 }))).await;
        assert_eq!(
            r.status.is_success(),
            by_schema,
            "key {key:?}: schema says {by_schema}, server {}",
            r.raw
        );
    }
    // Not an object: refused, naming the field.
    let r = register(&h, &with_meta(json!(["x"]))).await;
    assert_eq!(r.error().1.as_deref(), Some("metadata"), "{}", r.raw);
}

#[actix_web::test]
async fn patch_and_filters_agree_with_the_description() {
    let doc = description().await;
    let h = Builder::stored(&["alpha"]).build();
    let patch = schema(&doc, "PatchRequest");
    // tags: [""] breaks the item schema (minLength 1) and is refused.
    assert_eq!(schema(&doc, "TagText")["minLength"], 1);
    let r = h
        .send_w(json_patch("/api/fed/projects/alpha", r#"{"tags":[""]}"#))
        .await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.raw);
    assert_eq!(r.error().1.as_deref(), Some("tags[0]"));
    // tags: null and metadata: null are allowed by the description and accepted.
    let nullable = |field: &str| {
        let p = &patch["properties"][field];
        p["nullable"] == json!(true)
            || p["type"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("null")))
            || p["oneOf"]
                .as_array()
                .is_some_and(|o| o.iter().any(|s| s["type"] == "null"))
    };
    assert!(nullable("tags") && nullable("metadata"), "{patch}");
    assert!(!nullable("name") && !nullable("hub_url"), "{patch}");
    let r = h
        .send_w(json_patch(
            "/api/fed/projects/alpha",
            r#"{"tags":null,"metadata":{"team":"ops","allow_fanout":[]}}"#,
        ))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.raw);
    assert_eq!(r.json["tags"], json!([]));
    assert_eq!(
        r.json["metadata"],
        json!({"team": "ops", "allow_fanout": []})
    );
    // A key given null is removed, others stay.
    let r = h
        .send_w(json_patch(
            "/api/fed/projects/alpha",
            r#"{"metadata":{"allow_fanout":null,"n":3}}"#,
        ))
        .await;
    assert_eq!(
        r.json["metadata"],
        json!({"team": "ops", "n": 3}),
        "{}",
        r.raw
    );

    // A non-ASCII tag filter fits the description's pattern and is answered.
    let tag_param = doc["paths"]["/api/fed/projects"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "tag")
        .unwrap()
        .clone();
    let tag_pattern = regex::Regex::new(tag_param["schema"]["pattern"].as_str().unwrap()).unwrap();
    assert!(tag_pattern.is_match("été"));
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects?tag=%C3%A9t%C3%A9"))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.raw);
    assert_eq!(r.json, json!([]));

    // meta.KEY filters, as the operation's description says.
    let described = doc["paths"]["/api/fed/projects"]["get"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(described.contains("meta.KEY"), "{described}");
    for (query, expect) in [
        ("meta.team=ops", json!(["alpha"])),
        ("meta.n=3&meta.team=ops", json!(["alpha"])),
        ("meta.team=web", json!([])),
        ("meta.allow_fanout=%5B%5D", json!([])),
    ] {
        let r = h
            .send_w(TestRequest::get().uri(&format!("/api/fed/projects?{query}")))
            .await;
        assert_eq!(r.status.as_u16(), 200, "{query}: {}", r.raw);
        let slugs: Vec<&Value> = r
            .json
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["slug"])
            .collect();
        assert_eq!(json!(slugs), expect, "{query}");
    }
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects?meta.a%20b=x"))
        .await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.raw);
    assert_eq!(r.error().1.as_deref(), Some("meta.a b"));
}
