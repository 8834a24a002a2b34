//! Notification delivery for the federation service: the domain's
//! [`federation_domain::notify::Sender`] over HTTP (a signed generic webhook, a
//! Slack-compatible incoming webhook), with a deny list of target networks, and the
//! leader's [`Dispatcher`] that tells channels what the change log says, with retries.

pub mod body;
pub mod deny;
pub mod dispatch;
pub mod http;
mod incidents;
pub mod metrics;
pub mod senders;
pub mod sign;
pub mod smtp;
pub mod worker;

pub use body::{WebhookBody, WebhookIncident, WebhookProject};
pub use deny::{DenyList, DenyListError};
pub use dispatch::{DispatchOptions, Dispatcher};
pub use http::{encode, HttpOptions, HttpSender, EVENT_HEADER, IDEMPOTENCY_HEADER};
pub use metrics::{DeliveryMetrics, NoMetrics};
pub use senders::Senders;
pub use sign::SIGNATURE_HEADER;
pub use smtp::SmtpSender;
pub use worker::Retry;
