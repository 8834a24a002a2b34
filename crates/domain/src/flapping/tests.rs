//! The flapping rule, judged as the leader does and followed as every replica does.

use super::*;
use crate::model::Status;
use crate::testing::{secs, slug, t0};

fn rule(changes: usize, window_secs: i64) -> Flapping {
    Flapping {
        changes,
        window: TimeDelta::seconds(window_secs),
    }
    .validated()
    .unwrap()
}

fn transition(s: &str, from: Status, to: Status, at_secs: i64) -> Transition {
    Transition {
        slug: slug(s),
        from,
        to,
        reason: None,
        at: t0() + secs(at_secs),
        last_heartbeat_at: None,
    }
}

/// The log as a leader writes it: each transition judged first (a start of flapping
/// goes in before the transition that caused it), then applied, as followers do.
struct Log {
    judge: FlapJudge,
    changes: Vec<Change>,
}

impl Log {
    fn new(rule: Flapping) -> Self {
        Self {
            judge: FlapJudge::new(rule),
            changes: Vec::new(),
        }
    }

    fn push(&mut self, kind: ChangeKind, s: &str, at: DateTime<Utc>) {
        let change = Change {
            revision: self.changes.len() as u64 + 1,
            slug: slug(s),
            at,
            kind,
            project: None,
        };
        self.judge.apply(&change);
        self.changes.push(change);
    }

    fn write(&mut self, t: Transition) {
        for mark in self.judge.judge(std::slice::from_ref(&t)) {
            self.push(mark.kind(), mark.slug.as_str(), mark.at);
        }
        let (s, at) = (t.slug.to_string(), t.at);
        self.push(ChangeKind::Transition(t), &s, at);
    }

    fn settle(&mut self, now_secs: i64) -> Vec<FlapMark> {
        let marks = self.judge.settled(t0() + secs(now_secs));
        for mark in &marks {
            self.push(mark.kind(), mark.slug.as_str(), mark.at);
        }
        marks
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.changes.iter().map(|c| c.kind.as_str()).collect()
    }
}

/// Online and offline in turn, one change every `every` seconds from `start`.
fn flip(log: &mut Log, s: &str, n: usize, start: i64, every: i64) {
    let mut from = Status::Online;
    for i in 0..n {
        let to = if from == Status::Online {
            Status::Offline
        } else {
            Status::Online
        };
        log.write(transition(s, from, to, start + every * i as i64));
        from = to;
    }
}

#[test]
fn the_nth_change_within_the_window_starts_flapping_before_it_is_written() {
    let mut log = Log::new(rule(4, 600));
    flip(&mut log, "alpha", 3, 0, 30);
    assert!(!log.judge.is_flapping(&slug("alpha")));
    flip(&mut log, "alpha", 1, 90, 30);
    assert_eq!(
        log.kinds(),
        [
            "transition",
            "transition",
            "transition",
            "flapping",
            "transition"
        ]
    );
    assert_eq!(log.changes[3].at, t0() + secs(90), "since the 4th change");
    assert!(log.judge.is_flapping(&slug("alpha")));
    // Already flapping: more changes record no second start.
    flip(&mut log, "alpha", 3, 120, 30);
    assert_eq!(log.kinds().iter().filter(|k| **k == "flapping").count(), 1);
}

#[test]
fn changes_spread_wider_than_the_window_never_flap() {
    let mut log = Log::new(rule(3, 60));
    flip(&mut log, "alpha", 3, 0, 20);
    assert!(log.kinds().contains(&"flapping"), "3 changes within 40 s");
    // One change every 30 s: never 3 within 60 s (the window's start is excluded).
    let mut spread = Log::new(rule(3, 60));
    flip(&mut spread, "alpha", 20, 0, 30);
    assert!(!spread.kinds().contains(&"flapping"));
    let mut slow = Log::new(rule(3, 60));
    flip(&mut slow, "alpha", 20, 0, 60);
    assert!(!slow.kinds().contains(&"flapping"));
    // A change that leads back where it was (a maintenance row) is no status change.
    let mut same = Log::new(rule(2, 60));
    for i in 0..5 {
        same.write(transition("alpha", Status::Online, Status::Online, i));
    }
    assert!(!same.kinds().contains(&"flapping"));
}

