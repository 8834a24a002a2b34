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

/// An incident in a message: its members this channel watches.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookIncident {
    /// The incident's id (the revision that opened it; `GET /api/fed/incidents/{id}`).
    #[schema(example = 4711)]
    pub id: u64,
    /// When its first member went offline (RFC 3339, UTC).
    #[schema(example = "2026-12-02T09:10:43.000000Z")]
    pub started_at: String,
    /// Why it opened.
    #[schema(example = "6 projects went offline together")]
    pub trigger: String,
    /// The members this channel's rules select: those offline when it opened
    /// (`incident`), those that joined since the last message (`incident_updated`), or
    /// all of them (`incident_resolved`).
    pub members: Vec<WebhookProject>,
}

fn project(s: &federation_domain::notify::Subject) -> WebhookProject {
    WebhookProject {
        slug: s.slug.clone(),
        name: s.name.clone(),
        hub_url: s.hub_url.clone(),
        status: s.status.as_str().to_owned(),
        reason: s.reason.clone(),
    }
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The JSON body of a generic webhook. Headers: `X-Federation-Signature:
/// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the channel's secret>`,
/// `Idempotency-Key` (the same as `id`), `X-Federation-Event`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "4711-ops-alpha",
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
    /// The idempotency key: `<revision>-<channel>-<slug>` for a project's status (a
    /// reminder adds `-r<unix time>`), `<revision>-<channel>-flapping`,
    /// `<revision>-<channel>-incident` (`-incident-updated`, `-incident-resolved`). A
    /// receiver that saw it already drops the message.
    pub id: String,
    /// `offline`, `degraded`, `recovered`, `reminder`, `flapping`, `incident`,
    /// `incident_updated`, `incident_resolved` or `test`.
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
    /// A recovery: how long the project was offline or degraded, in seconds; a
    /// resolved incident: how long it lasted.
    pub outage_seconds: Option<i64>,
    /// `incident`, `incident_updated` and `incident_resolved`: the incident (absent
    /// otherwise). Its members are not told one by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<WebhookIncident>,
}

impl From<&Message> for WebhookBody {
    fn from(m: &Message) -> Self {
        Self {
            id: m.idempotency_key(),
            event: m.event.as_str().to_owned(),
            channel: m.channel.as_str().to_owned(),
            revision: m.revision,
            at: rfc3339(m.at),
            text: m.headline(),
            project: m.subject.as_ref().map(project),
            outage_seconds: m.outage_seconds,
            incident: m.incident.as_ref().map(|i| WebhookIncident {
                id: i.id,
                started_at: rfc3339(i.started_at),
                trigger: i.trigger.clone(),
                members: i.members.iter().map(project).collect(),
            }),
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
        "recovered" | "incident_resolved" => ":large_green_circle:",
        "incident" | "incident_updated" => ":rotating_light:",
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
    let mut blocks = vec![
        serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("{icon} *{}*", escape(&headline))}}),
    ];
    if let Some(i) = &m.incident {
        blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": member_list(&i.members, SLACK_MEMBERS_MAX)}}));
    }
    blocks.push(serde_json::json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context.join(" · ")}]}));
    serde_json::json!({
        "text": escape(&headline),
        "blocks": blocks
    })
}

/// Members listed in a Slack block (a section's text holds at most 3 000 characters);
/// the rest are counted.
const SLACK_MEMBERS_MAX: usize = 40;

/// `• Name (slug)` lines, at most `max`, then `… and N more`.
fn member_list(members: &[federation_domain::notify::Subject], max: usize) -> String {
    let mut lines: Vec<String> = members
        .iter()
        .take(max)
        .map(|s| format!("• {} ({})", escape(&s.name), escape(&s.slug)))
        .collect();
    if members.len() > max {
        lines.push(format!("… and {} more", members.len() - max));
    }
    lines.join("\n")
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
    if let Some(i) = &m.incident {
        text.push_str(&format!(
            "incident: {} ({})\nstarted: {}\nmembers:\n",
            i.id,
            i.trigger,
            i.started_at.to_rfc3339()
        ));
        for s in &i.members {
            text.push_str(&format!("  - {} ({}) {}\n", s.name, s.slug, s.hub_url));
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use federation_domain::notify::{ChannelName, Event, IncidentNote, Message, Subject};
    use federation_domain::Status;

    use super::*;

    fn incident(event: Event, members: usize) -> Message {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap();
        Message {
            channel: ChannelName::parse("ops").unwrap(),
            revision: 4711,
            event,
            subject: None,
            at,
            outage_seconds: (event == Event::IncidentResolved).then_some(200),
            incident: Some(IncidentNote {
                id: 4711,
                started_at: at,
                trigger: "6 projects went offline together".into(),
                members: (0..members)
                    .map(|i| Subject {
                        slug: format!("p{i}"),
                        name: format!("Hub <{i}>"),
                        hub_url: format!("http://p{i}.internal"),
                        status: Status::Offline,
                        reason: Some("heartbeat_timeout".into()),
                    })
                    .collect(),
            }),
        }
    }

    #[test]
    fn an_incident_renders_its_members_in_every_body() {
        let m = incident(Event::Incident, 6);
        let json = serde_json::to_value(WebhookBody::from(&m)).unwrap();
        assert_eq!(json["event"], "incident");
        assert_eq!(json["id"], "4711-ops-incident");
        assert_eq!(json["incident"]["members"].as_array().unwrap().len(), 6);
        assert_eq!(json["incident"]["members"][5]["slug"], "p5");
        assert_eq!(
            json["text"],
            "Incident 4711: 6 projects offline (6 projects went offline together)"
        );

        let s = slack(&m);
        let list = s["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(list.contains("• Hub &lt;0&gt; (p0)"), "{list}");
        assert_eq!(list.lines().count(), 6);

        let mail = mail_body(&m);
        assert!(
            mail.contains("  - Hub <5> (p5) http://p5.internal"),
            "{mail}"
        );

        let resolved = incident(Event::IncidentResolved, 2);
        let json = serde_json::to_value(WebhookBody::from(&resolved)).unwrap();
        assert_eq!(json["outage_seconds"], 200);
        assert_eq!(
            json["text"],
            "Incident 4711 resolved after 3m 20s: 2 projects back"
        );
    }

    #[test]
    fn a_long_member_list_is_cut_in_slack_and_counted() {
        let s = slack(&incident(Event::Incident, 100));
        let list = s["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(list.ends_with("… and 60 more"), "{list}");
        assert!(list.len() < 3000);
    }

    #[test]
    fn a_message_without_incident_has_no_incident_field() {
        let mut m = incident(Event::Offline, 0);
        m.incident = None;
        m.subject = Some(Subject {
            slug: "a".into(),
            name: "A".into(),
            hub_url: "http://a".into(),
            status: Status::Offline,
            reason: None,
        });
        let json = serde_json::to_value(WebhookBody::from(&m)).unwrap();
        assert!(json.get("incident").is_none());
    }
}
