//! What the notification routes answer.

use federation_domain::notify::{Channel, ChannelKind, Delivery};
use serde::Serialize;
use utoipa::ToSchema;

use super::requests::{EmailBody, RulesBody};
use crate::dto::rfc3339;

/// One delivery: a message to a channel, after its attempts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 17, "channel": "ops", "revision": 4711, "event": "offline", "slug": "alpha",
    "status": "sent", "attempts": 1, "http_status": 200, "last_error": null,
    "latency_ms": 12, "at": "2026-12-02T09:14:03.120000Z"
}))]
pub struct DeliveryDto {
    pub id: i64,
    #[schema(example = "ops")]
    pub channel: String,
    /// The change-log revision told (0: a test); with the channel, the idempotency key.
    pub revision: u64,
    /// `offline`, `degraded`, `recovered`, `reminder`, `flapping` or `test`.
    pub event: String,
    pub slug: Option<String>,
    /// `sent` or `failed` (every attempt failed, or the deadline passed).
    pub status: String,
    pub attempts: u32,
    /// The receiver's last HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// The last failure (never a URL or a secret).
    pub last_error: Option<String>,
    /// The last attempt's time, in milliseconds.
    pub latency_ms: u64,
    /// When it ended (RFC 3339, UTC).
    pub at: String,
}

impl From<&Delivery> for DeliveryDto {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id,
            channel: d.channel.clone(),
            revision: d.revision,
            event: d.event.clone(),
            slug: d.slug.clone(),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            http_status: d.http_status,
            last_error: d.last_error.clone(),
            latency_ms: d.latency_ms,
            at: rfc3339(d.at),
        }
    }
}

/// A channel as the API shows it: never its secret, and only the scheme and host of a
/// Slack URL (its path is a token).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "name": "ops", "kind": "webhook", "url": "https://receiver.example/federation",
    "secret_set": true, "enabled": true,
    "rules": {"slugs": [], "tags": ["prod"], "metadata": {}, "on": ["offline", "recovered"],
              "hold_seconds": 120, "remind_every_seconds": null},
    "email": null, "last_delivery": null, "failures_last_hour": 0,
    "created_at": "2026-12-02T09:00:00.000000Z", "updated_at": "2026-12-02T09:00:00.000000Z"
}))]
pub struct ChannelDto {
    pub name: String,
    /// `webhook`, `slack` or `email`.
    pub kind: String,
    /// A webhook's URL; a Slack URL as `https://host/…`.
    pub url: String,
    /// Whether a secret is stored: a webhook's signing secret or an email channel's SMTP
    /// password (never shown).
    pub secret_set: bool,
    pub enabled: bool,
    pub rules: RulesBody,
    /// An email channel's settings (no password).
    pub email: Option<EmailBody>,
    /// The channel's health: its newest delivery, if any.
    pub last_delivery: Option<DeliveryDto>,
    /// The channel's health: its deliveries of the last hour that failed.
    pub failures_last_hour: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl ChannelDto {
    /// The channel, with its newest delivery and its failures of the last hour.
    pub fn new(c: &Channel, last: Option<&Delivery>, failures_last_hour: u64) -> Self {
        let url = match c.spec.kind {
            ChannelKind::Webhook | ChannelKind::Email => c.spec.url.as_str().to_owned(),
            ChannelKind::Slack => c.spec.url.redacted(),
        };
        Self {
            name: c.spec.name.as_str().to_owned(),
            kind: c.spec.kind.as_str().to_owned(),
            url,
            secret_set: c.spec.secret.is_some(),
            enabled: c.spec.enabled,
            rules: RulesBody::from(&c.spec.rules),
            email: c.spec.email.as_ref().map(EmailBody::from),
            last_delivery: last.map(DeliveryDto::from),
            failures_last_hour,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}
