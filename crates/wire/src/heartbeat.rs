//! The heartbeat as JSON: [`HeartbeatWire`], its encoding and its decoding.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::cow::{opt_cow, opt_vec_cow};
use crate::{MAX_HEARTBEAT_BYTES, MAX_INTERVAL_SECONDS};

/// One heartbeat as it travels, field for field: every field the service reads, every
/// field a publisher may send. All are optional on the wire; the service says which it
/// requires (`project_slug`) and checks each value.
///
/// Strings borrow from the bytes they were decoded from unless JSON escapes forced a
/// copy, so decoding a plain heartbeat allocates only for `reasons` and the envelope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatWire<'a> {
    /// The project's slug (`slug` is read as an alias).
    #[serde(
        borrow,
        default,
        alias = "slug",
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub project_slug: Option<Cow<'a, str>>,
    /// The project's hub URL.
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub hub_url: Option<Cow<'a, str>>,
    /// Its NATS subject prefix (`hub.<slug>` by default).
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub mesh_namespace: Option<Cow<'a, str>>,
    /// The sender's clock: RFC 3339 ([`crate::format_timestamp`]); a naive date-time is
    /// read as UTC ([`crate::parse_timestamp`]).
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<Cow<'a, str>>,
    /// The project's version.
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<Cow<'a, str>>,
    /// `online` | `ok` | `degraded` ([`WireStatus`]); absent means online.
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<Cow<'a, str>>,
    /// Why it is degraded.
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_vec_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub reasons: Option<Vec<Cow<'a, str>>>,
    /// Seconds between this sender's heartbeats, whole, 1..=[`MAX_INTERVAL_SECONDS`]
    /// ([`whole_seconds`]): the service's thresholds then follow it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "seconds"
    )]
    pub interval: Option<f64>,
    /// CommandCenter's envelope (`{"payload": {…}, "correlation_id": "…"}`): the
    /// heartbeat proper is inside. [`HeartbeatWire::decode`] unwraps it.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Box<HeartbeatWire<'a>>>,
}

/// What a publisher says about its health, as the `status` field spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireStatus {
    /// `online` or `ok` (any case), or no `status` at all.
    Online,
    /// `degraded` (any case).
    Degraded,
}

impl WireStatus {
    /// The values `status` may take, for error messages.
    pub const ACCEPTED: &'static str = "online, ok, degraded";

    /// Reads a `status` value (trimmed, any case); `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        if s.eq_ignore_ascii_case("online") || s.eq_ignore_ascii_case("ok") {
            Some(WireStatus::Online)
        } else if s.eq_ignore_ascii_case("degraded") {
            Some(WireStatus::Degraded)
        } else {
            None
        }
    }

    /// How a publisher writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            WireStatus::Online => "online",
            WireStatus::Degraded => "degraded",
        }
    }
}

/// Why bytes are not a heartbeat (before any field is checked).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// Larger than [`MAX_HEARTBEAT_BYTES`].
    #[error("heartbeat is {size} bytes, more than the {MAX_HEARTBEAT_BYTES} allowed")]
    Oversize {
        /// Its size in bytes.
        size: usize,
    },
    /// Not JSON (syntax, or cut short).
    #[error("heartbeat is not valid JSON: {0}")]
    InvalidJson(String),
    /// JSON, but a field (or the whole) of the wrong type.
    #[error("heartbeat has a field of the wrong type: {0}")]
    WrongType(String),
    /// Could not be written as JSON.
    #[error("heartbeat cannot be encoded: {0}")]
    Encode(String),
}

impl<'a> HeartbeatWire<'a> {
    /// Reads a heartbeat: at most [`MAX_HEARTBEAT_BYTES`], JSON of this shape, and
    /// CommandCenter's envelope unwrapped (when the outer object has no slug but a
    /// `payload`).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_HEARTBEAT_BYTES {
            return Err(WireError::Oversize { size: bytes.len() });
        }
        // Valid UTF-8 (checked once, for the whole) is read as text, so serde_json does
        // not check each string again; other bytes are read as bytes, so their error is
        // serde_json's own, as it always was.
        let outer: HeartbeatWire<'a> = match std::str::from_utf8(bytes) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(bytes),
        }
        .map_err(json_error)?;
        Ok(match outer {
            HeartbeatWire {
                project_slug: None,
                payload: Some(inner),
                ..
            } => *inner,
            other => other,
        })
    }

    /// The JSON a publisher sends (absent fields are left out).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        serde_json::to_vec(self).map_err(|e| WireError::Encode(e.to_string()))
    }
}

fn json_error(e: serde_json::Error) -> WireError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => WireError::WrongType(e.to_string()),
        Category::Syntax | Category::Eof | Category::Io => WireError::InvalidJson(e.to_string()),
    }
}

/// `n` as a whole number of seconds, when it is one (JSON `30` or `30.0`); the range
/// (1..=[`MAX_INTERVAL_SECONDS`]) is the reader's to check.
pub fn whole_seconds(n: f64) -> Option<i64> {
    (n.is_finite() && n.fract() == 0.0 && n.abs() < 1e12).then_some(n as i64)
}

