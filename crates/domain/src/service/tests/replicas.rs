//! Several replicas.

use super::*;

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
async fn an_outage_of_the_store_alone_does_not_move_the_lead() {
    let cluster = Cluster::new(&[]).await;
    let a = cluster.replica("a", policy()).await;
    let b = cluster.replica("b", policy()).await;
    assert_eq!(a.campaign().await.unwrap(), Role::Leader(Term(1)));
    assert_eq!(b.campaign().await.unwrap(), Role::Follower);
    cluster.store.set_unavailable(true);
    for _ in 0..10 {
        cluster.clock.advance(secs(2));
        a.campaign().await.unwrap_err();
        b.campaign().await.unwrap_err();
    }
    // Back after 20 s, four times the lease's TTL: the follower reaches the store first
    // and finds the lease expired, but leaves it to its holder.
    cluster.store.set_unavailable(false);
    assert_eq!(b.campaign().await.unwrap(), Role::Follower);
    cluster.clock.advance(secs(2));
    assert_eq!(b.campaign().await.unwrap(), Role::Follower);
    assert_eq!(a.campaign().await.unwrap(), Role::Leader(Term(1)));
    assert!(a.leads());
    cluster.clock.advance(secs(4));
    assert_eq!(
        b.campaign().await.unwrap(),
        Role::Follower,
        "a's lease is live"
    );
    assert_eq!(cluster.store.lease(), Some(("a".into(), Term(1))));

    // If the leader died in the outage, the follower takes over a TTL after the store
    // came back.
    cluster.store.set_unavailable(true);
    cluster.clock.advance(secs(20));
    b.campaign().await.unwrap_err();
    cluster.store.set_unavailable(false);
    assert_eq!(b.campaign().await.unwrap(), Role::Follower);
    cluster.clock.advance(secs(4));
    assert_eq!(b.campaign().await.unwrap(), Role::Follower);
    cluster.clock.advance(secs(1));
    assert_eq!(b.campaign().await.unwrap(), Role::Leader(Term(2)));
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
    assert_eq!(listed(&late), ["b", "c", "d"]);
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

#[tokio::test]
async fn a_notification_reads_the_log_only_when_the_registry_lacks_its_revision() {
    let cluster = Cluster::new(&[]).await;
    let a = cluster.replica("a", policy()).await;
    let b = cluster.replica("b", policy()).await;
    a.campaign().await.unwrap();
    a.register(&input("one")).await.unwrap();
    let head = a.revision();
    assert_eq!(
        a.follow_to(head).await.unwrap(),
        0,
        "its own write, read back"
    );
    assert_eq!(
        b.follow_to(head).await.unwrap(),
        1,
        "the other replica reads it"
    );
    assert_eq!(b.follow_to(head).await.unwrap(), 0);
    assert!(b.get("one").is_ok());
    // Concurrent reads share one: every caller returns with the change applied.
    a.register(&input("two")).await.unwrap();
    let (x, y, z) = tokio::join!(b.follow(), b.follow(), b.follow_to(a.revision()));
    assert_eq!(x.unwrap() + y.unwrap() + z.unwrap(), 1, "applied once");
    assert!(b.get("two").is_ok());
}

/// The cluster's log, whose reads of changes wait while `stalled` holds (a read of the
/// log in flight, as the listener's after a notification).
struct Stalling {
    store: Arc<MemoryStore>,
    stalled: tokio::sync::watch::Receiver<bool>,
    /// Told when a read of changes has been taken and waits.
    waiting: tokio::sync::watch::Sender<bool>,
}

#[async_trait::async_trait]
impl crate::ports::ChangeLog for Stalling {
    async fn snapshot(&self) -> Result<crate::replication::Snapshot, RepositoryError> {
        self.store.snapshot().await
    }
    async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        // The read is taken first: what it returns is the log as it stood.
        let read = self.store.changes_since(revision, limit).await;
        self.waiting.send_replace(true);
        let _ = self.stalled.clone().wait_for(|stalled| !stalled).await;
        read
    }
    async fn events_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.store.events_since(revision, limit).await
    }
    async fn published_through(&self) -> Result<u64, RepositoryError> {
        self.store.published_through().await
    }
    async fn mark_published(&self, revision: u64, term: Term) -> Result<(), RepositoryError> {
        self.store.mark_published(revision, term).await
    }
    async fn trim(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        keep: u64,
    ) -> Result<u64, RepositoryError> {
        self.store.trim(before, keep).await
    }
}

impl Stalling {
    /// The cluster's log, stalled; the sender that releases it; told when a read waits.
    fn of(
        cluster: &Cluster,
    ) -> (
        Arc<Self>,
        tokio::sync::watch::Sender<bool>,
        tokio::sync::watch::Receiver<bool>,
    ) {
        let (stall, stalled) = tokio::sync::watch::channel(true);
        let (waiting, read_waits) = tokio::sync::watch::channel(false);
        let log = Arc::new(Stalling {
            store: cluster.store.clone(),
            stalled,
            waiting,
        });
        (log, stall, read_waits)
    }
}

