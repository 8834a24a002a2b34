//! The rules over the log and the clock: holds, recoveries, reminders, maintenance.

use super::engine::Watch;
use super::message::Event;
use super::rules::{Rules, Trigger};
use super::tests::project;
use super::ChannelName;
use crate::model::{Maintenance, Project, Status, Tags, Transition};
use crate::replication::{Change, ChangeKind};
use crate::testing::{secs, t0};

fn watch(rules: Rules) -> Watch {
    Watch::new(
        ChannelName::parse("ops").unwrap(),
        rules.normalized().unwrap(),
    )
}

fn change(revision: u64, p: &Project, from: Status, to: Status, at_secs: i64) -> Change {
    let at = t0() + secs(at_secs);
    let mut p = p.clone();
    p.status = to;
    Change {
        revision,
        slug: p.slug.clone(),
        at,
        kind: ChangeKind::Transition(Transition {
            slug: p.slug.clone(),
            from,
            to,
            reason: Some("heartbeat_timeout".into()),
            at,
            last_heartbeat_at: None,
        }),
        project: Some(p),
    }
}

fn events(msgs: &[super::Message]) -> Vec<Event> {
    msgs.iter().map(|m| m.event).collect()
}

fn hold(secs: u32) -> Rules {
    Rules {
        hold_seconds: secs,
        ..Rules::default()
    }
}

#[test]
fn a_status_is_told_once_it_has_held_for_the_hold() {
    let p = project("alpha");
    let mut w = watch(hold(120));
    assert!(w
        .apply(&change(7, &p, Status::Online, Status::Offline, 0), t0())
        .is_empty());
    assert_eq!(w.pending_floor(), Some(7), "the cursor must stay below it");
    assert!(w.tick(t0() + secs(119)).is_empty());
    let told = w.tick(t0() + secs(120));
    assert_eq!(events(&told), [Event::Offline]);
    assert_eq!(told[0].revision, 7);
    assert_eq!(told[0].idempotency_key(), "7-ops-alpha");
    assert_eq!(told[0].subject.as_ref().unwrap().status, Status::Offline);
    assert_eq!(w.pending_floor(), None);
    assert!(w.tick(t0() + secs(5000)).is_empty(), "told once");
}

#[test]
fn a_project_back_within_the_hold_causes_no_message_at_all() {
    let p = project("alpha");
    let mut w = watch(hold(120));
    assert!(w
        .apply(&change(7, &p, Status::Online, Status::Offline, 0), t0())
        .is_empty());
    let back = w.apply(
        &change(8, &p, Status::Offline, Status::Online, 60),
        t0() + secs(60),
    );
    assert!(back.is_empty(), "{back:?}");
    assert!(w.tick(t0() + secs(1000)).is_empty());
    assert_eq!(w.outages(), 0);
}

#[test]
fn a_recovery_carries_the_outages_length() {
    let p = project("alpha");
    let mut w = watch(Rules::default());
    assert_eq!(
        events(&w.apply(&change(7, &p, Status::Online, Status::Degraded, 0), t0())),
        [Event::Degraded]
    );
    let off = w.apply(
        &change(8, &p, Status::Degraded, Status::Offline, 30),
        t0() + secs(30),
    );
    assert_eq!(events(&off), [Event::Offline], "worse is told too");
    let rec = w.apply(
        &change(9, &p, Status::Offline, Status::Online, 200),
        t0() + secs(200),
    );
    assert_eq!(events(&rec), [Event::Recovered]);
    assert_eq!(rec[0].outage_seconds, Some(200));
    assert_eq!(rec[0].revision, 9);
    assert!(
        rec[0].headline().contains("recovered after 3m 20s"),
        "{}",
        rec[0].headline()
    );
}