/// An interval as a publisher declares it: whole seconds, rounded up (a beat every
/// 1.5 s declares 2 s, so the service never expects beats sooner than they come), kept
/// within 1..=[`MAX_INTERVAL_SECONDS`].
pub fn declared_seconds(interval: std::time::Duration) -> u32 {
    let whole = interval.as_secs() + u64::from(interval.subsec_nanos() > 0);
    u32::try_from(whole)
        .unwrap_or(MAX_INTERVAL_SECONDS)
        .clamp(1, MAX_INTERVAL_SECONDS)
}

/// Whole seconds go out as JSON integers (`30`, not `30.0`).
fn seconds<S: serde::Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match value.and_then(whole_seconds) {
        Some(n) => s.serialize_i64(n),
        None => value.serialize(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_borrowed_escaped_ones_copied() {
        let bytes = br#"{"project_slug":"alpha","hub_url":"http:\/\/x","reasons":["a"]}"#;
        let wire = HeartbeatWire::decode(bytes).unwrap();
        assert!(matches!(wire.project_slug, Some(Cow::Borrowed("alpha"))));
        assert!(matches!(wire.hub_url, Some(Cow::Owned(ref s)) if s == "http://x"));
        assert_eq!(wire.reasons, Some(vec![Cow::Borrowed("a")]));
    }

    #[test]
    fn the_envelope_is_unwrapped_and_the_slug_alias_read() {
        let bytes = br#"{"payload":{"slug":"alpha","version":"1"},"correlation_id":"c"}"#;
        let wire = HeartbeatWire::decode(bytes).unwrap();
        assert_eq!(wire.project_slug.as_deref(), Some("alpha"));
        assert_eq!(wire.version.as_deref(), Some("1"));
        assert!(wire.payload.is_none());
    }

    #[test]
    fn errors_are_classified() {
        assert!(matches!(
            HeartbeatWire::decode(b"{"),
            Err(WireError::InvalidJson(_))
        ));
        assert!(matches!(
            HeartbeatWire::decode(br#"{"project_slug":1}"#),
            Err(WireError::WrongType(_))
        ));
        assert!(matches!(
            HeartbeatWire::decode(br#"{"interval":"30s"}"#),
            Err(WireError::WrongType(_))
        ));
        let big = vec![b' '; MAX_HEARTBEAT_BYTES + 1];
        assert_eq!(
            HeartbeatWire::decode(&big),
            Err(WireError::Oversize {
                size: MAX_HEARTBEAT_BYTES + 1
            })
        );
    }

    #[test]
    fn what_is_encoded_decodes_to_the_same() {
        let wire = HeartbeatWire {
            project_slug: Some("alpha".into()),
            hub_url: Some("http://localhost:8000".into()),
            mesh_namespace: Some("hub.alpha".into()),
            timestamp: Some("2025-11-18T12:00:00.000Z".into()),
            version: Some("0.9.0".into()),
            status: Some(WireStatus::Degraded.as_str().into()),
            reasons: Some(vec!["db \"slow\"".into()]),
            interval: Some(30.0),
            payload: None,
        };
        let bytes = wire.encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.ends_with(r#""interval":30}"#), "{text}");
        assert_eq!(HeartbeatWire::decode(&bytes).unwrap(), wire);
        // Absent fields are left out.
        let bare = HeartbeatWire {
            project_slug: Some("a".into()),
            ..HeartbeatWire::default()
        };
        assert_eq!(bare.encode().unwrap(), br#"{"project_slug":"a"}"#);
    }

    #[test]
    fn text_and_bytes_decode_alike() {
        // Valid UTF-8 takes the text path; what serde_json reads from the same bytes is
        // the reference, results and error messages alike.
        let by_bytes = |b: &[u8]| {
            serde_json::from_slice::<HeartbeatWire<'_>>(b)
                .map_err(json_error)
                .map(|w| format!("{w:?}"))
        };
        let cases: [&[u8]; 9] = [
            br#"{"project_slug":"alpha","version":"1.0","interval":30}"#,
            br#"{"project_slug":"al\u00e9pha","reasons":["a\nb"]}"#,
            "{\"project_slug\":\"\u{e9}t\u{e9}\"}".as_bytes(),
            b"{\"project_slug\":\"a\xffb\"}",
            b"{\"project_slug\":\"a\xc3\"}",
            br#"{"project_slug":"\ud800"}"#,
            b"{\"project_slug\":\"a\x01b\"}",
            br#"{"project_slug":"alpha"} trailing"#,
            br#"{"project_slug":7}"#,
        ];
        for case in cases {
            let decoded = HeartbeatWire::decode(case).map(|w| format!("{w:?}"));
            assert_eq!(decoded, by_bytes(case), "{}", case.escape_ascii());
        }
    }

    #[test]
    fn statuses_and_intervals() {
        assert_eq!(WireStatus::parse(" OK "), Some(WireStatus::Online));
        assert_eq!(WireStatus::parse("Degraded"), Some(WireStatus::Degraded));
        assert_eq!(WireStatus::parse("sleepy"), None);
        assert_eq!(whole_seconds(30.0), Some(30));
        assert_eq!(whole_seconds(2.5), None);
        assert_eq!(whole_seconds(f64::NAN), None);
        assert_eq!(whole_seconds(1e300), None);
        use std::time::Duration;
        assert_eq!(declared_seconds(Duration::from_secs(30)), 30);
        assert_eq!(declared_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(declared_seconds(Duration::from_millis(10)), 1);
        assert_eq!(
            declared_seconds(Duration::from_secs(10 * 86_400)),
            MAX_INTERVAL_SECONDS
        );
    }
}
