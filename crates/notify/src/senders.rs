//! The sender of every kind of channel: HTTP for webhooks and Slack, SMTP for email.

use async_trait::async_trait;
use federation_domain::notify::{Attempt, ChannelSpec, Message, Sender};

use crate::http::HttpSender;
use crate::smtp::SmtpSender;

/// Sends each message with the sender of its channel's kind.
#[derive(Debug, Clone)]
pub struct Senders {
    /// Webhooks and Slack.
    pub http: HttpSender,
    /// Email.
    pub smtp: SmtpSender,
}

#[async_trait]
impl Sender for Senders {
    async fn send(&self, channel: &ChannelSpec, message: &Message) -> Attempt {
        match channel.kind {
            federation_domain::notify::ChannelKind::Email => self.smtp.send(channel, message).await,
            _ => self.http.send(channel, message).await,
        }
    }
}
