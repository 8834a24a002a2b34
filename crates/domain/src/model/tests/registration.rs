//! RegistrationInput.

use super::*;

const SEED_BODY: &str = r#"{
    "slug": "commandcenter",
    "name": "CommandCenter",
    "hub_url": "http://localhost:8000",
    "mesh_namespace": "hub.commandcenter",
    "tags": ["python"]
}"#;

fn input(slug: &str, name: &str, url: &str) -> RegistrationInput {
    RegistrationInput {
        slug: Some(slug.into()),
        name: Some(name.into()),
        hub_url: Some(url.into()),
        mesh_namespace: None,
        tags: None,
        metadata: None,
        heartbeat_interval: None,
    }
}

#[test]
fn registration_accepts_the_seed_body() {
    let input: RegistrationInput = serde_json::from_str(SEED_BODY).unwrap();
    let r = input.validate().unwrap();
    assert_eq!(r.slug.as_str(), "commandcenter");
    assert_eq!(r.name.as_str(), "CommandCenter");
    assert_eq!(r.hub_url.as_str(), "http://localhost:8000");
    assert_eq!(r.mesh_namespace.as_str(), "hub.commandcenter");
    assert_eq!(r.tags.as_slice(), [Tag::parse("python").unwrap()]);
}

#[test]
fn registration_defaults_namespace_and_tags() {
    let r = input("Alpha", "Alpha", "https://alpha.example")
        .validate()
        .unwrap();
    assert_eq!(r.slug.as_str(), "alpha");
    assert_eq!(r.mesh_namespace.as_str(), "hub.alpha");
    assert!(r.tags.is_empty());
    // Only the required fields in JSON; unknown fields are ignored.
    let body = r#"{"slug":"a","name":"A","hub_url":"http://a","extra":1,"tags":null}"#;
    let r = serde_json::from_str::<RegistrationInput>(body)
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(r.mesh_namespace.as_str(), "hub.a");
}

#[test]
fn registration_names_each_missing_required_field() {
    let full = input("a", "A", "http://a");
    let mut no_slug = full.clone();
    no_slug.slug = None;
    let mut no_name = full.clone();
    no_name.name = None;
    let mut no_url = full.clone();
    no_url.hub_url = None;
    for (inp, field) in [(no_slug, "slug"), (no_name, "name"), (no_url, "hub_url")] {
        let err = inp.validate().unwrap_err();
        assert_eq!(err.field, field);
        assert_eq!(err.message, "is required");
    }
    let err = RegistrationInput::default().validate().unwrap_err();
    assert_eq!(err.field, "slug", "first failure in field order");
}

#[test]
fn registration_names_each_invalid_field() {
    assert_eq!(
        field_of(input("bad slug", "A", "http://a").validate()),
        "slug"
    );
    assert_eq!(field_of(input("a", " ", "http://a").validate()), "name");
    assert_eq!(field_of(input("a", "A", "ftp://a").validate()), "hub_url");
    let mut wrong_ns = input("a", "A", "http://a");
    wrong_ns.mesh_namespace = Some("hub..b".into());
    assert_eq!(field_of(wrong_ns.validate()), "mesh_namespace");
    let mut bad_tag = input("a", "A", "http://a");
    bad_tag.tags = Some(vec!["ok".into(), "no\nway".into()]);
    assert_eq!(field_of(bad_tag.validate()), "tags[1]");
}

#[test]
fn registration_body_with_wrong_types_does_not_deserialize() {
    assert!(serde_json::from_str::<RegistrationInput>(r#"{"slug": 5}"#).is_err());
    assert!(serde_json::from_str::<RegistrationInput>(r#"{"tags": "python"}"#).is_err());
}
