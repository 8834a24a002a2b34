//! Notifications: channels (where to tell), their rules (what and when), and the
//! ports the adapters implement (the store keeps channels, cursors and deliveries; a
//! sender speaks HTTP). Pure: no I/O here.

pub mod channel;
pub mod delivery;
pub mod email;
pub mod engine;
pub mod message;
pub mod ports;
pub mod rules;
pub mod streak;

pub use crate::flapping::{Flapping, FLAPPING_DEFAULT};
pub use channel::{
    Channel, ChannelInput, ChannelKind, ChannelName, ChannelSpec, ChannelUrl, Secret, CHANNELS_MAX,
    SECRET_MAX, SECRET_MIN,
};
pub use delivery::{Delivery, DeliveryStatus, DELIVERIES_LIST_MAX};
pub use email::{EmailInput, EmailSpec, SmtpTls};
pub use engine::{Watch, INCIDENT_GATHER};
pub use message::{Attempt, Event, IncidentNote, Message, Subject};
pub use ports::{ChannelStore, ChannelWrite, DeliveryLog, Sender};
pub use rules::{Rules, Trigger};
pub use streak::{bad_streak_since, outage_began};

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod flapping_tests;
#[cfg(test)]
mod incident_tests;
#[cfg(test)]
pub(crate) mod tests;
