//! Partition guard.

use super::*;

#[test]
fn nothing_expires_while_the_link_has_never_connected() {
    let mut p = bus_table(2);
    assert_eq!(p.guard(t0()), GuardState::LinkDown);
    // The heartbeats themselves still count.
    assert_eq!(p.tick(t0()).transitions.len(), 2);
    for s in [60, 90, 3600, 86_400] {
        assert!(p.tick(t0() + secs(s)).transitions.is_empty(), "+{s}s");
        assert_eq!(p.guard(t0() + secs(s)), GuardState::LinkDown);
    }
    assert_eq!(p.counts().online, 2);
}

#[test]
fn after_connecting_silence_counts_from_the_connection() {
    let mut p = bus_table(1);
    p.tick(t0());
    let up = t0() + secs(1000);
    p.bus_connected(up);
    let until = up + secs(90);
    assert_eq!(p.guard(up), GuardState::Recovering { until });
    assert!(p.tick(up).transitions.is_empty());
    assert!(p.tick(up + ms(59_999)).transitions.is_empty());
    assert_eq!(p.tick(up + secs(60)).transitions[0].to, Degraded);
    assert!(p.tick(up + ms(89_999)).transitions.is_empty());
    assert_eq!(p.guard(up + ms(89_999)), GuardState::Recovering { until });
    assert_eq!(p.guard(until), GuardState::Inactive);
    let f = p.tick(until);
    assert_eq!(
        moves(&f),
        [mv("p0", Degraded, Offline, "heartbeat_timeout")]
    );
    assert_eq!(f.transitions[0].at, until);
}

#[test]
fn only_the_time_the_link_was_down_is_credited() {
    let mut p = bus_table(1);
    p.bus_connected(t0() - secs(1000));
    p.tick(t0());
    assert_eq!(p.guard(t0()), GuardState::Inactive);
    p.bus_disconnected(t0() + secs(30));
    assert_eq!(p.guard(t0() + secs(30)), GuardState::LinkDown);
    assert!(p.guard(t0() + secs(30)).is_active());
    for s in [60, 90, 500] {
        assert!(p.tick(t0() + secs(s)).transitions.is_empty(), "+{s}s");
    }
    let back = t0() + secs(600);
    p.bus_connected(back);
    // 30 s heard before the outage, 30 s after it: degraded; 60 s after: offline.
    assert!(p.tick(back + ms(29_999)).transitions.is_empty());
    assert_eq!(p.tick(back + secs(30)).transitions[0].to, Degraded);
    assert!(p.tick(back + ms(59_999)).transitions.is_empty());
    assert_eq!(p.tick(back + secs(60)).transitions[0].to, Offline);
}

#[test]
fn a_short_outage_postpones_expiry_by_its_length_only() {
    let mut p = bus_table(1);
    p.bus_connected(t0() - secs(1000));
    p.tick(t0());
    p.bus_disconnected(t0() + secs(40));
    p.bus_connected(t0() + secs(40) + ms(20));
    assert!(p.tick(t0() + ms(60_019)).transitions.is_empty());
    assert_eq!(p.tick(t0() + ms(60_020)).transitions[0].to, Degraded);
    assert!(p.tick(t0() + ms(90_019)).transitions.is_empty());
    let f = p.tick(t0() + ms(90_020));
    assert_eq!(
        moves(&f),
        [mv("p0", Degraded, Offline, "heartbeat_timeout")]
    );
}

#[test]
fn a_reconnect_every_ten_seconds_neither_saves_the_silent_nor_sinks_the_beating() {
    let mut p = bus_table(2);
    p.bus_connected(t0() - secs(1000));
    p.tick(t0());
    let mut all = Vec::new();
    // A bad frame every 10 s drops the link for 50 ms (a heartbeat sent meanwhile
    // is lost); p0 beats every 30 s, p1 is silent.
    for step in 1..=1000 {
        let now = t0() + ms(step * 100);
        if step % 100 == 50 {
            p.bus_disconnected(now);
            p.bus_connected(now + ms(50));
        }
        if step % 300 == 0 {
            p.heartbeat(&hb("p0"), now);
        }
        all.extend(p.tick(now).transitions);
    }
    assert!(all.iter().all(|t| t.slug.as_str() != "p0"), "{all:?}");
    let p1: Vec<_> = all.iter().map(|t| (t.to, t.at)).collect();
    // Six outages (300 ms) before degraded, nine (450 ms) before offline.
    assert_eq!(
        p1,
        [(Degraded, t0() + ms(60_300)), (Offline, t0() + ms(90_500))]
    );
}

