//! Notification delivery for the federation service: the domain's
//! [`federation_domain::notify::Sender`] over HTTP (a signed generic webhook, a
//! Slack-compatible incoming webhook), with a deny list of target networks.

pub mod body;
pub mod deny;
pub mod http;
pub mod sign;

pub use body::{WebhookBody, WebhookProject};
pub use deny::{DenyList, DenyListError};
pub use http::{encode, HttpOptions, HttpSender, EVENT_HEADER, IDEMPOTENCY_HEADER};
pub use sign::SIGNATURE_HEADER;
