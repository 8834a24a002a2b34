use std::time::Duration;

use super::*;
use crate::testing::{ms, secs, slug, t0};

fn hb(s: &str) -> Heartbeat {
    Heartbeat {
        slug: slug(s),
        hub_url: None,
        version: None,
        sent_at: None,
        reported: Reported::Online,
        interval: None,
        namespace: Default::default(),
    }
}

fn hb_degraded(s: &str, reasons: &[&str]) -> Heartbeat {
    Heartbeat {
        reported: Reported::Degraded {
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
        },
        ..hb(s)
    }
}

/// A table with `slugs` registered (no bus).
fn table(slugs: &[&str]) -> Presence {
    let mut p = Presence::new(StatusPolicy::default());
    for s in slugs {
        assert!(p.register(&slug(s)));
    }
    p
}

fn status(p: &Presence, s: &str) -> Status {
    p.get(&slug(s)).unwrap().status
}

/// (slug, from, to, reason) of each transition, for compact assertions.
fn moves(f: &Flush) -> Vec<(String, Status, Status, String)> {
    f.transitions
        .iter()
        .map(|t| {
            (
                t.slug.to_string(),
                t.from,
                t.to,
                t.reason.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn mv(s: &str, from: Status, to: Status, why: &str) -> (String, Status, Status, String) {
    (s.to_owned(), from, to, why.to_owned())
}

use Status::{Degraded, Offline, Online};

fn move_to(s: &str, to: Status, n: u32) -> Transition {
    Transition {
        slug: slug(s),
        from: Offline,
        to,
        reason: None,
        at: t0() + secs(i64::from(n)),
        last_heartbeat_at: None,
    }
}

fn row(s: &str) -> PresenceRecord {
    PresenceRecord {
        slug: slug(s),
        status: Online,
        status_reason: None,
        version: None,
        last_heartbeat_at: None,
    }
}

#[test]
fn a_cut_keeps_the_first_transitions_with_their_rows_and_moves_the_rest() {
    let mut flush = Flush {
        transitions: vec![
            move_to("a", Online, 1),
            move_to("b", Online, 2),
            move_to("a", Degraded, 3),
            move_to("c", Online, 4),
        ],
        updates: vec![row("a"), row("b"), row("c"), row("d"), row("e"), row("f")],
        mass_expiry: None,
    };
    let later = flush.cut(2).unwrap();
    fn slugs(f: &Flush) -> (Vec<&str>, Vec<&str>) {
        (
            f.transitions.iter().map(|t| t.slug.as_str()).collect(),
            f.updates.iter().map(|u| u.slug.as_str()).collect(),
        )
    }
    // `a` changes again later: its row waits for its last transition; `b`'s row goes
    // with `b`'s transition; two rows without a transition fill the room.
    assert_eq!(slugs(&flush), (vec!["a", "b"], vec!["b", "d", "e"]));
    assert_eq!(slugs(&later), (vec!["a", "c"], vec!["a", "c", "f"]));
    // The row of a kept transition is kept however many rows come before it.
    let mut crowded = Flush {
        transitions: vec![
            move_to("a", Online, 1),
            move_to("b", Online, 2),
            move_to("c", Online, 3),
        ],
        updates: vec![row("x"), row("y"), row("z"), row("a"), row("b"), row("c")],
        mass_expiry: None,
    };
    let later = crowded.cut(2).unwrap();
    assert_eq!(slugs(&crowded), (vec!["a", "b"], vec!["x", "y", "a", "b"]));
    assert_eq!(slugs(&later), (vec!["c"], vec!["z", "c"]));
    let mut small = Flush {
        transitions: vec![move_to("a", Online, 1)],
        updates: vec![row("a")],
        mass_expiry: None,
    };
    assert_eq!(small.cut(2), None);
    assert_eq!(small.transitions.len(), 1);
}

#[test]
fn a_flush_within_the_limit_is_one_part() {
    let flush = Flush {
        transitions: vec![move_to("a", Online, 1), move_to("b", Online, 2)],
        updates: vec![row("a"), row("b"), row("c")],
        mass_expiry: None,
    };
    assert_eq!(flush.clone().split(3), vec![flush]);
}

#[test]
fn a_large_flush_is_split_in_order_with_each_row_beside_its_last_transition() {
    let flush = Flush {
        transitions: vec![
            move_to("a", Online, 1),
            move_to("b", Online, 2),
            move_to("a", Degraded, 3),
            move_to("c", Online, 4),
            move_to("d", Online, 5),
        ],
        updates: vec![
            row("a"),
            row("b"),
            row("c"),
            row("d"),
            row("e"),
            row("f"),
            row("g"),
        ],
        mass_expiry: Some(MassExpiry {
            at: t0(),
            expired: 3,
            live: 4,
        }),
    };
    let parts = flush.clone().split(2);
    let shape: Vec<(Vec<&str>, Vec<&str>)> = parts
        .iter()
        .map(|p| {
            (
                p.transitions.iter().map(|t| t.slug.as_str()).collect(),
                p.updates.iter().map(|u| u.slug.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (vec!["a", "b"], vec!["b"]),
            (vec!["a", "c"], vec!["a", "c"]),
            (vec!["d"], vec!["d"]),
            (vec![], vec!["e", "f"]),
            (vec![], vec!["g"]),
        ]
    );
    assert!(parts[0].mass_expiry.is_some());
    assert!(parts[1..].iter().all(|p| p.mass_expiry.is_none()));
    // Joined again, nothing is lost: every transition in order, every row once.
    let joined = Flush::join(parts);
    assert_eq!(joined.transitions, flush.transitions);
    let mut rows: Vec<&str> = joined.updates.iter().map(|u| u.slug.as_str()).collect();
    rows.sort_unstable();
    assert_eq!(rows, ["a", "b", "c", "d", "e", "f", "g"]);
    assert_eq!(joined.mass_expiry, flush.mass_expiry);
}

// ---- the timeline -------------------------------------------------------------

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

// ---- self-reported degradation and recovery ----------------------------------

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

// ---- flapping -------------------------------------------------------------------

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

// ---- unknown projects, registration -------------------------------------------

#[test]
fn heartbeat_of_an_unknown_project_changes_nothing() {
    let mut p = table(&["alpha"]);
    assert_eq!(
        p.heartbeat(&hb("ghost"), t0()),
        HeartbeatOutcome::UnknownProject
    );
    assert!(!p.contains(&slug("ghost")));
    assert_eq!(p.len(), 1);
    assert!(p.tick(t0()).is_empty());
}

#[test]
fn registering_again_keeps_status_and_last_heartbeat() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    p.tick(t0());
    assert!(!p.register(&slug("alpha")));
    let rec = p.get(&slug("alpha")).unwrap();
    assert_eq!(rec.status, Online);
    assert_eq!(rec.last_heartbeat_at, Some(t0()));
    assert!(p.tick(t0() + secs(1)).is_empty());
    // Nor does adopting a stored record over a known entry.
    assert!(!p.adopt(PresenceRecord {
        slug: slug("alpha"),
        status: Offline,
        status_reason: None,
        version: None,
        last_heartbeat_at: None,
    }));
    assert_eq!(status(&p, "alpha"), Online);
}

#[test]
fn load_restores_stored_liveness_and_the_clock_recomputes_it() {
    let mut p = table(&["stale-entry"]);
    let rec = |s: &str, st: Status, last: Option<DateTime<Utc>>| PresenceRecord {
        slug: slug(s),
        status: st,
        status_reason: None,
        version: None,
        last_heartbeat_at: last,
    };
    p.load(vec![
        rec("fresh", Online, Some(t0() - secs(30))),
        rec("old", Online, Some(t0() - secs(100))),
        rec("never", Online, None),
        rec("down", Offline, Some(t0() - secs(1000))),
    ]);
    assert_eq!(p.len(), 4);
    assert!(!p.contains(&slug("stale-entry")));
    let f = p.tick(t0());
    let mut got = moves(&f);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            mv("never", Online, Offline, "heartbeat_timeout"),
            mv("old", Online, Offline, "heartbeat_timeout"),
        ]
    );
    assert_eq!(status(&p, "fresh"), Online);
    assert_eq!(p.tick(t0() + secs(30)).transitions[0].to, Degraded);
}

#[test]
fn remove_forgets_the_project_and_its_pending_changes() {
    let mut p = table(&["alpha", "beta"]);
    p.heartbeat(&hb("alpha"), t0());
    p.heartbeat(&hb("beta"), t0());
    assert!(p.remove(&slug("alpha")));
    assert!(!p.remove(&slug("alpha")));
    let f = p.tick(t0());
    assert_eq!(moves(&f), [mv("beta", Offline, Online, "heartbeat")]);
    assert_eq!(f.updates.len(), 1);
    assert_eq!(f.updates[0].slug.as_str(), "beta");
    assert_eq!(
        p.heartbeat(&hb("alpha"), t0()),
        HeartbeatOutcome::UnknownProject
    );
}

#[test]
fn a_project_removed_and_registered_again_is_flushed_once() {
    let mut p = table(&["alpha"]);
    p.heartbeat(&hb("alpha"), t0());
    p.remove(&slug("alpha"));
    p.register(&slug("alpha"));
    p.heartbeat(&hb("alpha"), t0() + secs(1));
    let f = p.tick(t0() + secs(1));
    assert_eq!(f.updates.len(), 1, "{:?}", f.updates);
    assert_eq!(f.updates[0].last_heartbeat_at, Some(t0() + secs(1)));
    assert_eq!(moves(&f), [mv("alpha", Offline, Online, "heartbeat")]);
}

// ---- exactly once --------------------------------------------------------------

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

// ---- dirty entries and requeue -------------------------------------------------

#[test]
fn dirty_updates_are_returned_once_until_changed_again() {
    let mut p = table(&["alpha", "beta"]);
    p.heartbeat(&hb("alpha"), t0());
    let f = p.tick(t0());
    assert_eq!(f.updates.len(), 1);
    assert_eq!(f.updates[0].slug.as_str(), "alpha");
    assert_eq!(f.updates[0].status, Online);
    assert!(p.tick(t0() + secs(1)).is_empty());
    assert!(p.tick(t0() + secs(2)).is_empty());

    p.heartbeat(&hb("alpha"), t0() + secs(3));
    let f = p.tick(t0() + secs(3));
    assert!(f.transitions.is_empty());
    assert_eq!(f.updates.len(), 1);
    assert_eq!(f.updates[0].last_heartbeat_at, Some(t0() + secs(3)));

    // A status change by the clock is an update too.
    let f = p.tick(t0() + secs(63));
    assert_eq!(f.transitions.len(), 1);
    assert_eq!(f.updates.len(), 1);
    assert_eq!(f.updates[0].status, Degraded);
    assert!(p.tick(t0() + secs(64)).is_empty());
}

#[test]
fn requeue_puts_failed_transitions_back_ahead_of_newer_ones() {
    let mut p = table(&["alpha", "beta", "gamma"]);
    p.heartbeat(&hb("alpha"), t0());
    p.heartbeat(&hb("beta"), t0() + ms(1));
    let failed = p.tick(t0() + secs(1));
    assert_eq!(failed.transitions.len(), 2);

    // While the store was failing, more happened.
    p.heartbeat(&hb("gamma"), t0() + secs(2));
    p.heartbeat(&hb_degraded("alpha", &["slow"]), t0() + secs(2));
    p.requeue(failed.clone());

    let f = p.tick(t0() + secs(3));
    assert_eq!(f.transitions[..2], failed.transitions[..]);
    assert_eq!(
        moves(&f),
        [
            mv("alpha", Offline, Online, "heartbeat"),
            mv("beta", Offline, Online, "heartbeat"),
            mv("gamma", Offline, Online, "heartbeat"),
            mv("alpha", Online, Degraded, "self_reported: slow"),
        ]
    );
    // Updates carry the newest values, once per project.
    let mut slugs: Vec<&str> = f.updates.iter().map(|u| u.slug.as_str()).collect();
    slugs.sort();
    assert_eq!(slugs, ["alpha", "beta", "gamma"]);
    let alpha = f
        .updates
        .iter()
        .find(|u| u.slug.as_str() == "alpha")
        .unwrap();
    assert_eq!(alpha.status, Degraded);
    assert_eq!(alpha.last_heartbeat_at, Some(t0() + secs(2)));
    // And then it is all gone.
    assert!(p.tick(t0() + secs(4)).is_empty());
}

#[test]
fn requeue_drops_changes_of_projects_removed_meanwhile() {
    let mut p = table(&["alpha", "beta"]);
    p.heartbeat(&hb("alpha"), t0());
    p.heartbeat(&hb("beta"), t0());
    let failed = p.tick(t0());
    p.remove(&slug("alpha"));
    p.requeue(failed);
    let f = p.tick(t0() + secs(1));
    assert_eq!(moves(&f), [mv("beta", Offline, Online, "heartbeat")]);
    assert_eq!(f.updates.len(), 1);
}

// ---- partition guard -----------------------------------------------------------

/// A bus-fed table with `n` projects that all sent one heartbeat at t0, connected at t0.
fn bus_table(n: usize) -> Presence {
    let mut p = Presence::with_bus(StatusPolicy::default());
    for i in 0..n {
        let s = format!("p{i}");
        p.register(&slug(&s));
        p.heartbeat(&hb(&s), t0());
    }
    p
}

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

// ---- mass expiry ---------------------------------------------------------------

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
        hub_url: None,
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
