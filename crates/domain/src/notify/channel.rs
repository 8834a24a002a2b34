//! A notification channel: where messages go, and the secret that signs them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::email::{EmailInput, EmailSpec};
use super::rules::Rules;
use crate::error::ValidationError;
use crate::model::{HubUrl, Slug};

/// Shortest webhook secret, in characters.
pub const SECRET_MIN: usize = 16;
/// Longest webhook secret, in characters.
pub const SECRET_MAX: usize = 256;
/// Most channels one service keeps.
pub const CHANNELS_MAX: usize = 100;

/// A channel's name: the same rule as a project's slug (lowercase `[a-z0-9_-]`, 1–50
/// characters), so it is safe in a path, a metric label and a log line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(String);

impl ChannelName {
    /// Validates (after lowercasing and trimming) a channel name; errors name `name`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Slug::parse(raw)
            .map(|s| Self(s.as_str().to_owned()))
            .map_err(|e| e.at("name"))
    }

    /// The name as validated.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ChannelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a channel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// JSON to any HTTP receiver, signed with the channel's secret (HMAC-SHA256).
    Webhook,
    /// A Slack-compatible incoming webhook (text and blocks; Mattermost and Rocket.Chat
    /// take the same body). Its URL is its secret.
    Slack,
    /// Email through an SMTP relay (`smtp://host:port`, STARTTLS or TLS).
    Email,
}

impl ChannelKind {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
        }
    }

    /// Parses a stored or given name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.trim() {
            "webhook" => Ok(ChannelKind::Webhook),
            "slack" => Ok(ChannelKind::Slack),
            "email" => Ok(ChannelKind::Email),
            other => Err(ValidationError::new(
                "kind",
                format!(
                    "must be \"webhook\", \"slack\" or \"email\" (got {:?})",
                    truncate(other, 20)
                ),
            )),
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// A channel's target URL: an absolute http(s) URL with no credentials in it (the
/// rules of a project's `hub_url`, the one URL validation). Errors name `url`.
/// `Debug` shows it redacted (a Slack URL's path is a token).
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelUrl(String);

impl std::fmt::Debug for ChannelUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelUrl({})", self.redacted())
    }
}

impl ChannelUrl {
    /// Validates a target URL.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let url = HubUrl::parse(raw).map_err(|e| e.at("url"))?;
        Ok(Self(url.as_str().to_owned()))
    }

    /// Validates the URL of a channel of this kind (an email channel's is
    /// `smtp://host[:port]`).
    pub fn parse_for(kind: ChannelKind, raw: &str) -> Result<Self, ValidationError> {
        match kind {
            ChannelKind::Email => super::email::smtp_url(raw).map(Self),
            _ => Self::parse(raw),
        }
    }

    /// The URL as validated. For a Slack channel this is a secret: show
    /// [`ChannelUrl::redacted`] instead.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Scheme, host and port only: what reads, logs and errors may show of a URL whose
    /// path can hold a token (Slack's `/services/T…/B…/…`).
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(u) => {
                let host = u.host_str().unwrap_or_default();
                match u.port() {
                    Some(p) => format!("{}://{host}:{p}/…", u.scheme()),
                    None => format!("{}://{host}/…", u.scheme()),
                }
            }
            Err(_) => "…".to_owned(),
        }
    }
}

