//! A backlog larger than one tick writes: taken in parts, from where it waits.

use super::*;

fn names(records: &[PresenceRecord]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(|r| r.slug.to_string()).collect();
    v.sort();
    v
}

#[test]
fn a_tick_takes_at_most_its_share_of_waiting_steps_and_no_quiet_row_while_steps_wait() {
    let mut p = table(&["a", "b", "c", "d", "e"]);
    for s in ["a", "b", "c", "d", "e"] {
        p.heartbeat(&hb(s), t0());
    }
    let f = p.tick_at_most(t0() + ms(10), 2);
    // The first two steps and each one's row: the others' rows wait with their steps.
    assert_eq!(
        moves(&f),
        vec![
            mv("a", Offline, Online, reason::HEARTBEAT),
            mv("b", Offline, Online, reason::HEARTBEAT)
        ]
    );
    assert_eq!(names(&f.updates), ["a", "b"]);
    assert_eq!(p.pending(), 3);

    // A project whose step is written is heard again: its row waits until no step does.
    p.heartbeat(&hb("a"), t0() + ms(20));
    let f = p.tick_at_most(t0() + ms(30), 2);
    assert_eq!(
        moves(&f),
        vec![
            mv("c", Offline, Online, reason::HEARTBEAT),
            mv("d", Offline, Online, reason::HEARTBEAT)
        ]
    );
    assert_eq!(names(&f.updates), ["c", "d"]);

    // The last step; then the quiet rows, oldest first, at most two a tick.
    let f = p.tick_at_most(t0() + ms(40), 2);
    assert_eq!(moves(&f), vec![mv("e", Offline, Online, reason::HEARTBEAT)]);
    assert_eq!(names(&f.updates), ["a", "e"]);
    assert_eq!(p.pending(), 0);
    assert!(p.tick_at_most(t0() + ms(50), 2).is_empty());
}

#[test]
fn quiet_rows_beyond_a_ticks_share_go_in_later_ticks_oldest_first_each_once() {
    let slugs = ["a", "b", "c", "d", "e"];
    let mut p = table(&slugs);
    for s in slugs {
        p.heartbeat(&hb(s), t0());
    }
    assert_eq!(p.tick(t0() + ms(1)).transitions.len(), 5);
    for (i, s) in slugs.iter().enumerate() {
        p.heartbeat(&hb(s), t0() + ms(10 + i as i64));
    }
    // Heard again before its row was taken: still one row, with the newest time.
    p.heartbeat(&hb("a"), t0() + ms(100));
    let first = p.tick_at_most(t0() + ms(200), 2);
    assert!(first.transitions.is_empty());
    assert_eq!(names(&first.updates), ["a", "b"]);
    assert_eq!(first.updates[0].last_heartbeat_at, Some(t0() + ms(100)));
    let second = p.tick_at_most(t0() + ms(300), 2);
    assert_eq!(names(&second.updates), ["c", "d"]);
    let third = p.tick_at_most(t0() + ms(400), 2);
    assert_eq!(names(&third.updates), ["e"]);
    assert!(p.tick_at_most(t0() + ms(500), 2).is_empty());
}

#[test]
fn the_registry_hears_every_heartbeat_whatever_the_store_has_taken() {
    let mut p = table(&["a", "b", "c"]);
    for s in ["a", "b", "c"] {
        p.heartbeat(&hb(s), t0());
    }
    // The store takes one a tick; the registry has all three at once.
    let f = p.tick_at_most(t0() + ms(1), 1);
    assert_eq!(f.transitions.len(), 1);
    let heard = p.take_heard();
    assert_eq!(names(&heard), ["a", "b", "c"]);
    assert!(heard.iter().all(|r| r.last_heartbeat_at == Some(t0())));
    assert!(p.take_heard().is_empty());

    // Heard twice since: once, with the newest time.
    p.heartbeat(&hb("b"), t0() + ms(5));
    p.heartbeat(&hb("b"), t0() + ms(9));
    let heard = p.take_heard();
    assert_eq!(names(&heard), ["b"]);
    assert_eq!(heard[0].last_heartbeat_at, Some(t0() + ms(9)));
}

#[test]
fn an_early_round_takes_at_most_its_share_of_a_storm_and_its_rows() {
    let mut p = table(&["a", "b", "c", "d", "e"]);
    for s in ["a", "b", "c", "d", "e"] {
        p.heartbeat(&hb(s), t0());
    }
    let f = p.take_changed(2);
    assert_eq!(
        moves(&f),
        vec![
            mv("a", Offline, Online, reason::HEARTBEAT),
            mv("b", Offline, Online, reason::HEARTBEAT)
        ]
    );
    assert_eq!(names(&f.updates), ["a", "b"], "the others' rows wait too");
    assert_eq!(p.pending(), 3);
    let f = p.take_changed(2);
    assert_eq!(names(&f.updates), ["c", "d"]);
    let f = p.take_changed(2);
    assert_eq!(names(&f.updates), ["e"]);
    assert_eq!(p.pending(), 0);
}
