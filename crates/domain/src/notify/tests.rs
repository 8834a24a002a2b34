//! Channel validation and rule matching.

use super::*;
use crate::model::{HubUrl, MeshNamespace, Origin, Project, ProjectName, Status, Tags};
use crate::testing::{slug, t0};

/// An online project with no tags or metadata.
pub(super) fn project(name: &str) -> Project {
    let slug = slug(name);
    Project {
        id: 1,
        mesh_namespace: MeshNamespace::for_slug(&slug),
        slug,
        name: ProjectName::parse("A project").unwrap(),
        hub_url: HubUrl::parse("http://hub.example:8000").unwrap(),
        status: Status::Online,
        status_reason: None,
        tags: Tags::default(),
        metadata: crate::model::Metadata::default(),
        version: None,
        last_heartbeat_at: None,
        clock_skew_seconds: None,
        heartbeat_interval: None,
        maintenance: None,
        origin: Origin::Api,
        heartbeat_key: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn input(kind: &str, url: &str, secret: Option<&str>) -> ChannelInput {
    ChannelInput {
        name: Some("Ops".into()),
        kind: Some(kind.into()),
        url: Some(url.into()),
        secret: secret.map(Into::into),
        ..ChannelInput::default()
    }
}

fn field(r: Result<ChannelSpec, crate::ValidationError>) -> String {
    r.expect_err("refused").field
}

#[test]
fn a_webhook_needs_an_http_url_without_credentials_and_a_secret() {
    let ok = ChannelSpec::parse(input(
        "webhook",
        "https://r.example/h",
        Some("s3cret-s3cret-s3cret"),
    ))
    .unwrap();
    assert_eq!(ok.name.as_str(), "ops");
    assert!(ok.enabled);
    assert_eq!(ok.rules, Rules::default());
    let secret = "s3cret-s3cret-s3cret";
    for url in [
        "ftp://r.example/h",
        "https://u:p@r.example/h",
        "https://u@r.example/",
        "/relative",
        "",
    ] {
        assert_eq!(
            field(ChannelSpec::parse(input("webhook", url, Some(secret)))),
            "url",
            "{url}"
        );
    }
    assert_eq!(
        field(ChannelSpec::parse(input(
            "webhook",
            "https://r.example/h",
            None
        ))),
        "secret"
    );
    assert_eq!(
        field(ChannelSpec::parse(input(
            "webhook",
            "https://r.example/h",
            Some("short")
        ))),
        "secret"
    );
    assert_eq!(
        field(ChannelSpec::parse(input(
            "webhook",
            "https://r.example/h",
            Some("has blanks in the secret")
        ))),
        "secret"
    );
    assert_eq!(
        field(ChannelSpec::parse(input(
            "pager",
            "https://r.example/h",
            Some(secret)
        ))),
        "kind"
    );
    let mut no_name = input("webhook", "https://r.example/h", Some(secret));
    no_name.name = None;
    assert_eq!(field(ChannelSpec::parse(no_name)), "name");
}

#[test]
fn a_slack_channel_takes_no_secret_and_its_url_is_shown_redacted() {
    let url = "https://hooks.slack.com/services/T000/B000/XXXXXXXX";
    let ok = ChannelSpec::parse(input("slack", url, None)).unwrap();
    assert_eq!(ok.url.redacted(), "https://hooks.slack.com/…");
    assert!(!format!("{ok:?}").contains("XXXXXXXX"));
    assert_eq!(ok.url.as_str(), url);
    assert_eq!(
        field(ChannelSpec::parse(input(
            "slack",
            url,
            Some("s3cret-s3cret-s3cret")
        ))),
        "secret"
    );
}

#[test]
fn a_secret_never_shows_in_debug_and_a_replace_keeps_it() {
    let spec = ChannelSpec::parse(input(
        "webhook",
        "http://10.1.2.3:8080/h",
        Some("s3cret-s3cret-s3cret"),
    ))
    .unwrap();
    assert!(!format!("{spec:?}").contains("s3cret"));
    let replaced =
        ChannelSpec::parse_replacing(input("webhook", "http://10.1.2.3:8080/h2", None), &spec)
            .unwrap();
    assert_eq!(replaced.secret, spec.secret);
    // A new secret replaces it.
    let new = ChannelSpec::parse_replacing(
        input(
            "webhook",
            "http://10.1.2.3:8080/h2",
            Some("another-secret-value"),
        ),
        &spec,
    )
    .unwrap();
    assert_eq!(new.secret.unwrap().expose(), "another-secret-value");
}

#[test]
fn rules_are_bounded_and_name_the_field() {
    let check = |r: Rules| r.check().expect_err("refused").field;
    assert_eq!(
        check(Rules {
            on: vec![],
            ..Rules::default()
        }),
        "rules.on"
    );
    assert_eq!(
        check(Rules {
            hold_seconds: 86_401,
            ..Rules::default()
        }),
        "rules.hold_seconds"
    );
    assert_eq!(
        check(Rules {
            remind_every_seconds: Some(10),
            ..Rules::default()
        }),
        "rules.remind_every_seconds"
    );
    assert_eq!(
        check(Rules {
            slugs: vec!["ok".into(), "Not OK!".into()],
            ..Rules::default()
        }),
        "rules.slugs[1]"
    );
    assert_eq!(
        check(Rules {
            slugs: vec!["a".into(); 101],
            ..Rules::default()
        }),
        "rules.slugs"
    );
    assert_eq!(
        check(Rules {
            tags: vec![String::new()],
            ..Rules::default()
        }),
        "rules.tags[0]"
    );
    let normal = Rules {
        slugs: vec!["A".into(), "a".into()],
        on: vec![Trigger::Recovered, Trigger::Offline, Trigger::Offline],
        ..Rules::default()
    }
    .normalized()
    .unwrap();
    assert_eq!(normal.slugs, ["a"]);
    assert_eq!(normal.on, [Trigger::Offline, Trigger::Recovered]);
}

#[test]
fn rules_select_by_slug_tag_and_metadata() {
    let mut p = project("alpha");
    p.tags = crate::Tags::parse(&["Prod", "eu"]).unwrap();
    p.metadata =
        crate::Metadata::from_json(serde_json::json!({"team": "core", "tier": 1})).unwrap();
    assert!(Rules::default().selects(&p));
    assert!(Rules {
        slugs: vec!["alpha".into()],
        ..Rules::default()
    }
    .selects(&p));
    assert!(!Rules {
        slugs: vec!["beta".into()],
        ..Rules::default()
    }
    .selects(&p));
    assert!(Rules {
        tags: vec!["prod".into(), "us".into()],
        ..Rules::default()
    }
    .selects(&p));
    assert!(!Rules {
        tags: vec!["us".into()],
        ..Rules::default()
    }
    .selects(&p));
    let meta = |k: &str, v: serde_json::Value| Rules {
        metadata: [(k.to_owned(), v)].into(),
        ..Rules::default()
    };
    assert!(meta("team", "core".into()).selects(&p));
    assert!(meta("tier", 1.into()).selects(&p));
    assert!(!meta("tier", "1".into()).selects(&p));
    assert!(!meta("owner", "x".into()).selects(&p));
}
