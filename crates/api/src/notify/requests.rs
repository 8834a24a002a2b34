//! The channel request body: it parses and it documents (one source), and converts into
//! the domain's input, which validates.

use std::collections::BTreeMap;

use federation_domain::notify::{ChannelInput, EmailInput, EmailSpec, Rules, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::schemas;

/// Most bytes a channel body may have.
pub const MAX_CHANNEL_BODY: usize = 16 * 1024;

/// A change a channel is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerName {
    Offline,
    Degraded,
    Recovered,
}

impl From<TriggerName> for Trigger {
    fn from(t: TriggerName) -> Self {
        match t {
            TriggerName::Offline => Trigger::Offline,
            TriggerName::Degraded => Trigger::Degraded,
            TriggerName::Recovered => Trigger::Recovered,
        }
    }
}

impl From<Trigger> for TriggerName {
    fn from(t: Trigger) -> Self {
        match t {
            Trigger::Offline => TriggerName::Offline,
            Trigger::Degraded => TriggerName::Degraded,
            Trigger::Recovered => TriggerName::Recovered,
        }
    }
}

/// A channel's rules, as given and as shown. Absent parts mean "any": every project,
/// every change, told at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tags": ["prod"], "on": ["offline", "recovered"], "hold_seconds": 120}))]
pub struct RulesBody {
    #[serde(default)]
    #[schema(schema_with = schemas::rule_slugs)]
    pub slugs: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = schemas::rule_tags)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = schemas::rule_metadata)]
    pub metadata: Option<BTreeMap<String, Value>>,
    /// The changes told; absent: all three.
    #[serde(default)]
    pub on: Option<Vec<TriggerName>>,
    #[serde(default)]
    #[schema(schema_with = schemas::hold)]
    pub hold_seconds: Option<u32>,
    #[serde(default)]
    #[schema(schema_with = schemas::remind)]
    pub remind_every_seconds: Option<u32>,
}

impl From<RulesBody> for Rules {
    fn from(b: RulesBody) -> Self {
        let d = Rules::default();
        Rules {
            slugs: b.slugs.unwrap_or(d.slugs),
            tags: b.tags.unwrap_or(d.tags),
            metadata: b.metadata.unwrap_or(d.metadata),
            on: b
                .on
                .map_or(d.on, |on| on.into_iter().map(Trigger::from).collect()),
            hold_seconds: b.hold_seconds.unwrap_or(d.hold_seconds),
            remind_every_seconds: b.remind_every_seconds,
        }
    }
}

impl From<&Rules> for RulesBody {
    fn from(r: &Rules) -> Self {
        Self {
            slugs: Some(r.slugs.clone()),
            tags: Some(r.tags.clone()),
            metadata: Some(r.metadata.clone()),
            on: Some(r.on.iter().copied().map(TriggerName::from).collect()),
            hold_seconds: Some(r.hold_seconds),
            remind_every_seconds: r.remind_every_seconds,
        }
    }
}

/// An email channel's settings, as given and as shown (the SMTP password is the
/// channel's `secret`, never shown).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "federation@example.org", "to": ["ops@example.org"], "tls": "starttls"}))]
pub struct EmailBody {
    /// The sender address. Required.
    pub from: Option<String>,
    /// 1–20 recipient addresses. Required.
    pub to: Option<Vec<String>>,
    /// The SMTP login, when the relay wants one; the password is `secret`.
    pub username: Option<String>,
    /// `starttls` (default: required, port 587), `tls` (port 465) or `none` (a local
    /// relay only).
    #[schema(example = "starttls")]
    pub tls: Option<String>,
}

impl From<EmailBody> for EmailInput {
    fn from(b: EmailBody) -> Self {
        EmailInput {
            from: b.from,
            to: b.to,
            username: b.username,
            tls: b.tls,
        }
    }
}

impl From<&EmailSpec> for EmailBody {
    fn from(e: &EmailSpec) -> Self {
        let tls = match e.tls {
            federation_domain::notify::SmtpTls::Starttls => "starttls",
            federation_domain::notify::SmtpTls::Tls => "tls",
            federation_domain::notify::SmtpTls::None => "none",
        };
        Self {
            from: Some(e.from.clone()),
            to: Some(e.to.clone()),
            username: e.username.clone(),
            tls: Some(tls.to_owned()),
        }
    }
}

/// `POST /api/fed/channels` (and `PUT /api/fed/channels/{name}`, where `name` may be
/// left out). Unknown fields are refused.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "ops",
    "kind": "webhook",
    "url": "https://receiver.example/federation",
    "secret": "whsec-0123456789abcdef",
    "rules": {"tags": ["prod"], "on": ["offline", "recovered"], "hold_seconds": 120}
}))]
pub struct ChannelRequest {
    /// Required on create.
    #[schema(schema_with = schemas::name)]
    pub name: Option<String>,
    /// `webhook` (signed JSON), `slack` (a Slack-compatible incoming webhook) or
    /// `email` (SMTP; `url` is then `smtp://host[:port]`).
    #[schema(example = "webhook")]
    pub kind: Option<String>,
    /// Required.
    #[schema(schema_with = schemas::url)]
    pub url: Option<String>,
    #[schema(schema_with = schemas::secret)]
    pub secret: Option<String>,
    pub rules: Option<RulesBody>,
    /// Whether messages are sent (default `true`).
    pub enabled: Option<bool>,
    /// Required for an email channel, refused for the others.
    pub email: Option<EmailBody>,
}

impl From<ChannelRequest> for ChannelInput {
    fn from(r: ChannelRequest) -> Self {
        ChannelInput {
            name: r.name,
            kind: r.kind,
            url: r.url,
            secret: r.secret,
            rules: r.rules.map(Rules::from),
            enabled: r.enabled,
            email: r.email.map(EmailInput::from),
        }
    }
}

impl ChannelRequest {
    /// Reads the body: as [`crate::body::read_json`] does, with `rules` and `email`
    /// refused unless objects (serde would read a struct from an array too), and every
    /// other field's error named where serde stopped.
    pub(crate) async fn read(
        req: &actix_web::HttpRequest,
        payload: actix_web::web::Payload,
    ) -> Result<Self, crate::error::ApiError> {
        let value =
            crate::body::read_json::<crate::body::UniqueJson>(req, payload, MAX_CHANNEL_BODY)
                .await?
                .0;
        for field in ["rules", "email"] {
            if value
                .get(field)
                .is_some_and(|v| !v.is_object() && !v.is_null())
            {
                return Err(crate::error::ApiError::validation(
                    federation_domain::ValidationError::new(field, "must be a JSON object"),
                ));
            }
        }
        crate::body::from_value(value)
    }
}
