//! Notification channels and their deliveries over REST (`/api/fed/channels`,
//! `/api/fed/deliveries`). See docs/notifications.md.

use std::sync::Arc;

use federation_domain::notify::{ChannelStore, DeliveryLog, Sender};

pub mod dto;
pub(crate) mod handlers;
pub mod kinds;
pub mod requests;
pub(crate) mod schemas;

/// What the notification routes use: the store's channels and deliveries, and the
/// sender for test messages.
#[derive(Clone)]
pub struct NotifyApi {
    pub channels: Arc<dyn ChannelStore>,
    pub deliveries: Arc<dyn DeliveryLog>,
    /// The incidents the leader records.
    pub incidents: Arc<dyn federation_domain::incident::IncidentLog>,
    pub sender: Arc<dyn Sender>,
}

impl std::fmt::Debug for NotifyApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyApi").finish_non_exhaustive()
    }
}
