//! The parts of a channel's request body every kind shares (its rules, an email
//! channel's settings): they parse and they document (one source), and convert into the
//! domain's input, which validates. The bodies by kind are in [`super::kinds`].

use std::collections::BTreeMap;

use federation_domain::notify::{EmailInput, EmailSpec, Rules, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::schemas;

/// Most bytes a channel body may have: room for every body the schema takes (100 rule
/// slugs and 32 tags at their longest, escaped, and 16 metadata values), so a body is
/// refused for its size only when it breaks the schema too.
pub const MAX_CHANNEL_BODY: usize = 64 * 1024;

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
    #[serde(default)]
    #[schema(schema_with = schemas::rule_on)]
    pub on: Option<Vec<TriggerName>>,
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(schema_with = schemas::hold)]
    pub hold_seconds: Option<u32>,
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(schema_with = schemas::remind)]
    pub remind_every_seconds: Option<u32>,
}

/// Seconds as JSON Schema's `integer` takes them: `30` or `30.0`.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<crate::requests::WholeNumber>::deserialize(d)?
        .map(|n| {
            u32::try_from(n.0).map_err(|_| {
                serde::de::Error::custom(format!(
                    "must be a whole number of seconds from 0 to {}",
                    u32::MAX
                ))
            })
        })
        .transpose()
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "federation@example.org", "to": ["ops@example.org"], "tls": "starttls"}))]
pub struct EmailBody {
    /// The sender address.
    #[schema(schema_with = schemas::address)]
    pub from: String,
    #[schema(schema_with = schemas::recipients)]
    pub to: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = schemas::username)]
    pub username: Option<String>,
    #[serde(default)]
    #[schema(schema_with = schemas::tls)]
    pub tls: Option<String>,
}

impl From<EmailBody> for EmailInput {
    fn from(b: EmailBody) -> Self {
        EmailInput {
            from: Some(b.from),
            to: Some(b.to),
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
            from: e.from.clone(),
            to: e.to.clone(),
            username: e.username.clone(),
            tls: Some(tls.to_owned()),
        }
    }
}
