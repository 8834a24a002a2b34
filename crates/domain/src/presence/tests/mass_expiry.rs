//! Mass expiry.

use super::*;

/// `silent` projects heartbeat at t0 only; `alive` ones heartbeat at t0 and t0+60.
fn fleet(silent: usize, alive: usize) -> Presence {
    let mut p = Presence::new(StatusPolicy::default());
    for i in 0..silent + alive {
        let s = format!("p{i}");
        p.register(&slug(&s));
        p.heartbeat(&hb(&s), t0());
    }
    p.tick(t0());
    for i in silent..silent + alive {
        p.heartbeat(&hb(&format!("p{i}")), t0() + secs(60));
    }
    p
}

#[test]
fn a_mass_expiry_is_reported_and_still_applied() {
    let mut p = fleet(5, 4);
    assert_eq!(p.last_mass_expiry(), None);
    let at = t0() + secs(90);
    let f = p.tick(at);
    let expected = MassExpiry {
        at,
        expired: 5,
        live: 9,
    };
    assert_eq!(f.mass_expiry, Some(expected));
    assert_eq!(p.last_mass_expiry(), Some(expected));
    let offline: Vec<_> = f.transitions.iter().filter(|t| t.to == Offline).collect();
    assert_eq!(offline.len(), 5);
    assert_eq!(
        p.counts(),
        StatusCounts {
            online: 4,
            degraded: 0,
            offline: 5
        }
    );
    // A later calm sweep does not report again, but the last one is remembered.
    let f = p.tick(t0() + secs(91));
    assert_eq!(f.mass_expiry, None);
    assert_eq!(p.last_mass_expiry(), Some(expected));
}

#[test]
fn a_whole_small_fleet_of_five_going_down_is_a_mass_expiry() {
    let mut p = fleet(5, 0);
    let f = p.tick(t0() + secs(90));
    assert_eq!(f.mass_expiry.map(|m| (m.expired, m.live)), Some((5, 5)));
    assert_eq!(p.counts().offline, 5);
}

#[test]
fn small_or_minority_expiries_are_not_mass_expiries() {
    for (silent, alive) in [(4, 0), (5, 6), (5, 5), (1, 0)] {
        let mut p = fleet(silent, alive);
        let f = p.tick(t0() + secs(90));
        assert_eq!(f.mass_expiry, None, "{silent} of {}", silent + alive);
        assert_eq!(p.last_mass_expiry(), None);
        // They are expired all the same.
        assert_eq!(p.counts().offline, silent);
    }
}

#[test]
fn degraded_projects_count_as_live_and_offline_ones_do_not() {
    // 5 expire out of 5 live; 10 already offline do not dilute it.
    let mut p = fleet(5, 0);
    for i in 0..10 {
        p.register(&slug(&format!("off{i}")));
    }
    p.tick(t0() + secs(60)); // all five degraded (late)
    assert_eq!(p.counts().degraded, 5);
    let f = p.tick(t0() + secs(90));
    assert_eq!(f.mass_expiry.map(|m| (m.expired, m.live)), Some((5, 5)));
}

#[test]
fn counts_by_status() {
    let mut p = table(&["a", "b", "c", "d"]);
    p.heartbeat(&hb("a"), t0());
    p.heartbeat(&hb("b"), t0());
    p.heartbeat(&hb_degraded("c", &[]), t0());
    assert_eq!(
        p.counts(),
        StatusCounts {
            online: 2,
            degraded: 1,
            offline: 1
        }
    );
}

#[test]
fn advancing_without_a_flush_keeps_every_step_on_time() {
    let mut p = Presence::new(StatusPolicy::default());
    p.register(&slug("a"));
    let hb = Heartbeat {
        slug: slug("a"),
        version: None,
        sent_at: None,
        reported: Reported::Online,
        interval: None,
        namespace: Default::default(),
    };
    p.heartbeat(&hb, t0());
    assert_eq!(p.advance(t0() + secs(60)), None);
    assert_eq!(p.advance(t0() + secs(90)), None);
    let flush = p.tick(t0() + secs(95));
    let steps: Vec<(Status, DateTime<Utc>)> =
        flush.transitions.iter().map(|t| (t.to, t.at)).collect();
    assert_eq!(
        steps,
        vec![
            (Status::Online, t0()),
            (Status::Degraded, t0() + secs(60)),
            (Status::Offline, t0() + secs(90)),
        ]
    );
    assert_eq!(flush.updates.len(), 1);
}

#[test]
fn a_refused_canary_leaves_the_guard_to_the_link_until_one_comes_back() {
    let mut p = bus_table(1);
    p.bus_connected(t0() - secs(1000));
    p.tick(t0());
    for i in 1..=CANARY_MISSES + 1 {
        p.canary_sent(t0() + secs(i64::from(i)));
    }
    assert_eq!(p.guard(t0() + secs(5)), GuardState::CanaryLost);
    // The server says it refuses them: the guard follows the link, which is up.
    let denied = t0() + secs(6);
    p.canary_denied(denied);
    assert_eq!(
        p.guard(denied),
        GuardState::Recovering {
            until: denied + secs(90)
        },
        "the lost canaries' outage is over"
    );
    for s in 7..200 {
        p.canary_sent(t0() + secs(s)); // not counted while refused
    }
    assert_eq!(p.guard(t0() + secs(200)), GuardState::Inactive);
    assert!(
        p.tick(t0() + secs(200))
            .transitions
            .iter()
            .any(|t| t.to == Offline),
        "silence counts again"
    );
    // The link still rules: down holds.
    p.bus_disconnected(t0() + secs(201));
    assert_eq!(p.guard(t0() + secs(201)), GuardState::LinkDown);
    p.bus_connected(t0() + secs(202));
    // A canary comes back: they count again.
    p.canary_received(t0() + secs(203));
    for s in 0..=CANARY_MISSES {
        p.canary_sent(t0() + secs(204 + i64::from(s)));
    }
    assert_eq!(p.guard(t0() + secs(210)), GuardState::CanaryLost);
}