#[test]
fn reminders_repeat_while_the_outage_lasts() {
    let p = project("alpha");
    let mut w = watch(Rules {
        remind_every_seconds: Some(300),
        ..Rules::default()
    });
    assert_eq!(
        events(&w.apply(&change(7, &p, Status::Online, Status::Offline, 0), t0())),
        [Event::Offline]
    );
    assert!(w.tick(t0() + secs(299)).is_empty());
    let r1 = w.tick(t0() + secs(300));
    assert_eq!(events(&r1), [Event::Reminder]);
    assert_eq!(r1[0].outage_seconds, Some(300));
    assert_ne!(
        r1[0].idempotency_key(),
        "7-ops-alpha",
        "each reminder its own key"
    );
    assert!(w.tick(t0() + secs(599)).is_empty());
    assert_eq!(events(&w.tick(t0() + secs(600))), [Event::Reminder]);
    let rec = w.apply(
        &change(8, &p, Status::Offline, Status::Online, 700),
        t0() + secs(700),
    );
    assert_eq!(events(&rec), [Event::Recovered]);
    assert!(w.tick(t0() + secs(5000)).is_empty());
}

#[test]
fn nothing_is_told_while_a_maintenance_window_is_open() {
    let mut p = project("alpha");
    p.maintenance = Some(Box::new(Maintenance {
        reason: "upgrade".into(),
        since: t0(),
        until: t0() + secs(1000),
        by: "ops".into(),
    }));
    let mut w = watch(Rules::default());
    assert!(w
        .apply(&change(7, &p, Status::Online, Status::Offline, 0), t0())
        .is_empty());
    assert!(w.tick(t0() + secs(999)).is_empty());
    assert_eq!(w.pending_floor(), Some(7));
    // Still offline when the window ends: told then.
    assert_eq!(events(&w.tick(t0() + secs(1000))), [Event::Offline]);
}

#[test]
fn a_recovery_inside_a_window_is_not_told() {
    let mut p = project("alpha");
    let mut w = watch(Rules::default());
    assert_eq!(
        events(&w.apply(&change(7, &p, Status::Online, Status::Offline, 0), t0())),
        [Event::Offline]
    );
    p.maintenance = Some(Box::new(Maintenance {
        reason: "upgrade".into(),
        since: t0() + secs(10),
        until: t0() + secs(1000),
        by: "ops".into(),
    }));
    assert!(w
        .apply(
            &change(8, &p, Status::Offline, Status::Online, 20),
            t0() + secs(20)
        )
        .is_empty());
}

#[test]
fn rules_choose_projects_and_changes() {
    let mut prod = project("alpha");
    prod.tags = Tags::parse(&["prod"]).unwrap();
    let dev = project("beta");
    let mut w = watch(Rules {
        tags: vec!["PROD".into()],
        on: vec![Trigger::Recovered],
        hold_seconds: 60,
        ..Rules::default()
    });
    assert!(w
        .apply(&change(1, &dev, Status::Online, Status::Offline, 0), t0())
        .is_empty());
    assert!(w
        .apply(&change(2, &prod, Status::Online, Status::Offline, 0), t0())
        .is_empty());
    assert!(
        w.tick(t0() + secs(100)).is_empty(),
        "offline is not told on this channel"
    );
    assert!(w
        .apply(
            &change(3, &dev, Status::Offline, Status::Online, 200),
            t0() + secs(200)
        )
        .is_empty());
    let rec = w.apply(
        &change(4, &prod, Status::Offline, Status::Online, 200),
        t0() + secs(200),
    );
    assert_eq!(
        events(&rec),
        [Event::Recovered],
        "the outage outlasted the hold"
    );
    assert_eq!(rec[0].subject.as_ref().unwrap().slug, "alpha");
}

#[test]
fn a_removed_project_is_forgotten() {
    let p = project("alpha");
    let mut w = watch(hold(60));
    w.apply(&change(1, &p, Status::Online, Status::Offline, 0), t0());
    let gone = Change {
        revision: 2,
        slug: p.slug.clone(),
        at: t0() + secs(10),
        kind: ChangeKind::Deleted {
            reason: Some("deleted".into()),
        },
        project: None,
    };
    assert!(w.apply(&gone, t0() + secs(10)).is_empty());
    assert!(w.tick(t0() + secs(100)).is_empty());
    assert_eq!(w.pending_floor(), None);
}

