//! Unknown projects, registration.

use super::*;

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