#[test]
fn outages_are_forgotten_once_they_no_longer_matter_and_their_number_is_bounded() {
    let mut p = bus_table(0);
    p.bus_connected(t0());
    for i in 0..(MAX_OUTAGES as i64 * 2) {
        let at = t0() + secs(1) + ms(i * 10);
        p.bus_disconnected(at);
        p.bus_connected(at + ms(5));
    }
    assert!(p.deafness.closed.len() <= MAX_OUTAGES);
    p.advance(t0() + secs(1000));
    assert!(p.deafness.closed.is_empty());
    assert_eq!(p.guard(t0() + secs(1000)), GuardState::Inactive);
}

#[test]
fn bus_connected_again_while_up_does_not_extend_the_hold() {
    let mut p = bus_table(1);
    p.bus_connected(t0());
    p.bus_connected(t0() + secs(60));
    assert_eq!(
        p.guard(t0() + secs(60)),
        GuardState::Recovering {
            until: t0() + secs(90)
        }
    );
}

#[test]
fn a_project_that_resumes_heartbeats_after_reconnect_never_goes_offline() {
    let mut p = bus_table(2);
    p.bus_connected(t0() - secs(1000));
    p.tick(t0());
    p.bus_disconnected(t0() + secs(10));
    let back = t0() + secs(300);
    p.bus_connected(back);
    let mut all = Vec::new();
    for s in 0..=200 {
        let now = back + secs(s);
        if s % 30 == 0 {
            p.heartbeat(&hb("p0"), now);
        }
        all.extend(p.tick(now).transitions);
    }
    assert_eq!(status(&p, "p0"), Online);
    assert!(all.iter().all(|t| t.slug.as_str() != "p0"), "{all:?}");
    // The silent one was heard to be silent for 10 s before the outage: degraded 50 s
    // and offline 80 s after the link came back.
    assert_eq!(
        moves(&Flush {
            transitions: all.clone(),
            ..Flush::default()
        }),
        [
            mv("p1", Online, Degraded, "heartbeat_late"),
            mv("p1", Degraded, Offline, "heartbeat_timeout")
        ]
    );
    assert_eq!(all[0].at, back + secs(50));
    assert_eq!(all[1].at, back + secs(80));
}

#[test]
fn lost_canaries_hold_expiry_while_the_link_stays_up() {
    let mut p = bus_table(1);
    p.bus_connected(t0() - secs(1000));
    p.tick(t0());
    // Three unanswered canaries are still tolerated.
    for i in 1..=CANARY_MISSES {
        p.canary_sent(t0() + secs(i64::from(i) * 5));
    }
    assert_eq!(p.guard(t0() + secs(15)), GuardState::Inactive);
    // The fourth in a row means ours are being lost.
    p.canary_sent(t0() + secs(20));
    assert_eq!(p.guard(t0() + secs(20)), GuardState::CanaryLost);
    for s in [60, 90, 400] {
        assert!(p.tick(t0() + secs(s)).transitions.is_empty(), "+{s}s");
        assert_eq!(p.guard(t0() + secs(s)), GuardState::CanaryLost);
    }
    // One comes back. We were deaf since the first unanswered one (+5 s): 5 s of
    // silence heard before, so degraded 55 s and offline 85 s after.
    let back = t0() + secs(500);
    p.canary_received(back);
    assert_eq!(
        p.guard(back),
        GuardState::Recovering {
            until: back + secs(90)
        }
    );
    assert!(p.tick(back + ms(54_999)).transitions.is_empty());
    assert_eq!(p.tick(back + secs(55)).transitions[0].to, Degraded);
    assert!(p.tick(back + ms(84_999)).transitions.is_empty());
    assert_eq!(p.tick(back + secs(85)).transitions[0].to, Offline);
}