#[tokio::test]
async fn a_registration_answers_without_waiting_for_a_read_of_the_log_in_flight() {
    let cluster = Cluster::new(&["old"]).await;
    let (log, stall, mut read_waits) = Stalling::of(&cluster);
    let a = Arc::new(
        cluster
            .replica_with("a", policy(), cluster.store.clone(), log)
            .await,
    );
    // A read of the log begins before the registration and is held in flight.
    let reading = tokio::spawn({
        let a = a.clone();
        async move { a.follow().await }
    });
    read_waits.wait_for(|w| *w).await.unwrap();
    let registered = tokio::time::timeout(Duration::from_secs(10), a.register(&input("new")))
        .await
        .expect("the registration waited for the read in flight");
    registered.unwrap();
    assert!(a.get("new").is_ok(), "read back at once");
    stall.send(false).unwrap();
    assert_eq!(
        reading.await.unwrap().unwrap(),
        0,
        "the read applies nothing twice"
    );
    assert!(a.get("new").is_ok());
}

#[tokio::test]
async fn the_last_of_a_group_back_first_applies_the_whole_group_without_reading_the_log() {
    let cluster = Cluster::new(&["old"]).await;
    let (log, _stall, _) = Stalling::of(&cluster);
    let answers: Arc<Mutex<Vec<Upserted>>> = Arc::default();
    let mut repo = crate::ports::MockProjectRepository::new();
    let group_written = answers.clone();
    repo.expect_upsert().returning(move |r| {
        let group = group_written.lock().unwrap();
        Ok(group
            .iter()
            .find(|u| u.project.slug == r.slug)
            .cloned()
            .unwrap())
    });
    let a = cluster
        .replica_with("a", policy(), Arc::new(repo), log)
        .await;
    // A group commit of two, "one" and "two", in one transaction.
    let mut group = vec![
        cluster.store.upsert(&registration("one")).await.unwrap(),
        cluster.store.upsert(&registration("two")).await.unwrap(),
    ];
    crate::replication::Change::share_written(&mut group);
    answers.lock().unwrap().clone_from(&group);
    // Loaded before the group: the registry stands at the revision before "one".
    assert!(a.get("one").is_err());
    let two = tokio::time::timeout(Duration::from_secs(10), a.register(&input("two")))
        .await
        .expect("the registration read the (stalled) log");
    assert_eq!(two.unwrap().revision, group[1].revision);
    assert!(a.get("one").is_ok(), "applied with the group");
    assert!(a.get("two").is_ok());
    assert_eq!(a.revision(), group[1].revision.unwrap());
    // The first one back finds its change applied.
    tokio::time::timeout(Duration::from_secs(10), a.register(&input("one")))
        .await
        .expect("the registration read the (stalled) log")
        .unwrap();
}

#[tokio::test]
async fn the_leader_applies_the_steps_it_wrote_without_reading_the_log() {
    let cluster = Cluster::new(&["alpha", "beta"]).await;
    let (log, stall, _) = Stalling::of(&cluster);
    let a = cluster
        .replica_with("a", policy(), cluster.store.clone(), log)
        .await;
    // The promotion reads the log; the round that follows finds it stalled.
    stall.send(false).unwrap();
    assert!(matches!(a.campaign().await.unwrap(), Role::Leader(_)));
    stall.send(true).unwrap();
    a.record_heartbeat("alpha", &beat("alpha")).unwrap();
    a.record_heartbeat("beta", &beat("beta")).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), a.flush_changes())
        .await
        .expect("the round read the (stalled) log")
        .unwrap();
    assert_eq!((report.transitions, report.unpublished), (2, 0));
    assert_eq!(
        a.revision(),
        cluster.store.snapshot().await.unwrap().revision
    );
    for s in ["alpha", "beta"] {
        let (project, _) = a.get(s).unwrap();
        assert_eq!(project, cluster.store.stored(s).unwrap(), "{s} as stored");
    }
    assert_eq!(cluster.published(&a), ["alpha:online@3", "beta:online@4"]);
    stall.send(false).unwrap();
}

#[tokio::test]
async fn a_leader_behind_the_log_reads_it_after_its_write() {
    let cluster = Cluster::new(&["alpha"]).await;
    let a = cluster.leader().await;
    // Registered through another replica: the leader's registry is behind the log.
    let b = cluster.replica("b", policy()).await;
    b.register(&input("beta")).await.unwrap();
    a.record_heartbeat("alpha", &beat("alpha")).unwrap();
    a.flush_changes().await.unwrap();
    assert_eq!(status_of(&a, "alpha"), Status::Online);
    assert!(a.get("beta").is_ok(), "the read brought the other change");
    assert_eq!(
        a.revision(),
        cluster.store.snapshot().await.unwrap().revision
    );
}
