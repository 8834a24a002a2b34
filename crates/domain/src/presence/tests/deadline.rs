//! When the clock can next change a status: the presence task sweeps then, not at its
//! next tick.

use super::*;

#[test]
fn nothing_is_due_before_the_earliest_threshold_and_something_is_at_it() {
    // Defaults: degraded after 60 s, offline after 90 s.
    let mut p = table(&["a", "b"]);
    assert!(!p.due(t0() + secs(1_000)), "nothing live, nothing due");
    p.heartbeat(&hb("a"), t0());
    p.heartbeat(&hb("b"), t0() + secs(10));
    assert!(!p.due(t0() + secs(59)));
    assert!(p.due(t0() + secs(60)), "a is late from 60 s on");
    // A sweep before it agrees, and names the same moment.
    let _ = p.advance(t0() + secs(30));
    assert!(!p.due(t0() + secs(59)));
    assert!(p.due(t0() + secs(60)));
    // At 60 s a is degraded; next: b's lateness at 70 s, then a's expiry at 90 s.
    let _ = p.advance(t0() + secs(60));
    assert_eq!(status(&p, "a"), Status::Degraded);
    assert!(!p.due(t0() + secs(69)));
    assert!(p.due(t0() + secs(70)));
    let _ = p.advance(t0() + secs(70));
    assert!(!p.due(t0() + secs(89)));
    assert!(p.due(t0() + secs(90)));
    let _ = p.advance(t0() + secs(90));
    assert_eq!(status(&p, "a"), Status::Offline);
    assert!(p.due(t0() + secs(100)), "b expires at 100 s");
    let _ = p.advance(t0() + secs(100));
    assert!(!p.due(t0() + secs(10_000)), "nothing live again");
}

#[test]
fn a_heartbeat_never_makes_the_table_due_later_than_a_deadline_it_knows() {
    let mut p = table(&["a", "b"]);
    p.heartbeat(&hb("a"), t0());
    p.heartbeat(&hb("b"), t0());
    let _ = p.advance(t0() + ms(500));
    // a beats again: its own deadline moves, b's (60 s) stays the earliest.
    p.heartbeat(&hb("a"), t0() + secs(30));
    assert!(p.due(t0() + secs(60)));
}
