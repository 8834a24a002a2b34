//! Exactly once.

use super::*;
use crate::model::Version;

#[test]
fn repeated_ticks_and_heartbeats_produce_each_transition_once() {
    let mut p = table(&["alpha"]);
    let mut all = Vec::new();
    // Heartbeats every 10 s for a minute, ticks every 500 ms for three minutes.
    for step in 0..360 {
        let now = t0() + ms(step * 500);
        if step % 20 == 0 && step <= 120 {
            p.heartbeat(&hb("alpha"), now);
        }
        all.extend(p.tick(now).transitions);
    }
    let got: Vec<_> = all.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        got,
        [(Offline, Online), (Online, Degraded), (Degraded, Offline)]
    );
    // Last heartbeat at +60 s: degraded at +120 s, offline at +150 s.
    assert_eq!(all[1].at, t0() + secs(120));
    assert_eq!(all[2].at, t0() + secs(150));
}

#[test]
fn many_heartbeats_between_ticks_give_one_transition_and_one_update() {
    let mut p = table(&["alpha"]);
    for i in 0..10 {
        let out = p.heartbeat(&hb("alpha"), t0() + ms(i * 10));
        assert_eq!(out, HeartbeatOutcome::Recorded { changed: i == 0 });
    }
    let f = p.tick(t0() + secs(1));
    assert_eq!(f.transitions.len(), 1);
    assert_eq!(f.updates.len(), 1);
    assert_eq!(f.updates[0].last_heartbeat_at, Some(t0() + ms(90)));
}

#[test]
fn last_heartbeat_never_moves_backwards() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0() + secs(10));
    p.heartbeat(&hb("alpha"), t0() + secs(5));
    assert_eq!(
        p.get(&slug("alpha")).unwrap().last_heartbeat_at,
        Some(t0() + secs(10))
    );
    let f = p.tick(t0() + secs(10));
    assert_eq!(f.updates[0].last_heartbeat_at, Some(t0() + secs(10)));
    // A delayed heartbeat does not pull the expiry earlier either.
    p.heartbeat(&hb("alpha"), t0());
    assert!(p.tick(t0() + secs(65)).transitions.is_empty());
    assert_eq!(p.tick(t0() + secs(70)).transitions[0].to, Degraded);
}

fn beating_every(s: &str, seconds: i64) -> Heartbeat {
    Heartbeat {
        interval: Some(HeartbeatInterval::from_seconds(seconds, "interval").unwrap()),
        namespace: Default::default(),
        ..hb(s)
    }
}

/// The offline transition of `s` in a flush, if any.
fn went_offline(f: &Flush, s: &str) -> bool {
    f.transitions
        .iter()
        .any(|t| t.slug.as_str() == s && t.to == Offline)
}

#[test]
fn a_5s_project_and_a_30s_project_are_each_judged_by_their_own_interval_in_one_sweep() {
    let mut p = table(&["fast", "slow", "plain"]);
    // `fast` declares 5 s in its heartbeats; `slow` registered 30 s; `plain` neither.
    p.set_interval(
        &slug("slow"),
        Some(HeartbeatInterval::from_seconds(30, "heartbeat_interval").unwrap()),
    );
    p.heartbeat(&beating_every("fast", 5), t0());
    p.heartbeat(&hb("slow"), t0());
    p.heartbeat(&hb("plain"), t0());
    p.tick(t0());
    // fast: degraded at 2 × 5 s, offline at 3 × 5 s, within one 1 s tick of each.
    let f = p.tick(t0() + secs(10));
    assert_eq!(
        moves(&f),
        vec![mv("fast", Online, Degraded, "heartbeat_late")]
    );
    assert!(!went_offline(&p.tick(t0() + secs(14)), "fast"));
    let f = p.tick(t0() + secs(15));
    assert_eq!(
        moves(&f),
        vec![mv("fast", Degraded, Offline, "heartbeat_timeout")]
    );
    // slow: 60 s and 90 s (2 × and 3 × 30 s); plain keeps the defaults, the same here.
    let f = p.tick(t0() + secs(60));
    assert_eq!(f.transitions.len(), 2, "{:?}", moves(&f));
    let f = p.tick(t0() + secs(90));
    assert!(went_offline(&f, "slow") && went_offline(&f, "plain"));
}

