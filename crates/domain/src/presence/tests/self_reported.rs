//! Self-reported degradation and recovery.

use super::*;

#[test]
fn self_reported_degraded_joins_the_reasons_and_recovers_on_a_normal_heartbeat() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());

    let out = p.heartbeat(
        &hb_degraded("alpha", &["db slow", "queue full"]),
        t0() + secs(10),
    );
    assert_eq!(out, HeartbeatOutcome::Recorded { changed: true });
    let f = p.tick(t0() + secs(10));
    assert_eq!(
        moves(&f),
        [mv(
            "alpha",
            Online,
            Degraded,
            "self_reported: db slow; queue full"
        )]
    );
    let rec = p.get(&slug("alpha")).unwrap();
    assert_eq!(
        rec.status_reason.as_deref(),
        Some("self_reported: db slow; queue full")
    );

    // Still degraded, with new reasons: no new transition, but the reason is updated.
    let out = p.heartbeat(&hb_degraded("alpha", &["db slow"]), t0() + secs(20));
    assert_eq!(out, HeartbeatOutcome::Recorded { changed: false });
    let f = p.tick(t0() + secs(20));
    assert!(f.transitions.is_empty());
    assert_eq!(
        f.updates[0].status_reason.as_deref(),
        Some("self_reported: db slow")
    );

    let out = p.heartbeat(&hb("alpha"), t0() + secs(30));
    assert_eq!(out, HeartbeatOutcome::Recorded { changed: true });
    let f = p.tick(t0() + secs(30));
    assert_eq!(moves(&f), [mv("alpha", Degraded, Online, "heartbeat")]);
    let rec = p.get(&slug("alpha")).unwrap();
    assert_eq!(rec.status, Online);
    assert_eq!(rec.status_reason, None);
}

#[test]
fn self_reported_degraded_without_reasons_and_from_offline() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb_degraded("alpha", &[]), t0());
    let f = p.tick(t0());
    assert_eq!(moves(&f), [mv("alpha", Offline, Degraded, "self_reported")]);
}

#[test]
fn self_reported_degraded_is_not_relabelled_late_and_still_times_out() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb_degraded("alpha", &["disk"]), t0());
    p.tick(t0());
    assert!(p.tick(t0() + secs(60)).transitions.is_empty());
    assert_eq!(
        p.get(&slug("alpha")).unwrap().status_reason.as_deref(),
        Some("self_reported: disk")
    );
    assert!(p.tick(t0() + ms(89_999)).transitions.is_empty());
    let f = p.tick(t0() + secs(90));
    assert_eq!(
        moves(&f),
        [mv("alpha", Degraded, Offline, "heartbeat_timeout")]
    );
}

#[test]
fn late_degraded_and_offline_projects_recover_on_a_heartbeat() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    p.tick(t0() + secs(60));
    assert_eq!(status(&p, "alpha"), Degraded);
    p.heartbeat(&hb("alpha"), t0() + secs(70));
    let f = p.tick(t0() + secs(70));
    assert_eq!(moves(&f), [mv("alpha", Degraded, Online, "heartbeat")]);
    assert_eq!(p.get(&slug("alpha")).unwrap().status_reason, None);

    p.tick(t0() + secs(160));
    assert_eq!(status(&p, "alpha"), Offline);
    p.heartbeat(&hb("alpha"), t0() + secs(500));
    let f = p.tick(t0() + secs(500));
    assert_eq!(moves(&f), [mv("alpha", Offline, Online, "heartbeat")]);
}
