use std::time::Duration;

use super::*;
use crate::testing::{ms, secs, slug, t0};

fn hb(s: &str) -> Heartbeat {
    Heartbeat {
        slug: slug(s),
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
    // `a` changes again after the first two: its steps stay together, with its row;
    // `b`'s row goes with `b`'s transition; two rows without a transition fill the room.
    assert_eq!(
        slugs(&flush),
        (vec!["a", "b", "a"], vec!["a", "b", "d", "e"])
    );
    assert_eq!(slugs(&later), (vec!["c"], vec!["c", "f"]));
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
    // `a`'s second step goes with its first (and its row): written apart, the second
    // would be chained onto a row the first part left at `a`'s old status.
    assert_eq!(
        shape,
        vec![
            (vec!["a", "b", "a"], vec!["a", "b"]),
            (vec!["c", "d"], vec!["c", "d"]),
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

mod backlog;
mod deadline;
mod exactly_once;
mod flapping;
mod guard;
mod mass_expiry;
mod registration;
mod requeue;
mod self_reported;
mod timeline;

#[test]
fn only_a_changed_status_is_worth_an_early_tick() {
    let mut p = table(&["alpha"]);
    assert_eq!(p.pending(), 0);
    p.heartbeat(&hb("alpha"), t0());
    assert_eq!(p.pending(), 1, "offline → online waits for a tick");
    p.tick(t0() + ms(10));
    assert_eq!(p.pending(), 0);
    p.heartbeat(&hb("alpha"), t0() + ms(20));
    assert_eq!(
        p.pending(),
        0,
        "a heartbeat that changes no status can wait"
    );
}

/// However a backlog is cut or split, each project's steps are written in one part, in
/// their order, and nothing is lost or repeated.
#[test]
fn no_cut_or_split_writes_a_projects_steps_apart() {
    let names = ["a", "b", "c", "d"];
    for seed in 0u32..64 {
        let transitions: Vec<Transition> = (0..12u32)
            .map(|n| {
                let pick = usize::try_from((seed.wrapping_mul(7) + n * n * 3 + n) % 4).unwrap();
                move_to(names[pick], if n % 2 == 0 { Online } else { Degraded }, n)
            })
            .collect();
        let updates = names.iter().map(|s| row(s)).collect();
        let flush = Flush {
            transitions,
            updates,
            mass_expiry: None,
        };
        for max in 1..5 {
            let mut kept = flush.clone();
            let later = kept.cut(max).unwrap_or_default();
            let parts = flush.clone().split(max);
            for parts in [vec![kept, later], parts] {
                let mut part_of = std::collections::HashMap::new();
                for (i, part) in parts.iter().enumerate() {
                    for t in &part.transitions {
                        assert_eq!(
                            *part_of.entry(t.slug.clone()).or_insert(i),
                            i,
                            "{seed} {max}"
                        );
                    }
                }
                let joined = Flush::join(parts);
                for s in names {
                    let steps = |f: &Flush| -> Vec<Transition> {
                        f.transitions
                            .iter()
                            .filter(|t| t.slug.as_str() == s)
                            .cloned()
                            .collect()
                    };
                    assert_eq!(steps(&joined), steps(&flush), "{seed} {max} {s}");
                }
                assert_eq!(joined.transitions.len(), flush.transitions.len());
            }
        }
    }
}
