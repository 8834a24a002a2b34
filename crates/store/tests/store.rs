//! Store behaviour outside the repository contract: connecting, migrating, failing.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use federation_domain::{
    PresenceRecord, ProjectRepository, RegistrationInput, RepositoryError, Slug, Status,
};
use federation_store::{DatabaseUrl, Store, StoreError, StoreOptions};

#[expect(dead_code, reason = "a test binary uses some of the shared helpers")]
mod common;
use common::fenced_write;
use federation_testkit::{free_port, postgres_database, PostgresCluster};

fn opts(timeout_ms: u64) -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_millis(timeout_ms),
        pool_timeout: Duration::from_millis(timeout_ms),
        ..StoreOptions::default()
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

async fn migrate_twice(store: &Store) {
    let pending = store.pending_migrations().await.unwrap();
    assert!(
        !pending.is_empty(),
        "a fresh database has migrations pending"
    );
    let applied = store.run_migrations().await.unwrap();
    assert_eq!(applied, pending);
    assert!(store.pending_migrations().await.unwrap().is_empty());
    assert!(
        store.run_migrations().await.unwrap().is_empty(),
        "second run applies nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_creates_the_file_and_its_folders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/federation.db");
    let url = DatabaseUrl::parse(path.to_str().unwrap()).unwrap();
    let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
    assert!(path.is_file());
    assert_eq!(store.backend(), "sqlite");
    migrate_twice(&store).await;
    // Reopening sees the migrated schema.
    drop(store);
    let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_connections_use_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fed.db");
    let store = Store::connect(&DatabaseUrl::Sqlite(path.clone()), StoreOptions::default())
        .await
        .unwrap();
    store.run_migrations().await.unwrap();
    store.upsert(&reg("x")).await.unwrap();
    // WAL leaves its side file next to the database.
    assert!(dir.path().join("fed.db-wal").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_migrates_an_empty_database_once() {
    let db = tokio::task::spawn_blocking(postgres_database)
        .await
        .unwrap()
        .unwrap();
    let url = DatabaseUrl::parse(&db.url.replace("postgres://", "postgresql+asyncpg://")).unwrap();
    let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    migrate_twice(&store).await;
}

/// The harness runs on the blocking pool, so a current-thread runtime is fine too.
#[tokio::test(flavor = "current_thread")]
async fn migrations_run_on_a_current_thread_runtime() {
    let db = postgres_database().unwrap();
    let store = Store::connect(
        &DatabaseUrl::parse(&db.url).unwrap(),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    migrate_twice(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(
        &DatabaseUrl::Sqlite(dir.path().join("x.db")),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    migrate_twice(&store).await;
    store.upsert(&reg("ct")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_is_unavailable() {
    let url = DatabaseUrl::parse(&format!("postgres://u:pw@127.0.0.1:{}/x", free_port())).unwrap();
    let started = Instant::now();
    let err = Store::connect(&url, opts(3000)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused fails fast"
    );
    assert!(err.is_unavailable(), "{err}");
    assert!(!err.to_string().contains("pw"), "{err}");
    let port_err: RepositoryError = err.into();
    assert!(matches!(port_err, RepositoryError::Unavailable(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_urls_are_rejected_before_connecting() {
    let err = DatabaseUrl::parse("mysql://root@localhost/db").unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl(_)));
    let msg = err.to_string();
    for form in ["postgres://", "sqlite://PATH", "postgresql+asyncpg://"] {
        assert!(msg.contains(form), "{msg}");
    }
}

/// A restarted PostgreSQL: calls fail as unavailable while it is down, and the pool
/// recovers by itself once it is back.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_outage_is_unavailable_then_recovers() {
    let cluster = tokio::task::spawn_blocking(PostgresCluster::start)
        .await
        .unwrap()
        .unwrap();
    let url = DatabaseUrl::parse(&cluster.create_database("outage").unwrap()).unwrap();
    let store = Store::connect(&url, opts(2000)).await.unwrap();
    store.run_migrations().await.unwrap();
    store.upsert(&reg("survivor")).await.unwrap();

    cluster.stop().unwrap();
    let slug = Slug::parse("survivor").unwrap();
    for _ in 0..3 {
        match store.get(&slug).await {
            Err(RepositoryError::Unavailable(_)) => {}
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
    let update = PresenceRecord {
        slug: slug.clone(),
        status: Status::Online,
        status_reason: None,
        version: None,
        last_heartbeat_at: Some(Utc.timestamp_opt(1_750_000_000, 0).unwrap()),
    };
    assert!(matches!(
        fenced_write(&store, std::slice::from_ref(&update), &[]).await,
        Err(RepositoryError::Unavailable(_))
    ));

    cluster.start_again().unwrap();
    fenced_write(&store, &[update], &[]).await.unwrap();
    let p = store.get(&slug).await.unwrap().unwrap();
    assert_eq!(p.status, Status::Online);
    drop(store);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}

/// A query stuck behind a lock (a lock storm, a long migration elsewhere) is ended by
/// the server's statement_timeout set on every pooled connection, and reported as
/// unavailable; the pool goes on serving once the lock is gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_statement_stuck_behind_a_lock_ends_at_the_statement_timeout() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let db = tokio::task::spawn_blocking(postgres_database)
        .await
        .unwrap()
        .unwrap();
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let options = StoreOptions {
        max_connections: 2,
        statement_timeout: Duration::from_millis(800),
        ..StoreOptions::default()
    };
    let store = Store::connect(&url, options).await.unwrap();
    store.run_migrations().await.unwrap();
    store.upsert(&reg("locked")).await.unwrap();

    let mut holder = AsyncPgConnection::establish(&db.url).await.unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let slug = Slug::parse("locked").unwrap();
    let started = Instant::now();
    let result = store.get(&slug).await;
    let took = started.elapsed();
    match result {
        Err(RepositoryError::Unavailable(why)) => {
            assert!(why.contains("statement timeout"), "{why}")
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(4),
        "{took:?}"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert!(store.get(&slug).await.unwrap().is_some());
}

/// A server frozen while a query waits (SIGSTOP: it cannot even run its own statement
/// timeout) is given up on by the store's own deadline, pool + statement timeout, and the
/// pool serves again once the server is back.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_frozen_mid_query_is_given_up_on_at_the_deadline() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let cluster = tokio::task::spawn_blocking(PostgresCluster::start)
        .await
        .unwrap()
        .unwrap();
    let raw = cluster.create_database("frozen_mid_query").unwrap();
    let url = DatabaseUrl::parse(&raw).unwrap();
    let options = StoreOptions {
        max_connections: 2,
        connect_timeout: Duration::from_millis(500),
        pool_timeout: Duration::from_millis(500),
        statement_timeout: Duration::from_millis(1500),
    };
    let store = Store::connect(&url, options).await.unwrap();
    store.run_migrations().await.unwrap();
    store.upsert(&reg("stuck")).await.unwrap();
    // The query waits on a lock, then the server freezes under it.
    let mut holder = AsyncPgConnection::establish(&raw).await.unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let slug = Slug::parse("stuck").unwrap();
    let started = Instant::now();
    let query = {
        let (store, slug) = (store.clone(), slug.clone());
        tokio::spawn(async move { store.get(&slug).await })
    };
    // Wait (with a deadline) until the store's query waits on the lock.
    #[derive(diesel::QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut watcher = AsyncPgConnection::establish(&raw).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: Waiting = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
            ),
            &mut watcher,
        )
        .await
        .unwrap();
        if waiting.n > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the query never waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.freeze().unwrap();
        cluster
    })
    .await
    .unwrap();
    let result = query.await.unwrap();
    let took = started.elapsed();
    match result {
        Err(RepositoryError::Unavailable(why)) => assert!(why.contains("no answer"), "{why}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
    // The deadline is 2 s (0.5 + 1.5); the server's own 1.5 s could not fire.
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.thaw().unwrap();
        cluster
    })
    .await
    .unwrap();
    holder.batch_execute("ROLLBACK").await.unwrap();
    drop(watcher);
    assert!(store.get(&slug).await.unwrap().is_some());
    drop(store);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}

/// A caller that gives up half-way (a dropped request) must not leave a SQLite
/// connection mid-transaction in the pool.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_survives_cancelled_calls() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&DatabaseUrl::Sqlite(dir.path().join("c.db")), opts(5000))
        .await
        .unwrap();
    store.run_migrations().await.unwrap();
    let regs: Vec<_> = (0..300).map(|i| reg(&format!("c{i}"))).collect();
    for _ in 0..5 {
        let _ = tokio::time::timeout(Duration::from_millis(1), store.upsert_all(&regs)).await;
    }
    let again = store.upsert_all(&regs).await.unwrap();
    assert_eq!(again.len(), 300);
    let page = store.list(&Default::default()).await.unwrap();
    assert_eq!(page.total, 300);
}

/// The benchmark's batch size: 100,000 presence updates and 10,000 transitions in one
/// `write_presence`. Ignored by default (slow in debug builds); run with `--ignored`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn write_presence_100k() {
    let db = tokio::task::spawn_blocking(postgres_database)
        .await
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for url in [
        DatabaseUrl::parse(&db.url).unwrap(),
        DatabaseUrl::Sqlite(dir.path().join("bench.db")),
    ] {
        let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
        store.run_migrations().await.unwrap();
        let regs: Vec<_> = (0..100_000).map(|i| reg(&format!("p{i:06}"))).collect();
        let started = Instant::now();
        for chunk in regs.chunks(10_000) {
            store.upsert_all(chunk).await.unwrap();
        }
        let registered = started.elapsed();
        let base = Utc.timestamp_opt(1_750_000_000, 0).unwrap();
        let updates: Vec<_> = regs
            .iter()
            .enumerate()
            .map(|(i, r)| PresenceRecord {
                slug: r.slug.clone(),
                status: Status::Online,
                status_reason: None,
                version: None,
                last_heartbeat_at: Some(base + chrono::TimeDelta::milliseconds(i as i64)),
            })
            .collect();
        let transitions: Vec<_> = regs[..10_000]
            .iter()
            .map(|r| federation_domain::Transition {
                slug: r.slug.clone(),
                from: Status::Offline,
                to: Status::Online,
                reason: Some("heartbeat".into()),
                at: base,
                last_heartbeat_at: Some(base),
            })
            .collect();
        let started = Instant::now();
        fenced_write(&store, &updates, &transitions).await.unwrap();
        let first = started.elapsed();
        let started = Instant::now();
        fenced_write(&store, &updates, &[]).await.unwrap();
        let unchanged = started.elapsed();
        let started = Instant::now();
        let snap = store.presence_snapshot().await.unwrap();
        let snapshot = started.elapsed();
        assert_eq!(snap.len(), 100_000);
        eprintln!(
            "{}: register 100k {registered:?}; write 100k+10k transitions {first:?}; \
             rewrite unchanged {unchanged:?}; snapshot {snapshot:?}",
            store.backend()
        );
    }
}

/// TLS to PostgreSQL, against one cluster that serves TLS only (`hostssl`), with a
/// certificate for `localhost` signed by a CA made in the test.
mod tls {
    use super::*;
    use federation_testkit::{psql_query, shared_tls_cluster, TestPki};

    /// A fresh database on the TLS cluster; returns its URL through `host` (query added
    /// by the caller) and the cluster's certificates.
    fn database(host: &str) -> (String, &'static TestPki) {
        let cluster = shared_tls_cluster().unwrap();
        let name = format!(
            "tls_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        cluster.create_database(&name).unwrap();
        let url = format!(
            "postgres://postgres:pw-s3cret@{host}:{}/{name}",
            cluster.port()
        );
        (url, cluster.pki().unwrap())
    }

    async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect(&DatabaseUrl::parse(url).unwrap(), opts(10_000)).await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn verify_full_with_the_right_ca_connects_migrates_and_listens() {
        let (url, pki) = database("localhost");
        let url = format!(
            "{url}?sslmode=verify-full&sslrootcert={}",
            pki.ca_file.display()
        );
        let store = connect(&url).await.unwrap();
        migrate_twice(&store).await;
        store.upsert(&reg("over-tls")).await.unwrap();
        let slug = Slug::parse("over-tls").unwrap();
        assert_eq!(store.get(&slug).await.unwrap().unwrap().slug, slug);
        // The listener's own connection is encrypted too, and still hears NOTIFY.
        let mut changes = store.listen().await.unwrap().unwrap();
        let plain = url.split('?').next().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            psql_query(
                &format!("{plain}?sslmode=require"),
                &format!("NOTIFY {}", federation_store::CHANGES_CHANNEL),
            )
            .unwrap();
            match tokio::time::timeout(Duration::from_millis(500), changes.next()).await {
                Ok(r) => {
                    r.unwrap();
                    break;
                }
                Err(_) => assert!(Instant::now() < deadline, "no notification over TLS"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn verify_full_refuses_a_wrong_ca() {
        let (url, pki) = database("localhost");
        let url = format!(
            "{url}?sslmode=verify-full&sslrootcert={}",
            pki.other_ca_file.display()
        );
        let err = connect(&url).await.unwrap_err().to_string();
        assert!(err.contains("not trusted"), "{err}");
        assert!(
            err.contains(&pki.other_ca_file.display().to_string()),
            "{err}"
        );
        assert!(!err.contains("pw-s3cret"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn verify_full_refuses_a_wrong_host_name_that_verify_ca_accepts() {
        // The certificate names `localhost` only; 127.0.0.1 is the same server.
        let (url, pki) = database("127.0.0.1");
        let ca = pki.ca_file.display();
        let err = connect(&format!("{url}?sslmode=verify-full&sslrootcert={ca}"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("name mismatch"), "{err}");
        assert!(err.contains("127.0.0.1"), "{err}");
        assert!(!err.contains("pw-s3cret"), "{err}");
        let store = connect(&format!("{url}?sslmode=verify-ca&sslrootcert={ca}"))
            .await
            .unwrap();
        store.run_migrations().await.unwrap();
        // libpq's rule: require with an explicit CA checks the chain like verify-ca.
        connect(&format!("{url}?sslmode=require&sslrootcert={ca}"))
            .await
            .unwrap();
        let err = connect(&format!(
            "{url}?sslmode=require&sslrootcert={}",
            pki.other_ca_file.display()
        ))
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("not trusted"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn require_without_a_ca_encrypts_and_disable_is_refused_by_a_tls_only_server() {
        let (url, _) = database("127.0.0.1");
        let store = connect(&format!("{url}?sslmode=require")).await.unwrap();
        store.run_migrations().await.unwrap();
        // The default, prefer, encrypts when the server offers it.
        connect(&url).await.unwrap();
        let err = connect(&format!("{url}?sslmode=disable"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no encryption") || err.contains("pg_hba.conf"),
            "{err}"
        );
        assert!(!err.contains("pw-s3cret"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_or_empty_ca_file_is_named_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        for (file, says) in [
            (&missing, "reading sslrootcert"),
            (&empty, "holds no PEM certificate"),
        ] {
            let url = format!(
                "postgres://u:pw-s3cret@127.0.0.1:{}/x?sslmode=verify-full&sslrootcert={}",
                free_port(),
                file.display()
            );
            let err = connect(&url).await.unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
            assert!(err.contains(&file.display().to_string()), "{err}");
            assert!(!err.contains("pw-s3cret"), "{err}");
        }
    }
}
