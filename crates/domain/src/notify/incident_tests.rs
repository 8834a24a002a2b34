//! A channel told of an incident: once when it opens, once when it resolves.

use super::engine::{Watch, INCIDENT_GATHER};
use super::message::Event;
use super::rules::Rules;
use super::tests::project;
use super::ChannelName;
use crate::incident::{IncidentSettings, IncidentTracker, INCIDENT_DEFAULTS};
use crate::model::{Project, Status, Transition};
use crate::replication::{Change, ChangeKind};
use crate::testing::{secs, t0};

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
            last_heartbeat_at: Some(t0() - secs(90)),
        }),
        project: Some(p),
    }
}

/// Each of `ps` changing `from` → `to`, at revisions from `first` on, the `i`th at
/// `at_secs(i)`.
fn steps(
    ps: &[Project],
    first: u64,
    from: Status,
    to: Status,
    at_secs: impl Fn(usize) -> i64,
) -> Vec<Change> {
    ps.iter()
        .enumerate()
        .map(|(i, p)| change(first + i as u64, p, from, to, at_secs(i)))
        .collect()
}

/// Feeds the same changes to the tracker and the watch, as the dispatcher does: the
/// change first, then the incident's events at its revision.
fn run(
    watch: &mut Watch,
    tracker: &mut IncidentTracker,
    changes: &[Change],
) -> Vec<super::Message> {
    let mut out = Vec::new();
    for c in changes {
        let now = c.at;
        out.extend(watch.apply(c, now));
        for e in tracker.apply(c, |_, _| chrono::TimeDelta::zero()) {
            out.extend(watch.incident(&e, now));
        }
        out.extend(watch.tick(now));
    }
    out
}

fn fleet(n: usize) -> Vec<Project> {
    (0..n)
        .map(|i| {
            let mut p = project(&format!("p{i}"));
            if i % 2 == 0 {
                p.tags = crate::model::Tags::parse(&["even"]).unwrap();
            }
            p
        })
        .collect()
}

fn setup(rules: Rules, settings: IncidentSettings) -> (Watch, IncidentTracker) {
    let w = Watch::new(
        ChannelName::parse("ops").unwrap(),
        rules.normalized().unwrap(),
    )
    .with_incident_grace(settings.window);
    (w, IncidentTracker::new(settings))
}

#[test]
fn six_projects_offline_together_are_one_message_and_one_resolve_message() {
    let (mut w, mut t) = setup(Rules::default(), INCIDENT_DEFAULTS);
    let ps = fleet(6);
    let down: Vec<Change> = steps(&ps, 10, Status::Online, Status::Offline, |i| i as i64);
    let mut told = run(&mut w, &mut t, &down[..5]);
    // The opening message goes once the gathering time is over ...
    told.extend(w.tick(t0() + secs(4) + INCIDENT_GATHER));
    assert_eq!(told.len(), 1, "{told:?}");
    // ... so the 6th, a second later, joins the incident: told in one update once the
    // gather has passed since it joined, not on its own.
    told.extend(run(&mut w, &mut t, &down[5..]));
    assert_eq!(w.pending_floor(), Some(15), "the update is still due");
    // Time passes well beyond the grace: no member is told on its own.
    told.extend(w.tick(t0() + secs(600)));
    assert_eq!(told.len(), 2, "{told:?}");
    let update = &told[1];
    assert_eq!(update.event, Event::IncidentUpdated);
    assert_eq!(update.revision, 15);
    assert_eq!(update.idempotency_key(), "15-ops-incident-updated");
    let joined = &update.incident.as_ref().unwrap().members;
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].slug, "p5");
    assert!(
        update.headline().contains("1 project more offline"),
        "{}",
        update.headline()
    );
    told.truncate(1);
    let m = &told[0];
    assert_eq!(m.event, Event::Incident);
    assert_eq!(m.revision, 14, "the 5th offline change opened it");
    let members = &m.incident.as_ref().unwrap().members;
    assert_eq!(members.len(), 5);
    assert_eq!(m.idempotency_key(), "14-ops-incident");
    assert!(
        m.headline().contains("5 projects offline"),
        "{}",
        m.headline()
    );
    assert_eq!(w.pending_floor(), None, "every member is dealt with");

    // The late 6th is in the resolution's list too.
    let up: Vec<Change> = ps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            change(
                100 + i as u64,
                p,
                Status::Offline,
                Status::Online,
                700 + i as i64,
            )
        })
        .collect();
    let back = run(&mut w, &mut t, &up);
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].event, Event::IncidentResolved);
    assert_eq!(back[0].revision, 105);
    assert_eq!(back[0].outage_seconds, Some(705));
    assert_eq!(back[0].incident.as_ref().unwrap().members.len(), 6);
    assert_eq!(back[0].idempotency_key(), "105-ops-incident-resolved");
}

