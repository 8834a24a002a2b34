//! The store on a URL naming a primary and a standby
//! (`target_session_attrs=read-write`): a crash of the primary and a promotion, and a
//! primary that turns read-only under the pool.

#![expect(
    clippy::unwrap_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::time::{Duration, Instant};

use federation_domain::{ProjectRepository, RegistrationInput, RepositoryError, Slug};
use federation_store::{DatabaseUrl, Store, StoreOptions};
use federation_testkit::{psql_query, PostgresCluster, ReplicatedPostgres, Replication};

fn opts() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(5),
        pool_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
    }
}

fn reg(s: &str) -> federation_domain::Registration {
    RegistrationInput {
        slug: Some(s.into()),
        name: Some(s.into()),
        hub_url: Some("http://localhost:8000".into()),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_and_the_listener_move_to_the_promoted_standby() {
    let pair = blocking(|| ReplicatedPostgres::start(Replication::Synchronous).unwrap()).await;
    let url = pair.create_database("store_failover").unwrap();
    let store = Store::connect(&DatabaseUrl::parse(&url).unwrap(), opts())
        .await
        .unwrap();
    store.run_migrations().await.unwrap();
    let mut listener = store
        .listen()
        .await
        .unwrap()
        .expect("a PostgreSQL listener");
    for i in 0..20 {
        store.upsert(&reg(&format!("before-{i}"))).await.unwrap();
    }

    // The primary crashes; until the standby is promoted nothing takes writes (the
    // standby refuses read-write sessions), and the store says unavailable.
    pair.primary().stop_immediately().unwrap();
    // The listener hears what was written before, then sees its server gone.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), listener.next()).await {
            Ok(Ok(_)) => continue,
            Ok(Err(_)) => break,
            Err(_) => panic!("the listener did not see its server go"),
        }
    }
    match store.upsert(&reg("during")).await {
        Err(RepositoryError::Unavailable(_)) => {}
        other => panic!("a write with no primary: {other:?}"),
    }
    let promoted = Instant::now();
    pair.promote().unwrap();
    let mut tries = 0;
    loop {
        tries += 1;
        match store.upsert(&reg("after")).await {
            Ok(_) => break,
            Err(e) => assert!(
                promoted.elapsed() < Duration::from_secs(10),
                "no write within 10 s of the promotion ({tries} tries): {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "the store wrote again {:?} after the promotion began",
        promoted.elapsed()
    );
    // Every acknowledged write is on the new primary.
    for i in 0..20 {
        let slug = Slug::parse(&format!("before-{i}")).unwrap();
        assert!(store.get(&slug).await.unwrap().is_some(), "{slug} lost");
    }
    let standby = pair.standby().url("store_failover");
    assert_eq!(
        psql_query(&standby, "SELECT count(*) FROM projects").unwrap(),
        "21"
    );
    // A new listener reaches the new primary and hears its writes.
    let mut listener = store.listen().await.unwrap().unwrap();
    store.upsert(&reg("heard")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .expect("a notification within 5 s")
        .unwrap();
    // Migrations open their own connection: it goes to the new primary too.
    assert!(store.pending_migrations().await.unwrap().is_empty());
}

/// A primary fenced read-only (`default_transaction_read_only`, as an operator or a
/// failover tool does before it promotes another): the pool's idle connections to it
/// are dropped, not reused, and the writes go to the host that takes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_a_server_turned_read_only_are_dropped_not_reused() {
    let (a, b) = blocking(|| {
        (
            PostgresCluster::start().unwrap(),
            PostgresCluster::start().unwrap(),
        )
    })
    .await;
    let (a_url, b_url) = (
        a.create_database("fenced").unwrap(),
        b.create_database("fenced").unwrap(),
    );
    // Both hold the schema (as a promoted standby would).
    for url in [&a_url, &b_url] {
        let store = Store::connect(&DatabaseUrl::parse(url).unwrap(), opts())
            .await
            .unwrap();
        store.run_migrations().await.unwrap();
    }
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/fenced?target_session_attrs=read-write",
        a.port(),
        b.port()
    );
    let store = Store::connect(&DatabaseUrl::parse(&url).unwrap(), opts())
        .await
        .unwrap();
    // Fill the pool with connections to the first host.
    let writes: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.upsert(&reg(&format!("on-a-{i}"))).await })
        })
        .collect();
    for w in writes {
        w.await.unwrap().unwrap();
    }
    let count = |url: &str| psql_query(url, "SELECT count(*) FROM projects").unwrap();
    assert_eq!((count(&a_url), count(&b_url)), ("8".into(), "0".into()));

    psql_query(
        &a.url("postgres"),
        "ALTER SYSTEM SET default_transaction_read_only = on",
    )
    .unwrap();
    psql_query(&a.url("postgres"), "SELECT pg_reload_conf()").unwrap();
    // The reload reaches every session of the first host.
    let deadline = Instant::now() + Duration::from_secs(10);
    while psql_query(&a_url, "SHOW default_transaction_read_only").unwrap() != "on" {
        assert!(Instant::now() < deadline, "the reload did not take");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..8 {
        store
            .upsert(&reg(&format!("on-b-{i}")))
            .await
            .unwrap_or_else(|e| panic!("write {i} after the fence: {e}"));
    }
    assert_eq!((count(&a_url), count(&b_url)), ("8".into(), "8".into()));
    // The fenced host's sessions are gone (closed by the client as they were dropped).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = psql_query(
            &a.url("postgres"),
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'fenced' AND backend_type = 'client backend'",
        )
        .unwrap();
        if left == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pool still holds {left} connections to the fenced host"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// TLS with several hosts: each host is checked by its own name (`verify-full`), and a
/// host that refuses the connection is passed over for the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_hosts_over_verified_tls() {
    let cluster = federation_testkit::shared_tls_cluster().unwrap();
    cluster.create_database("tls_hosts").unwrap();
    let pki = cluster.pki().unwrap();
    let gone = federation_testkit::free_port();
    let url = format!(
        "postgres://postgres@localhost:{gone},localhost:{}/tls_hosts?target_session_attrs=read-write&sslmode=verify-full&sslrootcert={}",
        cluster.port(),
        pki.ca_file.display()
    );
    let store = Store::connect(&DatabaseUrl::parse(&url).unwrap(), opts())
        .await
        .unwrap();
    store.run_migrations().await.unwrap();
    store.upsert(&reg("over-tls")).await.unwrap();
    assert!(store.listen().await.unwrap().is_some());
    // The same hosts by an address the certificate does not name are refused, and the
    // error names each host with its reason.
    let url = url.replace("localhost:", "127.0.0.1:");
    let err = Store::connect(&DatabaseUrl::parse(&url).unwrap(), opts())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("127.0.0.1:{gone}")) && err.contains("name mismatch"),
        "{err}"
    );
}
