use std::sync::{Arc, Mutex};

use chrono::TimeDelta;

use super::heartbeats::SkewLog;
use super::*;
use crate::error::{EventError, RepositoryError, ServiceError};
use crate::memory::MemoryStore;
use crate::model::{
    HeartbeatCredential, HeartbeatKeyDigest, ListFilter, MaintenanceInput, Origin, ProjectName,
    ProjectPatch, Registration, RegistrationInput, Status,
};
use crate::policy::StatusPolicy;
use crate::ports::{ManualClock, MockStatusEvents, NoRelay};
use crate::presence::{GuardState, StatusCounts};
use crate::replication::{ChangeKind, ChangesSince, Role, Term};
use crate::testing::{secs, slug, t0};
use std::time::Duration;

fn input(s: &str) -> RegistrationInput {
    RegistrationInput {
        slug: Some(s.into()),
        name: Some(format!("Project {s}")),
        hub_url: Some(format!("http://{}.example:8000", s.to_lowercase())),
        mesh_namespace: None,
        tags: Some(vec!["Rust".into()]),
        metadata: None,
        heartbeat_interval: None,
    }
}

fn registration(s: &str) -> Registration {
    input(s).validate().unwrap()
}

/// Status events as the bus received them: `slug:to@revision`.
type Published = Arc<Mutex<Vec<String>>>;

/// A bus that records what it is given, refusing while `refuse` holds.
fn recording_bus(refuse: Arc<std::sync::atomic::AtomicBool>) -> (MockStatusEvents, Published) {
    let published: Published = Arc::default();
    let p = published.clone();
    let mut events = MockStatusEvents::new();
    events.expect_publish().returning(move |t, revision| {
        if refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EventError("no bus".into()));
        }
        p.lock()
            .unwrap()
            .push(format!("{}:{}@{revision}", t.slug, t.to));
        Ok(())
    });
    (events, published)
}

/// One database (a [`MemoryStore`]) with a manual clock, and replicas over it.
struct Cluster {
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    refuse_events: Arc<std::sync::atomic::AtomicBool>,
    published: Published,
}

impl Cluster {
    async fn new(slugs: &[&str]) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        for s in slugs {
            store.upsert(&registration(s)).await.unwrap();
        }
        Self {
            store,
            clock,
            refuse_events: Arc::default(),
            published: Arc::default(),
        }
    }

    /// A replica named `holder`, loaded from the store (not yet in the lease).
    async fn replica(&self, holder: &str, presence: Presence) -> Federation {
        let (events, published) = recording_bus(self.refuse_events.clone());
        let fed = Federation::new(
            Ports {
                repo: self.store.clone(),
                log: self.store.clone(),
                lease: self.store.clone(),
                events: Arc::new(events),
                relay: Arc::new(NoRelay),
                clock: self.clock.clone(),
            },
            presence,
            ReplicaOptions {
                holder: holder.into(),
                lease_ttl: Duration::from_secs(5),
                log_retention: TimeDelta::hours(1),
                log_max_rows: 1000,
                history_max_per_project: 10,
                ..ReplicaOptions::default()
            },
        );
        fed.load().await.unwrap();
        // Every replica of a test shares one record of what was published.
        let shared = self.published.clone();
        let own = published;
        fed.on_change(Box::new(move |_, _| {
            let mut own = own.lock().unwrap();
            shared.lock().unwrap().append(&mut own);
        }));
        fed
    }

    /// The single replica of most tests: it leads.
    async fn leader(&self) -> Federation {
        let fed = self
            .replica("a", Presence::new(StatusPolicy::default()))
            .await;
        assert!(matches!(fed.campaign().await.unwrap(), Role::Leader(_)));
        fed
    }

    /// What the bus has received (flushed from each replica's recorder).
    fn published(&self, fed: &Federation) -> Vec<String> {
        fed.state.announce(&[]);
        self.published.lock().unwrap().clone()
    }

    fn history(&self, slug: &str) -> Vec<String> {
        self.store
            .transitions_of(slug)
            .iter()
            .map(|t| format!("{}->{}", t.from, t.to))
            .collect()
    }
}

fn beat(s: &str) -> Vec<u8> {
    format!(r#"{{"project_slug":"{s}"}}"#).into_bytes()
}

/// `p-0` … `p-(n-1)`.
fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("p-{i}")).collect()
}

/// A cluster with `slugs` registered and a leader that heard each of them once.
async fn all_beating(slugs: &[&str]) -> (Cluster, Federation) {
    let cluster = Cluster::new(slugs).await;
    let fed = cluster.leader().await;
    for s in slugs {
        fed.record_heartbeat(s, &beat(s)).unwrap();
    }
    (cluster, fed)
}

fn not_found<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::NotFound(s)) => s,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn status_of(fed: &Federation, slug: &str) -> Status {
    fed.get(slug).unwrap().0.status
}

// ---- register --------------------------------------------------------------------