#[test]
fn it_is_stable_again_a_window_after_its_last_change() {
    let mut log = Log::new(rule(2, 600));
    flip(&mut log, "alpha", 3, 0, 10); // flapping from the 2nd change (10 s)
    assert!(log.judge.is_flapping(&slug("alpha")));
    assert!(
        log.settle(20 + 599).is_empty(),
        "stable for less than the window"
    );
    let ends = log.settle(20 + 600 + 7);
    assert_eq!(
        ends,
        [FlapMark {
            slug: slug("alpha"),
            flapping: false,
            at: t0() + secs(20 + 600),
        }],
        "at the end of the stable window, whenever the leader looks"
    );
    assert!(!log.judge.is_flapping(&slug("alpha")));
    assert!(log.settle(2000).is_empty(), "recorded once");
    // It can flap again: its old changes have left the window.
    flip(&mut log, "alpha", 1, 2000, 10);
    assert!(!log.judge.is_flapping(&slug("alpha")));
    flip(&mut log, "alpha", 1, 2010, 10);
    assert!(log.judge.is_flapping(&slug("alpha")));
}

#[test]
fn every_replica_that_follows_the_log_judges_as_the_leader() {
    let mut leader = Log::new(rule(3, 120));
    flip(&mut leader, "alpha", 5, 0, 20);
    flip(&mut leader, "beta", 2, 0, 20);
    let mut follower = FlapJudge::new(rule(3, 120));
    for c in &leader.changes {
        follower.apply(c);
    }
    for s in ["alpha", "beta"] {
        assert_eq!(
            follower.is_flapping(&slug(s)),
            leader.judge.is_flapping(&slug(s))
        );
    }
    // Promoted, it settles what the leader would have settled.
    assert_eq!(
        follower.settled(t0() + secs(80 + 120)),
        leader.judge.settled(t0() + secs(80 + 120))
    );
    // A replica that starts from a snapshot holds a flapping project for a window from
    // its start (it has not seen the changes before).
    let mut fresh = FlapJudge::new(rule(3, 120));
    let mut p = crate::notify::tests::project("alpha");
    p.flapping_since = Some(t0());
    fresh.know(&p, t0() + secs(500));
    assert!(fresh.is_flapping(&slug("alpha")));
    assert!(fresh.settled(t0() + secs(619)).is_empty());
    assert_eq!(fresh.settled(t0() + secs(620)).len(), 1);
}

#[test]
fn a_deleted_project_is_forgotten_and_quiet_ones_are_dropped() {
    let mut log = Log::new(rule(2, 60));
    flip(&mut log, "alpha", 2, 0, 10);
    flip(&mut log, "beta", 1, 0, 10);
    log.push(
        ChangeKind::Deleted { reason: None },
        "alpha",
        t0() + secs(15),
    );
    assert!(!log.judge.is_flapping(&slug("alpha")));
    assert!(log.settle(1000).is_empty());
    log.judge.forget_quiet(t0() + secs(1000));
    assert!(log.judge.projects.is_empty());
}

#[test]
fn a_fleets_first_beat_is_forgotten_once_it_is_quiet() {
    let mut log = Log::new(rule(5, 60));
    for i in 0..20_000 {
        let s = format!("p-{i}");
        log.write(transition(&s, Status::Offline, Status::Online, 0));
    }
    flip(&mut log, "alpha", 1, 20, 10);
    assert_eq!(log.judge.projects.len(), 20_001);
    log.judge.forget_quiet(t0() + secs(30));
    assert_eq!(
        log.judge.projects.len(),
        20_001,
        "all within the window still"
    );
    log.judge.forget_quiet(t0() + secs(65));
    assert_eq!(log.judge.projects.len(), 1);
}

#[test]
fn the_settings_are_bounded() {
    assert!(rule(2, 1).changes == 2);
    for bad in [
        Flapping {
            changes: 1,
            window: TimeDelta::minutes(1),
        },
        Flapping {
            changes: 1001,
            window: TimeDelta::minutes(1),
        },
        Flapping {
            changes: 5,
            window: TimeDelta::zero(),
        },
    ] {
        assert!(bad.validated().is_err(), "{bad:?}");
    }
    assert_eq!(FLAPPING_DEFAULT.validated().unwrap(), FLAPPING_DEFAULT);
}
