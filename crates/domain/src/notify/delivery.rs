//! The record of deliveries.

use chrono::{DateTime, Utc};

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// The receiver took it (a 2xx).
    Sent,
    /// Every attempt failed, or the deadline passed.
    Failed,
}

impl DeliveryStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "sent" => Some(DeliveryStatus::Sent),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One delivery: a message to a channel, after its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The store's id (0 before it is stored).
    pub id: i64,
    /// The channel's name.
    pub channel: String,
    /// The change-log revision told (0: a test).
    pub revision: u64,
    /// The event (`offline`, `degraded`, `recovered`, `reminder`, `flapping`, `test`).
    pub event: String,
    /// The project, when the message is about one.
    pub slug: Option<String>,
    /// How it ended.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The last HTTP status the receiver answered.
    pub http_status: Option<u16>,
    /// The last failure, when there was one.
    pub last_error: Option<String>,
    /// The last attempt's time, in milliseconds.
    pub latency_ms: u64,
    /// When it ended.
    pub at: DateTime<Utc>,
}

/// Most deliveries one list returns.
pub const DELIVERIES_LIST_MAX: u32 = 500;