#[test]
fn the_opening_message_waits_for_the_next_sweep_to_list_its_members() {
    // A sweep every second: the fleet's silences end over that second, so half the
    // members are found by one sweep and half by the next.
    let (w, mut t) = setup(Rules::default(), INCIDENT_DEFAULTS);
    let mut w = w.with_incident_gather(chrono::TimeDelta::milliseconds(1_250));
    let ps = fleet(10);
    let first: Vec<Change> = ps[..5]
        .iter()
        .enumerate()
        .map(|(i, p)| change(10 + i as u64, p, Status::Online, Status::Offline, 0))
        .collect();
    let mut told = run(&mut w, &mut t, &first);
    told.extend(w.tick(t0() + INCIDENT_GATHER));
    assert!(told.is_empty(), "it waits for the next sweep: {told:?}");
    let second: Vec<Change> = ps[5..]
        .iter()
        .enumerate()
        .map(|(i, p)| change(20 + i as u64, p, Status::Online, Status::Offline, 1))
        .collect();
    told.extend(run(&mut w, &mut t, &second));
    assert!(told.is_empty(), "{told:?}");
    told.extend(w.tick(t0() + chrono::TimeDelta::milliseconds(1_250)));
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].event, Event::Incident);
    assert_eq!(told[0].incident.as_ref().unwrap().members.len(), 10);
    // A shorter gather than the least is raised to it.
    let (w, _) = setup(Rules::default(), INCIDENT_DEFAULTS);
    let mut w = w.with_incident_gather(chrono::TimeDelta::zero());
    let mut t = IncidentTracker::new(INCIDENT_DEFAULTS);
    let told = run(&mut w, &mut t, &first);
    assert!(told.is_empty(), "{told:?}");
    assert_eq!(w.tick(t0() + INCIDENT_GATHER).len(), 1);
}

#[test]
fn a_new_leader_does_not_announce_again_an_incident_before_the_cursor() {
    let (mut old, mut t) = setup(Rules::default(), INCIDENT_DEFAULTS);
    let ps = fleet(6);
    let down: Vec<Change> = steps(&ps, 10, Status::Online, Status::Offline, |_| 0);
    let mut events = Vec::new();
    for c in &down {
        old.apply(c, c.at);
        for e in t.apply(c, |_, _| chrono::TimeDelta::zero()) {
            old.incident(&e, c.at);
            events.push(e);
        }
    }
    assert_eq!(old.tick(t0() + INCIDENT_GATHER).len(), 1, "told once");
    // The new leader's watch: the outages from the registry, the incident's events up
    // to the cursor (past the opening) fed without sending.
    let (mut new, _) = setup(Rules::default(), INCIDENT_DEFAULTS);
    for p in &ps {
        let mut p = p.clone();
        p.status = Status::Offline;
        p.last_heartbeat_at = Some(t0() - secs(90));
        new.seed(
            &p,
            t0(),
            chrono::DateTime::<chrono::Utc>::MAX_UTC,
            20,
            t0() + secs(5),
        );
    }
    for e in &events {
        let _ = new.incident(e, t0() + secs(5));
    }
    new.settle_incidents();
    assert!(new.tick(t0() + secs(6)).is_empty(), "not sent again");
    assert_eq!(new.pending_floor(), None);
}

