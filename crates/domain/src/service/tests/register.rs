//! Register.

use super::*;

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
    assert_eq!(p.heartbeat_key, Some(Box::new(key)));
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
    assert_eq!(
        follower.get("keyed").unwrap().0.heartbeat_key,
        Some(Box::new(key))
    );

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

/// A replica applies its own registration as written when its registry stands right
/// before it, and reads the log when another write came between: either way each
/// replica announces every change once, in revision order, with its project.
#[tokio::test]
async fn a_registration_is_applied_as_written_or_read_back_in_order() {
    let cluster = Cluster::new(&[]).await;
    let a = cluster.leader().await;
    let b = cluster
        .replica("b", Presence::new(StatusPolicy::default()))
        .await;
    let seen = |fed: &Federation| {
        let seen: Arc<std::sync::Mutex<Vec<(u64, String, bool)>>> = Arc::default();
        let into = seen.clone();
        fed.on_change(Box::new(move |changes, _| {
            let mut into = into.lock().unwrap();
            for c in changes {
                into.push((c.revision, c.slug.to_string(), c.project.is_some()));
            }
        }));
        seen
    };
    let (seen_a, seen_b) = (seen(&a), seen(&b));
    // b stands at 0 and its write is 1: applied as written.
    b.register(&input("beta")).await.unwrap();
    assert_eq!(b.revision(), 1);
    // a stands at 0 and its write is 2: it reads 1 and 2 from the log.
    a.register(&input("alpha")).await.unwrap();
    assert_eq!(a.revision(), 2);
    // b stands at 1 and its write is 3 (the update of beta): it reads 2 and 3.
    let up = b.register(&input("beta")).await.unwrap();
    assert!(!up.created);
    assert_eq!(b.revision(), 3);
    a.follow().await.unwrap();
    let expected = [(1, "beta"), (2, "alpha"), (3, "beta")]
        .map(|(r, s)| (r, s.to_owned(), true))
        .to_vec();
    assert_eq!(*seen_a.lock().unwrap(), expected);
    assert_eq!(*seen_b.lock().unwrap(), expected);
    for fed in [&a, &b] {
        assert_eq!(listed(fed), ["alpha", "beta"]);
    }
}
