//! A failover during a database outage keeps every step: PostgreSQL stops, a project's
//! silence makes it degraded then offline (nobody can write it), the leader is killed,
//! PostgreSQL comes back: the new leader writes the dead leader's chain, every step in
//! order with its real time, from what it kept as a follower.

use super::*;

/// `federation_unconfirmed_transitions` of a replica (0 when it does not answer).
async fn unconfirmed(r: &Replica) -> u64 {
    match r.http.get(r.url("/metrics")).send().await {
        Ok(resp) => crate::helpers::metric_value(
            &resp.text().await.unwrap_or_default(),
            "federation_unconfirmed_transitions",
        )
        .unwrap_or(0.0) as u64,
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_during_a_database_outage_writes_every_step_with_its_real_time() {
    let pg = federation_testkit::PostgresCluster::start().unwrap();
    let url = pg.create_database("outage").unwrap();
    let nats_server = federation_testkit::NatsServer::start().unwrap();
    let mut cluster = Cluster::start(&url, &[nats_server.url()]).await;
    let nats = nats_client(&nats_server.url()).await;
    let leader = cluster.leader().await;
    for slug in ["quiet", "steady"] {
        cluster.replicas[leader].register(slug).await;
    }
    let _steady = Beating::start(nats.clone(), &["steady"]);
    let quiet = Beating::start(nats.clone(), &["quiet"]);
    for slug in ["quiet", "steady"] {
        cluster
            .wait_status(slug, "online", Duration::from_secs(5))
            .await;
    }

    // The database stops, then "quiet" falls silent: degraded, then offline, on every
    // replica's table, which nobody can write. The followers keep the two steps.
    pg.stop().unwrap();
    let stopped_at = chrono::Utc::now();
    drop(quiet);
    eventually(Duration::from_secs(20), || async {
        let mut kept = Vec::new();
        for (i, r) in cluster.replicas.iter().enumerate() {
            if i != leader {
                kept.push(unconfirmed(r).await);
            }
        }
        match kept.iter().all(|n| *n >= 2) {
            true => Ok(()),
            false => Err(format!("followers keep {kept:?} transitions")),
        }
    })
    .await;

    // The leader dies; the database comes back; another replica takes over.
    cluster.replicas[leader].kill();
    let restarted_at = chrono::Utc::now();
    pg.start_again().unwrap();
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, leader);
    let r = &cluster.replicas[new_leader];
    let history = eventually(Duration::from_secs(20), || async {
        let (code, v) = r
            .get("/api/fed/projects/quiet/history?limit=10")
            .await
            .ok_or("no answer")?;
        let mut steps: Vec<Value> = v.as_array().cloned().unwrap_or_default();
        steps.reverse();
        if code == 200 && steps.len() == 3 {
            Ok(steps)
        } else {
            Err(format!("{code}: {v}"))
        }
    })
    .await;
    let step = |t: &Value| {
        format!(
            "{}->{}",
            t["from"].as_str().unwrap(),
            t["to"].as_str().unwrap()
        )
    };
    let at = |t: &Value| {
        t["at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert_eq!(
        history.iter().map(step).collect::<Vec<_>>(),
        ["offline->online", "online->degraded", "degraded->offline"],
        "every step, in order"
    );
    // Their real times: while the database was down, a second apart (degraded 2 s,
    // offline 3 s after the last heartbeat), not the new leader's moment.
    let (degraded, offline) = (at(&history[1]), at(&history[2]));
    assert!(
        stopped_at < degraded && offline < restarted_at,
        "degraded at {degraded}, offline at {offline}; database down {stopped_at} .. {restarted_at}"
    );
    let gap = (offline - degraded).num_milliseconds();
    assert!((600..=1400).contains(&gap), "{gap} ms between the steps");
    for r in cluster.live() {
        assert_eq!(
            r.history("quiet").await,
            ["offline->online", "online->degraded", "degraded->offline"],
            "{}",
            r.name
        );
        assert_eq!(r.history("steady").await, ["offline->online"], "{}", r.name);
    }
}
