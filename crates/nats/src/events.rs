//! Status events out: each stored transition is published on `<events>.<slug>`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_trait::async_trait;
use federation_domain::{EventError, HeartbeatRelay, Slug, StatusEvents, Transition};
use serde::Serialize;

use crate::shared::Shared;
use crate::wire::RELAYED_BY;

/// How long a status event may wait for the client before it counts as not published.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// Publishes transitions on `<prefix>.<slug>` through whichever outbox client the
/// adapter holds at the time (it builds new clients when one dies).
pub(crate) struct NatsStatusEvents {
    pub(crate) shared: Arc<Shared>,
    pub(crate) prefix: String,
    /// Our canary subject, where confirmation markers travel.
    pub(crate) confirm_subject: String,
}

/// The JSON of a status event.
#[derive(Debug, Serialize)]
pub struct StatusEvent<'a> {
    pub slug: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub reason: Option<&'a str>,
    pub at: chrono::DateTime<chrono::Utc>,
    pub last_heartbeat_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The transition's place in the change log: an id to de-duplicate on (also sent
    /// as the `Nats-Msg-Id` header).
    pub revision: u64,
}

impl<'a> StatusEvent<'a> {
    /// The event of `t`, stored at `revision`.
    pub fn new(t: &'a Transition, revision: u64) -> Self {
        Self {
            slug: t.slug.as_str(),
            from: t.from.as_str(),
            to: t.to.as_str(),
            reason: t.reason.as_deref(),
            at: t.at,
            last_heartbeat_at: t.last_heartbeat_at,
            revision,
        }
    }
}

/// The JSON of a flapping event (on `<prefix>.<slug>.flapping`, outside the
/// transitions' `<prefix>.<slug>`, so their subscribers see only transitions).
#[derive(Debug, Serialize)]
pub struct FlappingEvent<'a> {
    pub slug: &'a str,
    /// `flapping` or `stable`.
    pub event: &'static str,
    /// Whether the project is flapping from now on.
    pub flapping: bool,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The change's place in the change log (also the `Nats-Msg-Id` header).
    pub revision: u64,
}

/// The subject token after the project's slug that flapping events carry.
pub const FLAPPING_TOKEN: &str = "flapping";

/// The current client, while the link is up.
fn live_client(shared: &Shared) -> Result<async_nats::Client, EventError> {
    match shared.client() {
        Some(client) if shared.is_connected() => Ok(client),
        _ => Err(EventError("the NATS link is down".into())),
    }
}

/// The current outbox client, while the link is up and it is connected too.
fn live_outbox(shared: &Shared) -> Result<async_nats::Client, EventError> {
    match shared.outbox_client() {
        Some(client) if shared.is_connected() && client.connection_state() == State::Connected => {
            Ok(client)
        }
        _ => Err(EventError("the NATS link is down".into())),
    }
}

#[async_trait]
impl StatusEvents for NatsStatusEvents {
    async fn publish(&self, transition: &Transition, revision: u64) -> Result<(), EventError> {
        let client = live_outbox(&self.shared)?;
        let body = serde_json::to_vec(&StatusEvent::new(transition, revision))
            .map_err(|e| EventError(e.to_string()))?;
        let subject = format!("{}.{}", self.prefix, transition.slug);
        self.shared.echo.note(&client);
        publish_change(&client, subject, revision, body).await
    }

    async fn publish_flapping(
        &self,
        slug: &Slug,
        flapping: bool,
        at: chrono::DateTime<chrono::Utc>,
        revision: u64,
    ) -> Result<(), EventError> {
        let client = live_outbox(&self.shared)?;
        let body = serde_json::to_vec(&FlappingEvent {
            slug: slug.as_str(),
            event: if flapping { "flapping" } else { "stable" },
            flapping,
            at,
            revision,
        })
        .map_err(|e| EventError(e.to_string()))?;
        let subject = format!("{}.{}.{FLAPPING_TOKEN}", self.prefix, slug);
        self.shared.echo.note(&client);
        publish_change(&client, subject, revision, body).await
    }

    /// A marker through our canary subject ([`crate::echo`]): it comes back once the
    /// server has every event published before it on this connection. A connection
    /// that dropped meanwhile never returns it, and the outbox publishes again.
    async fn confirm(&self) -> Result<(), EventError> {
        let client = live_outbox(&self.shared)?;
        self.shared
            .echo
            .confirm(&client, &self.confirm_subject, PUBLISH_TIMEOUT)
            .await
    }
}

/// Publishes one change of the log on `subject`, its revision as `Nats-Msg-Id` (so a
/// consumer drops a republished one), within [`PUBLISH_TIMEOUT`].
async fn publish_change(
    client: &async_nats::Client,
    subject: String,
    revision: u64,
    body: Vec<u8>,
) -> Result<(), EventError> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", revision.to_string().as_str());
    let publish = client.publish_with_headers(subject, headers, body.into());
    tokio::time::timeout(PUBLISH_TIMEOUT, publish)
        .await
        .map_err(|_| EventError("timed out".into()))?
        .map_err(|e| EventError(e.to_string()))
}

/// Republishes heartbeats taken over HTTP on `<presence>.<slug>`, so every replica
/// hears them (see `federation_domain::HeartbeatRelay`).
pub(crate) struct NatsHeartbeatRelay {
    pub(crate) shared: Arc<Shared>,
    pub(crate) prefix: String,
    /// Sent as [`RELAYED_BY`], so this replica does not record its own relay again.
    pub(crate) instance: String,
}

#[async_trait]
impl HeartbeatRelay for NatsHeartbeatRelay {
    async fn relay(&self, slug: &Slug, body: &[u8]) -> Result<(), EventError> {
        let client = live_client(&self.shared)?;
        let subject = format!("{}.{}", self.prefix, slug);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(RELAYED_BY, self.instance.as_str());
        let publish =
            client.publish_with_headers(subject, headers, bytes::Bytes::copy_from_slice(body));
        tokio::time::timeout(PUBLISH_TIMEOUT, publish)
            .await
            .map_err(|_| EventError("timed out".into()))?
            .map_err(|e| EventError(e.to_string()))
    }
}