#[test]
fn answered_canaries_keep_the_guard_inactive() {
    let mut p = bus_table(1);
    p.bus_connected(t0() - secs(1000));
    p.tick(t0());
    for i in 0..100 {
        let now = t0() + secs(i * 5);
        p.canary_sent(now);
        p.canary_sent(now);
        p.canary_received(now);
        assert_eq!(p.guard(now), GuardState::Inactive, "canary {i}");
    }
    assert_eq!(p.tick(t0() + secs(90)).transitions[0].to, Offline);
}

#[test]
fn link_down_wins_over_canary_loss_and_reconnect_resets_the_canaries() {
    let mut p = bus_table(1);
    p.bus_connected(t0());
    for _ in 0..10 {
        p.canary_sent(t0());
    }
    assert_eq!(p.guard(t0()), GuardState::CanaryLost);
    p.bus_disconnected(t0() + secs(1));
    assert_eq!(p.guard(t0() + secs(1)), GuardState::LinkDown);
    let back = t0() + secs(100);
    p.bus_connected(back);
    assert_eq!(
        p.guard(back),
        GuardState::Recovering {
            until: back + secs(90)
        }
    );
}

#[test]
fn without_a_bus_nothing_holds() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    p.bus_disconnected(t0());
    for _ in 0..10 {
        p.canary_sent(t0());
    }
    p.bus_connected(t0() + secs(1));
    p.canary_received(t0() + secs(1));
    assert_eq!(p.guard(t0() + secs(1)), GuardState::Inactive);
    p.tick(t0());
    assert_eq!(
        p.tick(t0() + secs(90)).transitions.last().unwrap().to,
        Offline
    );
}

#[test]
fn guard_states_have_stable_names() {
    let until = t0();
    assert_eq!(GuardState::Inactive.as_str(), "inactive");
    assert_eq!(GuardState::LinkDown.as_str(), "link_down");
    assert_eq!(GuardState::CanaryLost.as_str(), "canary_lost");
    assert_eq!(GuardState::Recovering { until }.as_str(), "recovering");
    assert!(!GuardState::Inactive.is_active());
    assert!(GuardState::LinkDown.is_active());
    assert!(GuardState::CanaryLost.is_active());
    assert!(GuardState::Recovering { until }.is_active());
}

#[test]
fn a_stall_of_the_sweeps_is_time_the_table_could_not_hear() {
    // Sweeps every second; the process is stopped for 200 s (SIGSTOP), longer than
    // offline_after (90 s): the heartbeats waiting in its socket are read only after
    // the first sweep that follows.
    let mut p = Presence::new(StatusPolicy::default()).with_sweep_interval(secs(1));
    p.register(&slug("alpha"));
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    for s in 1..=30 {
        assert!(p.tick(t0() + secs(s)).transitions.is_empty());
    }
    let resumed = t0() + secs(230);
    assert!(
        p.tick(resumed).transitions.is_empty(),
        "not expired on resume"
    );
    assert_eq!(p.unheard(t0(), resumed), secs(200));
    p.heartbeat(&hb("alpha"), resumed + ms(5));
    assert!(p.tick(resumed + secs(1)).transitions.is_empty());
    assert_eq!(status(&p, "alpha"), Online);
    // Silence after it counts as usual (sweeps every second): 60 s after the heartbeat
    // (at +5 ms) it is degraded.
    for s in 2..65 {
        let f = p.tick(resumed + secs(s));
        if s < 61 {
            assert!(f.transitions.is_empty(), "+{s}s");
        } else if s == 61 {
            assert_eq!(f.transitions[0].to, Degraded);
        }
    }
}

#[test]
fn without_a_sweep_interval_a_gap_is_silence() {
    let mut p = Presence::new(StatusPolicy::default());
    p.register(&slug("alpha"));
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    assert_eq!(p.tick(t0() + secs(230)).transitions[0].to, Offline);
}
