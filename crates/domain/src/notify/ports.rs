//! The notification ports: the store keeps channels (and, for delivery, cursors and the
//! record of deliveries).

use async_trait::async_trait;

use super::channel::{Channel, ChannelName, ChannelSpec};
use crate::error::RepositoryError;

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
