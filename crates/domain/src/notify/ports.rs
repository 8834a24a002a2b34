//! The notification ports: the store keeps channels (and, for delivery, cursors and the
//! record of deliveries).

use async_trait::async_trait;

use super::channel::{Channel, ChannelName, ChannelSpec};
use super::delivery::Delivery;
use super::message::{Attempt, Message};
use crate::error::RepositoryError;
use crate::replication::Term;

/// The result of a create.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelWrite {
    /// Stored.
    Created(Box<Channel>),
    /// A channel with this name already exists; nothing was written.
    Exists,
    /// [`super::CHANNELS_MAX`] channels exist already; nothing was written.
    Full,
}

/// Where channels are kept (both store backends).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ChannelStore: Send + Sync + 'static {
    /// Stores a new channel.
    async fn create_channel(&self, spec: &ChannelSpec) -> Result<ChannelWrite, RepositoryError>;

    /// Every channel, by name.
    async fn list_channels(&self) -> Result<Vec<Channel>, RepositoryError>;

    /// One channel.
    async fn get_channel(&self, name: &ChannelName) -> Result<Option<Channel>, RepositoryError>;

    /// Replaces a channel's definition (its name stays); `None` when there is none.
    async fn replace_channel(&self, spec: &ChannelSpec)
        -> Result<Option<Channel>, RepositoryError>;

    /// Removes a channel with its cursor and deliveries; `false` when there was none.
    async fn delete_channel(&self, name: &ChannelName) -> Result<bool, RepositoryError>;
}

/// The record of deliveries, and each channel's outbox cursor.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait DeliveryLog: Send + Sync + 'static {
    /// Records a delivery.
    async fn record_delivery(&self, delivery: &Delivery) -> Result<(), RepositoryError>;

    /// The newest deliveries first, of one channel or all, at most `limit`.
    async fn list_deliveries(
        &self,
        channel: Option<ChannelName>,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepositoryError>;

    /// The channel's deliveries recorded for revisions after `revision` (newest first,
    /// at most `limit`): what a new leader must not send again.
    async fn deliveries_after(
        &self,
        channel: &ChannelName,
        revision: u64,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepositoryError>;

    /// How many of the channel's deliveries at or after `since` failed (its health on
    /// the dashboard).
    async fn failures_since(
        &self,
        channel: &ChannelName,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, RepositoryError>;

    /// The last revision the channel dealt with; `None` before its first.
    async fn cursor(&self, channel: &ChannelName) -> Result<Option<u64>, RepositoryError>;

    /// Moves the channel's cursor forward (never back), fenced by the sweeper lease's
    /// `term` like every leader write: [`RepositoryError::Fenced`] once another replica
    /// leads.
    async fn advance_cursor(
        &self,
        channel: &ChannelName,
        revision: u64,
        term: Term,
    ) -> Result<(), RepositoryError>;
}

/// Speaks a channel's protocol: one attempt, never retried here, bounded by its own
/// timeouts.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Sender: Send + Sync + 'static {
    /// Sends one message to one channel.
    async fn send(&self, channel: &ChannelSpec, message: &Message) -> Attempt;
}