#[test]
fn a_seeded_outage_recovers_with_its_whole_length() {
    let mut p = project("alpha");
    p.status = Status::Offline;
    p.last_heartbeat_at = Some(t0() - secs(3700));
    let mut w = watch(hold(120));
    w.seed(&p, t0() - secs(3600), t0(), 3, t0());
    assert!(w.tick(t0() + secs(10)).is_empty(), "seeded as already told");
    let rec = w.apply(
        &change(9, &p, Status::Offline, Status::Online, 60),
        t0() + secs(60),
    );
    assert_eq!(events(&rec), [Event::Recovered]);
    assert_eq!(rec[0].outage_seconds, Some(3660));
}

#[test]
fn a_seeded_outage_gives_way_to_a_new_one_in_the_log() {
    let mut p = project("alpha");
    p.status = Status::Offline;
    p.last_heartbeat_at = Some(t0() - secs(100));
    let mut w = watch(Rules::default());
    // Seeded from the registry, then the log (after the cursor) shows it went offline
    // from online: that outage is new, and told.
    w.seed(&p, t0(), t0(), 3, t0() + secs(5));
    let told = w.apply(
        &change(9, &p, Status::Online, Status::Offline, 5),
        t0() + secs(5),
    );
    assert_eq!(events(&told), [Event::Offline]);
    assert_eq!(told[0].revision, 9);
}

#[test]
fn an_outage_that_began_after_the_channel_was_made_is_told() {
    let mut p = project("alpha");
    p.status = Status::Offline;
    p.last_heartbeat_at = Some(t0() - secs(2));
    let mut w = watch(Rules::default());
    // The channel was made at t0 - 10 s; the project went offline at t0.
    w.seed(&p, t0(), t0() - secs(10), 3, t0() + secs(1));
    assert_eq!(events(&w.tick(t0() + secs(1))), [Event::Offline]);
}

#[test]
fn outages_taken_over_together_are_told_under_keys_of_their_own() {
    // Two outages that began after the channel was made, seeded at one cursor: each
    // message is told under that revision, so the slug tells their keys apart.
    let mut w = watch(Rules::default());
    for slug in ["alpha", "beta"] {
        let mut p = project(slug);
        p.status = Status::Offline;
        p.last_heartbeat_at = Some(t0() - secs(2));
        w.seed(&p, t0(), t0() - secs(10), 3, t0() + secs(1));
    }
    let told = w.tick(t0() + secs(1));
    let keys: Vec<String> = told.iter().map(|m| m.idempotency_key()).collect();
    assert_eq!(keys, ["3-ops-alpha", "3-ops-beta"]);
}

#[test]
fn a_project_never_heard_is_not_an_outage() {
    let mut p = project("alpha");
    p.status = Status::Offline; // registered, no heartbeat yet
    let mut w = watch(Rules::default());
    w.seed(&p, t0(), t0() - secs(10), 3, t0() + secs(1));
    assert!(w.tick(t0() + secs(100)).is_empty());
    assert_eq!(w.outages(), 0);
}

#[test]
fn a_change_after_the_cursor_of_a_seeded_outage_is_told() {
    // A new leader seeds from the registry (offline now, at cursor 3) and replays the
    // log from the cursor: the degraded → offline at revision 9 was not told yet.
    let mut p = project("alpha");
    p.status = Status::Offline;
    p.last_heartbeat_at = Some(t0() - secs(100));
    let mut w = watch(Rules::default());
    w.seed(
        &p,
        t0() - secs(10),
        chrono::DateTime::<chrono::Utc>::MAX_UTC,
        3,
        t0() + secs(5),
    );
    let told = w.apply(
        &change(9, &p, Status::Degraded, Status::Offline, 5),
        t0() + secs(5),
    );
    assert_eq!(events(&told), [Event::Offline]);
    assert_eq!(told[0].revision, 9);
    // A change the seed had already seen (at or before the cursor) is not told again.
    let mut w = watch(Rules::default());
    w.seed(
        &p,
        t0() - secs(10),
        chrono::DateTime::<chrono::Utc>::MAX_UTC,
        9,
        t0() + secs(5),
    );
    assert!(w
        .apply(
            &change(9, &p, Status::Degraded, Status::Offline, 5),
            t0() + secs(5)
        )
        .is_empty());
}
