//! The `timestamp` field: how a publisher writes it and how the service reads it.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// A date and a time of day as a regular expression, `2025-11-18T12:00:00.123`: months
/// of their length (28 days for February; the readers take the 29th of a leap year too).
macro_rules! date_time {
    () => {
        concat!(
            "[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)",
            r"|02-(0[1-9]|1[0-9]|2[0-8]))T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?"
        )
    };
}

/// An offset from UTC as a regular expression: `Z` or `+01:00`.
macro_rules! offset {
    () => {
        "(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
    };
}

/// The `timestamp` a heartbeat may carry, as a JSON Schema pattern: what
/// [`parse_timestamp`] reads (an offset may be left out: UTC).
pub const TIMESTAMP_PATTERN: &str = concat!(
    "^",
    crate::blank!(),
    "*",
    date_time!(),
    offset!(),
    "?",
    crate::blank!(),
    "*$"
);

/// An RFC 3339 date-time with its offset, as a JSON Schema pattern.
pub const RFC3339_PATTERN: &str = concat!(
    "^",
    crate::blank!(),
    "*",
    date_time!(),
    offset!(),
    crate::blank!(),
    "*$"
);

/// RFC 3339, UTC, milliseconds: `2025-11-18T12:00:00.000Z`.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// RFC 3339 with any offset, or a date-time without one, read as UTC (Python's
/// `datetime.utcnow().isoformat()`: `2025-11-18T12:00:10.123456`). `None` for anything
/// else.
pub fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    #[test]
    fn written_as_rfc3339_millis_and_read_back() {
        let at = Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 0).unwrap();
        assert_eq!(format_timestamp(at), "2025-11-18T12:00:00.000Z");
        assert_eq!(parse_timestamp(&format_timestamp(at)), Some(at));
        assert_eq!(parse_timestamp("2025-11-18T13:00:00+01:00"), Some(at));
        assert_eq!(
            parse_timestamp(" 2025-11-18T12:00:10.123456 "),
            Some(at + TimeDelta::seconds(10) + TimeDelta::microseconds(123_456))
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    /// Every text the patterns admit, the readers take (the API's description shows
    /// the patterns).
    #[test]
    fn the_patterns_admit_only_what_the_readers_take() {
        use proptest::strategy::{Strategy, ValueTree};
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        for (pattern, needs_offset) in [(TIMESTAMP_PATTERN, false), (RFC3339_PATTERN, true)] {
            let inner = &pattern[1..pattern.len() - 1];
            let strategy = proptest::string::string_regex(inner).unwrap();
            for _ in 0..2000 {
                let text = strategy.new_tree(&mut runner).unwrap().current();
                assert!(parse_timestamp(&text).is_some(), "{text:?}");
                if needs_offset {
                    assert!(
                        DateTime::parse_from_rfc3339(text.trim()).is_ok(),
                        "{text:?}"
                    );
                }
            }
        }
    }
}
