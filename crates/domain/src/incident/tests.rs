//! The incident rules on the domain's fake clock.

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::model::{
    HubUrl, MeshNamespace, Metadata, Origin, Project, ProjectName, Status, Tags, Transition,
};
use crate::ports::{Clock, ManualClock};
use crate::replication::{Change, ChangeKind};
use crate::testing::{secs, slug, t0};

fn project(name: &str, tags: &[&str]) -> Project {
    let slug = slug(name);
    Project {
        id: 1,
        mesh_namespace: MeshNamespace::for_slug(&slug),
        slug,
        name: ProjectName::parse("A project").unwrap(),
        hub_url: HubUrl::parse("http://hub.example:8000").unwrap(),
        status: Status::Online,
        status_reason: None,
        tags: Tags::parse(tags).unwrap(),
        metadata: Metadata::default(),
        version: None,
        last_heartbeat_at: Some(t0()),
        clock_skew_seconds: None,
        heartbeat_interval: None,
        maintenance: None,
        flapping_since: None,
        origin: Origin::Api,
        heartbeat_key: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

/// A fleet on a fake clock, feeding the tracker its transitions in revision order.
struct Fleet {
    clock: ManualClock,
    tracker: IncidentTracker,
    revision: u64,
    projects: Vec<Project>,
    /// The time the service could not hear, as the guard would report it.
    deaf: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Fleet {
    fn new(settings: IncidentSettings, tagged: &[(&str, &[&str])]) -> Self {
        let mut tracker = IncidentTracker::new(settings.validated().unwrap());
        let projects: Vec<Project> = tagged.iter().map(|(s, t)| project(s, t)).collect();
        for p in &projects {
            tracker.know(p);
        }
        Self {
            clock: ManualClock::new(t0() + secs(100)),
            tracker,
            revision: 10,
            projects,
            deaf: None,
        }
    }

    fn named(n: usize) -> Self {
        let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let tagged: Vec<(&str, &[&str])> = names.iter().map(|s| (s.as_str(), &[][..])).collect();
        Self::new(INCIDENT_DEFAULTS, &tagged)
    }

    fn change(&mut self, name: &str, from: Status, to: Status) -> Vec<IncidentEvent> {
        self.revision += 1;
        let at = self.clock.now();
        let p = self
            .projects
            .iter()
            .find(|p| p.slug.as_str() == name)
            .unwrap()
            .clone();
        let change = Change {
            revision: self.revision,
            slug: p.slug.clone(),
            at,
            kind: ChangeKind::Transition(Transition {
                slug: p.slug.clone(),
                from,
                to,
                reason: Some("heartbeat_timeout".into()),
                at,
                last_heartbeat_at: p.last_heartbeat_at,
            }),
            project: Some(p),
        };
        let deaf = self.deaf;
        self.tracker.apply(&change, move |from, to| match deaf {
            Some((s, e)) => (e.min(to) - s.max(from)).max(TimeDelta::zero()),
            None => TimeDelta::zero(),
        })
    }

    fn down(&mut self, name: &str) -> Vec<IncidentEvent> {
        self.change(name, Status::Online, Status::Offline)
    }

    fn up(&mut self, name: &str) -> Vec<IncidentEvent> {
        self.change(name, Status::Offline, Status::Online)
    }
}

fn opened(events: &[IncidentEvent]) -> Option<&Incident> {
    events.iter().find_map(|e| match e {
        IncidentEvent::Opened(i) => Some(i),
        _ => None,
    })
}

#[test]
fn the_kth_project_offline_within_the_window_opens_one_incident_with_all_of_them() {
    let mut f = Fleet::named(8);
    for i in 0..4 {
        assert!(
            f.down(&format!("p{i}")).is_empty(),
            "p{i} alone is no incident"
        );
        f.clock.advance(secs(5));
    }
    let events = f.down("p4");
    let incident = opened(&events).expect("the 5th opens it");
    assert_eq!(incident.id, f.revision);
    assert_eq!(incident.members.len(), 5);
    assert_eq!(incident.trigger, IncidentTrigger::Fleet { offline: 5 });
    assert_eq!(incident.started_at, t0() + secs(100));
    assert_eq!(incident.opened_at, t0() + secs(120));
    assert_eq!(f.tracker.waiting(), 0);

    // A later one joins it.
    f.clock.advance(secs(300));
    let joined = f.down("p5");
    assert!(
        matches!(&joined[..], [IncidentEvent::Joined { id, member }] if *id == incident.id && member.slug == "p5")
    );
}

#[test]
fn offline_transitions_further_apart_than_the_window_make_no_incident() {
    let mut f = Fleet::named(10);
    for i in 0..10 {
        assert!(f.down(&format!("p{i}")).is_empty());
        f.clock.advance(secs(8)); // never 5 within 30 s
    }
    assert!(f.tracker.open().is_none());
}

#[test]
fn a_project_back_before_the_threshold_does_not_count() {
    let mut f = Fleet::named(6);
    for i in 0..4 {
        f.down(&format!("p{i}"));
    }
    f.up("p0");
    assert!(f.down("p4").is_empty(), "only 4 are still offline");
    assert!(opened(&f.down("p5")).is_some());
}

#[test]
fn it_resolves_when_the_last_member_is_back_and_a_member_that_fails_again_rejoins() {
    let mut f = Fleet::named(5);
    for i in 0..5 {
        f.down(&format!("p{i}"));
    }
    let id = f.tracker.open().unwrap().id;
    for i in 0..4 {
        f.clock.advance(secs(5));
        let e = f.up(&format!("p{i}"));
        assert!(matches!(&e[..], [IncidentEvent::Back { .. }]), "{e:?}");
    }
    f.clock.advance(secs(5));
    let again = f.down("p0");
    assert!(matches!(&again[..], [IncidentEvent::Joined { .. }]));
    assert!(f
        .up("p4")
        .iter()
        .all(|e| !matches!(e, IncidentEvent::Resolved { .. })));
    f.clock.advance(secs(60));
    let end = f.up("p0");
    assert_eq!(
        end.last(),
        Some(&IncidentEvent::Resolved {
            id,
            at: f.clock.now(),
            revision: f.revision
        })
    );
    assert!(f.tracker.open().is_none());
}

#[test]
fn a_share_of_a_tag_opens_a_tag_incident_but_a_tiny_tag_never_does() {
    let settings = IncidentSettings {
        min_projects: 0,
        ..INCIDENT_DEFAULTS
    };
    let mut f = Fleet::new(
        settings,
        &[
            ("eu1", &["EU"]),
            ("eu2", &["eu"]),
            ("eu3", &["eu"]),
            ("eu4", &["eu"]),
            ("solo", &["lonely"]),
            ("us1", &["us"]),
        ],
    );
    assert!(f.down("solo").is_empty(), "a 1-project tag is no incident");
    assert!(f.down("eu1").is_empty());
    let events = f.down("eu2");
    let incident = opened(&events).expect("2 of 4 is 50 %");
    assert_eq!(
        incident.trigger,
        IncidentTrigger::Tag {
            tag: "eu".into(),
            offline: 2,
            of: 4
        }
    );
    assert_eq!(incident.members.len(), 3, "waiting candidates come along");
}

#[test]
fn a_retagged_project_counts_in_its_new_tag_only() {
    let settings = IncidentSettings {
        min_projects: 0,
        ..INCIDENT_DEFAULTS
    };
    let mut f = Fleet::new(
        settings,
        &[
            ("eu1", &["eu"]),
            ("eu2", &["eu"]),
            ("eu3", &["eu"]),
            ("eu4", &["eu"]),
            ("us1", &["US"]),
            ("us2", &["us"]),
        ],
    );
    // eu3 and eu4 move to "us" (as written there): eu keeps 2 (too few), us has 4.
    for name in ["eu3", "eu4"] {
        let i = f
            .projects
            .iter()
            .position(|p| p.slug.as_str() == name)
            .unwrap();
        f.projects[i].tags = Tags::parse(&["Us"]).unwrap();
        f.revision += 1;
        let change = Change {
            revision: f.revision,
            slug: f.projects[i].slug.clone(),
            at: f.clock.now(),
            kind: ChangeKind::Updated,
            project: Some(f.projects[i].clone()),
        };
        assert!(f
            .tracker
            .apply(&change, |_, _| TimeDelta::zero())
            .is_empty());
    }
    assert!(f.down("eu1").is_empty());
    assert!(f.down("eu2").is_empty(), "eu has 2 projects now: too few");
    assert!(f.down("eu3").is_empty(), "1 of the 4 us projects");
    let events = f.down("eu4");
    let incident = opened(&events).expect("2 of the 4 us projects");
    assert_eq!(
        incident.trigger,
        IncidentTrigger::Tag {
            tag: "Us".into(),
            offline: 2,
            of: 4
        }
    );
}

#[test]
fn mass_expiry_after_the_guard_is_never_an_incident() {
    // The service could not hear from t0+50 s to t0+80 s: every project heard at t0
    // expires after it with deaf time in its silence (the guard's credit).
    let mut f = Fleet::named(20);
    f.deaf = Some((t0() + secs(50), t0() + secs(80)));
    for i in 0..20 {
        assert!(f.down(&format!("p{i}")).is_empty());
    }
    assert!(f.tracker.open().is_none());
    assert_eq!(f.tracker.waiting(), 0);
    // The same silence, all of it heard, is one.
    f.deaf = None;
    for i in 0..20 {
        f.up(&format!("p{i}"));
    }
    let opens: Vec<_> = (0..20)
        .flat_map(|i| f.down(&format!("p{i}")))
        .filter(|e| matches!(e, IncidentEvent::Opened(_)))
        .collect();
    assert_eq!(opens.len(), 1);
}

#[test]
fn a_project_never_heard_does_not_count() {
    let mut f = Fleet::named(6);
    for p in &mut f.projects {
        p.last_heartbeat_at = None;
    }
    for i in 0..6 {
        assert!(f.down(&format!("p{i}")).is_empty());
    }
}

#[test]
fn a_new_leader_restores_the_open_incident_and_reconciles_members_already_back() {
    let mut f = Fleet::named(6);
    for i in 0..5 {
        f.down(&format!("p{i}"));
    }
    let mut incident = f.tracker.open().unwrap().clone();
    incident.members[0].back_at = Some(f.clock.now());
    let mut next = IncidentTracker::new(INCIDENT_DEFAULTS);
    next.restore(incident.clone());
    let still_offline = ["p3", "p4"];
    let events = next.reconcile(|s| still_offline.contains(&s), 99, f.clock.now());
    assert_eq!(events.len(), 2, "p1 and p2 are back: {events:?}");
    let done = next.reconcile(|_| false, 100, f.clock.now());
    assert!(
        matches!(done.last(), Some(IncidentEvent::Resolved { id, revision: 100, .. }) if *id == incident.id)
    );
}

#[test]
fn deleting_a_member_counts_as_back() {
    let mut f = Fleet::named(5);
    for i in 0..5 {
        f.down(&format!("p{i}"));
    }
    for i in 0..4 {
        f.up(&format!("p{i}"));
    }
    let p = f.projects[4].clone();
    let events = f.tracker.apply(
        &Change {
            revision: 500,
            slug: p.slug.clone(),
            at: f.clock.now(),
            kind: ChangeKind::Deleted { reason: None },
            project: None,
        },
        |_, _| TimeDelta::zero(),
    );
    assert!(matches!(
        events.last(),
        Some(IncidentEvent::Resolved { revision: 500, .. })
    ));
}

#[test]
fn settings_are_validated() {
    assert!(INCIDENT_DEFAULTS.validated().is_ok());
    let one = IncidentSettings {
        min_projects: 1,
        ..INCIDENT_DEFAULTS
    };
    assert_eq!(
        one.validated().unwrap_err().field,
        "FEDERATION_INCIDENT_MIN_PROJECTS"
    );
    let pct = IncidentSettings {
        tag_percent: 101,
        ..INCIDENT_DEFAULTS
    };
    assert!(pct.validated().is_err());
    let window = IncidentSettings {
        window: TimeDelta::zero(),
        ..INCIDENT_DEFAULTS
    };
    assert!(window.validated().is_err());
    let off = IncidentSettings {
        min_projects: 0,
        tag_percent: 0,
        ..INCIDENT_DEFAULTS
    };
    assert!(!off.validated().unwrap().enabled());
}
