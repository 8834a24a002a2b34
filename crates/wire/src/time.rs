//! The `timestamp` field: how a publisher writes it and how the service reads it.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

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
}
