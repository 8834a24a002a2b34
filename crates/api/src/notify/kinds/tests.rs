use actix_web::ResponseError;
use serde_json::json;

use super::*;

/// The field an error names (as its Debug shows it).
fn field_of(e: ApiError) -> String {
    let shown = format!("{e:?}");
    shown
        .split("field: Some(\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn each_kind_parses_its_own_object() {
    let w = NewChannel::from_value(json!({"name": "ops", "kind": "webhook",
        "url": "https://r.example/h", "secret": "whsec-0123456789abcdef"}))
    .unwrap();
    assert!(matches!(w, NewChannel::Webhook(_)));
    let s = NewChannel::from_value(
        json!({"name": "chat", "kind": "slack", "url": "https://hooks.example/s/T/B/X"}),
    )
    .unwrap();
    assert!(matches!(s, NewChannel::Slack(_)));
    let e = NewChannel::from_value(json!({"name": "mail", "kind": "email",
        "url": "smtp://mail.example", "email": {"from": "a@x.org", "to": ["b@x.org"]}}))
    .unwrap();
    let input = ChannelInput::from(e);
    assert_eq!(input.kind.as_deref(), Some("email"));
    assert_eq!(input.email.unwrap().to, Some(vec!["b@x.org".to_owned()]));
}

#[test]
fn errors_name_the_field() {
    for (body, field) in [
        (json!({"name": "a", "url": "https://r.example"}), "kind"),
        (
            json!({"name": "a", "kind": "pager", "url": "https://r.example"}),
            "kind",
        ),
        (
            json!({"name": "a", "kind": " slack", "url": "https://r.example"}),
            "kind",
        ),
        (
            json!({"name": "a", "kind": 3, "url": "https://r.example"}),
            "kind",
        ),
        (
            json!({"name": "a", "kind": "slack", "url": "https://r.example", "secret": "s"}),
            "secret",
        ),
        (
            json!({"name": "a", "kind": "slack", "url": "https://r.example", "email": {}}),
            "email",
        ),
        (
            json!({"name": "a", "kind": "webhook", "url": "https://r.example", "email": null}),
            "email",
        ),
        (
            json!({"name": "a", "kind": "webhook", "url": "https://r.example"}),
            "secret",
        ),
        (
            json!({"name": "a", "kind": "email", "url": "smtp://m"}),
            "email",
        ),
        (
            json!({"name": "a", "kind": "email", "url": "smtp://m", "email": {"from": "a@x.org"}}),
            "email.to",
        ),
        (
            json!({"name": "a", "kind": "webhook", "url": "https://r.example", "secret": "whsec-0123456789abcdef", "rules": [1]}),
            "rules",
        ),
        (
            json!({"name": "a", "kind": "webhook", "url": "https://r.example", "secret": "whsec-0123456789abcdef", "colour": 1}),
            "colour",
        ),
    ] {
        let e = NewChannel::from_value(body.clone()).expect_err(&body.to_string());
        assert_eq!(e.status_code().as_u16(), 422, "{body}");
        assert_eq!(field_of(e), field, "{body}");
    }
}

#[test]
fn a_replacement_may_leave_out_name_and_secret() {
    let r =
        ChannelReplacement::from_value(json!({"kind": "webhook", "url": "https://r.example/h"}))
            .unwrap();
    assert_eq!(r.name(), None);
    let input = r.into_input("ops");
    assert_eq!(input.name.as_deref(), Some("ops"));
    assert_eq!(input.secret, None);
}

#[test]
fn the_description_is_a_one_of_by_kind() {
    let schema = serde_json::to_value(NewChannel::schema()).unwrap();
    assert_eq!(schema["discriminator"]["propertyName"], "kind", "{schema}");
    assert_eq!(
        schema["discriminator"]["mapping"]["email"],
        "#/components/schemas/NewEmail"
    );
    assert_eq!(schema["oneOf"].as_array().unwrap().len(), 3);
    let mut out = Vec::new();
    NewChannel::schemas(&mut out);
    let names: Vec<_> = out.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "NewWebhook",
        "NewSlack",
        "NewEmail",
        "WebhookKind",
        "EmailBody",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let webhook = serde_json::to_value(NewWebhook::schema()).unwrap();
    assert_eq!(webhook["additionalProperties"], false, "{webhook}");
    let required: Vec<_> = webhook["required"].as_array().unwrap().iter().collect();
    assert!(required.contains(&&json!("secret")), "{webhook}");
}
