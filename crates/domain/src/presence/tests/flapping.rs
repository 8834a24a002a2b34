//! Flapping.

use super::*;

#[test]
fn a_project_records_at_most_one_transition_per_tick() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    // 1,000 flips within one tick, ending degraded: one transition.
    for i in 0..1000 {
        let at = t0() + ms(i);
        if i % 2 == 0 {
            p.heartbeat(&hb_degraded("alpha", &["slow"]), at);
        } else {
            p.heartbeat(&hb("alpha"), at);
        }
    }
    p.heartbeat(&hb_degraded("alpha", &["slow"]), t0() + ms(1000));
    let f = p.tick(t0() + ms(1000));
    assert_eq!(
        moves(&f),
        [mv("alpha", Online, Degraded, "self_reported: slow")]
    );
    assert_eq!(f.transitions[0].at, t0() + ms(1000));
    // Flips that end where the tick started are no transition at all.
    for i in 0..1000 {
        let at = t0() + secs(2) + ms(i);
        if i % 2 == 0 {
            p.heartbeat(&hb("alpha"), at);
        } else {
            p.heartbeat(&hb_degraded("alpha", &["slow"]), at);
        }
    }
    let f = p.tick(t0() + secs(3));
    assert!(f.transitions.is_empty(), "{:?}", moves(&f));
    assert_eq!(f.updates.len(), 1);
    assert_eq!(status(&p, "alpha"), Degraded);
    // The next tick starts afresh.
    p.heartbeat(&hb("alpha"), t0() + secs(4));
    assert_eq!(
        moves(&p.tick(t0() + secs(4))),
        [mv("alpha", Degraded, Online, "heartbeat")]
    );
}

#[test]
fn flips_of_one_tick_coalesce_while_the_store_refuses_batches_too() {
    let mut p = table(&["alpha", "beta"]);
    p.heartbeat(&hb("alpha"), t0());
    p.heartbeat(&hb("beta"), t0());
    let failed = p.tick(t0());
    p.requeue(failed);
    for i in 0..10 {
        p.heartbeat(&hb_degraded("alpha", &["x"]), t0() + ms(100 + i * 2));
        p.heartbeat(&hb("alpha"), t0() + ms(101 + i * 2));
    }
    p.heartbeat(&hb_degraded("beta", &["y"]), t0() + ms(200));
    let f = p.tick(t0() + secs(1));
    assert_eq!(
        moves(&f),
        [
            mv("alpha", Offline, Online, "heartbeat"),
            mv("beta", Offline, Online, "heartbeat"),
            mv("beta", Online, Degraded, "self_reported: y"),
        ]
    );
}

#[test]
fn a_self_reported_degradation_ends_after_recover_after_healthy_heartbeats() {
    let mut p = Presence::new(StatusPolicy::default().with_recover_after(3));
    p.register(&slug("alpha"));
    p.heartbeat(&hb_degraded("alpha", &["disk"]), t0());
    p.tick(t0());
    let mut at = t0();
    let mut beat = |p: &mut Presence, h: Heartbeat| {
        at += secs(1);
        p.heartbeat(&h, at);
        p.tick(at)
    };
    assert!(beat(&mut p, hb("alpha")).transitions.is_empty());
    assert!(beat(&mut p, hb("alpha")).transitions.is_empty());
    assert_eq!(status(&p, "alpha"), Degraded);
    assert_eq!(
        p.get(&slug("alpha")).unwrap().status_reason.as_deref(),
        Some("self_reported: disk")
    );
    // A degraded one in between starts the count again.
    assert!(beat(&mut p, hb_degraded("alpha", &["disk"]))
        .transitions
        .is_empty());
    assert!(beat(&mut p, hb("alpha")).transitions.is_empty());
    assert!(beat(&mut p, hb("alpha")).transitions.is_empty());
    let f = beat(&mut p, hb("alpha"));
    assert_eq!(moves(&f), [mv("alpha", Degraded, Online, "heartbeat")]);
    // Late-degraded (not self-reported) recovers on the first heartbeat.
    p.tick(at + secs(60));
    assert_eq!(status(&p, "alpha"), Degraded);
    p.heartbeat(&hb("alpha"), at + secs(61));
    assert_eq!(
        moves(&p.tick(at + secs(61))),
        [mv("alpha", Degraded, Online, "heartbeat")]
    );
    assert_eq!(
        StatusPolicy::default()
            .with_recover_after(0)
            .recover_after(),
        1
    );
}

#[test]
fn a_transition_left_waiting_by_a_tick_is_not_merged_into_by_the_next() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    // A tick that takes no transition leaves alpha's waiting, in its place.
    assert!(p.tick_at_most(t0() + ms(500), 0).transitions.is_empty());
    // A change in the next tick is a transition of its own, after the waiting one.
    p.heartbeat(&hb_degraded("alpha", &["slow"]), t0() + secs(1));
    assert_eq!(
        moves(&p.tick(t0() + secs(1))),
        [
            mv("alpha", Offline, Online, "heartbeat"),
            mv("alpha", Online, Degraded, "self_reported: slow")
        ]
    );
}