/// A webhook's signing secret: write-only. `Debug` prints no part of it, and nothing
/// serializes it; only the signer reads it ([`Secret::expose`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Validates a secret: 16–256 printable ASCII characters, no blanks. Errors name
    /// `secret` and never repeat the value.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let n = raw.chars().count();
        if !(SECRET_MIN..=SECRET_MAX).contains(&n) {
            return Err(ValidationError::new(
                "secret",
                format!("must be {SECRET_MIN} to {SECRET_MAX} characters (got {n})"),
            ));
        }
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "secret",
                "must be printable ASCII without blanks",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Validates an SMTP password: 1–256 characters, no control characters.
    pub fn parse_password(raw: &str) -> Result<Self, ValidationError> {
        let n = raw.chars().count();
        if n == 0 || n > SECRET_MAX || raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "secret",
                format!("must be 1 to {SECRET_MAX} characters without control characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The secret itself, for the signer and the store only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// How a missing secret's error starts (a replace turns it into a conflict).
const NONE_KEPT: &str = "is required";

/// A channel as given by a client or the catalog, not yet validated.
#[derive(Debug, Clone, Default)]
pub struct ChannelInput {
    /// Required.
    pub name: Option<String>,
    /// Required: `webhook` or `slack`.
    pub kind: Option<String>,
    /// Required.
    pub url: Option<String>,
    /// Required for a webhook; refused for Slack (its URL is its secret).
    pub secret: Option<String>,
    /// Absent: every project, every change, told at once.
    pub rules: Option<Rules>,
    /// Absent: `true`.
    pub enabled: Option<bool>,
    /// Required for an email channel; refused for the others.
    pub email: Option<EmailInput>,
}

/// A validated channel definition (what a create or replace writes).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSpec {
    /// Its name.
    pub name: ChannelName,
    /// What it speaks.
    pub kind: ChannelKind,
    /// Where messages go.
    pub url: ChannelUrl,
    /// The webhook's signing secret.
    pub secret: Option<Secret>,
    /// Which projects and changes, and when.
    pub rules: Rules,
    /// Whether messages are sent.
    pub enabled: bool,
    /// An email channel's settings.
    pub email: Option<EmailSpec>,
}

impl ChannelSpec {
    /// Validates an input; errors name the field at fault.
    pub fn parse(input: ChannelInput) -> Result<Self, ValidationError> {
        Self::parse_keeping(input, None)
    }

    /// Validates an input that replaces `existing`: a webhook, or an email channel
    /// with a login, given no secret keeps the one it had when its kind stays the
    /// same (secrets are write-only, so a client that read the channel cannot send it
    /// back). When there is none to keep, the error is a conflict with the channel
    /// addressed (`no_secret_stored`: the body alone breaks no rule), not a bad field.
    pub fn parse_replacing(
        input: ChannelInput,
        existing: &ChannelSpec,
    ) -> Result<Self, ValidationError> {
        let same_kind = input
            .kind
            .as_deref()
            .and_then(|k| ChannelKind::parse(k).ok())
            == Some(existing.kind);
        let kept = existing.secret.as_ref().filter(|_| same_kind);
        Self::parse_keeping(input, kept).map_err(|e| {
            if e.field == "secret" && e.message.starts_with(NONE_KEPT) {
                ValidationError::conflict(
                    "no_secret_stored",
                    "secret",
                    format!("{} and the channel has none stored to keep", e.message),
                )
            } else {
                e
            }
        })
    }

    fn parse_keeping(input: ChannelInput, kept: Option<&Secret>) -> Result<Self, ValidationError> {
        let required = |v: Option<String>, field: &str| {
            v.ok_or_else(|| ValidationError::new(field, "is required"))
        };
        let name = ChannelName::parse(&required(input.name, "name")?)?;
        let kind = ChannelKind::parse(&required(input.kind, "kind")?)?;
        let url = ChannelUrl::parse_for(kind, &required(input.url, "url")?)?;
        let email = match (kind, input.email) {
            (ChannelKind::Email, Some(e)) => Some(EmailSpec::parse(e)?),
            (ChannelKind::Email, None) => {
                return Err(ValidationError::new(
                    "email",
                    "is required for an email channel",
                ))
            }
            (_, Some(_)) => {
                return Err(ValidationError::new(
                    "email",
                    "is taken only by an email channel",
                ))
            }
            (_, None) => None,
        };
        let has_login = email.as_ref().is_some_and(|e| e.username.is_some());
        let secret = match (kind, input.secret) {
            (ChannelKind::Webhook, Some(s)) => Some(Secret::parse(&s)?),
            (ChannelKind::Webhook, None) if kept.is_some() => kept.cloned(),
            (ChannelKind::Webhook, None) => {
                return Err(ValidationError::new(
                    "secret",
                    format!("{NONE_KEPT} for a webhook (it signs every message)"),
                ))
            }
            (ChannelKind::Slack, Some(_)) => {
                return Err(ValidationError::new(
                    "secret",
                    "is not taken for a Slack channel (its URL is its secret)",
                ))
            }
            (ChannelKind::Slack, None) => None,
            // The SMTP password, when the relay wants a login.
            (ChannelKind::Email, Some(s)) => Some(Secret::parse_password(&s)?),
            // Without a login a stored password is dropped, not kept.
            (ChannelKind::Email, None) if has_login => kept.cloned(),
            (ChannelKind::Email, None) => None,
        };
        if kind == ChannelKind::Email && secret.is_some() != has_login {
            let message = if has_login {
                format!("{NONE_KEPT} for an email channel with email.username (the SMTP password)")
            } else {
                "an email channel takes a secret (the SMTP password) only with email.username"
                    .to_owned()
            };
            return Err(ValidationError::new("secret", message));
        }
        let rules = input.rules.unwrap_or_default();
        rules.check()?;
        Ok(Self {
            name,
            kind,
            url,
            secret,
            rules,
            enabled: input.enabled.unwrap_or(true),
            email,
        })
    }
}

/// A stored channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Its definition.
    pub spec: ChannelSpec,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced.
    pub updated_at: DateTime<Utc>,
}
