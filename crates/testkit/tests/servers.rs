//! The test kit's own tests: servers start, answer, stop, restart and clean up.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::net::TcpStream;
use std::process::Command;

use federation_testkit::{postgres_database, shared_nats_url, NatsServer, PostgresCluster};

fn psql_scalar(url: &str, sql: &str) -> String {
    let psql = ["/usr/lib/postgresql/15/bin/psql", "psql"]
        .into_iter()
        .find(|p| !p.starts_with('/') || std::path::Path::new(p).is_file())
        .unwrap();
    let out = Command::new(psql)
        .args(["-X", "-At", "-d", url, "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn accepts(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn each_call_gets_its_own_empty_database() {
    let a = postgres_database().unwrap();
    let b = postgres_database().unwrap();
    assert_ne!(a.url, b.url);
    assert!(a.url.starts_with("postgres://"));
    psql_scalar(&a.url, "CREATE TABLE only_in_a (x int)");
    assert_eq!(
        psql_scalar(
            &b.url,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"
        ),
        "0"
    );
    assert_eq!(psql_scalar(&a.url, "SELECT current_database()"), a.name());
    // Durability is off: this cluster is for tests only.
    assert_eq!(psql_scalar(&a.url, "SHOW fsync"), "off");
}

#[test]
fn an_owned_cluster_stops_restarts_and_cleans_up() {
    let cluster = PostgresCluster::start().unwrap();
    let url = cluster.create_database("faults").unwrap();
    psql_scalar(
        &url,
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)",
    );
    let port = cluster.port();
    cluster.stop().unwrap();
    assert!(!accepts(port), "stopped cluster still accepts");
    cluster.start_again().unwrap();
    assert_eq!(cluster.port(), port);
    assert_eq!(psql_scalar(&url, "SELECT x FROM kept"), "42");
    assert!(cluster.create_database("bad name; --").is_err());
    drop(cluster);
    assert!(!accepts(port), "dropped cluster still accepts");
}

#[test]
fn nats_server_stops_and_restarts_on_the_same_port() {
    let mut nats = NatsServer::start().unwrap();
    let port = nats.port();
    assert_eq!(nats.url(), format!("nats://127.0.0.1:{port}"));
    assert!(accepts(port));
    nats.stop().unwrap();
    assert!(!accepts(port));
    nats.restart().unwrap();
    assert_eq!(nats.port(), port);
    assert!(accepts(port));
    drop(nats);
    assert!(!accepts(port));
}

#[test]
fn nats_server_takes_extra_config() {
    let nats = NatsServer::start_with_config("authorization { token: \"s3cret\" }").unwrap();
    // The INFO line announces that auth is required.
    let mut s = TcpStream::connect(("127.0.0.1", nats.port())).unwrap();
    let mut buf = [0u8; 1024];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap();
    let info = String::from_utf8_lossy(&buf[..n]);
    assert!(info.contains("\"auth_required\":true"), "{info}");
}

#[test]
fn shared_nats_is_started_once() {
    let a = shared_nats_url().unwrap();
    let b = shared_nats_url().unwrap();
    assert_eq!(a, b);
    let port: u16 = a.rsplit(':').next().unwrap().parse().unwrap();
    assert!(accepts(port));
}
