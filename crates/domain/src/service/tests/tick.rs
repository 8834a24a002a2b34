//! Tick and the outbox.

use super::*;

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
    assert_eq!(cluster.published_after_handover(&fed).await.len(), 6);
}

/// Events the client took but the bus never confirmed (the connection dropped with
/// them in its buffer) are published again, with the same revisions, before the cursor
/// moves past them; a new leader then has nothing left to publish.
#[tokio::test]
async fn events_the_bus_did_not_confirm_are_published_again() {
    let cluster = Cluster::new(&["a", "b"]).await;
    let fed = cluster.leader().await;
    let unconfirmed = |on: bool| {
        cluster
            .unconfirmed_events
            .store(on, std::sync::atomic::Ordering::SeqCst)
    };
    unconfirmed(true);
    for s in ["a", "b"] {
        fed.record_heartbeat(s, &beat(s)).unwrap();
    }
    assert_eq!(fed.tick().await.unwrap().unpublished, 2);
    cluster.clock.advance(secs(1));
    assert_eq!(
        fed.tick().await.unwrap().unpublished,
        2,
        "still not confirmed"
    );
    unconfirmed(false);
    cluster.clock.advance(secs(1));
    assert_eq!(fed.tick().await.unwrap().unpublished, 0);
    assert_eq!(
        cluster.published(&fed),
        ["a:online@3", "b:online@4"].repeat(3),
        "sent three times, under the same revisions"
    );
    cluster.clock.advance(secs(1));
    assert_eq!(fed.tick().await.unwrap(), TickReport::default());
    assert_eq!(
        cluster.published_after_handover(&fed).await.len(),
        6,
        "nothing again after the cursor moved"
    );
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

#[tokio::test]
async fn a_tick_publishes_its_transitions_before_it_writes_the_rows_of_quiet_projects() {
    // 4,001 projects online; then 4,000 of them beat again (rows only) and the last
    // falls silent: the tick's batch is its transition, then two parts of 2,000 rows.
    let names = numbered(4001);
    let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (cluster, fed) = all_beating(&slugs).await;
    fed.tick().await.unwrap();
    let (silent, beating) = slugs.split_last().unwrap();
    cluster
        .clock
        .advance(StatusPolicy::default().offline_after() + secs(1));
    for s in beating {
        fed.record_heartbeat(s, &beat(s)).unwrap();
    }
    let published = cluster.published(&fed).len();
    // The first part (the transition) is stored, the rows after it fail.
    let before = cluster.store.presence_writes();
    cluster.store.fail_presence_writes_from(Some(before + 1));
    let failed = fed.tick().await.unwrap_err();
    assert_eq!((failed.transitions, failed.updates), (0, 4000));
    let events = cluster.published(&fed);
    assert_eq!(
        events.get(published..).unwrap_or_default(),
        [format!("{silent}:offline@{}", fed.revision())],
        "published before the rows were written"
    );
}

#[tokio::test]
async fn each_part_of_a_storm_is_published_as_soon_as_it_is_written() {
    // 4,001 projects come online at once: the tick writes three parts (2,000, 2,000, 1)
    // and the second fails. The first part's events are out already.
    let names = numbered(4001);
    let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (cluster, fed) = all_beating(&slugs).await;
    let before = cluster.store.presence_writes();
    cluster.store.fail_presence_writes_from(Some(before + 1));
    let failed = fed.tick().await.unwrap_err();
    assert_eq!(failed.transitions, 2001, "kept for the next tick");
    let events = cluster.published(&fed);
    assert_eq!(
        events.len(),
        2000,
        "the first part's, before the second was written"
    );
    assert_eq!(events.first().map(String::as_str), Some("p-0:online@4002"));
}

/// A leader of `alpha` and `beta` that heard `alpha`, and hears `beta` while the
/// store's next presence write is in flight (the clock moved on by `later` first).
async fn beta_beats_during_the_next_write(later: TimeDelta) -> (Cluster, Arc<Federation>) {
    let cluster = Cluster::new(&["alpha", "beta"]).await;
    let fed = Arc::new(cluster.leader().await);
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    let during = Arc::downgrade(&fed);
    let clock = cluster.clock.clone();
    cluster.store.during_next_presence_write(move || {
        clock.advance(later);
        let fed = during.upgrade().expect("the leader outlives its round");
        fed.record_heartbeat("beta", &beat("beta")).unwrap();
    });
    (cluster, fed)
}

#[tokio::test]
async fn an_early_round_writes_what_heartbeats_change_while_it_writes() {
    let (cluster, fed) = beta_beats_during_the_next_write(TimeDelta::zero()).await;
    let report = fed.flush_changes().await.unwrap();
    assert_eq!((report.transitions, report.updates), (2, 2));
    assert_eq!(
        cluster.store.presence_writes(),
        2,
        "beta in a part of its own"
    );
    assert_eq!(cluster.published(&fed), ["alpha:online@3", "beta:online@4"]);
    assert_eq!(status_of(&fed, "beta"), Status::Online);
}

#[tokio::test]
async fn an_early_round_takes_more_only_for_its_time_then_the_next_round_does() {
    let (cluster, fed) =
        beta_beats_during_the_next_write(super::sweep::EARLY_ROUND_TAKES_FOR).await;
    assert_eq!(fed.flush_changes().await.unwrap().transitions, 1);
    assert_eq!(cluster.published(&fed), ["alpha:online@3"]);
    assert_eq!(fed.flush_changes().await.unwrap().transitions, 1);
    assert_eq!(cluster.published(&fed), ["alpha:online@3", "beta:online@4"]);
}

#[tokio::test]
async fn a_tick_takes_nothing_more_while_it_writes() {
    let (cluster, fed) = beta_beats_during_the_next_write(TimeDelta::zero()).await;
    assert_eq!(fed.tick().await.unwrap().transitions, 1);
    assert_eq!(cluster.published(&fed), ["alpha:online@3"]);
    assert_eq!(fed.flush_changes().await.unwrap().transitions, 1);
}
