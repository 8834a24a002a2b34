//! The sweeper lease on its own timer: a presence write held up for longer than the
//! lease's time to live (its row locked by another session) does not move the lead.

use super::*;
use federation_testkit::{psql_query, PsqlSession};

/// The longest any statement has waited on a lock so far, in seconds.
fn longest_lock_wait(url: &str) -> f64 {
    psql_query(
        url,
        "SELECT coalesce(max(extract(epoch FROM now() - query_start)), 0) \
         FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
    )
    .unwrap()
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_slower_than_the_lease_does_not_move_the_lead() {
    let db = federation_testkit::postgres_database().unwrap();
    let nats_server = federation_testkit::NatsServer::start().unwrap();
    let cluster = Cluster::start(&db.url, &[nats_server.url()]).await;
    let nats = nats_client(&nats_server.url()).await;
    let leader = cluster.leader().await;
    cluster.replicas[leader].register("slow").await;
    let _beating = Beating::start(nats.clone(), &["slow"]);
    cluster
        .wait_status("slow", "online", Duration::from_secs(10))
        .await;

    // Another session locks the project's row: the leader's next presence write (the
    // heartbeat times it writes every tick) waits on it.
    let mut lock = PsqlSession::open(&db.url).unwrap();
    lock.send("BEGIN; SELECT 1 FROM projects WHERE slug = 'slow' FOR UPDATE;")
        .unwrap();
    let hold = LEASE.as_secs_f64() * 2.5;
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut checks = 0;
    loop {
        let waited = longest_lock_wait(&db.url);
        // Throughout, the leader leads (its lease renewed, confirmed) and nobody else.
        for (i, r) in cluster.replicas.iter().enumerate() {
            let role = r.role().await;
            let want = if i == leader { "leader" } else { "follower" };
            assert_eq!(
                role,
                want,
                "{} after its write waited {waited:.1} s:\n{}",
                r.name,
                r.logs()
            );
        }
        checks += 1;
        if waited >= hold {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no write of the leader waited on the lock for {hold} s (longest {waited:.1} s)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the leader's write waited {hold} s (the lease: {LEASE:?}); roles checked {checks} times"
    );

    // Let go: the write goes through in its term, and the lead stays where it was.
    let ticks_before = cluster.replicas[leader].ticks().await;
    lock.send("COMMIT;").unwrap();
    lock.close().unwrap();
    eventually(Duration::from_secs(10), || async {
        let ticks = cluster.replicas[leader].ticks().await;
        if ticks > ticks_before + 2 {
            Ok(())
        } else {
            Err(format!("the leader has not ticked on ({ticks})"))
        }
    })
    .await;
    assert_eq!(cluster.leader().await, leader);
    for r in cluster.live() {
        assert_eq!(r.history("slow").await, ["offline->online"], "{}", r.name);
        assert_eq!(r.status_of("slow").await, "online", "{}", r.name);
    }
}