#[tokio::test]
async fn register_validates_before_touching_the_store() {
    let cluster = Cluster::new(&[]).await;
    let fed = cluster.leader().await;
    let mut bad = input("alpha");
    bad.hub_url = Some("ftp://alpha".into());
    match fed.register(&bad).await {
        Err(ServiceError::Validation(e)) => assert_eq!(e.field, "hub_url"),
        other => panic!("{other:?}"),
    }
    let mut missing = input("alpha");
    missing.name = None;
    match fed.register(&missing).await {
        Err(ServiceError::Validation(e)) => assert_eq!(e.field, "name"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fed.revision(), 0, "nothing reached the log");
    assert!(cluster.store.stored("alpha").is_none());
}

#[tokio::test]
async fn a_registration_is_readable_at_once_and_its_heartbeats_are_taken() {
    let cluster = Cluster::new(&[]).await;
    let fed = cluster.leader().await;
    let err = fed.record_heartbeat("alpha", &beat("alpha")).unwrap_err();
    assert_eq!(err.outcome(), "unknown_project");

    let up = fed.register(&input("Alpha")).await.unwrap();
    assert!(up.created);
    let (project, revision) = fed.get("ALPHA").unwrap();
    assert_eq!(
        (project.slug.as_str(), project.status),
        ("alpha", Status::Offline)
    );
    assert_eq!(revision, 1, "the registration is the log's first change");
    assert!(fed.record_heartbeat("alpha", &beat("alpha")).unwrap());
    // The recorded status follows the leader's next write.
    assert_eq!(status_of(&fed, "alpha"), Status::Offline);
    fed.tick().await.unwrap();
    assert_eq!(status_of(&fed, "alpha"), Status::Online);
    assert_eq!(fed.revision(), 2);
}

#[tokio::test]
async fn a_heartbeat_key_is_enforced_on_every_replica_and_kept_by_registration() {
    let cluster = Cluster::new(&["keyed", "other"]).await;
    let leader = cluster.leader().await;
    let follower = cluster
        .replica("b", Presence::new(StatusPolicy::default()))
        .await;
    let key = HeartbeatKeyDigest::from_bytes([7; 32]);
    let wrong = HeartbeatKeyDigest::from_bytes([8; 32]);
    // No key: the caller's usual rule applies, whatever is presented.
    for c in [
        HeartbeatCredential::None,
        HeartbeatCredential::Key(wrong),
        HeartbeatCredential::WriteKey,
    ] {
        assert!(!leader.check_heartbeat_key("keyed", &c).unwrap());
    }
    leader.record_heartbeat("keyed", &beat("keyed")).unwrap();
    leader.tick().await.unwrap();
    assert_eq!(status_of(&leader, "keyed"), Status::Online);

    let p = leader.set_heartbeat_key("KEYED", Some(key)).await.unwrap();
    assert_eq!(p.heartbeat_key, Some(key));
    assert_eq!(p.status, Status::Online, "setting a key keeps the status");
    assert!(!format!("{p:?}").contains("[7, 7"), "Debug shows no digest");
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains("heartbeat_key"), "{json}");
    follower.follow().await.unwrap();
    for fed in [&leader, &follower] {
        assert!(fed
            .check_heartbeat_key("keyed", &HeartbeatCredential::Key(key))
            .unwrap());
        assert!(fed
            .check_heartbeat_key("Keyed", &HeartbeatCredential::WriteKey)
            .unwrap());
        let e = fed
            .check_heartbeat_key("keyed", &HeartbeatCredential::None)
            .unwrap_err();
        assert_eq!(e.outcome(), "key_required");
        let e = fed
            .check_heartbeat_key("keyed", &HeartbeatCredential::Key(wrong))
            .unwrap_err();
        assert_eq!(e.outcome(), "key_invalid");
        // Another project is not keyed by it.
        assert!(!fed
            .check_heartbeat_key("other", &HeartbeatCredential::Key(key))
            .unwrap());
        assert_eq!(fed.heartbeat_counters().get("key_required"), 1);
        assert_eq!(fed.heartbeat_counters().get("key_invalid"), 1);
    }
    assert_eq!(status_of(&follower, "keyed"), Status::Online);

    // Registering again (an API upsert or the catalog file) keeps the key.
    leader.register(&input("keyed")).await.unwrap();
    leader
        .apply_catalog(&[registration("keyed")], false)
        .await
        .unwrap();
    follower.follow().await.unwrap();
    assert_eq!(follower.get("keyed").unwrap().0.heartbeat_key, Some(key));

    // Removing it opens the project again on every replica.
    let p = follower.set_heartbeat_key("keyed", None).await.unwrap();
    assert_eq!(p.heartbeat_key, None);
    leader.follow().await.unwrap();
    assert!(!leader
        .check_heartbeat_key("keyed", &HeartbeatCredential::None)
        .unwrap());
    assert!(matches!(
        leader.set_heartbeat_key("ghost", Some(key)).await,
        Err(ServiceError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_registered_interval_reaches_every_replica_and_a_patch_removes_it() {
    let cluster = Cluster::new(&[]).await;
    let leader = cluster.leader().await;
    let follower = cluster
        .replica("b", Presence::new(StatusPolicy::default()))
        .await;
    let fast = RegistrationInput {
        heartbeat_interval: Some(5),
        ..input("fast")
    };
    let up = follower.register(&fast).await.unwrap();
    assert_eq!(up.project.heartbeat_interval.map(|i| i.seconds()), Some(5));
    leader.follow().await.unwrap();
    leader.record_heartbeat("fast", &beat("fast")).unwrap();
    leader.tick().await.unwrap();
    cluster.clock.advance(secs(15));
    leader.tick().await.unwrap();
    follower.follow().await.unwrap();
    assert_eq!(status_of(&follower, "fast"), Status::Offline);
    // Registering again without an interval keeps it; a patch with null removes it.
    follower.register(&input("fast")).await.unwrap();
    assert_eq!(
        follower.get("fast").unwrap().0.heartbeat_interval,
        up.project.heartbeat_interval
    );
    let clear = ProjectPatch {
        heartbeat_interval: Some(None),
        ..ProjectPatch::default()
    };
    assert_eq!(
        follower
            .update("fast", &clear)
            .await
            .unwrap()
            .heartbeat_interval,
        None
    );
    leader.follow().await.unwrap();
    leader.record_heartbeat("fast", &beat("fast")).unwrap();
    leader.tick().await.unwrap();
    cluster.clock.advance(secs(15));
    leader.tick().await.unwrap();
    assert_eq!(
        status_of(&leader, "fast"),
        Status::Online,
        "back on 60 s / 90 s"
    );
    let wrong = RegistrationInput {
        heartbeat_interval: Some(0),
        ..input("slow")
    };
    match follower.register(&wrong).await {
        Err(ServiceError::Validation(e)) => assert_eq!(e.field, "heartbeat_interval"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_maintenance_window_across_a_silent_period_records_no_transition() {
    let cluster = Cluster::new(&["kept"]).await;
    let leader = cluster.leader().await;
    let follower = cluster
        .replica("b", Presence::new(StatusPolicy::default()))
        .await;
    leader.record_heartbeat("kept", &beat("kept")).unwrap();
    leader.tick().await.unwrap();
    let window = MaintenanceInput {
        reason: Some("kernel upgrade".into()),
        duration: Some("10m".into()),
        ..MaintenanceInput::default()
    };
    let p = follower
        .start_maintenance("kept", &window, "key:ab12")
        .await
        .unwrap();
    let until = p.maintenance.as_ref().map(|m| m.until).unwrap();
    assert_eq!(until, t0() + secs(600));
    leader.follow().await.unwrap();
    assert_eq!(follower.in_maintenance(), 1);
    // Nine minutes of silence, one tick a second: nothing recorded, still online.
    for _ in 0..540 {
        cluster.clock.advance(secs(1));
        assert_eq!(leader.tick().await.unwrap().transitions, 0);
    }
    follower.follow().await.unwrap();
    assert_eq!(status_of(&follower, "kept"), Status::Online);
    assert_eq!(
        cluster.history("kept"),
        ["offline->online", "online->online"]
    );
    // It ends by itself at its end: recorded at that time, then offline at once.
    cluster.clock.set(until + secs(1));
    assert_eq!(leader.tick().await.unwrap().transitions, 1);
    follower.follow().await.unwrap();
    let (p, _) = follower.get("kept").unwrap();
    assert_eq!((p.status, p.maintenance), (Status::Offline, None));
    let history = cluster.store.transitions_of("kept");
    let reasons: Vec<_> = history.iter().map(|t| t.reason.clone().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "heartbeat",
            "maintenance_started: kernel upgrade (until 2025-11-18T12:10:00Z, by key:ab12)",
            "maintenance_ended: its window closed",
            "heartbeat_timeout",
        ]
    );
    assert_eq!(history[2].at, until);
    assert_eq!(follower.in_maintenance(), 0);
    // Ending a window that is not open changes nothing; an unknown slug is 404.
    let again = follower.end_maintenance("kept", "anonymous").await.unwrap();
    assert_eq!(again.maintenance, None);
    assert_eq!(cluster.store.transitions_of("kept").len(), 4);
    assert_eq!(
        not_found(follower.end_maintenance("ghost", "a").await),
        "ghost"
    );
}

#[tokio::test]
async fn a_window_ended_early_lets_the_rules_apply_at_once() {
    let cluster = Cluster::new(&["kept"]).await;
    let fed = cluster.leader().await;
    fed.record_heartbeat("kept", &beat("kept")).unwrap();
    fed.tick().await.unwrap();
    let window = MaintenanceInput {
        reason: Some("move".into()),
        until: Some("2025-11-19T12:00:00Z".into()),
        ..MaintenanceInput::default()
    };
    fed.start_maintenance("kept", &window, "anonymous")
        .await
        .unwrap();
    cluster.clock.advance(secs(3600));
    assert_eq!(fed.tick().await.unwrap().transitions, 0);
    let p = fed.end_maintenance("kept", "key:ab12").await.unwrap();
    assert_eq!(p.maintenance, None);
    assert_eq!(fed.tick().await.unwrap().transitions, 1);
    assert_eq!(status_of(&fed, "kept"), Status::Offline);
    let reasons: Vec<_> = cluster
        .store
        .transitions_of("kept")
        .iter()
        .map(|t| t.reason.clone().unwrap())
        .collect();
    assert_eq!(reasons[2], "maintenance_ended: ended early by key:ab12");
    let bad = MaintenanceInput::default();
    match fed.start_maintenance("kept", &bad, "a").await {
        Err(ServiceError::Validation(e)) => assert_eq!(e.field, "reason"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn projects_offline_longer_than_deregister_after_are_removed_with_their_history_kept() {
    let cluster = Cluster::new(&["silent", "never", "kept", "alive"]).await;
    let policy = StatusPolicy::default()
        .with_deregister_after(Duration::from_secs(3600))
        .unwrap();
    let fed = cluster.replica("a", Presence::new(policy)).await;
    assert!(matches!(fed.campaign().await.unwrap(), Role::Leader(_)));
    for s in ["silent", "kept", "alive"] {
        fed.record_heartbeat(s, &beat(s)).unwrap();
    }
    fed.tick().await.unwrap();
    let window = MaintenanceInput {
        reason: Some("long repair".into()),
        duration: Some("2d".into()),
        ..MaintenanceInput::default()
    };
    fed.start_maintenance("kept", &window, "anonymous")
        .await
        .unwrap();
    cluster.clock.set(t0() + secs(90));
    fed.record_heartbeat("alive", &beat("alive")).unwrap();
    fed.tick().await.unwrap();
    assert_eq!(status_of(&fed, "silent"), Status::Offline);
    // `never` (offline since registration at t0) goes first, then `silent` (offline
    // since 90 s); `kept` is in maintenance and `alive` beats.
    cluster.clock.set(t0() + secs(3601));
    assert_eq!(fed.tick().await.unwrap().expired, 1);
    fed.record_heartbeat("alive", &beat("alive")).unwrap();
    assert!(not_found(fed.get("never")) == "never");
    cluster.clock.set(t0() + secs(90 + 3601));
    fed.record_heartbeat("alive", &beat("alive")).unwrap();
    let report = fed.tick().await.unwrap();
    assert_eq!(report.expired, 1);
    assert_eq!(fed.expired_total(), 2);
    assert_eq!(not_found(fed.get("silent")), "silent");
    assert!(fed.get("kept").is_ok() && fed.get("alive").is_ok());
    // The history stays readable, ending with the removal.
    let history = fed.history("silent", 10).await.unwrap();
    assert_eq!(history[0].reason.as_deref(), Some("removed: expired"));
    assert_eq!(history[1].to, Status::Offline);
    let head = fed.revision();
    match cluster.store.changes_since(head - 1, 10).await.unwrap() {
        ChangesSince::Changes(c) => assert_eq!(
            c[0].kind,
            ChangeKind::Deleted {
                reason: Some("expired".into())
            }
        ),
        other => panic!("{other:?}"),
    }
    // A normal DELETE keeps the history too.
    fed.deregister("alive").await.unwrap();
    let history = fed.history("alive", 1).await.unwrap();
    assert_eq!(history[0].reason.as_deref(), Some("removed: deleted"));
    assert_eq!(not_found(fed.history("ghost", 1).await), "ghost");
}

#[tokio::test]
async fn a_pruning_catalog_removes_only_the_projects_it_registered_and_no_longer_lists() {
    let cluster = Cluster::new(&[]).await;
    let fed = cluster.leader().await;
    fed.register(&input("by-api")).await.unwrap();
    let file = |s: &str| Registration {
        origin: Origin::File,
        ..registration(s)
    };
    let first = [file("a"), file("b"), file("by-api")];
    let plan = fed.plan_catalog(&first, true);
    assert_eq!(plan.create.len(), 2);
    assert_eq!(plan.update, vec![(slug("by-api"), vec!["origin"])]);
    assert!(plan.remove.is_empty());
    fed.apply_catalog(&first, true).await.unwrap();
    assert_eq!(
        fed.get("by-api").unwrap().0.origin,
        Origin::File,
        "the file owns it now"
    );
    fed.register(&input("later-api")).await.unwrap();
    // `b` and `by-api` leave the file: both go, `later-api` (from the API) stays.
    let second = [file("a")];
    let plan = fed.plan_catalog(&second, true);
    assert_eq!(plan.remove, vec![slug("b"), slug("by-api")]);
    assert_eq!(plan.unchanged, vec![slug("a")]);
    assert!(fed.plan_catalog(&second, false).remove.is_empty());
    let applied = fed.apply_catalog(&second, true).await.unwrap();
    assert_eq!(applied.removed.len(), 2);
    assert_eq!(not_found(fed.get("b")), "b");
    assert!(fed.get("later-api").is_ok() && fed.get("a").is_ok());
    let history = fed.history("b", 1).await.unwrap();
    assert_eq!(history[0].reason.as_deref(), Some("removed: pruned"));
    // Without prune nothing is removed.
    fed.apply_catalog(&[], false).await.unwrap();
    assert!(fed.get("a").is_ok());
}

#[test]
fn clock_skew_is_warned_about_once_a_minute_at_most_counting_the_projects() {
    let mut log = SkewLog::default();
    let at = |s: i64| t0() + secs(s);
    assert_eq!(log.note(&slug("a"), at(0)), Some(1));
    assert_eq!(log.note(&slug("a"), at(1)), None, "once per project");
    assert_eq!(log.note(&slug("b"), at(2)), None);
    assert_eq!(log.note(&slug("c"), at(30)), None);
    // A minute on, the next new project's warning counts the two left unsaid.
    assert_eq!(log.note(&slug("d"), at(60)), Some(3));
    assert_eq!(log.note(&slug("b"), at(200)), None);
    assert_eq!(log.projects.len(), 4);
}

#[tokio::test]
async fn a_backlog_cut_over_ticks_leaves_every_replica_with_every_status() {
    // 5,000 projects online, then beating again (rows only) while 4,000 more beat
    // for the first time (a transition each, their rows listed after the others).
    let names = numbered(9000);
    let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (old, new) = slugs.split_at(5000);
    let cluster = Cluster::new(&slugs).await;
    let fed = cluster.leader().await;
    for s in old {
        fed.record_heartbeat(s, &beat(s)).unwrap();
    }
    fed.tick().await.unwrap();
    cluster.clock.advance(secs(1));
    for s in old.iter().chain(new) {
        fed.record_heartbeat(s, &beat(s)).unwrap();
    }
    fed.tick().await.unwrap();
    fed.tick().await.unwrap();
    let follower = cluster
        .replica("b", Presence::new(StatusPolicy::default()))
        .await;
    for s in &slugs {
        assert_eq!(status_of(&fed, s), Status::Online, "{s} on the leader");
        assert_eq!(status_of(&follower, s), Status::Online, "{s} on a follower");
        assert_eq!(
            cluster.store.stored(s).unwrap().status,
            Status::Online,
            "{s} stored"
        );
    }
}

#[tokio::test]
async fn a_tick_writes_at_most_three_parts_and_leaves_the_rest_to_the_next() {
    let names = numbered(7000);
    let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (cluster, fed) = all_beating(&slugs).await;
    let before = cluster.store.presence_writes();
    fed.tick().await.unwrap();
    assert_eq!(cluster.store.presence_writes(), before + 3);
    let written = || {
        slugs
            .iter()
            .filter(|s| !cluster.store.transitions_of(s).is_empty())
            .count()
    };
    assert_eq!(written(), 6000);
    fed.tick().await.unwrap();
    assert_eq!(cluster.store.presence_writes(), before + 4);
    assert_eq!(written(), 7000);
    let published = cluster.published(&fed);
    assert_eq!(published.len(), 7000);
    assert_eq!(
        published
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        7000,
        "each event once"
    );
}

#[tokio::test]
async fn a_tick_publishes_at_most_ten_thousand_events_and_the_next_the_rest() {
    let names = numbered(12_000);
    let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (cluster, fed) = all_beating(&slugs).await;
    cluster
        .refuse_events
        .store(true, std::sync::atomic::Ordering::SeqCst);
    fed.tick().await.unwrap();
    fed.tick().await.unwrap();
    assert!(cluster.published(&fed).is_empty());
    cluster
        .refuse_events
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let report = fed.tick().await.unwrap();
    assert_eq!(cluster.published(&fed).len(), 10_000);
    assert!(report.unpublished > 0);
    assert_eq!(fed.tick().await.unwrap().unpublished, 0);
    assert_eq!(cluster.published(&fed).len(), 12_000);
}

#[tokio::test]
async fn a_large_backlog_is_written_in_parts_and_a_failed_part_waits_with_the_rest() {
    let names = numbered(4500);
    let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (cluster, fed) = all_beating(&slugs).await;
    let before = cluster.store.presence_writes();
    // Parts of 2,000, 2,000 and 500: the first is stored, the second fails.
    cluster.store.fail_presence_writes_from(Some(before + 1));
    let failed = fed.tick().await.unwrap_err();
    assert_eq!((failed.transitions, failed.updates), (2500, 2500));
    let written = |slugs: &[&str]| {
        slugs
            .iter()
            .filter(|s| !cluster.store.transitions_of(s).is_empty())
            .count()
    };
    assert_eq!(written(&slugs), 2000);
    assert_eq!(
        cluster.store.stored("p-0").unwrap().status,
        Status::Online,
        "a stored part carries its projects' rows"
    );
    assert_eq!(
        cluster.store.stored("p-4499").unwrap().status,
        Status::Offline
    );

    cluster.store.fail_presence_writes_from(None);
    assert_eq!(fed.tick().await.unwrap().transitions, 2500);
    assert_eq!(cluster.store.presence_writes(), before + 3);
    for s in &slugs {
        let history = cluster.store.transitions_of(s);
        assert_eq!(history.len(), 1, "{s}: written once, in its part");
        assert_eq!(cluster.store.stored(s).unwrap().status, Status::Online);
    }
}

#[tokio::test]
async fn registering_again_does_not_reset_liveness() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    fed.tick().await.unwrap();
    cluster.clock.advance(secs(10));
    assert!(!fed.register(&input("alpha")).await.unwrap().created);
    assert_eq!(status_of(&fed, "alpha"), Status::Online);
    // The silence still counts from the heartbeat, not the re-registration.
    cluster.clock.set(t0() + secs(60));
    assert_eq!(fed.tick().await.unwrap().transitions, 1);
    assert_eq!(status_of(&fed, "alpha"), Status::Degraded);
}

#[tokio::test]
async fn register_reports_store_failures_and_keeps_nothing() {
    let cluster = Cluster::new(&[]).await;
    let fed = cluster.leader().await;
    cluster.store.set_unavailable(true);
    assert!(matches!(
        fed.register(&input("alpha")).await,
        Err(ServiceError::Repository(RepositoryError::Unavailable(_)))
    ));
    assert_eq!(fed.counts(), StatusCounts::default());
    not_found(fed.get("alpha"));
}

#[tokio::test]
async fn register_all_rejects_duplicate_slugs_naming_the_entry() {
    let cluster = Cluster::new(&[]).await;
    let fed = cluster.leader().await;
    let regs = [registration("a"), registration("b"), registration("A")];
    match fed.register_all(&regs).await {
        Err(ServiceError::Validation(e)) => {
            assert_eq!(e.field, "projects[2].slug");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fed.revision(), 0);
}

#[tokio::test]
async fn register_all_registers_every_entry_in_one_call() {
    let cluster = Cluster::new(&[]).await;
    let fed = cluster.leader().await;
    let regs = [registration("a"), registration("b"), registration("c")];
    assert_eq!(fed.register_all(&regs).await.unwrap().len(), 3);
    assert_eq!(fed.counts().offline, 3);
    assert_eq!(fed.revision(), 3);
    for s in ["a", "b", "c"] {
        assert!(fed.record_heartbeat(s, &beat(s)).unwrap());
    }
}

// ---- reads, update, deregister, history --------------------------------------------

#[tokio::test]
async fn reads_come_from_the_registry_with_its_revision() {
    let cluster = Cluster::new(&["alpha", "beta"]).await;
    let fed = cluster.leader().await;
    // The store is down: reads still answer, from memory.
    cluster.store.set_unavailable(true);
    assert_eq!(fed.get("Alpha").unwrap().0.slug.as_str(), "alpha");
    assert_eq!(not_found(fed.get("ghost")), "ghost");
    let page = fed.list(&ListFilter::parse(None, None, Some("1"), Some("1")).unwrap());
    assert_eq!(
        (page.items[0].slug.as_str(), page.total, page.revision),
        ("beta", 2, 2)
    );
}

#[tokio::test]
async fn an_invalid_path_slug_is_not_found_without_asking_the_store() {
    let cluster = Cluster::new(&[]).await;
    let fed = cluster.leader().await;
    cluster.store.set_unavailable(true);
    for bad in ["bad.slug", "", "-x", "a b", &"x".repeat(51)] {
        not_found(fed.get(bad));
        not_found(fed.update(bad, &ProjectPatch::default()).await);
        not_found(fed.deregister(bad).await);
        not_found(fed.history(bad, 10).await);
    }
    let long = "é".repeat(500);
    assert_eq!(not_found(fed.get(&long)).chars().count(), 64);
}

#[tokio::test]
async fn update_applies_the_patch_and_maps_missing_to_not_found() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let patch = ProjectPatch {
        name: Some(ProjectName::parse("New").unwrap()),
        ..ProjectPatch::default()
    };
    assert_eq!(
        fed.update("alpha", &patch).await.unwrap().name.as_str(),
        "New"
    );
    assert_eq!(fed.get("alpha").unwrap().0.name.as_str(), "New");
    assert_eq!(not_found(fed.update("ghost", &patch).await), "ghost");
}

#[tokio::test]
async fn deregister_deletes_and_forgets_presence_and_a_failed_one_keeps_it() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    cluster.store.set_unavailable(true);
    assert!(matches!(
        fed.deregister("alpha").await,
        Err(ServiceError::Repository(_))
    ));
    assert!(fed.record_heartbeat("alpha", &beat("alpha")).is_ok());
    cluster.store.set_unavailable(false);
    fed.deregister("ALPHA").await.unwrap();
    assert_eq!(fed.counts(), StatusCounts::default());
    let err = fed.record_heartbeat("alpha", &beat("alpha")).unwrap_err();
    assert_eq!(err.outcome(), "unknown_project");
    assert_eq!(not_found(fed.deregister("ghost").await), "ghost");
}

#[tokio::test]
async fn history_is_newest_first_with_the_limit() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    fed.tick().await.unwrap();
    cluster.clock.set(t0() + secs(60));
    fed.tick().await.unwrap();
    let h = fed.history("alpha", 1).await.unwrap();
    assert_eq!((h.len(), h[0].to), (1, Status::Degraded));
    assert_eq!(not_found(fed.history("ghost", 7).await), "ghost");
}

// ---- record_heartbeat ------------------------------------------------------------

#[tokio::test]
async fn record_heartbeat_rejections_have_their_outcome() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let cases: [(&str, Vec<u8>, &str); 8] = [
        ("ghost", beat("ghost"), "unknown_project"),
        ("alpha", b"not json".to_vec(), "malformed"),
        ("alpha", br#"{"project_slug": 1}"#.to_vec(), "malformed"),
        ("alpha", br#"{"hub_url":"http://x"}"#.to_vec(), "malformed"),
        ("alpha", beat("beta"), "slug_mismatch"),
        (
            "alpha",
            br#"{"project_slug":"alpha","mesh_namespace":"hub..beta"}"#.to_vec(),
            "bad_namespace",
        ),
        (
            "alpha",
            br#"{"project_slug":"alpha","timestamp":"2025-11-18T10:58:29Z"}"#.to_vec(),
            "replay",
        ),
        (
            "alpha",
            format!(r#"{{"project_slug":"alpha","pad":"{}"}}"#, "x".repeat(9000)).into_bytes(),
            "oversize",
        ),
    ];
    for (subject, body, outcome) in cases {
        let err = fed.record_heartbeat(subject, &body).unwrap_err();
        assert_eq!(err.outcome(), outcome, "{}", String::from_utf8_lossy(&body));
    }
    // None of them changed anything.
    assert_eq!(fed.tick().await.unwrap(), TickReport::default());
}

#[tokio::test]
async fn a_heartbeat_must_carry_its_projects_registered_namespace() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let mut custom = input("veria");
    custom.mesh_namespace = Some("veria.mesh".into());
    fed.register(&custom).await.unwrap();
    let body = |slug: &str, ns: &str| {
        format!(r#"{{"project_slug":"{slug}","mesh_namespace":"{ns}"}}"#).into_bytes()
    };
    // The original dropped a heartbeat claiming another project's namespace.
    for (slug, ns) in [("alpha", "hub.different-project"), ("veria", "hub.veria")] {
        let err = fed.record_heartbeat(slug, &body(slug, ns)).unwrap_err();
        assert_eq!(err.outcome(), "bad_namespace", "{slug} {ns}");
        assert!(err.to_string().contains(&format!("got '{ns}'")), "{err}");
        // Batched (the NATS path) alike, counted on the project.
        let bytes = body(slug, ns);
        assert_eq!(fed.record_heartbeats([(slug, bytes.as_slice())]).len(), 1);
    }
    let beats = fed.beats_by_project(10).unwrap();
    assert!(
        beats
            .iter()
            .all(|b| b.counts.refused == 2 && b.counts.recorded == 0),
        "{beats:?}"
    );
    // Its own, or none: recorded.
    for (slug, ns) in [
        ("alpha", "hub.alpha"),
        ("veria", "veria.mesh"),
        ("alpha", " "),
    ] {
        fed.record_heartbeat(slug, &body(slug, ns)).unwrap();
    }
    let own = body("alpha", "hub.alpha");
    assert!(fed
        .record_heartbeats([("alpha", own.as_slice())])
        .is_empty());
}

#[tokio::test]
async fn record_heartbeats_takes_a_batch_as_record_heartbeat_takes_each() {
    let cluster = Cluster::new(&["alpha", "beta"]).await;
    let fed = cluster.leader().await;
    let alpha = beat("alpha");
    let beta = beat("beta");
    let ghost = beat("ghost");
    let batch: Vec<(&str, &[u8])> = vec![
        ("alpha", &alpha),
        ("ghost", &ghost),
        ("alpha", b"not json"),
        ("beta", &beta),
        ("beta", &alpha),
        ("alpha", &alpha),
    ];
    let rejected = fed.record_heartbeats(batch);
    let outcomes: Vec<(&str, &str)> = rejected.iter().map(|(s, r)| (*s, r.outcome())).collect();
    assert_eq!(
        outcomes,
        [
            ("alpha", "malformed"),
            ("beta", "slug_mismatch"),
            ("ghost", "unknown_project")
        ]
    );
    let c = fed.heartbeat_counters();
    assert_eq!(
        (
            c.get("ok"),
            c.get("unknown_project"),
            c.get("malformed"),
            c.get("slug_mismatch")
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(fed.tick().await.unwrap().transitions, 2);
    assert!(fed.record_heartbeats(Vec::new()).is_empty());
}

#[tokio::test]
async fn record_heartbeat_judges_timestamps_by_the_clock_and_reports_change() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let body = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:00:00Z"}"#;
    assert!(fed.record_heartbeat("alpha", body).unwrap());
    assert!(!fed.record_heartbeat("alpha", body).unwrap(), "no change");
    // A sender 91 s behind is still heard (the original refused it as a replay)…
    cluster.clock.advance(secs(91));
    assert!(!fed.record_heartbeat("alpha", body).unwrap(), "no change");
    // …and one over an hour behind is a replay.
    cluster.clock.advance(secs(3600));
    assert_eq!(
        fed.record_heartbeat("alpha", body).unwrap_err().outcome(),
        "replay"
    );
    let degraded = br#"{"project_slug":"alpha","status":"degraded","reasons":["db"]}"#;
    assert!(fed.record_heartbeat("alpha", degraded).unwrap());
    fed.tick().await.unwrap();
    assert_eq!(fed.counts().degraded, 1);
}

#[tokio::test]
async fn the_last_observed_clock_skew_is_on_the_project() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let skew = |fed: &Federation| fed.get("alpha").unwrap().0.clock_skew_seconds;
    assert_eq!(skew(&fed), None);
    // No timestamp: nothing to measure.
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    assert_eq!(skew(&fed), None);
    let body = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:00:00Z"}"#;
    fed.record_heartbeat("alpha", body).unwrap();
    assert_eq!(skew(&fed), Some(0.0));
    cluster.clock.advance(secs(91));
    fed.record_heartbeat("alpha", body).unwrap();
    fed.tick().await.unwrap();
    assert_eq!(skew(&fed), Some(91.0));
    // A sender ahead of us shows a negative skew.
    let ahead = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:03:31Z"}"#;
    fed.record_heartbeat("alpha", ahead).unwrap();
    assert_eq!(skew(&fed), Some(-120.0));
}

#[tokio::test]
async fn membership_is_looked_up_by_subject_token_in_any_case() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    assert!(fed.is_member("alpha"));
    assert!(fed.is_member("Alpha"));
    assert!(!fed.is_member("beta"));
    assert!(!fed.is_member(""));
    fed.register(&input("beta")).await.unwrap();
    assert!(fed.is_member("beta"));
    fed.deregister("alpha").await.unwrap();
    assert!(!fed.is_member("alpha"));
}

#[tokio::test]
async fn heartbeats_are_counted_by_outcome() {
    let cluster = Cluster::new(&["known"]).await;
    let fed = cluster.leader().await;
    fed.record_heartbeat("known", &beat("known")).unwrap();
    fed.record_heartbeat("known", &beat("known")).unwrap();
    fed.record_heartbeat("ghost", &beat("ghost")).unwrap_err();
    fed.record_heartbeat("known", b"{oops").unwrap_err();
    fed.record_heartbeat("other", &beat("known")).unwrap_err();
    fed.count_dropped_heartbeat();
    let c = fed.heartbeat_counters();
    assert_eq!(c.get("ok"), 2);
    assert_eq!(c.get("unknown_project"), 1);
    assert_eq!(c.get("malformed"), 1);
    assert_eq!(c.get("slug_mismatch"), 1);
    assert_eq!(c.get("dropped"), 1);
}

// ---- tick and the outbox ---------------------------------------------------------

#[tokio::test]
async fn tick_writes_one_batch_then_publishes_each_transition_in_log_order() {
    let cluster = Cluster::new(&["alpha", "beta", "gamma"]).await;
    let fed = cluster.leader().await;
    fed.record_heartbeat("beta", &beat("beta")).unwrap();
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    let report = fed.tick().await.unwrap();
    assert_eq!(
        report,
        TickReport {
            transitions: 2,
            updates: 2,
            unpublished: 0,
            mass_expiry: None,
            follower: false,
            expired: 0,
        }
    );
    assert_eq!(cluster.store.presence_writes(), 1);
    assert_eq!(
        fed.transition_counters()
            .get(Status::Offline, Status::Online),
        2
    );
    // Revisions 1-3 are the registrations.
    assert_eq!(cluster.published(&fed), ["beta:online@4", "alpha:online@5"]);
}

#[tokio::test]
async fn an_idle_tick_touches_neither_store_nor_bus() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    for _ in 0..5 {
        assert_eq!(fed.tick().await.unwrap(), TickReport::default());
        cluster.clock.advance(secs(100));
    }
    assert_eq!(cluster.store.presence_writes(), 0);
    assert!(cluster.published(&fed).is_empty());
}

#[tokio::test]
async fn heartbeats_without_a_change_are_written_behind_without_events() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    fed.tick().await.unwrap();
    cluster.clock.advance(secs(30));
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    let report = fed.tick().await.unwrap();
    assert_eq!((report.transitions, report.updates), (0, 1));
    assert_eq!(cluster.store.presence_writes(), 2);
    let stored = cluster.store.stored("alpha").unwrap();
    assert_eq!(stored.last_heartbeat_at, Some(t0() + secs(30)));
    assert_eq!(cluster.published(&fed).len(), 1);
}

#[tokio::test]
async fn a_failed_write_publishes_nothing_and_the_next_tick_writes_it_with_its_time() {
    let cluster = Cluster::new(&["alpha", "beta"]).await;
    let fed = cluster.leader().await;
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    cluster.store.set_unavailable(true);
    let err = fed.tick().await.unwrap_err();
    assert_eq!((err.transitions, err.updates), (1, 1));
    assert!(cluster.published(&fed).is_empty(), "nothing published");

    cluster.store.set_unavailable(false);
    cluster.clock.advance(secs(1));
    fed.record_heartbeat("beta", &beat("beta")).unwrap();
    let report = fed.tick().await.unwrap();
    assert_eq!((report.transitions, report.updates), (2, 2));
    let alpha = cluster.store.transitions_of("alpha");
    assert_eq!(
        alpha[0].at,
        t0(),
        "the kept transition has its original time"
    );
    assert_eq!(cluster.published(&fed), ["alpha:online@3", "beta:online@4"]);
}

#[tokio::test]
async fn events_the_bus_refused_are_published_later_in_order_not_dropped() {
    let cluster = Cluster::new(&["a", "b", "c"]).await;
    let fed = cluster.leader().await;
    cluster
        .refuse_events
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for s in ["a", "b", "c"] {
        fed.record_heartbeat(s, &beat(s)).unwrap();
    }
    let report = fed.tick().await.unwrap();
    assert_eq!((report.transitions, report.unpublished), (3, 3));
    cluster.clock.set(t0() + secs(60));
    assert_eq!(fed.tick().await.unwrap().unpublished, 6);
    cluster
        .refuse_events
        .store(false, std::sync::atomic::Ordering::SeqCst);
    cluster.clock.advance(secs(1));
    assert_eq!(fed.tick().await.unwrap().unpublished, 0);
    let published = cluster.published(&fed);
    assert_eq!(published[..3], ["a:online@4", "b:online@5", "c:online@6"]);
    // One sweep degrades all three at once, in the table's order; the revisions
    // follow the order they were stored in.
    let mut degraded: Vec<&str> = published[3..]
        .iter()
        .map(|e| e.split('@').next().unwrap())
        .collect();
    degraded.sort_unstable();
    assert_eq!(degraded, ["a:degraded", "b:degraded", "c:degraded"]);
    let revisions: Vec<&str> = published[3..]
        .iter()
        .map(|e| e.split('@').nth(1).unwrap())
        .collect();
    assert_eq!(revisions, ["7", "8", "9"]);
    // A new leader starts from the stored cursor: nothing is published twice.
    fed.resign().await;
    let next = cluster
        .replica("b", Presence::new(StatusPolicy::default()))
        .await;
    next.campaign().await.unwrap();
    next.tick().await.unwrap();
    assert_eq!(cluster.published(&next).len(), 6);
}

#[tokio::test]
async fn tick_follows_the_clock_and_reports_a_mass_expiry() {
    let slugs = ["a", "b", "c", "d", "e"];
    let cluster = Cluster::new(&slugs).await;
    let fed = cluster.leader().await;
    for s in slugs {
        fed.record_heartbeat(s, &beat(s)).unwrap();
    }
    fed.tick().await.unwrap();
    cluster.clock.set(t0() + secs(90));
    let report = fed.tick().await.unwrap();
    assert_eq!(report.transitions, 5);
    let mass = report.mass_expiry.expect("mass expiry");
    assert_eq!((mass.expired, mass.live), (5, 5));
    assert_eq!(fed.last_mass_expiry(), Some(mass));
    assert_eq!(fed.counts().offline, 5);
}

#[tokio::test]
async fn bus_events_are_stamped_with_the_clock() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster
        .replica("a", Presence::with_bus(StatusPolicy::default()))
        .await;
    fed.campaign().await.unwrap();
    assert_eq!(fed.guard(), GuardState::LinkDown);
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    fed.tick().await.unwrap();
    cluster.clock.set(t0() + secs(500));
    fed.bus_connected();
    assert_eq!(
        fed.guard(),
        GuardState::Recovering {
            until: t0() + secs(590)
        }
    );
    for _ in 0..4 {
        fed.canary_sent();
    }
    assert_eq!(fed.guard(), GuardState::CanaryLost);
    fed.canary_received();
    // Silence counts from the connection at +500: late at +560, offline at +590.
    cluster.clock.set(t0() + secs(559));
    fed.campaign().await.unwrap();
    assert_eq!(fed.tick().await.unwrap().transitions, 0);
    cluster.clock.set(t0() + secs(589));
    fed.campaign().await.unwrap();
    assert_eq!(fed.tick().await.unwrap().transitions, 1);
    cluster.clock.set(t0() + secs(590));
    fed.campaign().await.unwrap();
    assert_eq!(fed.tick().await.unwrap().transitions, 1);
    fed.bus_disconnected();
    assert_eq!(fed.guard(), GuardState::LinkDown);
}

// ---- several replicas ------------------------------------------------------------

fn policy() -> Presence {
    Presence::new(StatusPolicy::default())
}

#[tokio::test]
async fn load_fills_the_registry_and_the_presence_table_from_the_store() {
    let cluster = Cluster::new(&["a", "b"]).await;
    let fed = cluster.replica("x", policy()).await;
    assert_eq!(fed.revision(), 2);
    assert_eq!(fed.counts().offline, 2);
    assert!(fed.record_heartbeat("a", &beat("a")).unwrap());
}

#[tokio::test]
async fn one_replica_leads_the_others_follow_and_write_nothing() {
    let cluster = Cluster::new(&["alpha"]).await;
    let a = cluster.replica("a", policy()).await;
    let b = cluster.replica("b", policy()).await;
    assert!(matches!(a.campaign().await.unwrap(), Role::Leader(Term(1))));
    assert_eq!(b.campaign().await.unwrap(), Role::Follower);
    // Both hear the heartbeat (NATS fans out); only the leader writes.
    for fed in [&a, &b] {
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    }
    assert!(b.tick().await.unwrap().follower);
    assert_eq!(cluster.store.presence_writes(), 0);
    a.tick().await.unwrap();
    assert_eq!(status_of(&b, "alpha"), Status::Offline, "until it follows");
    assert_eq!(b.follow().await.unwrap(), 1);
    assert_eq!(status_of(&b, "alpha"), Status::Online);
    for at in [60, 90] {
        cluster.clock.set(t0() + secs(at));
        a.campaign().await.unwrap();
        b.tick().await.unwrap();
        a.tick().await.unwrap();
    }
    b.follow().await.unwrap();
    assert_eq!(status_of(&b, "alpha"), Status::Offline);
    assert_eq!(
        cluster.history("alpha"),
        ["offline->online", "online->degraded", "degraded->offline"],
        "each transition once"
    );
}

#[tokio::test]
async fn a_registration_through_one_replica_reaches_the_others_presence() {
    let cluster = Cluster::new(&[]).await;
    let a = cluster.replica("a", policy()).await;
    let b = cluster.replica("b", policy()).await;
    a.campaign().await.unwrap();
    a.register(&input("newcomer")).await.unwrap();
    assert_eq!(
        b.record_heartbeat("newcomer", &beat("newcomer"))
            .unwrap_err()
            .outcome(),
        "unknown_project"
    );
    b.follow().await.unwrap();
    assert!(b.record_heartbeat("newcomer", &beat("newcomer")).unwrap());
    a.deregister("newcomer").await.unwrap();
    b.follow().await.unwrap();
    not_found(b.get("newcomer"));
    assert_eq!(
        b.record_heartbeat("newcomer", &beat("newcomer"))
            .unwrap_err()
            .outcome(),
        "unknown_project"
    );
}

#[tokio::test]
async fn a_new_leader_writes_what_the_dead_one_had_not_and_nothing_twice() {
    let cluster = Cluster::new(&["beating", "silent"]).await;
    let a = cluster.replica("a", policy()).await;
    let b = cluster.replica("b", policy()).await;
    a.campaign().await.unwrap();
    b.campaign().await.unwrap();
    for fed in [&a, &b] {
        fed.record_heartbeat("silent", &beat("silent")).unwrap();
    }
    a.tick().await.unwrap();
    b.tick().await.unwrap();
    // "beating" comes online in both tables, but `a` dies before writing it.
    cluster.clock.advance(secs(1));
    for fed in [&a, &b] {
        fed.record_heartbeat("beating", &beat("beating")).unwrap();
    }
    b.tick().await.unwrap();
    // Within the lease (taken at t0, 5 s), `b` stays a follower.
    cluster.clock.advance(secs(3));
    assert_eq!(b.campaign().await.unwrap(), Role::Follower);
    cluster.clock.advance(secs(1));
    assert!(matches!(b.campaign().await.unwrap(), Role::Leader(Term(2))));
    b.tick().await.unwrap();
    assert_eq!(cluster.history("beating"), ["offline->online"]);
    assert_eq!(cluster.history("silent"), ["offline->online"]);
    assert_eq!(status_of(&b, "beating"), Status::Online);
    // The silent one expires on the new leader's clock, once.
    for at in [60, 90] {
        cluster.clock.set(t0() + secs(at));
        b.campaign().await.unwrap();
        b.tick().await.unwrap();
    }
    assert_eq!(
        cluster.history("silent"),
        ["offline->online", "online->degraded", "degraded->offline"]
    );
    assert_eq!(cluster.published(&b).len(), 4, "every event once");
}

#[tokio::test]
async fn a_new_leader_that_could_not_hear_the_bus_resurrects_nobody() {
    let cluster = Cluster::new(&["alpha"]).await;
    let a = cluster.replica("a", policy()).await;
    let b = cluster
        .replica("b", Presence::with_bus(StatusPolicy::default()))
        .await;
    b.bus_connected();
    a.campaign().await.unwrap();
    for fed in [&a, &b] {
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    }
    a.tick().await.unwrap();
    b.tick().await.unwrap();
    // `b` loses its link; `a` expires the silent project.
    b.bus_disconnected();
    for at in [60, 90] {
        cluster.clock.set(t0() + secs(at));
        a.campaign().await.unwrap();
        a.tick().await.unwrap();
        b.tick().await.unwrap();
    }
    b.follow().await.unwrap();
    assert_eq!(status_of(&b, "alpha"), Status::Offline);
    // `a` dies; `b`, whose table still says online (it held expiry), takes over.
    cluster.clock.advance(secs(6));
    assert!(matches!(b.campaign().await.unwrap(), Role::Leader(_)));
    b.tick().await.unwrap();
    assert_eq!(cluster.history("alpha"), LIFE_OF_ALPHA);
    // Its link back, a heartbeat is news again.
    b.bus_connected();
    b.record_heartbeat("alpha", &beat("alpha")).unwrap();
    b.tick().await.unwrap();
    assert_eq!(cluster.history("alpha").last().unwrap(), "offline->online");
}

const LIFE_OF_ALPHA: [&str; 3] = ["offline->online", "online->degraded", "degraded->offline"];

#[tokio::test]
async fn the_leader_applies_the_history_retention_and_a_follower_does_not() {
    let cluster = Cluster::new(&["alpha"]).await;
    let leader = cluster.leader().await;
    let follower = cluster.replica("b", policy()).await;
    follower.campaign().await.unwrap();
    let degraded = br#"{"project_slug":"alpha","status":"degraded"}"#;
    // Twelve ticks, each flipping the status once.
    for i in 0u32..12 {
        cluster.clock.advance(secs(1));
        let body: &[u8] = if i.is_multiple_of(2) {
            &beat("alpha")
        } else {
            degraded
        };
        leader.record_heartbeat("alpha", body).unwrap();
        leader.campaign().await.unwrap();
        leader.tick().await.unwrap();
    }
    assert_eq!(cluster.history("alpha").len(), 12);
    assert_eq!(follower.trim_history().await.unwrap(), 0);
    assert_eq!(
        leader.trim_history().await.unwrap(),
        2,
        "beyond the newest 10"
    );
    let kept = leader.history("alpha", 100).await.unwrap();
    assert_eq!(kept.len(), 10);
    assert_eq!(kept[0].at, t0() + secs(12));
    // And by age (90 days by default).
    cluster.clock.advance(TimeDelta::days(91));
    leader.campaign().await.unwrap();
    assert_eq!(leader.trim_history().await.unwrap(), 10);
}

#[tokio::test]
async fn a_leader_that_cannot_renew_its_lease_stops_counting_as_leader() {
    let cluster = Cluster::new(&[]).await;
    let fed = cluster.leader().await;
    assert!(fed.leads());
    assert_eq!(fed.role_name(), "leader");
    cluster.store.set_unavailable(true);
    cluster.clock.advance(secs(3));
    fed.campaign().await.unwrap_err();
    assert_eq!(fed.role_name(), "leader", "within the lease");
    cluster.clock.advance(secs(3));
    fed.campaign().await.unwrap_err();
    assert!(!fed.leads());
    assert_eq!(fed.role_name(), "leader_unconfirmed");
    cluster.store.set_unavailable(false);
    fed.campaign().await.unwrap();
    assert_eq!(fed.role_name(), "leader", "its own lease, renewed");
}

#[tokio::test]
async fn a_paused_leader_that_wakes_is_fenced_and_steps_down() {
    let cluster = Cluster::new(&["alpha"]).await;
    let a = cluster.replica("a", policy()).await;
    let b = cluster.replica("b", policy()).await;
    a.campaign().await.unwrap();
    for fed in [&a, &b] {
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    }
    // `a` freezes; `b` takes over after the lease and records the change.
    cluster.clock.advance(secs(6));
    assert!(matches!(b.campaign().await.unwrap(), Role::Leader(Term(2))));
    b.tick().await.unwrap();
    // `a` wakes with its old term and its unwritten batch: refused, it follows.
    let report = a.tick().await.unwrap();
    assert!(report.follower);
    assert_eq!(a.role(), Role::Follower);
    assert_eq!(cluster.history("alpha"), ["offline->online"]);
    assert_eq!(a.campaign().await.unwrap(), Role::Follower);
    a.follow().await.unwrap();
    assert_eq!(status_of(&a, "alpha"), Status::Online);
}

#[tokio::test]
async fn a_follower_behind_a_trimmed_log_reloads_the_catalog() {
    let cluster = Cluster::new(&["a"]).await;
    let leader = cluster.leader().await;
    let late = cluster.replica("late", policy()).await;
    for s in ["b", "c", "d"] {
        leader.register(&input(s)).await.unwrap();
    }
    leader.deregister("a").await.unwrap();
    leader.tick().await.unwrap(); // publishes (no transitions) and moves the cursor
    leader.campaign().await.unwrap();
    cluster.clock.advance(secs(7200));
    assert!(leader.trim_log().await.unwrap() > 0);
    late.follow().await.unwrap();
    assert_eq!(late.revision(), leader.revision());
    let slugs: Vec<String> = late
        .list(&ListFilter::default())
        .items
        .iter()
        .map(|p| p.slug.to_string())
        .collect();
    assert_eq!(slugs, ["b", "c", "d"]);
    assert_eq!(
        late.record_heartbeat("a", &beat("a"))
            .unwrap_err()
            .outcome(),
        "unknown_project"
    );
}

/// Runs a future of the memory store, which never waits, to its end.
fn at_once<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the memory store never waits"),
    }
}

#[tokio::test]
async fn a_promotion_in_the_middle_of_a_tick_is_fenced_by_its_term_and_loses_nothing() {
    let cluster = Cluster::new(&["alpha"]).await;
    let a = Arc::new(cluster.replica("a", policy()).await);
    let b = Arc::new(cluster.replica("b", policy()).await);
    assert_eq!(a.campaign().await.unwrap(), Role::Leader(Term(1)));
    for fed in [&a, &b] {
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    }
    // While `a`'s write of term 1 is in flight, the lease (on its own timer) lapses,
    // `b` takes it (term 2), its lease lapses too and `a` takes it back (term 3).
    let (clock, a2, b2) = (cluster.clock.clone(), a.clone(), b.clone());
    cluster.store.during_next_presence_write(move || {
        clock.advance(secs(6));
        assert_eq!(at_once(b2.campaign()).unwrap(), Role::Leader(Term(2)));
        clock.advance(secs(6));
        assert_eq!(at_once(a2.campaign()).unwrap(), Role::Leader(Term(3)));
    });
    let report = a.tick().await.unwrap();
    assert!(report.follower, "the write of term 1 was fenced");
    assert!(cluster.history("alpha").is_empty());
    assert_eq!(
        a.role(),
        Role::Leader(Term(3)),
        "the fence of term 1 does not demote term 3"
    );
    // Term 3's first tick writes the fenced change, with its real time.
    let report = a.tick().await.unwrap();
    assert!(!report.follower);
    let alpha = cluster.store.transitions_of("alpha");
    assert_eq!(cluster.history("alpha"), ["offline->online"]);
    assert_eq!(alpha[0].at, t0(), "its real time, not the new term's");
    assert_eq!(b.campaign().await.unwrap(), Role::Follower);
}

#[tokio::test]
async fn a_follower_promoted_after_a_database_outage_writes_the_dead_leaders_chain_with_real_times()
{
    let cluster = Cluster::new(&["alpha"]).await;
    let a = cluster.replica("a", policy()).await;
    let b = cluster.replica("b", policy()).await;
    assert_eq!(a.campaign().await.unwrap(), Role::Leader(Term(1)));
    for fed in [&a, &b] {
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    }
    a.tick().await.unwrap();
    b.follow().await.unwrap();
    b.tick().await.unwrap();
    assert_eq!(cluster.history("alpha"), ["offline->online"]);
    // The database goes away; alpha falls silent: degraded at +60 s, offline at +90 s,
    // on both replicas' tables. The leader cannot write them.
    cluster.store.set_unavailable(true);
    for at in [60, 90] {
        cluster.clock.set(t0() + secs(at));
        a.tick().await.unwrap_err();
        b.tick().await.unwrap();
    }
    // The leader dies (kill -9); the database comes back; `b` takes over after the TTL.
    drop(a);
    cluster.store.set_unavailable(false);
    cluster.clock.set(t0() + secs(100));
    assert_eq!(b.campaign().await.unwrap(), Role::Leader(Term(2)));
    b.tick().await.unwrap();
    assert_eq!(
        cluster.history("alpha"),
        ["offline->online", "online->degraded", "degraded->offline"],
        "every step"
    );
    let times: Vec<_> = cluster
        .store
        .transitions_of("alpha")
        .iter()
        .map(|t| t.at)
        .collect();
    assert_eq!(
        times[1..],
        [t0() + secs(60), t0() + secs(90)],
        "their real times"
    );
}
