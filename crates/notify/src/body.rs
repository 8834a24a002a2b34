//! The bodies sent: the generic webhook's JSON (documented in the OpenAPI description
//! from this type) and a Slack-compatible incoming webhook's `text` plus `blocks`.

use federation_domain::notify::Message;
use serde::Serialize;
use utoipa::ToSchema;

/// The project a message is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookProject {
    #[schema(example = "alpha")]
    pub slug: String,
    #[schema(example = "Alpha hub")]
    pub name: String,
    #[schema(example = "http://alpha.internal:8000")]
    pub hub_url: String,
    /// Its status when told: `online`, `degraded` or `offline`.
    #[schema(example = "offline")]
    pub status: String,
    /// Why (`heartbeat_timeout`, `heartbeat_late`, a reported reason).
    #[schema(example = "heartbeat_timeout")]
    pub reason: Option<String>,
}

/// The JSON body of a generic webhook. Headers: `X-Federation-Signature:
/// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the channel's secret>`,
/// `Idempotency-Key` (the same as `id`), `X-Federation-Event`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "4711-ops",
    "event": "recovered",
    "channel": "ops",
    "revision": 4711,
    "at": "2026-12-02T09:14:03.120000Z",
    "text": "Alpha hub (alpha) recovered after 3m 20s",
    "project": {"slug": "alpha", "name": "Alpha hub", "hub_url": "http://alpha.internal:8000",
                "status": "online", "reason": null},
    "outage_seconds": 200
}))]
pub struct WebhookBody {
    /// The idempotency key: `<revision>-<channel>` (a reminder adds `-r<unix time>`). A
    /// receiver that saw it already drops the message.
    pub id: String,
    /// `offline`, `degraded`, `recovered`, `reminder`, `flapping` or `test`.
    pub event: String,
    /// The channel's name.
    pub channel: String,
    /// The change-log revision that caused it (0 for a test).
    pub revision: u64,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// One line for people.
    pub text: String,
    /// The project (null for a test).
    pub project: Option<WebhookProject>,
    /// A recovery: how long the project was offline or degraded, in seconds.
    pub outage_seconds: Option<i64>,
}

impl From<&Message> for WebhookBody {
    fn from(m: &Message) -> Self {
        Self {
            id: m.idempotency_key(),
            event: m.event.as_str().to_owned(),
            channel: m.channel.as_str().to_owned(),
            revision: m.revision,
            at: m.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            text: m.headline(),
            project: m.subject.as_ref().map(|s| WebhookProject {
                slug: s.slug.clone(),
                name: s.name.clone(),
                hub_url: s.hub_url.clone(),
                status: s.status.as_str().to_owned(),
                reason: s.reason.clone(),
            }),
            outage_seconds: m.outage_seconds,
        }
    }
}

/// A Slack-compatible incoming webhook body: `text` (the notification's fallback) and
/// `blocks` (a section with the headline, a context line with the details).
pub fn slack(m: &Message) -> serde_json::Value {
    let headline = m.headline();
    let icon = match m.event.as_str() {
        "offline" => ":red_circle:",
        "degraded" => ":large_yellow_circle:",
        "recovered" => ":large_green_circle:",
        _ => ":information_source:",
    };
    let mut context = vec![format!("event `{}`", m.event.as_str())];
    if let Some(s) = &m.subject {
        context.push(format!("hub {}", escape(&s.hub_url)));
        if let Some(r) = &s.reason {
            context.push(format!("reason `{}`", escape(r)));
        }
    }
    context.push(format!("key `{}`", m.idempotency_key()));
    serde_json::json!({
        "text": escape(&headline),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("{icon} *{}*", escape(&headline))}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context.join(" · ")}]}
        ]
    })
}

/// Slack's three escapes (`&`, `<`, `>`), so names cannot inject links or mentions.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The mail's text: the headline, then the details a person needs.
pub fn mail_body(m: &Message) -> String {
    let mut text = format!("{}\n\n", m.headline());
    text.push_str(&format!("event: {}\n", m.event.as_str()));
    if let Some(s) = &m.subject {
        text.push_str(&format!(
            "project: {} ({})\nhub: {}\nstatus: {}\n",
            s.name,
            s.slug,
            s.hub_url,
            s.status.as_str()
        ));
        if let Some(r) = &s.reason {
            text.push_str(&format!("reason: {r}\n"));
        }
    }
    if let Some(secs) = m.outage_seconds {
        text.push_str(&format!(
            "outage: {}\n",
            federation_domain::notify::message::human_duration(secs)
        ));
    }
    text.push_str(&format!(
        "at: {}\nkey: {}\n",
        m.at.to_rfc3339(),
        m.idempotency_key()
    ));
    text
}
