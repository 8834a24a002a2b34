//! A channel holds a flapping project's messages by the log's `flapping` and `stable`
//! changes: the one judgement of [`crate::flapping`], never a count of its own.

use super::engine::Watch;
use super::message::Event;
use super::rules::Rules;
use super::tests::project;
use super::ChannelName;
use crate::flapping::{FlapJudge, Flapping};
use crate::model::{Project, Status, Transition};
use crate::replication::{Change, ChangeKind};
use crate::testing::{secs, t0};

/// A leader writing one project's log: each transition judged before it is written.
struct Leader {
    judge: FlapJudge,
    project: Project,
    revision: u64,
}

impl Leader {
    fn new(project: Project) -> Self {
        Self {
            judge: FlapJudge::new(Flapping {
                changes: 4,
                window: chrono::TimeDelta::seconds(600),
            }),
            project,
            revision: 9,
        }
    }

    fn record(&mut self, kind: ChangeKind, at: chrono::DateTime<chrono::Utc>) -> Change {
        self.revision += 1;
        match &kind {
            ChangeKind::Flapping => self.project.flapping_since = Some(at),
            ChangeKind::Stable => self.project.flapping_since = None,
            ChangeKind::Transition(t) => self.project.status = t.to,
            _ => {}
        }
        let change = Change {
            revision: self.revision,
            slug: self.project.slug.clone(),
            at,
            kind,
            project: Some(self.project.clone()),
        };
        self.judge.apply(&change);
        change
    }

    /// The changes a transition to `to` at `at_secs` writes.
    fn to(&mut self, to: Status, at_secs: i64) -> Vec<Change> {
        let at = t0() + secs(at_secs);
        let t = Transition {
            slug: self.project.slug.clone(),
            from: self.project.status,
            to,
            reason: Some("heartbeat_timeout".into()),
            at,
            last_heartbeat_at: None,
        };
        let mut out: Vec<Change> = self
            .judge
            .judge(std::slice::from_ref(&t))
            .into_iter()
            .map(|m| self.record(m.kind(), m.at))
            .collect();
        out.push(self.record(ChangeKind::Transition(t), at));
        out
    }

    /// The `stable` changes due at `now_secs`.
    fn settle(&mut self, now_secs: i64) -> Vec<Change> {
        self.judge
            .settled(t0() + secs(now_secs))
            .into_iter()
            .map(|m| self.record(m.kind(), m.at))
            .collect()
    }
}

fn watch(rules: Rules) -> Watch {
    Watch::new(
        ChannelName::parse("ops").unwrap(),
        rules.normalized().unwrap(),
    )
}

fn events(msgs: &[super::Message]) -> Vec<Event> {
    msgs.iter().map(|m| m.event).collect()
}

/// Applies the changes at their own times; the messages.
fn feed(w: &mut Watch, changes: Vec<Change>) -> Vec<super::Message> {
    changes.iter().flat_map(|c| w.apply(c, c.at)).collect()
}

/// The leader records `statuses` one every 30 s from 0; the watch takes each change.
fn every_30s(leader: &mut Leader, w: &mut Watch, statuses: &[Status]) -> Vec<super::Message> {
    let mut all = Vec::new();
    for (i, to) in statuses.iter().enumerate() {
        let changes = leader.to(*to, 30 * i as i64);
        all.extend(feed(w, changes));
    }
    all
}

#[test]
fn a_flapping_project_is_told_once_then_held_until_stable() {
    let mut leader = Leader::new(project("alpha"));
    let mut w = watch(Rules::default());
    // offline, online, offline, online … every 30 s: the 4th change makes it flap.
    let all = every_30s(
        &mut leader,
        &mut w,
        &[
            Status::Offline,
            Status::Online,
            Status::Offline,
            Status::Online,
            Status::Offline,
        ],
    );
    assert_eq!(
        events(&all),
        [
            Event::Offline,
            Event::Recovered,
            Event::Offline,
            Event::Flapping
        ],
        "told until it flaps, then one flapping message"
    );
    // Revisions 10-12 are the first three transitions, 13 the start of flapping.
    assert_eq!(all[3].idempotency_key(), "13-ops-flapping");
    assert!(w.is_flapping("alpha"));
    // Still offline, but held: nothing until the leader records it stable.
    assert!(w.tick(t0() + secs(120 + 599)).is_empty());
    assert!(leader.settle(120 + 599).is_empty());
    let stable = feed(&mut w, leader.settle(120 + 600));
    assert_eq!(events(&stable), [Event::Offline], "its status, once stable");
    assert!(!w.is_flapping("alpha"));
}

#[test]
fn a_recovery_owed_from_a_flap_is_told_when_stable() {
    let mut leader = Leader::new(project("alpha"));
    let mut w = watch(Rules::default());
    let all = every_30s(
        &mut leader,
        &mut w,
        &[
            Status::Offline,
            Status::Online,
            Status::Offline,
            Status::Online,
        ],
    );
    // The 4th change (back online) flaps: its recovery is held, owed.
    assert_eq!(
        events(&all),
        [
            Event::Offline,
            Event::Recovered,
            Event::Offline,
            Event::Flapping
        ]
    );
    assert!(w.tick(t0() + secs(90 + 599)).is_empty());
    let stable = feed(&mut w, leader.settle(90 + 600));
    assert_eq!(events(&stable), [Event::Recovered]);
    assert_eq!(
        stable[0].outage_seconds,
        Some(30),
        "from the told outage's start to the last change"
    );
}

#[test]
fn a_project_the_rules_do_not_select_gets_no_flapping_message() {
    let mut leader = Leader::new(project("alpha"));
    let mut w = watch(Rules {
        slugs: vec!["beta".into()],
        ..Rules::default()
    });
    let mut all = Vec::new();
    for i in 0..6 {
        let to = if i % 2 == 0 {
            Status::Offline
        } else {
            Status::Online
        };
        let changes = leader.to(to, 10 * i);
        all.extend(feed(&mut w, changes));
    }
    assert!(all.is_empty());
    assert!(!w.is_flapping("alpha"));
}

#[test]
fn a_new_leader_holds_a_project_the_registry_has_flapping() {
    let mut p = project("alpha");
    p.flapping_since = Some(t0());
    let mut leader = Leader::new(p.clone());
    leader.judge.know(&p, t0());
    let mut w = watch(Rules::default());
    w.seed_flapping(&p, t0());
    assert!(feed(&mut w, leader.to(Status::Offline, 10)).is_empty());
    assert!(w.tick(t0() + secs(500)).is_empty());
    let stable = feed(&mut w, leader.settle(610));
    assert_eq!(events(&stable), [Event::Offline]);
}
