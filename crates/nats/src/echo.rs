//! Confirmation of what was published. A marker published on our own canary subject
//! comes back through a subscription to it only after the server has processed
//! everything sent before it on the connection it went out on (core NATS keeps a
//! connection's order), so it proves those messages left the client and reached the server. The
//! status-event outbox moves its cursor only past confirmed events: one a dropped
//! connection lost in a buffer is published again, under its revision.
//!
//! The order holds on one connection only, and the client reconnects by itself: events
//! taken by one connection and a marker returned over the next prove nothing. So each
//! event published notes its connection ([`Echo::note`]), and a confirmation holds only
//! when every event since the last one, and the marker, went over the same connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, HeaderMap, Statistics};
use bytes::Bytes;
use federation_domain::EventError;
use tokio::sync::watch;

/// The header that makes a message on the canary subject a marker: its sequence number.
pub(crate) const CONFIRM_HEADER: &str = "Federation-Confirm";

/// One connection of one client: the client's statistics (one per client, kept alive
/// here so that no later client can reuse its address) and its count of connections
/// made.
#[derive(Debug, Clone)]
struct Connection {
    client: Arc<Statistics>,
    connects: u64,
}

impl Connection {
    fn of(client: &Client) -> Self {
        let stats = client.statistics();
        let connects = stats.connects.load(Ordering::SeqCst);
        Self {
            client: stats,
            connects,
        }
    }
}

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.client, &other.client) && self.connects == other.connects
    }
}

/// The connections the events since the last confirmation went out on.
#[derive(Debug, Default)]
enum Sent {
    /// None since.
    #[default]
    Nothing,
    /// All on this one.
    On(Connection),
    /// On more than one: no marker can confirm them all.
    Mixed,
}

/// Markers sent and returned, shared by the publisher and the subscribers to the canary
/// subject (the outbox's own, where markers return first, and the canary's).
pub(crate) struct Echo {
    sent: Mutex<Sent>,
    next: AtomicU64,
    returned: watch::Sender<u64>,
    /// The server refuses to let us publish on the canary subject: no marker can come
    /// back, so events count as published once the client took them (as before
    /// confirmation existed) until a canary returns again.
    refused: AtomicBool,
}

impl Echo {
    pub(crate) fn new() -> Self {
        Self {
            sent: Mutex::new(Sent::Nothing),
            next: AtomicU64::new(0),
            returned: watch::Sender::new(0),
            refused: AtomicBool::new(false),
        }
    }

    /// Notes that an event was just handed to `client`.
    pub(crate) fn note(&self, client: &Client) {
        let now = Connection::of(client);
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let same = match &*sent {
            Sent::Nothing => true,
            Sent::On(c) => *c == now,
            Sent::Mixed => false,
        };
        if !same {
            *sent = Sent::Mixed;
        } else if matches!(*sent, Sent::Nothing) {
            *sent = Sent::On(now);
        }
    }

    /// Publishes a marker on `subject` with `client` and waits up to `timeout` for it
    /// to come back; then checks that it and every event noted since the last
    /// confirmation went over one connection. Whatever the outcome, the next
    /// confirmation covers only the events noted after this one.
    pub(crate) async fn confirm(
        &self,
        client: &Client,
        subject: &str,
        timeout: Duration,
    ) -> Result<(), EventError> {
        let sent = std::mem::take(&mut *self.sent.lock().unwrap_or_else(|p| p.into_inner()));
        if self.refused.load(Ordering::SeqCst) {
            return Ok(());
        }
        let on = match sent {
            Sent::Nothing => return Ok(()),
            Sent::Mixed => {
                return Err(EventError(
                    "the NATS connection changed while publishing".into(),
                ))
            }
            Sent::On(c) => c,
        };
        let seq = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut returned = self.returned.subscribe();
        let mut headers = HeaderMap::new();
        headers.insert(CONFIRM_HEADER, seq.to_string().as_str());
        let wait = async {
            client
                .publish_with_headers(subject.to_owned(), headers, Bytes::new())
                .await
                .map_err(|e| EventError(e.to_string()))?;
            returned
                .wait_for(|through| *through >= seq)
                .await
                .map(|_| ())
                .map_err(|_| EventError("the NATS link closed".into()))
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| EventError("the NATS server did not confirm in time".into()))??;
        if Connection::of(client) != on {
            return Err(EventError(
                "the NATS connection changed since the events were published".into(),
            ));
        }
        Ok(())
    }

    /// Takes a message off the canary subscription: `true` when it was a marker (now
    /// recorded), `false` for a canary.
    pub(crate) fn take(&self, headers: Option<&HeaderMap>) -> bool {
        let Some(seq) = headers.and_then(|h| h.get(CONFIRM_HEADER)) else {
            return false;
        };
        if let Ok(seq) = seq.as_str().parse::<u64>() {
            self.returned.send_if_modified(|through| {
                let newer = seq > *through;
                if newer {
                    *through = seq;
                }
                newer
            });
        }
        true
    }

    /// Whether the server refuses our publishes on the canary subject (set from its
    /// permissions violations, cleared when a canary comes back).
    pub(crate) fn set_refused(&self, refused: bool) {
        self.refused.store(refused, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_move_the_returned_mark_forward_only() {
        let echo = Echo::new();
        let marker = |seq: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONFIRM_HEADER, seq);
            h
        };
        assert!(!echo.take(None), "a canary is no marker");
        assert!(echo.take(Some(&marker("3"))));
        assert!(echo.take(Some(&marker("2"))));
        assert_eq!(*echo.returned.borrow(), 3);
        assert!(echo.take(Some(&marker("junk"))));
        assert_eq!(*echo.returned.borrow(), 3);
    }
}
