//! The channel request bodies, by kind: `POST /api/fed/channels` takes a [`NewChannel`],
//! `PUT /api/fed/channels/{name}` a [`ChannelReplacement`]. Each is one of three objects
//! told apart by `kind` (a `oneOf` with a discriminator), and each object takes only its
//! kind's fields: the types that parse are the types the description shows. They
//! convert into the domain's input, which validates what no schema states.

use std::borrow::Cow;

use federation_domain::notify::{ChannelInput, EmailInput, Rules};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::schema::{AllOfBuilder, Discriminator, OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::requests::{EmailBody, RulesBody};
use super::schemas;
use crate::error::ApiError;
use federation_domain::ValidationError;

/// `"webhook"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum WebhookKind {
    #[serde(rename = "webhook")]
    Webhook,
}

/// `"slack"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum SlackKind {
    #[serde(rename = "slack")]
    Slack,
}

/// `"email"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum EmailKind {
    #[serde(rename = "email")]
    Email,
}

/// A new webhook channel: signed JSON to any HTTP receiver.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "ops", "kind": "webhook", "url": "https://receiver.example/federation",
    "secret": "whsec-0123456789abcdef",
    "rules": {"tags": ["prod"], "on": ["offline", "recovered"], "hold_seconds": 120}
}))]
pub struct NewWebhook {
    #[schema(schema_with = schemas::name)]
    pub name: String,
    pub kind: WebhookKind,
    #[schema(schema_with = schemas::url)]
    pub url: String,
    #[schema(schema_with = schemas::webhook_secret)]
    pub secret: String,
    #[serde(default)]
    pub rules: Option<RulesBody>,
    /// Whether messages are sent (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A new Slack-compatible incoming webhook (Mattermost and Rocket.Chat take the same
/// body); its URL is its secret, so it takes no `secret`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "chat", "kind": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXXX",
    "rules": {"on": ["offline", "recovered"]}
}))]
pub struct NewSlack {
    #[schema(schema_with = schemas::name)]
    pub name: String,
    pub kind: SlackKind,
    #[schema(schema_with = schemas::url)]
    pub url: String,
    #[serde(default)]
    pub rules: Option<RulesBody>,
    /// Whether messages are sent (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A new email channel: messages through an SMTP relay.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "mail", "kind": "email", "url": "smtp://mail.example:587",
    "secret": "hunter2-password",
    "email": {"from": "federation@example.org", "to": ["ops@example.org"],
              "username": "federation-bot", "tls": "starttls"}
}))]
pub struct NewEmail {
    #[schema(schema_with = schemas::name)]
    pub name: String,
    pub kind: EmailKind,
    #[schema(schema_with = schemas::smtp_url)]
    pub url: String,
    #[serde(default)]
    #[schema(schema_with = schemas::password)]
    pub secret: Option<String>,
    pub email: EmailBody,
    #[serde(default)]
    pub rules: Option<RulesBody>,
    /// Whether messages are sent (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A webhook channel's new definition; no `secret` keeps the stored one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "webhook", "url": "https://receiver.example/federation",
    "rules": {"tags": ["prod"], "on": ["offline", "recovered"], "hold_seconds": 120},
    "enabled": false
}))]
pub struct WebhookReplacement {
    #[serde(default)]
    #[schema(schema_with = schemas::name_or_path)]
    pub name: Option<String>,
    pub kind: WebhookKind,
    #[schema(schema_with = schemas::url)]
    pub url: String,
    #[serde(default)]
    #[schema(schema_with = schemas::webhook_secret_or_kept)]
    pub secret: Option<String>,
    #[serde(default)]
    pub rules: Option<RulesBody>,
    /// Whether messages are sent (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A Slack channel's new definition.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXXX"
}))]
pub struct SlackReplacement {
    #[serde(default)]
    #[schema(schema_with = schemas::name_or_path)]
    pub name: Option<String>,
    pub kind: SlackKind,
    #[schema(schema_with = schemas::url)]
    pub url: String,
    #[serde(default)]
    pub rules: Option<RulesBody>,
    /// Whether messages are sent (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// An email channel's new definition; a login without a `secret` keeps the stored
/// password.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "email", "url": "smtp://mail.example:587",
    "email": {"from": "federation@example.org", "to": ["ops@example.org"], "tls": "starttls"}
}))]
pub struct EmailReplacement {
    #[serde(default)]
    #[schema(schema_with = schemas::name_or_path)]
    pub name: Option<String>,
    pub kind: EmailKind,
    #[schema(schema_with = schemas::smtp_url)]
    pub url: String,
    #[serde(default)]
    #[schema(schema_with = schemas::password)]
    pub secret: Option<String>,
    pub email: EmailBody,
    #[serde(default)]
    pub rules: Option<RulesBody>,
    /// Whether messages are sent (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `POST /api/fed/channels`: a webhook, Slack or email channel, by `kind`.
#[derive(Debug, Clone)]
pub enum NewChannel {
    Webhook(NewWebhook),
    Slack(NewSlack),
    Email(NewEmail),
}

/// `PUT /api/fed/channels/{name}`: the channel's new definition, by `kind` (which may
/// change).
#[derive(Debug, Clone)]
pub enum ChannelReplacement {
    Webhook(WebhookReplacement),
    Slack(SlackReplacement),
    Email(EmailReplacement),
}

fn input(
    name: Option<String>,
    kind: &str,
    url: String,
    secret: Option<String>,
    rules: Option<RulesBody>,
    enabled: Option<bool>,
    email: Option<EmailBody>,
) -> ChannelInput {
    ChannelInput {
        name,
        kind: Some(kind.to_owned()),
        url: Some(url),
        secret,
        rules: rules.map(Rules::from),
        enabled,
        email: email.map(EmailInput::from),
    }
}

impl From<NewChannel> for ChannelInput {
    fn from(c: NewChannel) -> Self {
        match c {
            NewChannel::Webhook(w) => input(
                Some(w.name),
                "webhook",
                w.url,
                Some(w.secret),
                w.rules,
                w.enabled,
                None,
            ),
            NewChannel::Slack(s) => {
                input(Some(s.name), "slack", s.url, None, s.rules, s.enabled, None)
            }
            NewChannel::Email(e) => input(
                Some(e.name),
                "email",
                e.url,
                e.secret,
                e.rules,
                e.enabled,
                Some(e.email),
            ),
        }
    }
}

impl ChannelReplacement {
    /// The `name` given in the body, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            ChannelReplacement::Webhook(w) => w.name.as_deref(),
            ChannelReplacement::Slack(s) => s.name.as_deref(),
            ChannelReplacement::Email(e) => e.name.as_deref(),
        }
    }

    /// The domain's input, named `name` (the path's).
    pub fn into_input(self, name: &str) -> ChannelInput {
        let name = Some(name.to_owned());
        match self {
            ChannelReplacement::Webhook(w) => {
                input(name, "webhook", w.url, w.secret, w.rules, w.enabled, None)
            }
            ChannelReplacement::Slack(s) => {
                input(name, "slack", s.url, None, s.rules, s.enabled, None)
            }
            ChannelReplacement::Email(e) => input(
                name,
                "email",
                e.url,
                e.secret,
                e.rules,
                e.enabled,
                Some(e.email),
            ),
        }
    }
}

