//! Helpers for tests, here and in the crates that build on the domain (feature `mock`):
//! the fixed instant tests start from, short durations, and values known to be valid.

#![expect(
    clippy::expect_used,
    reason = "test helpers: a literal that does not parse is a broken test, and should fail it"
)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::model::Slug;

/// The instant tests start from: 2025-11-18T12:00:00Z.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 0)
        .single()
        .expect("a valid date")
}

/// `s` seconds.
pub fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

/// `m` milliseconds.
pub fn ms(m: i64) -> TimeDelta {
    TimeDelta::milliseconds(m)
}

/// The slug `s`, which must be valid.
pub fn slug(s: &str) -> Slug {
    Slug::parse(s).expect("a valid slug")
}
