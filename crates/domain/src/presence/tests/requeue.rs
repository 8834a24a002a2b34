//! Dirty entries and requeue.

use super::*;

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
