//! The test kit's primary and streaming standby: replication, a crash of the primary, a
//! promotion, and the clean-up.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use federation_testkit::{psql_query, ReplicatedPostgres, Replication};

fn accepts(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_synchronous_standby_has_every_commit_and_takes_over_after_a_crash() {
    let pair = ReplicatedPostgres::start(Replication::Synchronous).unwrap();
    let (p, s) = (pair.primary().port(), pair.standby().port());
    let url = pair.create_database("failover").unwrap();
    assert_eq!(
        url,
        format!("postgres://postgres@127.0.0.1:{p},127.0.0.1:{s}/failover?target_session_attrs=read-write")
    );
    let primary = pair.primary().url("failover");
    let standby = pair.standby().url("failover");
    assert_eq!(
        psql_query(&primary, "SHOW synchronous_commit").unwrap(),
        "on"
    );
    assert_eq!(
        psql_query(&standby, "SELECT pg_is_in_recovery()").unwrap(),
        "t"
    );
    // libpq, like the service's driver, picks the writable one of the two hosts.
    assert_eq!(
        psql_query(&url, "SELECT inet_server_port()").unwrap(),
        p.to_string()
    );
    psql_query(
        &primary,
        "CREATE TABLE acked (n int); INSERT INTO acked SELECT generate_series(1, 100)",
    )
    .unwrap();

    // A crash of the primary right after the commits were acknowledged loses none.
    pair.primary().stop_immediately().unwrap();
    assert!(!accepts(p));
    let took = pair.promote().unwrap();
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(
        psql_query(&standby, "SELECT count(*) FROM acked").unwrap(),
        "100"
    );
    // The promoted standby takes writes without waiting for a standby of its own.
    let started = Instant::now();
    psql_query(&url, "INSERT INTO acked VALUES (101)").unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        psql_query(&url, "SELECT inet_server_port()").unwrap(),
        s.to_string()
    );
    drop(pair);
    assert!(!accepts(s), "the dropped standby still accepts");
}

#[test]
fn an_asynchronous_standby_streams() {
    let pair = ReplicatedPostgres::start(Replication::Asynchronous).unwrap();
    assert_eq!(pair.mode(), Replication::Asynchronous);
    let url = pair.create_database("streams").unwrap();
    psql_query(&url, "CREATE TABLE t (n int); INSERT INTO t VALUES (7)").unwrap();
    let standby = pair.standby().url("streams");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if psql_query(&standby, "SELECT n FROM t").is_ok_and(|n| n == "7") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the row never reached the standby"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