#[test]
fn a_declared_interval_wins_over_the_registered_one_and_can_be_removed() {
    let mut p = table(&["a"]);
    let five = HeartbeatInterval::from_seconds(5, "heartbeat_interval").unwrap();
    p.set_interval(&slug("a"), Some(five));
    assert_eq!(p.thresholds(&slug("a")), Some((Some(secs(10)), secs(15))));
    p.heartbeat(&beating_every("a", 20), t0());
    assert_eq!(p.thresholds(&slug("a")), Some((Some(secs(40)), secs(60))));
    // The registered one changes; the heartbeat's still wins.
    p.set_interval(&slug("a"), None);
    assert_eq!(p.thresholds(&slug("a")), Some((Some(secs(40)), secs(60))));
    let mut q = table(&["b"]);
    q.set_interval(&slug("b"), Some(five));
    q.set_interval(&slug("b"), None);
    assert_eq!(q.thresholds(&slug("b")), Some((Some(secs(60)), secs(90))));
    assert_eq!(q.thresholds(&slug("nope")), None);
}

#[test]
fn maintenance_holds_silence_and_self_reports_and_ends_by_itself_at_once() {
    let mut p = table(&["kept", "other"]);
    p.heartbeat(&hb("kept"), t0());
    p.heartbeat(&hb("other"), t0());
    p.tick(t0());
    let until = t0() + secs(600);
    p.set_maintenance(&slug("kept"), Some(until));
    assert_eq!(p.in_maintenance(t0()), 1);
    // Its own word on trouble records nothing while the window is open.
    p.heartbeat(&hb_degraded("kept", &["restarting"]), t0() + secs(1));
    assert_eq!(status(&p, "kept"), Online);
    // Ten minutes of silence: `other` goes degraded then offline, `kept` nothing.
    let mut moved = Vec::new();
    for s in (2..600).step_by(7) {
        moved.extend(moves(&p.tick(t0() + secs(s))));
    }
    assert!(moved.iter().all(|m| m.0 == "other"), "{moved:?}");
    assert_eq!(moved.len(), 2);
    assert_eq!(p.longest_offline(t0() + secs(599)), Some(secs(599 - 90)));
    assert!(p.maintenance_due(t0() + secs(599)).is_empty());
    // At its end the normal rules apply at once: long silent, so offline.
    assert_eq!(p.maintenance_due(until), vec![(slug("kept"), until)]);
    let f = p.tick(until);
    assert_eq!(
        moves(&f),
        vec![mv("kept", Online, Offline, "heartbeat_timeout")]
    );
    assert_eq!(p.in_maintenance(until), 0);
    p.set_maintenance(&slug("kept"), None);
    assert!(p.maintenance_due(until).is_empty());
}

#[test]
fn longest_offline_counts_from_each_projects_own_threshold() {
    let mut p = table(&["fast"]);
    p.heartbeat(&beating_every("fast", 5), t0());
    p.tick(t0() + secs(15));
    assert_eq!(p.longest_offline(t0() + secs(25)), Some(secs(10)));
}

#[test]
fn heartbeat_version_is_kept_and_flushed() {
    let mut p = table(&["alpha"]);
    let with_version = Heartbeat {
        version: Some(Version::parse("1.2.3").unwrap()),
        ..hb("alpha")
    };
    p.heartbeat(&with_version, t0());
    let f = p.tick(t0());
    assert_eq!(f.updates[0].version.as_ref().unwrap().as_str(), "1.2.3");
    // A heartbeat without a version keeps the known one.
    p.heartbeat(&hb("alpha"), t0() + secs(1));
    let f = p.tick(t0() + secs(1));
    assert_eq!(f.updates[0].version.as_ref().unwrap().as_str(), "1.2.3");
}
