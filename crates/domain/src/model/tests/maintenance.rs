//! Maintenance.

use super::*;

fn window(reason: Option<&str>, until: Option<&str>, span: Option<&str>) -> MaintenanceInput {
    MaintenanceInput {
        reason: reason.map(str::to_owned),
        until: until.map(str::to_owned),
        duration: span.map(str::to_owned),
    }
}

#[test]
fn maintenance_needs_a_reason_and_exactly_one_end_in_the_next_30_days() {
    let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2025, 11, 18, 12, 0, 0).unwrap();
    let m = window(Some(" upgrade "), None, Some("30m"))
        .validate(now, "key:ab12")
        .unwrap();
    assert_eq!(
        (m.reason.as_str(), m.until - now, m.since, m.by.as_str()),
        ("upgrade", TimeDelta::minutes(30), now, "key:ab12")
    );
    assert!(m.is_active(now) && !m.is_active(m.until));
    for (span, secs) in [("90s", 90), ("2h", 7200), ("1d", 86_400), ("600", 600)] {
        let m = window(Some("x"), None, Some(span))
            .validate(now, "anonymous")
            .unwrap();
        assert_eq!(m.until - now, TimeDelta::seconds(secs), "{span}");
    }
    let m = window(Some("x"), Some("2025-11-18T13:00:00+01:00"), None);
    assert!(
        m.validate(now, "a").is_err(),
        "an hour ahead in +01:00 is now"
    );
    let m = window(Some("x"), Some("2025-11-18T13:00:00Z"), None)
        .validate(now, "a")
        .unwrap();
    assert_eq!(m.until - now, TimeDelta::hours(1));
    let field = |w: MaintenanceInput| w.validate(now, "a").unwrap_err().field;
    assert_eq!(field(window(None, None, Some("1h"))), "reason");
    assert_eq!(field(window(Some(" "), None, Some("1h"))), "reason");
    assert_eq!(field(window(Some("x"), None, None)), "until");
    assert_eq!(
        field(window(Some("x"), Some("2025-11-18T13:00:00Z"), Some("1h"))),
        "for"
    );
    assert_eq!(field(window(Some("x"), Some("tomorrow"), None)), "until");
    assert_eq!(
        field(window(Some("x"), Some("2025-11-18T11:00:00Z"), None)),
        "until"
    );
    assert_eq!(
        field(window(Some("x"), Some("2026-11-18T11:00:00Z"), None)),
        "until"
    );
    for bad in [
        "0s",
        "-5m",
        "5 weeks",
        "1y",
        "",
        "99999999999999999999d",
        "31d",
    ] {
        assert_eq!(field(window(Some("x"), None, Some(bad))), "for", "{bad}");
    }
}
