use super::*;
use chrono::{TimeDelta, TimeZone};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 30).unwrap()
}

fn dec(subject: &str, body: &str) -> Result<Heartbeat, HeartbeatError> {
    decode(
        subject,
        body.as_bytes(),
        &Window::new(now(), &StatusPolicy::default()),
        None,
    )
}

const SEED: &str = r#"{
        "project_slug": "commandcenter",
        "hub_url": "http://localhost:8000",
        "mesh_namespace": "hub.commandcenter",
        "timestamp": "2025-11-18T12:00:00Z",
        "version": "0.9.0"
    }"#;

#[test]
fn interval_is_a_whole_number_of_seconds_in_range() {
    let with = |v: &str| dec("a", &format!(r#"{{"project_slug":"a","interval":{v}}}"#));
    assert_eq!(with("5").unwrap().interval.map(|i| i.seconds()), Some(5));
    assert_eq!(
        with("30.0").unwrap().interval.map(|i| i.seconds()),
        Some(30)
    );
    assert_eq!(dec("a", r#"{"project_slug":"a"}"#).unwrap().interval, None);
    for bad in ["0", "-5", "2.5", "86401", "1e300"] {
        let e = with(bad).unwrap_err();
        assert_eq!(e.field(), Some("interval"), "{bad}");
        assert_eq!(e.outcome(), "malformed");
    }
    assert_eq!(with(r#""30s""#).unwrap_err().kind(), "wrong_type");
}

#[test]
fn the_wire_and_the_model_bound_the_interval_alike() {
    assert_eq!(
        federation_wire::MAX_INTERVAL_SECONDS,
        HeartbeatInterval::MAX_SECONDS
    );
}

#[test]
fn accepts_the_original_payload() {
    let hb = dec("commandcenter", SEED).unwrap();
    assert_eq!(hb.slug.as_str(), "commandcenter");
    assert_eq!(hb.version.unwrap().as_str(), "0.9.0");
    assert_eq!(
        hb.sent_at,
        Some(Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 0).unwrap())
    );
    assert_eq!(hb.reported, Reported::Online);
}

#[test]
fn accepts_the_commandcenter_envelope() {
    let body = format!(r#"{{"payload": {SEED}, "correlation_id": "abc-123"}}"#);
    let hb = dec("commandcenter", &body).unwrap();
    assert_eq!(hb.slug.as_str(), "commandcenter");
}

#[test]
fn accepts_a_minimal_payload() {
    let hb = dec("alpha", r#"{"project_slug":"alpha"}"#).unwrap();
    assert_eq!(hb.sent_at, None);
}

#[test]
fn accepts_naive_python_timestamps_as_utc() {
    let hb = dec(
        "alpha",
        r#"{"project_slug":"alpha","timestamp":"2025-11-18T12:00:10.123456"}"#,
    )
    .unwrap();
    assert_eq!(
        hb.sent_at.unwrap(),
        Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 10).unwrap() + TimeDelta::microseconds(123456)
    );
}

#[test]
fn self_reported_status_values() {
    for s in ["online", "OK", "ok", "Online"] {
        let hb = dec("a", &format!(r#"{{"project_slug":"a","status":"{s}"}}"#)).unwrap();
        assert_eq!(hb.reported, Reported::Online, "{s}");
    }
    let hb = dec(
        "a",
        r#"{"project_slug":"a","status":"degraded","reasons":["db slow"," ","queue\u0007 full"]}"#,
    )
    .unwrap();
    assert_eq!(
        hb.reported,
        Reported::Degraded {
            reasons: vec!["db slow".into(), "queue full".into()]
        }
    );
    let err = dec("a", r#"{"project_slug":"a","status":"sleepy"}"#).unwrap_err();
    assert_eq!(err.kind(), "invalid_field");
    assert_eq!(err.field(), Some("status"));
}

#[test]
fn reasons_with_invisible_format_characters_are_refused_naming_the_reason() {
    for c in ["\\u202e", "\\u200b", "\\u2028", "\\ufeff"] {
        let body =
            format!(r#"{{"project_slug":"a","status":"degraded","reasons":["fine","bad{c}one"]}}"#);
        match dec("a", &body) {
            Err(HeartbeatError::InvalidField(e)) => {
                assert_eq!(e.field, "reasons[1]", "{c}");
                assert!(e.message.contains("invisible"), "{c}: {e}");
            }
            other => panic!("{c}: {other:?}"),
        }
    }
}

#[test]
fn degraded_without_reasons_is_fine_and_reasons_are_bounded() {
    let hb = dec("a", r#"{"project_slug":"a","status":"degraded"}"#).unwrap();
    assert_eq!(hb.reported, Reported::Degraded { reasons: vec![] });
    // More reasons than kept, each longer than kept, and still under 8 KiB in all.
    let many: Vec<String> = (0..MAX_REASONS + 4)
        .map(|i| format!("\"{}\"", "r".repeat(MAX_REASON_CHARS + 1 + i)))
        .collect();
    let body = format!(
        r#"{{"project_slug":"a","status":"degraded","reasons":[{}]}}"#,
        many.join(",")
    );
    assert!(body.len() <= MAX_HEARTBEAT_BYTES);
    let Reported::Degraded { reasons } = dec("a", &body).unwrap().reported else {
        panic!("not degraded")
    };
    assert_eq!(reasons.len(), MAX_REASONS);
    assert!(reasons
        .iter()
        .all(|r| r.chars().count() == MAX_REASON_CHARS));
}

#[test]
fn rejects_invalid_json() {
    for body in ["", "{", "not json", "{\"project_slug\": }"] {
        assert_eq!(
            dec("a", body).unwrap_err().kind(),
            "invalid_json",
            "{body:?}"
        );
    }
}

#[test]
fn rejects_wrong_types() {
    for body in [
        r#"{"project_slug": 42}"#,
        r#"{"project_slug":"a","version": 1.2}"#,
        r#"{"project_slug":"a","reasons":"x"}"#,
        r#"[1,2,3]"#,
        r#""a string""#,
    ] {
        let err = dec("a", body).unwrap_err();
        assert_eq!(err.kind(), "wrong_type", "{body}");
        assert_eq!(err.outcome(), "malformed");
    }
}

#[test]
fn rejects_a_missing_slug() {
    assert_eq!(
        dec("a", r#"{"hub_url":"http://x"}"#).unwrap_err(),
        HeartbeatError::MissingSlug
    );
    assert_eq!(
        dec("a", r#"{"payload":{"version":"1"}}"#).unwrap_err(),
        HeartbeatError::MissingSlug
    );
}

#[test]
fn rejects_oversize_before_parsing() {
    let body = format!(
        r#"{{"project_slug":"a","pad":"{}"}}"#,
        "x".repeat(MAX_HEARTBEAT_BYTES)
    );
    let err = dec("a", &body).unwrap_err();
    assert_eq!(err.kind(), "oversize");
    // Exactly at the limit is still read.
    let pad = MAX_HEARTBEAT_BYTES - r#"{"project_slug":"a","pad":""}"#.len();
    let body = format!(r#"{{"project_slug":"a","pad":"{}"}}"#, "x".repeat(pad));
    assert_eq!(body.len(), MAX_HEARTBEAT_BYTES);
    assert!(dec("a", &body).is_ok());
}

#[test]
fn rejects_a_slug_other_than_the_subjects() {
    let err = dec("other", SEED).unwrap_err();
    assert_eq!(err.kind(), "slug_mismatch");
    assert_eq!(err.field(), Some("project_slug"));
    // The comparison ignores case, as slugs do.
    assert!(dec("CommandCenter", SEED).is_ok());
}

#[test]
fn rejects_an_invalid_slug() {
    let err = dec("bad.slug", r#"{"project_slug":"bad.slug"}"#).unwrap_err();
    assert_eq!(err.kind(), "invalid_field");
    assert_eq!(err.field(), Some("project_slug"));
}

#[test]
fn rejects_a_foreign_namespace() {
    let err = dec(
        "alpha",
        r#"{"project_slug":"alpha","mesh_namespace":"hub..beta"}"#,
    )
    .unwrap_err();
    assert_eq!(err.kind(), "bad_namespace");
    assert_eq!(err.field(), Some("mesh_namespace"));
    // Any valid subject prefix is fine (the original's namespaces were free).
    assert!(dec(
        "alpha",
        r#"{"project_slug":"alpha","mesh_namespace":"veria.mesh"}"#
    )
    .is_ok());
}

#[test]
fn rejects_a_replayed_timestamp() {
    // now is 12:00:30; a sender's clock may be an hour behind, so 11:00:30 is the
    // oldest accepted (whatever offline_after is: liveness is on our clock).
    let ok = dec(
        "a",
        r#"{"project_slug":"a","timestamp":"2025-11-18T11:00:30Z"}"#,
    );
    assert!(ok.is_ok());
    let err = dec(
        "a",
        r#"{"project_slug":"a","timestamp":"2025-11-18T11:00:29Z"}"#,
    )
    .unwrap_err();
    assert_eq!(err.kind(), "replay");
}

#[test]
fn rejects_a_timestamp_from_the_future() {
    assert!(dec(
        "a",
        r#"{"project_slug":"a","timestamp":"2025-11-18T12:05:30Z"}"#
    )
    .is_ok());
    let err = dec(
        "a",
        r#"{"project_slug":"a","timestamp":"2025-11-18T12:05:31Z"}"#,
    )
    .unwrap_err();
    assert_eq!(err.kind(), "future_timestamp");
    assert_eq!(err.outcome(), "replay");
}

#[test]
fn rejects_an_unparseable_timestamp_or_bad_fields() {
    let err = dec("a", r#"{"project_slug":"a","timestamp":"yesterday"}"#).unwrap_err();
    assert_eq!(err.field(), Some("timestamp"));
    let err = dec("a", r#"{"project_slug":"a","hub_url":"ftp://x"}"#).unwrap_err();
    assert_eq!(err.field(), Some("hub_url"));
    let long = "v".repeat(51);
    let err = dec(
        "a",
        &format!(r#"{{"project_slug":"a","version":"{long}"}}"#),
    )
    .unwrap_err();
    assert_eq!(err.field(), Some("version"));
}

/// The registered URL spares only the parse of that exact text: any other is checked
/// as before, trimmed or padded ones included.
#[test]
fn a_registered_hub_url_is_not_parsed_again_but_any_other_is_checked() {
    let registered = HubUrl::parse("http://alpha.example.com:8000").unwrap();
    let slug = Slug::parse("alpha").unwrap();
    let with = |url: &str| {
        let body = format!(r#"{{"project_slug":"alpha","hub_url":"{url}"}}"#);
        decode(
            "alpha",
            body.as_bytes(),
            &Window::new(now(), &StatusPolicy::default()),
            Some(Registered {
                slug: &slug,
                hub_url: &registered,
            }),
        )
    };
    assert!(with("http://alpha.example.com:8000").is_ok());
    assert!(with("http://beta.example.com").is_ok());
    for bad in [
        "ftp://alpha.example.com",
        "http://user:pw@alpha.example.com",
        "http://a b",
    ] {
        assert_eq!(with(bad).unwrap_err().field(), Some("hub_url"), "{bad}");
    }
    let padded = format!("{}http://alpha.example.com:8000", " ".repeat(600));
    assert_eq!(with(&padded).unwrap_err().field(), Some("hub_url"));
}

/// A payload naming the registered slug exactly holds the registered one; any other
/// spelling is parsed (and lowercased) as before.
#[test]
fn a_registered_slug_is_shared_not_parsed_again() {
    let url = HubUrl::parse("http://alpha.example.com:8000").unwrap();
    let slug = Slug::parse("alpha").unwrap();
    let registered = Some(Registered {
        slug: &slug,
        hub_url: &url,
    });
    let hb = |body: &str| {
        decode(
            "alpha",
            body.as_bytes(),
            &Window::new(now(), &StatusPolicy::default()),
            registered,
        )
        .unwrap()
    };
    let exact = hb(r#"{"project_slug":"alpha"}"#);
    assert_eq!(exact.slug.as_str().as_ptr(), slug.as_str().as_ptr());
    let spelled = hb(r#"{"project_slug":" Alpha "}"#);
    assert_eq!(spelled.slug, slug);
    assert_ne!(spelled.slug.as_str().as_ptr(), slug.as_str().as_ptr());
}
