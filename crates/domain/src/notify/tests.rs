//! Channel validation and rule matching.

use super::*;
use crate::model::{HubUrl, MeshNamespace, Origin, Project, ProjectName, Status, Tags};
use crate::testing::{slug, t0};

/// An online project with no tags or metadata.
pub(crate) fn project(name: &str) -> Project {
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
        flapping_since: None,
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

fn field_of(r: Result<ChannelSpec, crate::ValidationError>) -> String {
    field(r)
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

fn email_input(url: &str, email: Option<EmailInput>, secret: Option<&str>) -> ChannelInput {
    ChannelInput {
        name: Some("mail".into()),
        kind: Some("email".into()),
        url: Some(url.into()),
        secret: secret.map(Into::into),
        email,
        ..ChannelInput::default()
    }
}

fn settings(from: &str, to: &[&str], user: Option<&str>, tls: Option<&str>) -> Option<EmailInput> {
    Some(EmailInput {
        from: Some(from.into()),
        to: Some(to.iter().map(|s| (*s).to_owned()).collect()),
        username: user.map(Into::into),
        tls: tls.map(Into::into),
    })
}

#[test]
fn an_email_channel_needs_an_smtp_url_addresses_and_a_password_only_with_a_login() {
    let ok = ChannelSpec::parse(email_input(
        "smtp://mail.example:587",
        settings("f@x.org", &["a@x.org"], None, None),
        None,
    ))
    .unwrap();
    assert_eq!(ok.email.as_ref().unwrap().tls, SmtpTls::Starttls);
    let login = ChannelSpec::parse(email_input(
        "smtp://mail.example",
        settings("f@x.org", &["a@x.org"], Some("bot"), Some("tls")),
        Some("pw"),
    ))
    .unwrap();
    assert_eq!(login.secret.unwrap().expose(), "pw");
    let s = settings("f@x.org", &["a@x.org"], None, None);
    for (url, field) in [
        ("https://mail.example", "url"),
        ("smtp://u:p@mail.example", "url"),
        ("smtp://mail.example/x", "url"),
    ] {
        assert_eq!(
            field_of(ChannelSpec::parse(email_input(url, s.clone(), None))),
            field,
            "{url}"
        );
    }
    let url = "smtp://mail.example";
    assert_eq!(
        field_of(ChannelSpec::parse(email_input(url, None, None))),
        "email"
    );
    assert_eq!(
        field_of(ChannelSpec::parse(email_input(
            url,
            settings("nope", &["a@x.org"], None, None),
            None
        ))),
        "email.from"
    );
    assert_eq!(
        field_of(ChannelSpec::parse(email_input(
            url,
            settings("f@x.org", &[], None, None),
            None
        ))),
        "email.to"
    );
    assert_eq!(
        field_of(ChannelSpec::parse(email_input(
            url,
            settings("f@x.org", &["a@x.org", "b c@x.org"], None, None),
            None
        ))),
        "email.to[1]"
    );
    assert_eq!(
        field_of(ChannelSpec::parse(email_input(
            url,
            settings("f@x.org", &["a@x.org"], None, Some("ssl")),
            None
        ))),
        "email.tls"
    );
    assert_eq!(
        field_of(ChannelSpec::parse(email_input(url, s.clone(), Some("pw")))),
        "secret",
        "a password without a login"
    );
    assert_eq!(
        field_of(ChannelSpec::parse(email_input(
            url,
            settings("f@x.org", &["a@x.org"], Some("bot"), None),
            None
        ))),
        "secret",
        "a login without a password"
    );
    let mut webhook = input(
        "webhook",
        "https://r.example/h",
        Some("s3cret-s3cret-s3cret"),
    );
    webhook.email = s;
    assert_eq!(field_of(ChannelSpec::parse(webhook)), "email");
}

#[test]
fn a_replace_keeps_a_secret_only_for_the_same_kind_and_else_conflicts() {
    let webhook = ChannelSpec::parse(input(
        "webhook",
        "https://r.example/h",
        Some("whsec-0123456789abcdef"),
    ))
    .unwrap();
    // webhook -> email with a login and no password: the webhook's secret is not the
    // SMTP password; nothing to keep is a conflict with the channel, not a bad field.
    let e = ChannelSpec::parse_replacing(
        email_input(
            "smtp://mail.example",
            settings("a@x.org", &["b@x.org"], Some("bot"), None),
            None,
        ),
        &webhook,
    )
    .unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.conflict),
        ("secret", Some("no_secret_stored"))
    );
    // A create with the same body is a plain 422 (`secret` is required).
    let e = ChannelSpec::parse(email_input(
        "smtp://mail.example",
        settings("a@x.org", &["b@x.org"], Some("bot"), None),
        None,
    ))
    .unwrap_err();
    assert_eq!((e.field.as_str(), e.conflict), ("secret", None));
    // email with a login -> email without one: the stored password is dropped.
    let mail = ChannelSpec::parse(email_input(
        "smtp://mail.example",
        settings("a@x.org", &["b@x.org"], Some("bot"), None),
        Some("hunter2"),
    ))
    .unwrap();
    let plain = ChannelSpec::parse_replacing(
        email_input(
            "smtp://mail.example",
            settings("a@x.org", &["b@x.org"], None, None),
            None,
        ),
        &mail,
    )
    .unwrap();
    assert!(plain.secret.is_none());
    // ... and kept while the login stays.
    let kept = ChannelSpec::parse_replacing(
        email_input(
            "smtp://mail.example",
            settings("a@x.org", &["b@x.org"], Some("bot"), None),
            None,
        ),
        &mail,
    )
    .unwrap();
    assert_eq!(kept.secret.unwrap().expose(), "hunter2");
}