/// Fields some kinds do not take, with the domain's words for why (a 422 naming the
/// field, as before the kinds had objects of their own).
fn refuse_foreign_fields(kind: &str, value: &Value) -> Result<(), ApiError> {
    let refused: &[(&str, &str)] = match kind {
        "webhook" => &[("email", "is taken only by an email channel")],
        "slack" => &[
            ("email", "is taken only by an email channel"),
            (
                "secret",
                "is not taken for a Slack channel (its URL is its secret)",
            ),
        ],
        _ => &[],
    };
    match refused.iter().find(|(f, _)| value.get(f).is_some()) {
        Some((field, message)) => Err(ApiError::validation(ValidationError::new(*field, *message))),
        None => Ok(()),
    }
}

/// `rules` and `email` must be objects (serde would read a struct from an array too).
fn objects_only(value: &Value) -> Result<(), ApiError> {
    for field in ["rules", "email"] {
        if value
            .get(field)
            .is_some_and(|v| !v.is_object() && !v.is_null())
        {
            return Err(ApiError::validation(ValidationError::new(
                field,
                "must be a JSON object",
            )));
        }
    }
    Ok(())
}

/// The body's `kind`: required, one of the three (the domain's words otherwise).
fn kind_of(value: &Value) -> Result<&'static str, ApiError> {
    if !value.is_object() {
        return Err(ApiError::unprocessable("must be a JSON object"));
    }
    let kind = match value.get("kind") {
        None | Some(Value::Null) => Err(ValidationError::new("kind", "is required")),
        Some(Value::String(s)) => {
            federation_domain::notify::ChannelKind::parse(s).map(|k| k.as_str())
        }
        Some(_) => Err(ValidationError::new(
            "kind",
            "must be \"webhook\", \"slack\" or \"email\"",
        )),
    }
    .map_err(ApiError::validation)?;
    // The objects take the kind as written (the domain's parse trims it).
    if value.get("kind").and_then(Value::as_str) != Some(kind) {
        return Err(ApiError::validation(ValidationError::new(
            "kind",
            format!("must be written {kind:?}, without blanks"),
        )));
    }
    objects_only(value)?;
    refuse_foreign_fields(kind, value)?;
    Ok(kind)
}

fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    crate::body::from_value(value)
}

impl NewChannel {
    /// Parses a create's body by its `kind`; errors name the field.
    pub fn from_value(value: Value) -> Result<Self, ApiError> {
        Ok(match kind_of(&value)? {
            "webhook" => NewChannel::Webhook(parse(value)?),
            "slack" => NewChannel::Slack(parse(value)?),
            _ => NewChannel::Email(parse(value)?),
        })
    }
}

impl ChannelReplacement {
    /// Parses a replace's body by its `kind`; errors name the field.
    pub fn from_value(value: Value) -> Result<Self, ApiError> {
        Ok(match kind_of(&value)? {
            "webhook" => ChannelReplacement::Webhook(parse(value)?),
            "slack" => ChannelReplacement::Slack(parse(value)?),
            _ => ChannelReplacement::Email(parse(value)?),
        })
    }
}

/// Reads a channel body: as [`crate::body::read_json`] does (at most
/// [`super::requests::MAX_CHANNEL_BODY`], a key given once), then by kind.
pub(crate) async fn read_body(
    req: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
) -> Result<Value, ApiError> {
    Ok(crate::body::read_json::<crate::body::UniqueJson>(
        req,
        payload,
        super::requests::MAX_CHANNEL_BODY,
    )
    .await?
    .0)
}

fn reference<T: ToSchema>() -> Ref {
    Ref::from_schema_name(T::name())
}

/// `oneOf` the three kinds' objects, with `kind` as the discriminator; the email
/// object carries the login rule.
fn by_kind<W: ToSchema, S: ToSchema, E: ToSchema>(create: bool, description: &str) -> Schema {
    let mut discriminator = Discriminator::new("kind");
    for (kind, name) in [
        ("webhook", W::name()),
        ("slack", S::name()),
        ("email", E::name()),
    ] {
        discriminator
            .mapping
            .insert(kind.to_owned(), format!("#/components/schemas/{name}"));
    }
    let email = AllOfBuilder::new()
        .item(reference::<E>())
        .item(schemas::login_rule(create))
        .build();
    Schema::OneOf(
        OneOfBuilder::new()
            .item(reference::<W>())
            .item(reference::<S>())
            .item(Schema::AllOf(email))
            .discriminator(Some(discriminator))
            .description(Some(description))
            .build(),
    )
}

fn collect<W: ToSchema, S: ToSchema, E: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((W::name().into_owned(), W::schema()));
    W::schemas(out);
    out.push((S::name().into_owned(), S::schema()));
    S::schemas(out);
    out.push((E::name().into_owned(), E::schema()));
    E::schemas(out);
}

impl PartialSchema for NewChannel {
    fn schema() -> RefOr<Schema> {
        by_kind::<NewWebhook, NewSlack, NewEmail>(
            true,
            "A new channel, by `kind`: `webhook` (signed JSON), `slack` (a Slack-compatible \
             incoming webhook) or `email` (SMTP). Each kind takes only its own fields.",
        )
        .into()
    }
}

impl ToSchema for NewChannel {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NewChannel")
    }

    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        collect::<NewWebhook, NewSlack, NewEmail>(out);
    }
}

impl PartialSchema for ChannelReplacement {
    fn schema() -> RefOr<Schema> {
        by_kind::<WebhookReplacement, SlackReplacement, EmailReplacement>(
            false,
            "A channel's new definition, by `kind` (which may change). `name` may be left \
             out; a stored secret is kept when none is given and the kind stays.",
        )
        .into()
    }
}

impl ToSchema for ChannelReplacement {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ChannelReplacement")
    }

    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        collect::<WebhookReplacement, SlackReplacement, EmailReplacement>(out);
    }
}

#[cfg(test)]
mod tests;
