//! Status events out: each stored transition is published on `<events>.<slug>`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use federation_domain::{EventError, StatusEvents, Transition};
use serde::Serialize;

use crate::link::Shared;

/// How long a status event may wait for the client before it counts as not published.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// Publishes transitions on `<prefix>.<slug>` through whichever client the adapter
/// holds at the time (it builds a new one when the old one dies).
pub(crate) struct NatsStatusEvents {
    pub(crate) shared: Arc<Shared>,
    pub(crate) prefix: String,
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
}

impl<'a> From<&'a Transition> for StatusEvent<'a> {
    fn from(t: &'a Transition) -> Self {
        Self {
            slug: t.slug.as_str(),
            from: t.from.as_str(),
            to: t.to.as_str(),
            reason: t.reason.as_deref(),
            at: t.at,
            last_heartbeat_at: t.last_heartbeat_at,
        }
    }
}

#[async_trait]
impl StatusEvents for NatsStatusEvents {
    async fn publish(&self, transition: &Transition) -> Result<(), EventError> {
        let client = match self.shared.client() {
            Some(client) if self.shared.is_connected() => client,
            _ => return Err(EventError("the NATS link is down".into())),
        };
        let body = serde_json::to_vec(&StatusEvent::from(transition))
            .map_err(|e| EventError(e.to_string()))?;
        let subject = format!("{}.{}", self.prefix, transition.slug);
        tokio::time::timeout(PUBLISH_TIMEOUT, client.publish(subject, body.into()))
            .await
            .map_err(|_| EventError("timed out".into()))?
            .map_err(|e| EventError(e.to_string()))
    }
}
