//! The timeline.

use super::*;

#[test]
fn registered_project_is_offline_until_its_first_heartbeat() {
    let mut p = table(&["alpha"]);
    let rec = p.get(&slug("alpha")).unwrap();
    assert_eq!(rec.status, Offline);
    assert_eq!(rec.last_heartbeat_at, None);
    // Silence never makes a never-seen project anything but offline.
    for s in [0, 60, 90, 3600] {
        let f = p.tick(t0() + secs(s));
        assert!(f.transitions.is_empty(), "at +{s}s");
    }
    assert_eq!(status(&p, "alpha"), Offline);
}

#[test]
fn longest_offline_counts_from_last_heartbeat_plus_offline_after() {
    let mut p = table(&["alpha", "beta"]);
    // Never-seen offline projects are not counted.
    assert_eq!(p.longest_offline(t0() + secs(3600)), None);
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    assert_eq!(p.longest_offline(t0() + secs(30)), None);
    p.tick(t0() + secs(90));
    assert_eq!(status(&p, "alpha"), Offline);
    assert_eq!(p.longest_offline(t0() + secs(90)), Some(secs(0)));
    assert_eq!(p.longest_offline(t0() + secs(700)), Some(secs(610)));
}

#[test]
fn heartbeat_makes_a_project_online_with_one_transition() {
    let mut p = table(&["alpha"]);
    assert_eq!(
        p.heartbeat(&hb("alpha"), t0()),
        HeartbeatOutcome::Recorded { changed: true }
    );
    let f = p.tick(t0());
    assert_eq!(moves(&f), [mv("alpha", Offline, Online, "heartbeat")]);
    let t = &f.transitions[0];
    assert_eq!(t.at, t0());
    assert_eq!(t.last_heartbeat_at, Some(t0()));
    let rec = p.get(&slug("alpha")).unwrap();
    assert_eq!(rec.status, Online);
    assert_eq!(rec.last_heartbeat_at, Some(t0()));
    assert_eq!(rec.status_reason, None);
}

#[test]
fn timeline_online_degraded_offline_at_the_exact_thresholds() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    assert_eq!(p.tick(t0()).transitions.len(), 1);

    assert!(p.tick(t0() + ms(59_999)).transitions.is_empty());
    assert_eq!(status(&p, "alpha"), Online);

    let f = p.tick(t0() + secs(60));
    assert_eq!(moves(&f), [mv("alpha", Online, Degraded, "heartbeat_late")]);
    assert_eq!(f.transitions[0].at, t0() + secs(60));
    assert_eq!(f.transitions[0].last_heartbeat_at, Some(t0()));
    let rec = p.get(&slug("alpha")).unwrap();
    assert_eq!(rec.status, Degraded);
    assert_eq!(rec.status_reason.as_deref(), Some("heartbeat_late"));

    assert!(p.tick(t0() + ms(89_999)).transitions.is_empty());
    assert_eq!(status(&p, "alpha"), Degraded);

    let f = p.tick(t0() + secs(90));
    assert_eq!(
        moves(&f),
        [mv("alpha", Degraded, Offline, "heartbeat_timeout")]
    );
    assert_eq!(status(&p, "alpha"), Offline);
    assert_eq!(
        p.get(&slug("alpha")).unwrap().status_reason.as_deref(),
        Some("heartbeat_timeout")
    );
    // Offline stays offline without a new transition.
    for s in [91, 120, 3600] {
        assert!(p.tick(t0() + secs(s)).transitions.is_empty(), "+{s}s");
    }
}

#[test]
fn a_tick_that_skips_the_degraded_window_goes_straight_offline() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    let f = p.tick(t0() + secs(200));
    assert_eq!(
        moves(&f),
        [mv("alpha", Online, Offline, "heartbeat_timeout")]
    );
}

#[test]
fn degraded_after_zero_goes_from_online_straight_to_offline() {
    let policy = StatusPolicy::new(Duration::ZERO, Duration::from_secs(90)).unwrap();
    let mut p = Presence::new(policy);
    p.register(&slug("alpha"));
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    for s in [60, 61, 89] {
        assert!(p.tick(t0() + secs(s)).transitions.is_empty(), "+{s}s");
    }
    assert!(p.tick(t0() + ms(89_999)).transitions.is_empty());
    assert_eq!(status(&p, "alpha"), Online);
    let f = p.tick(t0() + secs(90));
    assert_eq!(
        moves(&f),
        [mv("alpha", Online, Offline, "heartbeat_timeout")]
    );
}

#[test]
fn custom_thresholds_are_honoured() {
    let policy = StatusPolicy::new(Duration::from_secs(5), Duration::from_secs(10)).unwrap();
    let mut p = Presence::new(policy);
    p.register(&slug("alpha"));
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    assert!(p.tick(t0() + ms(4_999)).transitions.is_empty());
    assert_eq!(p.tick(t0() + secs(5)).transitions[0].to, Degraded);
    assert!(p.tick(t0() + ms(9_999)).transitions.is_empty());
    assert_eq!(p.tick(t0() + secs(10)).transitions[0].to, Offline);
}

#[test]
fn a_heartbeat_resets_the_silence() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    p.heartbeat(&hb("alpha"), t0() + secs(50));
    // 60 s after the first heartbeat but only 10 s after the second.
    assert!(p.tick(t0() + secs(60)).transitions.is_empty());
    assert!(p.tick(t0() + ms(109_999)).transitions.is_empty());
    assert_eq!(p.tick(t0() + secs(110)).transitions[0].to, Degraded);
}
