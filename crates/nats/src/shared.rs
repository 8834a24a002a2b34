//! The client slot and the link's state, shared by the supervisor ([`crate::link`]), the
//! publishers ([`crate::events`]) and the health checks.

use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::Client;
use federation_domain::Federation;
use tokio::sync::watch;

use crate::echo::Echo;

/// What the supervisor shares with the status-event publisher and the health checks.
pub(crate) struct Shared {
    /// The current client; `None` between two sessions.
    client: watch::Sender<Option<Client>>,
    /// The current session's second client, which publishes status events and takes
    /// back their confirmation markers: a connection of their own, so a marker never
    /// waits behind a flood of heartbeats coming in on the first.
    outbox: watch::Sender<Option<Client>>,
    /// The link as the adapter reports it: a session is up, and its client connected.
    connected: AtomicBool,
    /// Confirmation of published events (markers through our canary subject).
    pub(crate) echo: Echo,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            client: watch::Sender::new(None),
            outbox: watch::Sender::new(None),
            connected: AtomicBool::new(false),
            echo: Echo::new(),
        }
    }

    pub(crate) fn client(&self) -> Option<Client> {
        self.client.borrow().clone()
    }

    pub(crate) fn outbox_client(&self) -> Option<Client> {
        self.outbox.borrow().clone()
    }

    /// Puts the session's clients in their slots (`None` when the session ends).
    pub(crate) fn set_clients(&self, clients: Option<(Client, Client)>) {
        let (client, outbox) = clients.unzip();
        self.client.send_replace(client);
        self.outbox.send_replace(outbox);
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Records the link's state, and tells the domain when it changes: the domain first,
    /// so whoever reads the link's new state also reads the guard that follows from it.
    /// One caller at a time (the session's link watcher, then the supervisor once the
    /// session's tasks have stopped).
    pub(crate) fn report(&self, up: bool, federation: &Federation) {
        if self.connected.load(Ordering::SeqCst) == up {
            return;
        }
        if up {
            tracing::info!("NATS link up");
            federation.bus_connected();
        } else {
            tracing::warn!("NATS link down: no project expires for silence until it is back");
            federation.bus_disconnected();
        }
        self.connected.store(up, Ordering::SeqCst);
    }
}