#[test]
fn a_channel_is_told_only_the_members_its_rules_watch() {
    let rules = Rules {
        tags: vec!["even".into()],
        ..Rules::default()
    };
    let (mut w, mut t) = setup(rules, INCIDENT_DEFAULTS);
    let ps = fleet(6);
    let down: Vec<Change> = steps(&ps, 10, Status::Online, Status::Offline, |_| 0);
    let mut told = run(&mut w, &mut t, &down);
    assert!(
        told.is_empty(),
        "the message waits to gather members: {told:?}"
    );
    told.extend(w.tick(t0() + INCIDENT_GATHER));
    assert_eq!(told.len(), 1);
    let slugs: Vec<&str> = told[0]
        .incident
        .as_ref()
        .unwrap()
        .members
        .iter()
        .map(|s| s.slug.as_str())
        .collect();
    assert_eq!(slugs, ["p0", "p2", "p4"]);
}

#[test]
fn a_channel_watching_no_member_hears_nothing() {
    let rules = Rules {
        slugs: vec!["elsewhere".into()],
        ..Rules::default()
    };
    let (mut w, mut t) = setup(rules, INCIDENT_DEFAULTS);
    let ps = fleet(5);
    let down: Vec<Change> = steps(&ps, 10, Status::Online, Status::Offline, |_| 0);
    assert!(run(&mut w, &mut t, &down).is_empty());
}

#[test]
fn a_lone_outage_is_told_on_its_own_once_the_grace_passes() {
    let (mut w, mut t) = setup(Rules::default(), INCIDENT_DEFAULTS);
    let p = project("alone");
    assert!(run(
        &mut w,
        &mut t,
        &[change(3, &p, Status::Online, Status::Offline, 0)]
    )
    .is_empty());
    assert!(w.tick(t0() + secs(29)).is_empty());
    let told = w.tick(t0() + secs(30));
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].event, Event::Offline);
}

#[test]
fn members_written_in_later_batches_within_the_gathering_time_are_in_the_one_message() {
    let (mut w, mut t) = setup(Rules::default(), INCIDENT_DEFAULTS);
    let ps = fleet(8);
    let at = |ms: i64| t0() + chrono::TimeDelta::milliseconds(ms);
    let mut down: Vec<Change> = steps(&ps, 10, Status::Online, Status::Offline, |_| 0);
    // The sweep's second batch of the same detection, 300 ms later.
    for c in &mut down[5..] {
        c.at = at(300);
    }
    let mut told = run(&mut w, &mut t, &down);
    told.extend(w.tick(at(400)));
    assert!(told.is_empty(), "{told:?}");
    told.extend(w.tick(at(500)));
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].incident.as_ref().unwrap().members.len(), 8);
}

#[test]
fn a_channel_is_told_of_an_incident_when_the_first_member_it_watches_joins() {
    let rules = Rules {
        slugs: vec!["p5".into()],
        ..Rules::default()
    };
    let (mut w, mut t) = setup(rules, INCIDENT_DEFAULTS);
    let ps = fleet(6);
    let down: Vec<Change> = steps(&ps, 10, Status::Online, Status::Offline, |i| i as i64);
    // The incident opens with the first five: none of them watched here.
    let mut told = run(&mut w, &mut t, &down[..5]);
    told.extend(w.tick(t0() + secs(4) + INCIDENT_GATHER));
    assert!(told.is_empty(), "{told:?}");
    // p5 joins at 5 s: the incident opens for this channel, the gather later.
    told.extend(run(&mut w, &mut t, &down[5..]));
    assert!(told.is_empty(), "{told:?}");
    told.extend(w.tick(t0() + secs(5) + INCIDENT_GATHER));
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].event, Event::Incident);
    assert_eq!(told[0].idempotency_key(), "14-ops-incident");
    let members = &told[0].incident.as_ref().unwrap().members;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].slug, "p5");
    // Never on its own, and its return is the incident's resolution here too.
    assert!(w.tick(t0() + secs(600)).is_empty());
    let up: Vec<Change> = steps(&ps, 100, Status::Offline, Status::Online, |_| 700);
    let back = run(&mut w, &mut t, &up);
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].event, Event::IncidentResolved);
    assert_eq!(back[0].incident.as_ref().unwrap().members.len(), 1);
}
