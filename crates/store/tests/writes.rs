//! The write path on PostgreSQL: a write read back from what it committed is what the
//! log holds; tags are compared, not rewritten; a notification names its revision.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::time::{Duration, Instant};

use chrono::{SubsecRound, TimeDelta, Utc};
use federation_domain::{
    ChangeLog, ChangesSince, Maintenance, MaintenanceChange, ProjectName, ProjectPatch,
    ProjectRepository, Registration, RegistrationInput, Slug, Tags,
};
use federation_store::{DatabaseUrl, Store, StoreOptions};
use federation_testkit::{postgres_database, psql_query, TestDatabase};

fn opts() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(10),
        pool_timeout: Duration::from_secs(10),
        ..StoreOptions::default()
    }
}

/// Two stores on one migrated database: the writer, and a reader that wrote nothing
/// (so it reads the log for everything).
async fn writer_and_reader() -> (Store, Store, TestDatabase) {
    let db = tokio::task::spawn_blocking(postgres_database)
        .await
        .unwrap()
        .expect("test PostgreSQL");
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let writer = Store::connect(&url, opts()).await.unwrap();
    writer.run_migrations().await.unwrap();
    let reader = Store::connect(&url, opts()).await.unwrap();
    (writer, reader, db)
}

fn reg(slug: &str, tags: &[&str]) -> Registration {
    RegistrationInput {
        slug: Some(slug.into()),
        name: Some(slug.into()),
        hub_url: Some("http://localhost:8000".into()),
        tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

fn slug(s: &str) -> Slug {
    Slug::parse(s).unwrap()
}

async fn head(store: &Store) -> u64 {
    store.snapshot().await.unwrap().revision
}

async fn since(store: &Store, revision: u64) -> ChangesSince {
    store.changes_since(revision, 1000).await.unwrap()
}

/// Each tag's row version (`xmin`): the same after a write that did not rewrite it.
fn tag_rows(db: &TestDatabase, slug: &str) -> String {
    psql_query(
        &db.url,
        &format!(
            "SELECT string_agg(t.tag || '@' || t.position || '#' || t.xmin::text, ',' \
             ORDER BY t.tag) FROM project_tags t JOIN projects p ON p.id = t.project_id \
             WHERE p.slug = '{slug}'"
        ),
    )
    .unwrap()
}

fn tags_of(db: &TestDatabase, slug: &str) -> Vec<String> {
    tag_rows(db, slug)
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.split('#').next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_read_back_is_what_the_log_holds() {
    let (writer, reader, db) = writer_and_reader().await;
    let mut at = head(&writer).await;
    // After each write, the writer's read (its own commit) equals the reader's (the
    // log, with the projects as they are now: just after that write).
    let mut check = async |what: &str| {
        let mine = since(&writer, at).await;
        let theirs = since(&reader, at).await;
        assert_eq!(mine, theirs, "{what}");
        let ChangesSince::Changes(changes) = mine else {
            panic!("{what}: trimmed")
        };
        assert!(!changes.is_empty(), "{what}: no change");
        at = changes.last().unwrap().revision;
    };
    writer.upsert(&reg("alpha", &["a", "b"])).await.unwrap();
    check("registered").await;
    writer.upsert(&reg("alpha", &["b", "c"])).await.unwrap();
    check("registered again, other tags").await;
    writer
        .upsert_all(&[reg("beta", &[]), reg("gamma", &["x"])])
        .await
        .unwrap();
    check("two at once").await;
    let patch = ProjectPatch {
        name: Some(ProjectName::parse("Alpha renamed").unwrap()),
        tags: Some(Tags::parse(&["c", "d"]).unwrap()),
        ..ProjectPatch::default()
    };
    writer
        .update(&slug("alpha"), &patch)
        .await
        .unwrap()
        .unwrap();
    check("patched").await;
    let now = Utc::now().trunc_subsecs(6);
    let window = Maintenance {
        reason: "upgrade".into(),
        since: now,
        until: now + TimeDelta::hours(1),
        by: "tests".into(),
    };
    writer
        .set_maintenance(&slug("beta"), &MaintenanceChange::Start(window))
        .await
        .unwrap()
        .unwrap();
    check("maintenance").await;
    assert!(writer.delete(&slug("gamma"), "deleted").await.unwrap());
    check("deleted").await;
    // What another replica wrote is read from the log by the writer too.
    reader.upsert(&reg("delta", &["r"])).await.unwrap();
    check("another replica's write").await;

    // The read back costs no query: the writer answers even while the log says it was
    // trimmed past that revision (the reader, which reads it, must reload).
    let before = head(&writer).await;
    writer.upsert(&reg("epsilon", &[])).await.unwrap();
    psql_query(
        &db.url,
        "UPDATE change_log_state SET trimmed_through = (SELECT max(revision) FROM change_log)",
    )
    .unwrap();
    assert_eq!(since(&reader, before).await, ChangesSince::Trimmed);
    let ChangesSince::Changes(mine) = since(&writer, before).await else {
        panic!("the writer read the log back")
    };
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].slug, slug("epsilon"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_left_as_they_were_are_not_rewritten() {
    let (writer, _reader, db) = writer_and_reader().await;
    writer
        .upsert(&reg("alpha", &["a", "b", "c"]))
        .await
        .unwrap();
    let first = tag_rows(&db, "alpha");
    assert_eq!(tags_of(&db, "alpha"), ["a@0", "b@1", "c@2"]);

    // The same tags again, by registration and by patch: no tag row is written.
    writer
        .upsert(&reg("alpha", &["a", "b", "c"]))
        .await
        .unwrap();
    assert_eq!(tag_rows(&db, "alpha"), first);
    let same = ProjectPatch {
        tags: Some(Tags::parse(&["a", "b", "c"]).unwrap()),
        ..ProjectPatch::default()
    };
    writer.update(&slug("alpha"), &same).await.unwrap().unwrap();
    assert_eq!(tag_rows(&db, "alpha"), first);

    // Other tags: gone, moved and new ones, in the order given.
    let stored = writer
        .upsert(&reg("alpha", &["c", "a", "d"]))
        .await
        .unwrap();
    assert_eq!(tags_of(&db, "alpha"), ["a@1", "c@0", "d@2"]);
    let names = |p: &federation_domain::Project| {
        p.tags
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&stored.project), ["c", "a", "d"]);
    let read = writer.get(&slug("alpha")).await.unwrap().unwrap();
    assert_eq!(names(&read), ["c", "a", "d"]);

    // A patch without tags keeps them (and answers with them); an empty list clears.
    let renamed = ProjectPatch {
        name: Some(ProjectName::parse("Alpha").unwrap()),
        ..ProjectPatch::default()
    };
    let patched = writer
        .update(&slug("alpha"), &renamed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names(&patched), ["c", "a", "d"]);
    let cleared = ProjectPatch {
        tags: Some(Tags::parse::<&str>(&[]).unwrap()),
        ..ProjectPatch::default()
    };
    let patched = writer
        .update(&slug("alpha"), &cleared)
        .await
        .unwrap()
        .unwrap();
    assert!(patched.tags.is_empty());
    assert!(tags_of(&db, "alpha").is_empty());
    assert!(writer
        .update(&slug("nobody"), &renamed)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_names_the_revision_its_write_committed() {
    let (writer, _reader, _db) = writer_and_reader().await;
    let mut changes = writer.listen().await.unwrap().expect("PostgreSQL listens");
    writer.upsert(&reg("alpha", &[])).await.unwrap();
    let committed = head(&writer).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout(Duration::from_millis(500), changes.next()).await {
            Ok(r) => {
                assert_eq!(r.unwrap(), Some(committed));
                break;
            }
            Err(_) => assert!(Instant::now() < deadline, "no notification"),
        }
    }
}

/// What a client sent PostgreSQL through [`proxy`]: each extended-protocol statement
/// ends with a Sync (`S`), each simple query is one `Q`, and `P` parses a statement.
#[derive(Debug, Default)]
struct Sent {
    syncs: std::sync::atomic::AtomicU64,
    queries: std::sync::atomic::AtomicU64,
    parses: std::sync::atomic::AtomicU64,
}

impl Sent {
    /// (statements, parses) so far.
    fn now(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::SeqCst;
        (
            self.syncs.load(SeqCst) + self.queries.load(SeqCst),
            self.parses.load(SeqCst),
        )
    }
}

/// A TCP proxy in front of `upstream` that counts the messages clients send (the
/// protocol's startup and SSL requests have no type byte; every later message is a
/// type byte and a length). Returns its address.
#[expect(
    clippy::indexing_slicing,
    reason = "test code: a frame is sliced only once its length is known to be there"
)]
async fn proxy(upstream: String, sent: std::sync::Arc<Sent>) -> std::net::SocketAddr {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = server.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
            let sent = sent.clone();
            tokio::spawn(async move {
                let (mut pending, mut buf, mut started) = (Vec::new(), [0u8; 8192], false);
                loop {
                    let n = match from_client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    loop {
                        let typed = usize::from(started);
                        if pending.len() < typed + 4 {
                            break;
                        }
                        let len = u32::from_be_bytes(pending[typed..typed + 4].try_into().unwrap())
                            as usize;
                        if pending.len() < typed + len {
                            break;
                        }
                        if started {
                            match pending[0] {
                                b'S' => sent.syncs.fetch_add(1, SeqCst),
                                b'Q' => sent.queries.fetch_add(1, SeqCst),
                                b'P' => sent.parses.fetch_add(1, SeqCst),
                                _ => 0,
                            };
                        } else {
                            // 196608: the startup message (protocol 3.0); anything else
                            // (SSL or GSS encryption requests) comes before it.
                            started =
                                u32::from_be_bytes(pending[4..8].try_into().unwrap()) == 196_608;
                        }
                        let whole = typed + len;
                        if to_server.write_all(&pending[..whole]).await.is_err() {
                            return;
                        }
                        pending.drain(..whole);
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_is_four_statements_prepared_once_and_read_back_without_a_query() {
    let db = tokio::task::spawn_blocking(postgres_database)
        .await
        .unwrap()
        .expect("test PostgreSQL");
    if db.url.contains("sslmode=") && !db.url.contains("sslmode=disable") {
        eprintln!("skipped: the proxy counts plain-text traffic only");
        return;
    }
    // postgres://user@host:port/db…: the proxy takes host:port's place.
    let rest = db.url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let hostport = authority.rsplit('@').next().unwrap().to_owned();
    let sent = std::sync::Arc::new(Sent::default());
    let addr = proxy(hostport.clone(), sent.clone()).await;
    let url = db.url.replacen(&hostport, &addr.to_string(), 1);
    let one = StoreOptions {
        max_connections: 1,
        ..opts()
    };
    let store = Store::connect(&DatabaseUrl::parse(&url).unwrap(), one)
        .await
        .unwrap();
    store.run_migrations().await.unwrap();
    // The first registration prepares the statements on the pool's one connection.
    store.upsert(&reg("warm", &["a"])).await.unwrap();
    let before = head(&store).await;

    let (statements, parses) = sent.now();
    store.upsert(&reg("alpha", &["a", "b"])).await.unwrap();
    let (statements_after, parses_after) = sent.now();
    // BEGIN; the lock and the registration (project, tags, log row, notification),
    // pipelined; COMMIT.
    assert_eq!(
        statements_after - statements,
        4,
        "statements per registration"
    );
    assert_eq!(parses_after - parses, 0, "statements parsed again");

    let ChangesSince::Changes(mine) = since(&store, before).await else {
        panic!("trimmed")
    };
    assert_eq!(mine.len(), 1);
    assert_eq!(
        sent.now(),
        (statements_after, parses_after),
        "read back with a query"
    );
}
