//! Flapping judged by the leader, recorded in the log, followed by every replica.

use super::*;

fn degraded(s: &str) -> Vec<u8> {
    format!(r#"{{"project_slug":"{s}","status":"degraded","reasons":["slow"]}}"#).into_bytes()
}

/// `alpha` alternates online and degraded, one change every 10 s, `n` changes from
/// offline (its first beat).
async fn flap(cluster: &Cluster, fed: &Federation, n: usize) {
    for i in 0..n {
        let body = if i % 2 == 0 {
            beat("alpha")
        } else {
            degraded("alpha")
        };
        fed.record_heartbeat("alpha", &body).unwrap();
        fed.tick().await.unwrap();
        cluster.clock.advance(secs(10));
    }
}

#[tokio::test]
async fn the_leader_records_flapping_and_its_end_and_every_replica_sees_them() {
    let cluster = Cluster::new(&["alpha", "beta"]).await;
    let fed = cluster.leader().await;
    let follower = cluster
        .replica("b", Presence::new(StatusPolicy::default()))
        .await;
    // 4 changes within 10 minutes: not yet (5 by default).
    flap(&cluster, &fed, 4).await;
    assert_eq!(fed.get("alpha").unwrap().0.flapping_since, None);
    flap(&cluster, &fed, 1).await;
    let (p, _) = fed.get("alpha").unwrap();
    assert_eq!(
        p.flapping_since,
        Some(t0() + secs(40)),
        "since the 5th change"
    );
    assert_eq!(p.status, Status::Online, "flapping is no status");
    assert!(fed.is_flapping(&slug("alpha")));
    let published = cluster.published(&fed);
    // Revisions 1-2 are the registrations, 3-6 the first four transitions; the start of
    // flapping goes in before the transition that caused it.
    assert_eq!(
        published[4..],
        ["alpha:flapping@7".to_owned(), "alpha:online@8".to_owned()]
    );
    follower.follow().await.unwrap();
    assert_eq!(
        follower.get("alpha").unwrap().0.flapping_since,
        Some(t0() + secs(40))
    );
    assert!(follower.is_flapping(&slug("alpha")));
    assert_eq!(follower.get("beta").unwrap().0.flapping_since, None);

    // Steady heartbeats, no change: stable a window (10 minutes) after the last change.
    let mut stable_at = None;
    for _ in 0..70 {
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        fed.tick().await.unwrap();
        if stable_at.is_none() && fed.get("alpha").unwrap().0.flapping_since.is_none() {
            stable_at = Some(cluster.clock.now());
        }
        cluster.clock.advance(secs(10));
    }
    let stable_at = stable_at.expect("stable again");
    assert!(stable_at >= t0() + secs(40 + 600), "{stable_at}");
    assert!(stable_at < t0() + secs(40 + 600 + 10), "{stable_at}");
    let kinds: Vec<&str> = match fed.changes_since(6, 100).await.unwrap() {
        ChangesSince::Changes(c) => c.iter().map(|c| c.kind.as_str()).collect(),
        ChangesSince::Trimmed => panic!("trimmed"),
    };
    assert_eq!(kinds, ["flapping", "transition", "stable"]);
    assert_eq!(
        cluster.published(&fed).last().map(String::as_str),
        Some("alpha:stable@9")
    );
    follower.follow().await.unwrap();
    assert_eq!(follower.get("alpha").unwrap().0.flapping_since, None);
}

#[tokio::test]
async fn a_promoted_follower_ends_the_flapping_its_predecessor_recorded() {
    let cluster = Cluster::new(&["alpha"]).await;
    let first = cluster.leader().await;
    flap(&cluster, &first, 5).await;
    let second = cluster
        .replica("b", Presence::new(StatusPolicy::default()))
        .await;
    assert!(second.is_flapping(&slug("alpha")), "from the snapshot");
    first.resign().await;
    assert!(matches!(second.campaign().await.unwrap(), Role::Leader(_)));
    // Loaded after the changes: held a full window from its start, then stable.
    let loaded_at = cluster.clock.now();
    for _ in 0..62 {
        second.record_heartbeat("alpha", &beat("alpha")).unwrap();
        second.tick().await.unwrap();
        cluster.clock.advance(secs(10));
    }
    let (p, _) = second.get("alpha").unwrap();
    assert_eq!(
        p.flapping_since,
        None,
        "stable by {}",
        loaded_at + secs(600)
    );
    assert_eq!(
        cluster.store.stored("alpha").unwrap().flapping_since,
        None,
        "recorded, fenced by the new term"
    );
}
