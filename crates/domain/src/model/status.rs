//! A project's liveness status.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// A project's liveness. Serialized lowercase; deserialized like [`Status::parse`], in
/// any case, so a query string or YAML file accepts what the API documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Heartbeats arrive on time and the project says it is well.
    Online,
    /// Late heartbeats, or the project says it is degraded.
    Degraded,
    /// No heartbeat for `offline_after`, or never any.
    Offline,
}

impl Status {
    /// Every status, in this order (metric labels, counters).
    pub const ALL: [Status; 3] = [Status::Online, Status::Degraded, Status::Offline];

    /// The lowercase name (`online`, `degraded`, `offline`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Degraded => "degraded",
            Status::Offline => "offline",
        }
    }

    /// Parses `online | degraded | offline`, in any case.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                ValidationError::new("status", "must be one of online, degraded, offline")
            })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::parse(s)
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Status::parse(&raw).map_err(serde::de::Error::custom)
    }
}
