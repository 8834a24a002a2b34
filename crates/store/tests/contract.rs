//! The repository contract, written once and run against PostgreSQL (a throwaway
//! cluster from the test kit, or `FED_TEST_DATABASE_URL`), SQLite (a temp file) and the
//! domain's in-memory store (`federation_domain::memory::MemoryStore`, which other
//! crates' tests stand in for a database: it must keep the same rules).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use federation_domain::memory::MemoryStore;
use federation_domain::testing::slug;
use federation_domain::{
    ChangeLog, Lease, ListFilter, PresenceRecord, ProjectPatch, ProjectRepository, Registration,
    RegistrationInput, Status, Tag, Tags, Transition, Version,
};
use federation_store::{DatabaseUrl, Store, StoreOptions};

#[expect(dead_code, reason = "a test binary uses some of the shared helpers")]
mod common;
use common::fenced_write;

/// What the cases need of a store: the ports, as every backend implements them.
pub trait Contracted: ProjectRepository + ChangeLog + Lease {}
impl<T: ProjectRepository + ChangeLog + Lease> Contracted for T {}

/// Where a case counts stored rows from, past the store's API.
enum Rows {
    Database(DatabaseUrl),
    Memory(Arc<MemoryStore>),
}

/// A migrated store and whatever keeps its database alive.
pub struct Fixture {
    pub store: Arc<dyn Contracted>,
    rows: Rows,
    /// The SQL store itself, for what only it has (migrations).
    sql: Option<Store>,
    _keep: Box<dyn std::any::Any + Send>,
}

impl Fixture {
    /// Whether the store under test is SQLite.
    fn is_sqlite(&self) -> bool {
        matches!(self.rows, Rows::Database(DatabaseUrl::Sqlite(_)))
    }

    /// The rows of `table` (`projects`, `project_tags` or `status_transitions`).
    async fn count(&self, table: &str) -> i64 {
        match &self.rows {
            Rows::Database(url) => count_rows(url, table).await,
            Rows::Memory(m) => {
                let all = self.store.list(&ListFilter::default()).await.unwrap();
                let n = match table {
                    "projects" => all.items.len(),
                    "project_tags" => all.items.iter().map(|p| p.tags.iter().count()).sum(),
                    "status_transitions" => m.transitions_stored(),
                    other => panic!("no table {other:?} in the memory store"),
                };
                i64::try_from(n).unwrap()
            }
        }
    }
}

fn opts() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(10),
        pool_timeout: Duration::from_secs(10),
        ..StoreOptions::default()
    }
}

async fn postgres_fixture() -> Fixture {
    let db = tokio::task::spawn_blocking(federation_testkit::postgres_database)
        .await
        .unwrap()
        .expect("test PostgreSQL");
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let store = Store::connect(&url, opts()).await.expect("connect");
    store.run_migrations().await.expect("migrate");
    Fixture {
        store: Arc::new(store.clone()),
        rows: Rows::Database(url),
        sql: Some(store),
        _keep: Box::new(db),
    }
}

async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(&format!("sqlite://{}/fed.db", dir.path().display())).unwrap();
    let store = Store::connect(&url, opts()).await.expect("connect");
    store.run_migrations().await.expect("migrate");
    Fixture {
        store: Arc::new(store.clone()),
        rows: Rows::Database(url),
        sql: Some(store),
        _keep: Box::new(dir),
    }
}

async fn memory_fixture() -> Fixture {
    let store = Arc::new(MemoryStore::new(Arc::new(federation_domain::SystemClock)));
    Fixture {
        store: store.clone(),
        rows: Rows::Memory(store),
        sql: None,
        _keep: Box::new(()),
    }
}

/// Counts rows in a table through a connection of our own (not the store's API).
async fn count_rows(url: &DatabaseUrl, table: &str) -> i64 {
    use diesel::sql_types::BigInt;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    match url {
        DatabaseUrl::Postgres(u) => {
            use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
            let mut c = AsyncPgConnection::establish(u.as_str()).await.unwrap();
            diesel::sql_query(sql)
                .get_result::<N>(&mut c)
                .await
                .unwrap()
                .n
        }
        DatabaseUrl::Sqlite(p) => {
            use diesel::{Connection, RunQueryDsl, SqliteConnection};
            let p = p.to_str().unwrap().to_owned();
            tokio::task::spawn_blocking(move || {
                let mut c = SqliteConnection::establish(&p).unwrap();
                diesel::sql_query(sql).get_result::<N>(&mut c).unwrap().n
            })
            .await
            .unwrap()
        }
    }
}

fn reg(s: &str, tags: &[&str]) -> Registration {
    RegistrationInput {
        slug: Some(s.into()),
        name: Some(format!("Project {s}")),
        hub_url: Some(format!("https://{s}.example.com")),
        mesh_namespace: None,
        tags: Some(tags.iter().map(|t| t.to_string()).collect()),
        metadata: None,
        heartbeat_interval: None,
    }
    .validate()
    .unwrap()
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
}

fn presence(s: &str, status: Status, hb: Option<DateTime<Utc>>) -> PresenceRecord {
    PresenceRecord {
        slug: slug(s),
        status,
        status_reason: (status == Status::Degraded).then(|| "heartbeat_late".to_owned()),
        version: Some(Version::parse("1.2.3").unwrap()),
        last_heartbeat_at: hb,
    }
}

fn transition(s: &str, from: Status, to: Status, at: DateTime<Utc>) -> Transition {
    Transition {
        slug: slug(s),
        from,
        to,
        reason: Some(format!("{from}->{to}")),
        at,
        last_heartbeat_at: Some(at),
    }
}

fn filter(status: Option<Status>, tag: Option<&str>, limit: u32, offset: u64) -> ListFilter {
    ListFilter {
        status,
        tag: tag.map(|t| Tag::parse(t).unwrap()),
        limit: Some(limit),
        offset,
        after: None,
        meta: Vec::new(),
    }
}

fn slugs(page: &federation_domain::ProjectPage) -> Vec<&str> {
    page.items.iter().map(|p| p.slug.as_str()).collect()
}

/// The cases, each against a fresh store.
mod cases {
    use super::*;

    pub async fn insert_then_update_reports_created(fx: Fixture) {
        let s = &*fx.store;
        let first = s.upsert(&reg("alpha", &["a", "b"])).await.unwrap();
        assert!(first.created);
        let p = &first.project;
        assert_eq!(p.slug.as_str(), "alpha");
        assert_eq!(p.name.as_str(), "Project alpha");
        assert_eq!(p.hub_url.as_str(), "https://alpha.example.com");
        assert_eq!(p.mesh_namespace.as_str(), "hub.alpha");
        assert_eq!(p.status, Status::Offline, "new projects start offline");
        assert_eq!(p.status_reason, None);
        assert_eq!(p.version, None);
        assert_eq!(p.last_heartbeat_at, None);
        assert_eq!(p.created_at, p.updated_at);
        assert_eq!(tags(&p.tags), ["a", "b"]);

        let mut again = reg("alpha", &["c", "a"]);
        again.name = federation_domain::ProjectName::parse("Renamed").unwrap();
        let second = s.upsert(&again).await.unwrap();
        assert!(!second.created);
        assert_eq!(second.project.id, p.id);
        assert_eq!(second.project.name.as_str(), "Renamed");
        assert_eq!(
            tags(&second.project.tags),
            ["c", "a"],
            "tags replaced, order kept"
        );
        assert_eq!(second.project.created_at, p.created_at);
        assert!(second.project.updated_at >= p.updated_at);
        assert_eq!(
            s.get(&slug("alpha")).await.unwrap().unwrap(),
            second.project
        );
        assert_eq!(fx.count("project_tags").await, 2);
        assert!(s.get(&slug("nope")).await.unwrap().is_none());
    }

    pub async fn upsert_all_is_one_transaction(fx: Fixture) {
        let s = &*fx.store;
        s.upsert(&reg("b", &[])).await.unwrap();
        let out = s
            .upsert_all(&[reg("a", &["x"]), reg("b", &["y"]), reg("c", &[])])
            .await
            .unwrap();
        let created: Vec<bool> = out.iter().map(|u| u.created).collect();
        assert_eq!(created, [true, false, true]);
        assert_eq!(tags(&out[1].project.tags), ["y"]);
        for up in &out {
            assert_eq!(s.get(&up.project.slug).await.unwrap().unwrap(), up.project);
        }
        assert_eq!(s.list(&ListFilter::default()).await.unwrap().total, 3);
        assert!(s.upsert_all(&[]).await.unwrap().is_empty());
        // A slug twice in one batch: applied in order, the last one wins.
        let dup = s
            .upsert_all(&[reg("dup", &["one"]), reg("a", &[]), reg("dup", &["two"])])
            .await
            .unwrap();
        let created: Vec<bool> = dup.iter().map(|u| u.created).collect();
        assert_eq!(created, [true, false, false]);
        let got = s.get(&slug("dup")).await.unwrap().unwrap();
        assert_eq!(tags(&got.tags), ["two"]);
        assert_eq!(got, dup[2].project);
    }

    pub async fn reregistering_keeps_status_and_heartbeat(fx: Fixture) {
        let s = &*fx.store;
        s.upsert(&reg("alpha", &[])).await.unwrap();
        let mut live = presence("alpha", Status::Degraded, Some(t(10)));
        live.status_reason = Some("self_reported: disk".into());
        fenced_write(s, &[live], &[]).await.unwrap();
        let again = s.upsert(&reg("alpha", &["new"])).await.unwrap();
        assert!(!again.created);
        let p = again.project;
        assert_eq!(p.status, Status::Degraded);
        assert_eq!(p.status_reason.as_deref(), Some("self_reported: disk"));
        assert_eq!(p.version.as_ref().map(|v| v.as_str()), Some("1.2.3"));
        assert_eq!(p.last_heartbeat_at, Some(t(10)));
        let all = s.upsert_all(&[reg("alpha", &[])]).await.unwrap();
        assert_eq!(all[0].project.status, Status::Degraded);
        assert_eq!(all[0].project.last_heartbeat_at, Some(t(10)));
    }

    pub async fn concurrent_first_registrations_make_one_row(fx: Fixture) {
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let s = fx.store.clone();
                tokio::spawn(async move {
                    let tag = format!("t{i}");
                    s.upsert(&reg("racer", &[tag.as_str()])).await
                })
            })
            .collect();
        let mut created = 0;
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            let up = task.await.unwrap().expect("no upsert may fail");
            created += usize::from(up.created);
            ids.insert(up.project.id);
        }
        assert_eq!(created, 1, "exactly one registration creates");
        assert_eq!(ids.len(), 1);
        assert_eq!(fx.count("projects").await, 1);
        assert_eq!(
            fx.count("project_tags").await,
            1,
            "tags replaced, not merged"
        );
    }

    /// Concurrent registrations of different projects (which the SQL stores write as
    /// one group) each get their own project back, and the log holds one change each.
    /// A revision told with an answer is that registration's change in the log.
    pub async fn concurrent_registrations_are_each_answered_and_logged_once(fx: Fixture) {
        use federation_domain::{ChangeKind, ChangesSince};
        let mut told = Vec::new();
        let mut transactions = Vec::new();
        fx.store.upsert(&reg("first", &[])).await.unwrap();
        let head = fx.store.snapshot().await.unwrap().revision;
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let s = fx.store.clone();
                tokio::spawn(async move {
                    let name = format!("p{i:03}");
                    let tag = format!("t{i}");
                    (i, s.upsert(&reg(&name, &[tag.as_str()])).await)
                })
            })
            .collect();
        for task in tasks {
            let (i, up) = task.await.unwrap();
            let up = up.expect("no registration may fail");
            assert!(up.created);
            assert_eq!(up.project.slug.as_str(), format!("p{i:03}"));
            if let Some(revision) = up.revision {
                told.push((revision, up.project.clone()));
            }
            if let Some(written) = &up.written {
                assert!(
                    written.iter().any(|c| Some(c.revision) == up.revision),
                    "its own change among its transaction's"
                );
                transactions.push(written.clone());
            }
            assert_eq!(tags(&up.project.tags), [format!("t{i}")]);
            assert_eq!(
                fx.store.get(&up.project.slug).await.unwrap().unwrap(),
                up.project
            );
        }
        let ChangesSince::Changes(changes) = fx.store.changes_since(head, 1000).await.unwrap()
        else {
            panic!("trimmed");
        };
        let mut logged: Vec<&str> = changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Registered)
            .map(|c| c.slug.as_str())
            .collect();
        assert_eq!(changes.len(), 200, "one change per registration");
        logged.sort_unstable();
        logged.dedup();
        assert_eq!(logged.len(), 200, "each registration logged once");
        assert!(
            changes.windows(2).all(|w| w[0].revision < w[1].revision),
            "in revision order"
        );
        for (revision, project) in told {
            let logged = changes.iter().find(|c| c.revision == revision);
            assert!(
                logged.is_some_and(|c| c.kind == ChangeKind::Registered
                    && c.slug == project.slug
                    && c.at == project.updated_at),
                "revision {revision} of {}: {logged:?}",
                project.slug
            );
        }
        // A transaction's changes, told with each of its answers, are the log's.
        for written in transactions {
            for w in written.iter() {
                let logged = changes.iter().find(|c| c.revision == w.revision);
                assert!(
                    logged.is_some_and(|c| c.kind == w.kind && c.slug == w.slug && c.at == w.at),
                    "revision {} of {}: {logged:?}",
                    w.revision,
                    w.slug
                );
            }
        }
    }

    pub async fn list_filters_by_status_and_tag(fx: Fixture) {
        let s = &*fx.store;
        s.upsert_all(&[
            reg("a", &["x", "y"]),
            reg("b", &["y"]),
            reg("c", &[]),
            reg("d", &["y", "x"]),
        ])
        .await
        .unwrap();
        fenced_write(
            s,
            &[
                presence("a", Status::Online, Some(t(1))),
                presence("b", Status::Degraded, Some(t(1))),
                presence("d", Status::Online, Some(t(1))),
            ],
            &[],
        )
        .await
        .unwrap();
        let page = s.list(&ListFilter::default()).await.unwrap();
        assert_eq!(slugs(&page), ["a", "b", "c", "d"]);
        assert_eq!(page.total, 4);
        assert_eq!(tags(&page.items[0].tags), ["x", "y"]);
        assert_eq!(
            tags(&page.items[3].tags),
            ["y", "x"],
            "tags in stored order"
        );

        let on = s
            .list(&filter(Some(Status::Online), None, 100, 0))
            .await
            .unwrap();
        assert_eq!((slugs(&on), on.total), (vec!["a", "d"], 2));
        let off = s
            .list(&filter(Some(Status::Offline), None, 100, 0))
            .await
            .unwrap();
        assert_eq!(slugs(&off), ["c"]);
        let y = s.list(&filter(None, Some("y"), 100, 0)).await.unwrap();
        assert_eq!((slugs(&y), y.total), (vec!["a", "b", "d"], 3));
        assert_eq!(
            tags(&y.items[0].tags),
            ["x", "y"],
            "all tags, not just the match"
        );
        let both = s
            .list(&filter(Some(Status::Degraded), Some("y"), 100, 0))
            .await
            .unwrap();
        assert_eq!(slugs(&both), ["b"]);
        let none = s.list(&filter(None, Some("zzz"), 100, 0)).await.unwrap();
        assert_eq!((none.items.len(), none.total), (0, 0));
        // Tag filters ignore case; tags keep theirs; slugs may hold '_'.
        s.upsert_all(&[reg("e_1", &["Machine Learning"])])
            .await
            .unwrap();
        let ml = s
            .list(&filter(None, Some("machine learning"), 100, 0))
            .await
            .unwrap();
        assert_eq!(slugs(&ml), ["e_1"]);
        assert_eq!(tags(&ml.items[0].tags), ["Machine Learning"]);
        let upper = s.list(&filter(None, Some("Y"), 100, 0)).await.unwrap();
        assert_eq!(slugs(&upper), ["a", "b", "d"]);
        // The cursor: after a slug, counted in full.
        let mut after = filter(None, None, 2, 0);
        after.after = Some(federation_domain::Slug::parse("b").unwrap());
        let page = s.list(&after).await.unwrap();
        assert_eq!((slugs(&page), page.total), (vec!["c", "d"], 5));
        let every = s.list(&ListFilter::default()).await.unwrap();
        assert_eq!(every.items.len(), 5, "no limit: every project");
    }

    pub async fn list_pages_with_total(fx: Fixture) {
        let s = &*fx.store;
        let regs: Vec<_> = ["g", "c", "a", "e", "b", "f", "d"]
            .iter()
            .map(|x| reg(x, &["all"]))
            .collect();
        s.upsert_all(&regs).await.unwrap();
        let p1 = s.list(&filter(None, None, 3, 0)).await.unwrap();
        assert_eq!((slugs(&p1), p1.total), (vec!["a", "b", "c"], 7));
        let p2 = s.list(&filter(None, Some("all"), 3, 3)).await.unwrap();
        assert_eq!((slugs(&p2), p2.total), (vec!["d", "e", "f"], 7));
        let p3 = s.list(&filter(None, None, 3, 6)).await.unwrap();
        assert_eq!((slugs(&p3), p3.total), (vec!["g"], 7));
        let past = s.list(&filter(None, None, 3, 100)).await.unwrap();
        assert_eq!((past.items.len(), past.total), (0, 7));
        let huge = s.list(&filter(None, None, 1000, u64::MAX)).await.unwrap();
        assert_eq!((huge.items.len(), huge.total), (0, 7));
    }

    pub async fn metadata_is_stored_merged_bounded_and_filtered(fx: Fixture) {
        use federation_domain::{Metadata, MetadataPatch, RepositoryError};
        use serde_json::json;
        let s = &*fx.store;
        let meta = |v: serde_json::Value| Metadata::from_json(v).unwrap();
        let mut alpha = reg("alpha", &[]);
        alpha.metadata =
            meta(json!({"allow_fanout": [], "team": "ops", "nested": {"a": [1, 2.5, null, "é"]}}));
        let stored = s.upsert(&alpha).await.unwrap().project;
        assert_eq!(stored.metadata, alpha.metadata);
        assert_eq!(
            s.get(&slug("alpha")).await.unwrap().unwrap().metadata,
            alpha.metadata
        );
        let mut beta = reg("beta", &[]);
        beta.metadata = meta(json!({"team": "ops", "replicas": 3}));
        s.upsert(&beta).await.unwrap();
        s.upsert(&reg("gamma", &[])).await.unwrap();
        assert!(s
            .get(&slug("gamma"))
            .await
            .unwrap()
            .unwrap()
            .metadata
            .is_empty());

        // Merge: set one key, remove another, keep the rest.
        let patch = ProjectPatch {
            metadata: Some(
                MetadataPatch::from_json(
                    json!({"team": "web", "allow_fanout": null, "owner": "x"}),
                )
                .unwrap(),
            ),
            ..Default::default()
        };
        let p = s.update(&slug("alpha"), &patch).await.unwrap().unwrap();
        assert_eq!(
            p.metadata,
            meta(json!({"team": "web", "owner": "x", "nested": {"a": [1, 2.5, null, "é"]}}))
        );
        // Over the bounds once merged: refused, nothing written.
        let big = ProjectPatch {
            metadata: Some(MetadataPatch::from_json(json!({"blob": "x".repeat(9000)})).unwrap()),
            name: Some(federation_domain::ProjectName::parse("Changed").unwrap()),
            ..Default::default()
        };
        match s.update(&slug("alpha"), &big).await {
            Err(RepositoryError::Rejected(e)) => assert_eq!(e.field, "metadata"),
            other => panic!("expected a rejection, got {other:?}"),
        }
        let kept = s.get(&slug("alpha")).await.unwrap().unwrap();
        assert_eq!(
            (kept.name.as_str(), &kept.metadata),
            ("Project alpha", &p.metadata)
        );
        assert!(s.update(&slug("ghost"), &patch).await.unwrap().is_none());

        // The store's own list takes the metadata conditions too.
        let by = |conds: &[(&str, &str)], limit: Option<u32>, offset: u64| {
            let mut f = ListFilter::default().with_meta(conds).unwrap();
            f.limit = limit;
            f.offset = offset;
            f
        };
        let page = s.list(&by(&[("team", "web")], None, 0)).await.unwrap();
        assert_eq!((slugs(&page), page.total), (vec!["alpha"], 1));
        let page = s.list(&by(&[("replicas", "3")], None, 0)).await.unwrap();
        assert_eq!(slugs(&page), ["beta"]);
        s.update(
            &slug("beta"),
            &ProjectPatch {
                metadata: Some(MetadataPatch::from_json(json!({"team": "web"})).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let page = s.list(&by(&[("team", "web")], Some(1), 1)).await.unwrap();
        assert_eq!((slugs(&page), page.total), (vec!["beta"], 2));
        // metadata: null clears every key.
        let clear = ProjectPatch {
            metadata: Some(MetadataPatch::from_json(serde_json::Value::Null).unwrap()),
            ..Default::default()
        };
        assert!(s
            .update(&slug("alpha"), &clear)
            .await
            .unwrap()
            .unwrap()
            .metadata
            .is_empty());
    }

    pub async fn heartbeat_interval_is_stored_kept_on_reregistration_and_patched(fx: Fixture) {
        let s = &*fx.store;
        let every = |secs| federation_domain::HeartbeatInterval::from_seconds(secs, "i").ok();
        let with = |name: &str, secs| Registration {
            heartbeat_interval: every(secs),
            ..reg(name, &[])
        };
        let up = s
            .upsert_all(&[with("fast", 5), reg("plain", &[])])
            .await
            .unwrap();
        assert_eq!(up[0].project.heartbeat_interval, every(5));
        assert_eq!(up[1].project.heartbeat_interval, None);
        // Again without one: kept (one project and a batch, both paths).
        let again = s.upsert(&reg("fast", &[])).await.unwrap().project;
        assert_eq!(again.heartbeat_interval, every(5));
        s.upsert_all(&[reg("fast", &[]), with("plain", 30)])
            .await
            .unwrap();
        let read = |name: &'static str| async move {
            s.get(&slug(name))
                .await
                .unwrap()
                .unwrap()
                .heartbeat_interval
        };
        assert_eq!(read("fast").await, every(5));
        assert_eq!(read("plain").await, every(30));
        assert_eq!(
            s.upsert(&with("fast", 7))
                .await
                .unwrap()
                .project
                .heartbeat_interval,
            every(7)
        );
        let clear = ProjectPatch {
            heartbeat_interval: Some(None),
            ..Default::default()
        };
        let p = s.update(&slug("fast"), &clear).await.unwrap().unwrap();
        assert_eq!(p.heartbeat_interval, None);
        let set = ProjectPatch {
            heartbeat_interval: Some(every(60)),
            ..Default::default()
        };
        let p = s.update(&slug("fast"), &set).await.unwrap().unwrap();
        assert_eq!(p.heartbeat_interval, every(60));
        let snapshot = federation_domain::ChangeLog::snapshot(s).await.unwrap();
        let fast = snapshot.projects.iter().find(|p| p.slug.as_str() == "fast");
        assert_eq!(fast.and_then(|p| p.heartbeat_interval), every(60));
    }

    /// What a follower applies: each change with its project whole, as `get` reads it
    /// (tags in their order, none for a project without), and a project deleted since
    /// as none.
    pub async fn changes_carry_each_project_whole(fx: Fixture) {
        use federation_domain::{ChangeKind, ChangesSince};
        let s = &*fx.store;
        let head = s.snapshot().await.unwrap().revision;
        s.upsert_all(&[
            reg("many", &["z", "a", "m"]),
            reg("none", &[]),
            reg("gone", &["g"]),
        ])
        .await
        .unwrap();
        s.upsert(&reg("many", &["b", "y"])).await.unwrap();
        let ChangesSince::Changes(before) = s.changes_since(head, 100).await.unwrap() else {
            panic!("trimmed");
        };
        assert!(s.delete(&slug("gone"), "deleted").await.unwrap());
        let federation_domain::ChangesSince::Changes(changes) =
            s.changes_since(head, 100).await.unwrap()
        else {
            panic!("trimmed");
        };
        assert_eq!(changes.len(), 5);
        for change in &changes[..4] {
            assert_eq!(
                change.project,
                s.get(&change.slug).await.unwrap(),
                "{change:?}"
            );
        }
        assert_eq!(tags(&before[2].project.as_ref().unwrap().tags), ["g"]);
        assert!(matches!(changes[4].kind, ChangeKind::Deleted { .. }));
        let many = changes[3].project.as_ref().unwrap();
        assert_eq!(tags(&many.tags), ["b", "y"]);
        assert!(changes[1].project.as_ref().unwrap().tags.is_empty());
        // The outbox's read: the same changes, without their projects.
        let ChangesSince::Changes(events) = s.events_since(head, 100).await.unwrap() else {
            panic!("trimmed");
        };
        let bare = |c: &federation_domain::Change| (c.revision, c.slug.clone(), c.kind.clone());
        assert_eq!(
            events.iter().map(bare).collect::<Vec<_>>(),
            changes.iter().map(bare).collect::<Vec<_>>()
        );
        assert!(events.iter().all(|c| c.project.is_none()));
    }

    pub async fn heartbeat_key_digest_is_stored_kept_by_registration_and_followed(fx: Fixture) {
        use federation_domain::{ChangeKind, ChangesSince, HeartbeatKeyDigest};
        let s = &*fx.store;
        s.upsert_all(&[reg("keyed", &[]), reg("plain", &[])])
            .await
            .unwrap();
        fenced_write(s, &[presence("keyed", Status::Online, Some(t(10)))], &[])
            .await
            .unwrap();
        let head = s.snapshot().await.unwrap().revision;
        let key = HeartbeatKeyDigest::from_bytes([0xab; 32]);
        let set = ProjectPatch {
            heartbeat_key: Some(Some(key)),
            ..Default::default()
        };
        let p = s.update(&slug("keyed"), &set).await.unwrap().unwrap();
        assert_eq!(
            (p.heartbeat_key, p.status),
            (Some(Box::new(key)), Status::Online)
        );
        // The follower's path: the log's `updated` change carries the project with it.
        let ChangesSince::Changes(changes) = s.changes_since(head, 10).await.unwrap() else {
            panic!("trimmed");
        };
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Updated);
        assert_eq!(
            changes[0]
                .project
                .as_ref()
                .and_then(|p| p.heartbeat_key.clone()),
            Some(Box::new(key))
        );
        // Registering again, in a batch and by the catalog file, keeps it.
        s.upsert(&reg("keyed", &["x"])).await.unwrap();
        s.upsert_all(&[reg("keyed", &[])]).await.unwrap();
        s.apply_catalog(&[reg("keyed", &[]), reg("plain", &[])], true)
            .await
            .unwrap();
        let read = |name: &'static str| async move {
            s.get(&slug(name)).await.unwrap().unwrap().heartbeat_key
        };
        assert_eq!(read("keyed").await, Some(Box::new(key)));
        assert_eq!(read("plain").await, None);
        let snapshot = s.snapshot().await.unwrap();
        let keyed = snapshot
            .projects
            .iter()
            .find(|p| p.slug.as_str() == "keyed");
        assert_eq!(
            keyed.and_then(|p| p.heartbeat_key.clone()),
            Some(Box::new(key))
        );
        let rotated = HeartbeatKeyDigest::from_bytes([0xcd; 32]);
        let rotate = ProjectPatch {
            heartbeat_key: Some(Some(rotated)),
            ..Default::default()
        };
        s.update(&slug("keyed"), &rotate).await.unwrap();
        assert_eq!(read("keyed").await, Some(Box::new(rotated)));
        let remove = ProjectPatch {
            heartbeat_key: Some(None),
            ..Default::default()
        };
        let p = s.update(&slug("keyed"), &remove).await.unwrap().unwrap();
        assert_eq!((p.heartbeat_key, p.status), (None, Status::Online));
    }

    pub async fn maintenance_is_stored_with_its_history_and_log_rows(fx: Fixture) {
        use federation_domain::{Maintenance, MaintenanceChange};
        let s = &*fx.store;
        s.upsert(&reg("kept", &[])).await.unwrap();
        fenced_write(s, &[presence("kept", Status::Online, Some(t(5)))], &[])
            .await
            .unwrap();
        let head = s.snapshot().await.unwrap().revision;
        let window = Maintenance {
            reason: "kernel upgrade".into(),
            since: t(10),
            until: t(610),
            by: "key:ab12".into(),
        };
        let p = s
            .set_maintenance(&slug("kept"), &MaintenanceChange::Start(window.clone()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.maintenance.as_deref(), Some(&window));
        assert_eq!(p.status, Status::Online);
        assert_eq!(
            s.get(&slug("kept")).await.unwrap().unwrap().maintenance,
            Some(Box::new(window.clone()))
        );
        // Not due yet: nothing changes, nothing is written.
        let early = MaintenanceChange::End {
            at: t(600),
            reason: "closed".into(),
            due: true,
        };
        let same = s
            .set_maintenance(&slug("kept"), &early)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(same.maintenance, Some(Box::new(window)));
        let due = MaintenanceChange::End {
            at: t(610),
            reason: "maintenance_ended: its window closed".into(),
            due: true,
        };
        let ended = s
            .set_maintenance(&slug("kept"), &due)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ended.maintenance, None);
        let again = s
            .set_maintenance(&slug("kept"), &due)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.maintenance, None);
        let history = s.history(&slug("kept"), 10).await.unwrap().unwrap();
        let rows: Vec<_> = history
            .iter()
            .map(|t| (t.from, t.to, t.reason.clone().unwrap(), t.at))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    Status::Online,
                    Status::Online,
                    "maintenance_ended: its window closed".to_owned(),
                    t(610)
                ),
                (
                    Status::Online,
                    Status::Online,
                    "maintenance_started: kernel upgrade (until 2025-06-15T15:16:50Z, by key:ab12)"
                        .to_owned(),
                    t(10)
                ),
            ]
        );
        // One `updated` change for the start and one for the end.
        match s.changes_since(head, 10).await.unwrap() {
            federation_domain::ChangesSince::Changes(c) => {
                let kinds: Vec<_> = c.iter().map(|c| c.kind.as_str()).collect();
                assert_eq!(kinds, ["updated", "updated"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(s
            .set_maintenance(&slug("ghost"), &due)
            .await
            .unwrap()
            .is_none());
    }

    pub async fn flapping_is_stored_with_its_log_rows_once_and_fenced(fx: Fixture) {
        use federation_domain::{ChangesSince, FlapMark, RepositoryError, Term};
        let s = &*fx.store;
        s.upsert_all(&[reg("a", &[]), reg("b", &[])]).await.unwrap();
        let term = s
            .acquire("store-tests", Duration::from_secs(3600))
            .await
            .unwrap()
            .unwrap();
        let head = s.snapshot().await.unwrap().revision;
        let mark = |x: &str, flapping: bool, at| FlapMark {
            slug: slug(x),
            flapping,
            at,
        };
        let since =
            |x: &'static str| async move { s.get(&slug(x)).await.unwrap().unwrap().flapping_since };
        // A start; a start for an unknown slug and an end for one not flapping: nothing.
        s.write_flapping(
            &[
                mark("a", true, t(10)),
                mark("ghost", true, t(10)),
                mark("b", false, t(10)),
            ],
            term,
        )
        .await
        .unwrap();
        assert_eq!(since("a").await, Some(t(10)));
        assert_eq!(since("b").await, None);
        let snap = s.snapshot().await.unwrap();
        let a = snap
            .projects
            .iter()
            .find(|p| p.slug.as_str() == "a")
            .unwrap();
        assert_eq!(a.flapping_since, Some(t(10)));
        // A start for a project already flapping changes nothing (decided again).
        s.write_flapping(&[mark("a", true, t(20))], term)
            .await
            .unwrap();
        assert_eq!(since("a").await, Some(t(10)));
        s.write_flapping(&[mark("a", false, t(30))], term)
            .await
            .unwrap();
        assert_eq!(since("a").await, None);
        s.write_flapping(&[], term).await.unwrap();
        match s.changes_since(head, 10).await.unwrap() {
            ChangesSince::Changes(c) => {
                let rows: Vec<_> = c
                    .iter()
                    .map(|c| (c.kind.as_str(), c.slug.as_str(), c.at))
                    .collect();
                assert_eq!(rows, [("flapping", "a", t(10)), ("stable", "a", t(30))]);
            }
            other => panic!("{other:?}"),
        }
        // A write of another term is refused, and writes nothing.
        let stale = s
            .write_flapping(&[mark("b", true, t(40))], Term(term.0 + 1))
            .await;
        assert!(
            matches!(stale, Err(RepositoryError::Fenced(_))),
            "{stale:?}"
        );
        assert_eq!(since("b").await, None);
    }

    pub async fn update_patches_descriptive_fields(fx: Fixture) {
        let s = &*fx.store;
        let orig = s.upsert(&reg("alpha", &["a"])).await.unwrap().project;
        fenced_write(s, &[presence("alpha", Status::Online, Some(t(5)))], &[])
            .await
            .unwrap();
        let patch = ProjectPatch {
            name: Some(federation_domain::ProjectName::parse("New name").unwrap()),
            ..Default::default()
        };
        let p = s.update(&slug("alpha"), &patch).await.unwrap().unwrap();
        assert_eq!(p.name.as_str(), "New name");
        assert_eq!(p.hub_url, orig.hub_url);
        assert_eq!(tags(&p.tags), ["a"]);
        assert_eq!(p.status, Status::Online);
        assert_eq!(p.last_heartbeat_at, Some(t(5)));
        let patch = ProjectPatch {
            hub_url: Some(federation_domain::HubUrl::parse("http://other:8000").unwrap()),
            tags: Some(Tags::parse(&["z", "y"]).unwrap()),
            ..Default::default()
        };
        let p = s.update(&slug("alpha"), &patch).await.unwrap().unwrap();
        assert_eq!(p.name.as_str(), "New name");
        assert_eq!(p.hub_url.as_str(), "http://other:8000");
        assert_eq!(tags(&p.tags), ["z", "y"]);
        let clear = ProjectPatch {
            tags: Some(Tags::default()),
            ..Default::default()
        };
        assert!(s
            .update(&slug("alpha"), &clear)
            .await
            .unwrap()
            .unwrap()
            .tags
            .is_empty());
        assert!(s.update(&slug("ghost"), &patch).await.unwrap().is_none());
    }

    pub async fn delete_removes_tags_and_keeps_history_by_slug(fx: Fixture) {
        let s = &*fx.store;
        s.upsert_all(&[reg("gone", &["x", "y"]), reg("kept", &["x"])])
            .await
            .unwrap();
        fenced_write(
            s,
            &[],
            &[
                transition("gone", Status::Offline, Status::Online, t(1)),
                transition("kept", Status::Offline, Status::Online, t(1)),
            ],
        )
        .await
        .unwrap();
        assert!(s.delete(&slug("gone"), "deleted").await.unwrap());
        assert!(s.get(&slug("gone")).await.unwrap().is_none());
        // The history stays, reachable by slug, ending with the removal.
        let h = s.history(&slug("gone"), 10).await.unwrap().unwrap();
        let reasons: Vec<_> = h
            .iter()
            .map(|t| t.reason.clone().unwrap_or_default())
            .collect();
        assert_eq!(reasons, ["removed: deleted", "offline->online"]);
        assert_eq!((h[0].from, h[0].to), (Status::Offline, Status::Offline));
        assert!(s.history(&slug("never"), 10).await.unwrap().is_none());
        assert_eq!(fx.count("project_tags").await, 1);
        assert_eq!(fx.count("status_transitions").await, 3);
        assert!(!s.delete(&slug("gone"), "deleted").await.unwrap());
        match federation_domain::ChangeLog::changes_since(s, 0, 100)
            .await
            .unwrap()
        {
            federation_domain::ChangesSince::Changes(c) => assert_eq!(
                c.last().map(|c| c.kind.clone()),
                Some(federation_domain::ChangeKind::Deleted {
                    reason: Some("deleted".into())
                })
            ),
            other => panic!("{other:?}"),
        }
        let x = s.list(&filter(None, Some("x"), 10, 0)).await.unwrap();
        assert_eq!(slugs(&x), ["kept"]);
        let back = s.upsert(&reg("gone", &[])).await.unwrap();
        assert!(back.created);
        assert_eq!(
            s.history(&slug("gone"), 10).await.unwrap().map(|h| h.len()),
            Some(2)
        );
    }

    pub async fn presence_writes_are_idempotent_and_never_go_back(fx: Fixture) {
        let s = &*fx.store;
        s.upsert_all(&[reg("a", &[]), reg("b", &[])]).await.unwrap();
        let batch = [
            presence("a", Status::Online, Some(t(20))),
            presence("b", Status::Online, None),
        ];
        fenced_write(s, &batch, &[]).await.unwrap();
        fenced_write(s, &batch, &[]).await.unwrap();
        let snap = s.presence_snapshot().await.unwrap();
        assert_eq!(snap, batch.to_vec());

        // An older heartbeat changes status fields but not the time.
        fenced_write(s, &[presence("a", Status::Degraded, Some(t(10)))], &[])
            .await
            .unwrap();
        let a = s.get(&slug("a")).await.unwrap().unwrap();
        assert_eq!(a.status, Status::Degraded);
        assert_eq!(a.status_reason.as_deref(), Some("heartbeat_late"));
        assert_eq!(a.last_heartbeat_at, Some(t(20)));
        // No heartbeat in the update keeps the stored one.
        fenced_write(s, &[presence("a", Status::Offline, None)], &[])
            .await
            .unwrap();
        let a = s.get(&slug("a")).await.unwrap().unwrap();
        assert_eq!(
            (a.status, a.last_heartbeat_at),
            (Status::Offline, Some(t(20)))
        );
        // Newer moves it forward; a reason and version can be cleared.
        let mut newer = presence("a", Status::Online, Some(t(30)));
        newer.version = None;
        fenced_write(s, &[newer], &[]).await.unwrap();
        let a = s.get(&slug("a")).await.unwrap().unwrap();
        assert_eq!(a.last_heartbeat_at, Some(t(30)));
        assert_eq!((a.status_reason, a.version), (None, None));
        // One slug twice in a batch: the last record wins, with the latest heartbeat.
        fenced_write(
            s,
            &[
                presence("b", Status::Online, Some(t(50))),
                presence("b", Status::Degraded, Some(t(40))),
            ],
            &[],
        )
        .await
        .unwrap();
        let b = s.get(&slug("b")).await.unwrap().unwrap();
        assert_eq!(
            (b.status, b.last_heartbeat_at),
            (Status::Degraded, Some(t(50)))
        );
        fenced_write(s, &[], &[]).await.unwrap();
    }

    pub async fn unknown_slugs_are_skipped(fx: Fixture) {
        let s = &*fx.store;
        s.upsert(&reg("known", &[])).await.unwrap();
        fenced_write(
            s,
            &[
                presence("ghost", Status::Online, Some(t(1))),
                presence("known", Status::Online, Some(t(1))),
            ],
            &[
                transition("ghost", Status::Offline, Status::Online, t(1)),
                transition("known", Status::Offline, Status::Online, t(1)),
            ],
        )
        .await
        .unwrap();
        assert_eq!(fx.count("projects").await, 1);
        assert_eq!(
            s.get(&slug("known")).await.unwrap().unwrap().status,
            Status::Online
        );
        assert_eq!(
            s.history(&slug("known"), 10).await.unwrap().unwrap().len(),
            1
        );
        assert!(s.history(&slug("ghost"), 10).await.unwrap().is_none());
    }

    pub async fn history_is_newest_first(fx: Fixture) {
        let s = &*fx.store;
        s.upsert_all(&[reg("h", &[]), reg("other", &[])])
            .await
            .unwrap();
        assert_eq!(s.history(&slug("h"), 10).await.unwrap(), Some(vec![]));
        use Status::*;
        fenced_write(
            s,
            &[
                presence("h", Degraded, Some(t(3))),
                presence("other", Online, Some(t(2))),
            ],
            &[
                transition("h", Offline, Online, t(1)),
                transition("h", Online, Degraded, t(3)),
                transition("other", Offline, Online, t(2)),
            ],
        )
        .await
        .unwrap();
        // Appended later, one out of order, two at the same instant.
        let mut no_reason = transition("h", Degraded, Offline, t(4));
        no_reason.reason = None;
        no_reason.last_heartbeat_at = None;
        fenced_write(
            s,
            &[presence("h", Offline, Some(t(4)))],
            &[
                transition("h", Degraded, Online, t(2)),
                transition("h", Online, Degraded, t(4)),
                no_reason.clone(),
            ],
        )
        .await
        .unwrap();
        let h = s.history(&slug("h"), 10).await.unwrap().unwrap();
        let got: Vec<(Status, Status, DateTime<Utc>)> =
            h.iter().map(|x| (x.from, x.to, x.at)).collect();
        assert_eq!(
            got,
            [
                (Degraded, Offline, t(4)),
                (Online, Degraded, t(4)),
                (Online, Degraded, t(3)),
                (Degraded, Online, t(2)),
                (Offline, Online, t(1)),
            ]
        );
        assert_eq!(h[0], no_reason);
        assert_eq!(h[1].reason.as_deref(), Some("online->degraded"));
        assert_eq!(h[1].last_heartbeat_at, Some(t(4)));
        assert!(h.iter().all(|x| x.slug.as_str() == "h"));
        let two = s.history(&slug("h"), 2).await.unwrap().unwrap();
        assert_eq!(two, h[..2].to_vec());
    }

    /// Two writers that decided the same step from their own views (two replicas that
    /// heard the same heartbeat), and one whose view is behind the store's: the history
    /// and the log stay one chain.
    pub async fn steps_chain_onto_the_stored_status(fx: Fixture) {
        let s = &*fx.store;
        s.upsert_all(&[reg("c", &[])]).await.unwrap();
        use Status::*;
        let head = s.snapshot().await.unwrap().revision;
        let went = |from, to, at| {
            (
                presence("c", to, Some(t(at))),
                transition("c", from, to, t(at)),
            )
        };
        let (u, step) = went(Offline, Online, 1);
        fenced_write(s, std::slice::from_ref(&u), std::slice::from_ref(&step))
            .await
            .unwrap();
        // The same step again, from the other writer.
        fenced_write(s, &[u], &[step]).await.unwrap();
        let (u, step) = went(Online, Degraded, 2);
        fenced_write(s, &[u], &[step]).await.unwrap();
        // A writer that still saw it online: recorded from degraded.
        let (u, step) = went(Online, Offline, 3);
        fenced_write(s, &[u], &[step]).await.unwrap();
        let h = s.history(&slug("c"), 10).await.unwrap().unwrap();
        let got: Vec<(Status, Status)> = h.iter().map(|x| (x.from, x.to)).collect();
        assert_eq!(
            got,
            [(Degraded, Offline), (Online, Degraded), (Offline, Online)]
        );
        let federation_domain::ChangesSince::Changes(changes) =
            s.changes_since(head, 10).await.unwrap()
        else {
            panic!("the log was trimmed");
        };
        let logged: Vec<(Status, Status)> = changes
            .iter()
            .filter_map(|c| match &c.kind {
                federation_domain::ChangeKind::Transition(t) => Some((t.from, t.to)),
                _ => None,
            })
            .collect();
        assert_eq!(
            logged,
            [(Offline, Online), (Online, Degraded), (Degraded, Offline)]
        );
    }

    pub async fn a_presence_write_tells_the_steps_it_logged(fx: Fixture) {
        let s = &*fx.store;
        s.upsert_all(&[reg("a", &[]), reg("b", &[])]).await.unwrap();
        use Status::*;
        let head = s.snapshot().await.unwrap().revision;
        // Nanoseconds in the steps' times: the store keeps microseconds.
        let at = |secs| t(secs) + chrono::TimeDelta::nanoseconds(1_234_567);
        let steps = [
            transition("a", Offline, Online, at(1)),
            transition("ghost", Offline, Online, at(1)),
            transition("b", Offline, Online, at(2)),
            // Already stored by the step before: left out.
            transition("b", Offline, Online, at(3)),
            transition("a", Online, Degraded, at(4)),
        ];
        let rows = [
            presence("a", Degraded, Some(at(4))),
            presence("b", Online, Some(at(3))),
        ];
        let logged = fenced_write(s, &rows, &steps).await.unwrap();
        let told: Vec<(&str, Status, Status, DateTime<Utc>)> = logged
            .transitions
            .iter()
            .map(|t| (t.slug.as_str(), t.from, t.to, t.at))
            .collect();
        let micros = |secs| t(secs) + chrono::TimeDelta::microseconds(1_234);
        assert_eq!(
            told,
            [
                ("a", Offline, Online, micros(1)),
                ("b", Offline, Online, micros(2)),
                ("a", Online, Degraded, micros(4)),
            ]
        );
        let federation_domain::ChangesSince::Changes(changes) =
            s.changes_since(head, 100).await.unwrap()
        else {
            panic!("trimmed");
        };
        let in_log: Vec<&Transition> = changes
            .iter()
            .filter_map(|c| match &c.kind {
                federation_domain::ChangeKind::Transition(t) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(in_log, logged.transitions.iter().collect::<Vec<_>>());
        // Numbered (PostgreSQL, memory) or not (SQLite: the writer reads the log).
        if let Some(numbered) = logged.numbered() {
            for (revision, step) in numbered {
                let c = changes.iter().find(|c| c.revision == revision);
                assert!(
                    c.is_some_and(|c| c.kind
                        == federation_domain::ChangeKind::Transition(step.clone())
                        && c.slug == step.slug
                        && c.at == step.at),
                    "revision {revision}: {c:?}"
                );
            }
        }
        assert_eq!(
            logged.first_revision.is_some(),
            !fx.is_sqlite(),
            "PostgreSQL numbers the steps"
        );
    }

    pub async fn history_retention_keeps_the_newest_per_project_within_the_age(fx: Fixture) {
        let s = &*fx.store;
        s.upsert_all(&[reg("many", &[]), reg("few", &[])])
            .await
            .unwrap();
        use Status::*;
        let mut batch = Vec::new();
        for i in 0..30 {
            let (from, to) = if i % 2 == 0 {
                (Online, Degraded)
            } else {
                (Degraded, Online)
            };
            batch.push(transition("many", from, to, t(100 + i)));
        }
        // Two at the same instant at the cut: the id decides.
        batch.push(transition("many", Online, Degraded, t(120)));
        batch.push(transition("few", Offline, Online, t(5)));
        batch.push(transition("few", Online, Degraded, t(200)));
        fenced_write(s, &[], &batch).await.unwrap();

        // Nothing is old enough and nobody over 100: nothing goes.
        assert_eq!(s.trim_history(t(0), 100).await.unwrap(), 0);
        let before = s.history(&slug("many"), 100).await.unwrap().unwrap();
        assert_eq!(before.len(), 31);

        // At most 10 per project, none older than t(50).
        let gone = s.trim_history(t(50), 10).await.unwrap();
        assert_eq!(gone, 21 + 1);
        let after = s.history(&slug("many"), 100).await.unwrap().unwrap();
        assert_eq!(after, before[..10].to_vec(), "the newest ten stay");
        let few = s.history(&slug("few"), 100).await.unwrap().unwrap();
        assert_eq!(few.len(), 1);
        assert_eq!(few[0].at, t(200));
        // Again: nothing more.
        assert_eq!(s.trim_history(t(50), 10).await.unwrap(), 0);
    }

    pub async fn times_round_trip_in_utc_to_the_microsecond(fx: Fixture) {
        let s = &*fx.store;
        let p = s.upsert(&reg("clock", &[])).await.unwrap().project;
        assert_eq!(p.created_at.timestamp_subsec_nanos() % 1000, 0);
        let fine = Utc.timestamp_opt(1_750_000_123, 123_456_789).unwrap();
        let micros = fine.trunc_subsecs(6);
        assert_eq!(micros.timestamp_subsec_nanos(), 123_456_000);
        fenced_write(
            s,
            &[presence("clock", Status::Online, Some(fine))],
            &[transition("clock", Status::Offline, Status::Online, fine)],
        )
        .await
        .unwrap();
        let got = s.get(&slug("clock")).await.unwrap().unwrap();
        assert_eq!(got.last_heartbeat_at, Some(micros));
        assert_eq!(got.created_at, p.created_at);
        let h = s.history(&slug("clock"), 1).await.unwrap().unwrap();
        assert_eq!((h[0].at, h[0].last_heartbeat_at), (micros, Some(micros)));
        // A microsecond later is later, also as stored text on SQLite.
        let next = micros + chrono::TimeDelta::microseconds(1);
        fenced_write(s, &[presence("clock", Status::Online, Some(next))], &[])
            .await
            .unwrap();
        let got = s.get(&slug("clock")).await.unwrap().unwrap();
        assert_eq!(got.last_heartbeat_at, Some(next));
        // Whole seconds and distant dates.
        for when in [
            Utc.with_ymd_and_hms(2100, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap() + chrono::TimeDelta::microseconds(7),
        ] {
            fenced_write(s, &[presence("clock", Status::Online, Some(when))], &[])
                .await
                .unwrap();
            let got = s.get(&slug("clock")).await.unwrap().unwrap();
            assert_eq!(got.last_heartbeat_at, Some(when));
        }
    }

    pub async fn large_batches_are_written(fx: Fixture) {
        let s = &*fx.store;
        let regs: Vec<_> = (0..1500).map(|i| reg(&format!("p{i:05}"), &[])).collect();
        s.upsert_all(&regs).await.unwrap();
        // 10,000 updates (most for unknown slugs) and 5,000 transitions: more than one
        // SQLite chunk each.
        let updates: Vec<_> = (0..10_000)
            .map(|i| presence(&format!("p{i:05}"), Status::Online, Some(t(i))))
            .collect();
        // Each project's steps one chain: offline, online, offline, … (the store
        // records a step onto the status it holds).
        let transitions: Vec<_> = (0..5_000)
            .map(|i| {
                let (from, to) = if (i / 3) % 2 == 0 {
                    (Status::Offline, Status::Online)
                } else {
                    (Status::Online, Status::Offline)
                };
                transition(&format!("p{:05}", i % 3), from, to, t(7))
            })
            .collect();
        fenced_write(s, &updates, &transitions).await.unwrap();
        let snap = s.presence_snapshot().await.unwrap();
        assert_eq!(snap.len(), 1500);
        assert!(snap.iter().all(|r| r.status == Status::Online));
        assert_eq!(snap[1499].last_heartbeat_at, Some(t(1499)));
        assert_eq!(fx.count("status_transitions").await, 5_000);
        let on = s
            .list(&filter(Some(Status::Online), None, 10, 0))
            .await
            .unwrap();
        assert_eq!(on.total, 1500);
        let h = s.history(&slug("p00000"), 1).await.unwrap().unwrap();
        assert_eq!(h.len(), 1);
    }

    pub async fn a_snapshot_of_several_pages_holds_every_project_once_with_its_tags(fx: Fixture) {
        let s = &*fx.store;
        let n = usize::try_from(federation_store::SNAPSHOT_PAGE).unwrap() + 1;
        let name = |i: usize| format!("s{i:06}");
        let regs: Vec<_> = (0..n)
            .map(|i| reg(&name(i), &["all", &format!("t{}", i % 7)]))
            .collect();
        s.upsert_all(&regs).await.unwrap();
        let snap = s.snapshot().await.unwrap();
        assert_eq!(snap.projects.len(), n);
        let mut seen = std::collections::BTreeSet::new();
        for p in &snap.projects {
            let i: usize = p.slug.as_str()[1..].parse().unwrap();
            assert!(seen.insert(i), "{} twice", p.slug);
            let tags: Vec<_> = p.tags.iter().map(|t| t.as_str().to_owned()).collect();
            assert_eq!(
                tags,
                ["all".to_owned(), format!("t{}", i % 7)],
                "{}",
                p.slug
            );
        }
        assert_eq!(seen.last(), Some(&(n - 1)));
    }

    pub async fn migrations_are_idempotent(fx: Fixture) {
        let s = fx.sql.as_ref().expect("a SQL store");
        assert!(s.pending_migrations().await.unwrap().is_empty());
        assert!(s.run_migrations().await.unwrap().is_empty());
        assert!(s.run_migrations().await.unwrap().is_empty());
        s.ping().await.unwrap();
    }

    /// The totals of every filter without a tag come from trigger-kept counts: they must
    /// equal the rows themselves after every kind of write.
    pub async fn status_totals_stay_exact_across_writes(fx: Fixture) {
        let s = &*fx.store;
        async fn check(s: &dyn Contracted, expected: [u64; 3]) {
            let mut sum = 0;
            for (status, want) in [Status::Online, Status::Degraded, Status::Offline]
                .into_iter()
                .zip(expected)
            {
                let page = s.list(&filter(Some(status), None, 1000, 0)).await.unwrap();
                assert_eq!(page.total, want, "{status} total");
                assert_eq!(page.items.len() as u64, want, "{status} rows");
                assert!(page.items.iter().all(|p| p.status == status));
                sum += want;
            }
            let all = s.list(&filter(None, None, 1000, 0)).await.unwrap();
            assert_eq!((all.total, all.items.len() as u64), (sum, sum));
        }
        check(s, [0, 0, 0]).await;
        s.upsert(&reg("a", &[])).await.unwrap();
        s.upsert_all(&[reg("b", &[]), reg("c", &[]), reg("d", &[])])
            .await
            .unwrap();
        s.upsert(&reg("a", &["again"])).await.unwrap();
        check(s, [0, 0, 4]).await;

        let batch = [
            presence("a", Status::Online, Some(t(1))),
            presence("b", Status::Degraded, Some(t(1))),
            presence("c", Status::Online, Some(t(1))),
            presence("ghost", Status::Online, Some(t(1))),
        ];
        fenced_write(s, &batch, &[]).await.unwrap();
        check(s, [2, 1, 1]).await;
        // The same batch again, and heartbeats that keep their status: no change.
        fenced_write(s, &batch, &[]).await.unwrap();
        fenced_write(s, &[presence("a", Status::Online, Some(t(2)))], &[])
            .await
            .unwrap();
        check(s, [2, 1, 1]).await;
        // One project twice in a batch: the last record wins, counted once.
        fenced_write(
            s,
            &[
                presence("c", Status::Degraded, Some(t(3))),
                presence("c", Status::Offline, Some(t(4))),
            ],
            &[],
        )
        .await
        .unwrap();
        check(s, [1, 1, 2]).await;
        assert!(s.delete(&slug("b"), "deleted").await.unwrap());
        assert!(!s.delete(&slug("b"), "deleted").await.unwrap());
        check(s, [1, 0, 2]).await;
        // A large batch moves many at once.
        let many: Vec<_> = (0..500).map(|i| reg(&format!("m{i}"), &[])).collect();
        s.upsert_all(&many).await.unwrap();
        let online: Vec<_> = (0..500)
            .map(|i| presence(&format!("m{i}"), Status::Online, Some(t(5))))
            .collect();
        fenced_write(s, &online, &[]).await.unwrap();
        check(s, [501, 0, 2]).await;
    }

    fn tags(t: &Tags) -> Vec<&str> {
        t.iter().map(|t| t.as_str()).collect()
    }
}

macro_rules! contract {
    (every: [$($case:ident),* $(,)?], sql: [$($sql:ident),* $(,)?] $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    super::cases::$case(super::postgres_fixture().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $sql() {
                    super::cases::$sql(super::postgres_fixture().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    super::cases::$case(super::sqlite_fixture().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $sql() {
                    super::cases::$sql(super::sqlite_fixture().await).await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    super::cases::$case(super::memory_fixture().await).await;
                }
            )*
        }
    };
}

contract!(
    every: [
        insert_then_update_reports_created,
        upsert_all_is_one_transaction,
        reregistering_keeps_status_and_heartbeat,
        concurrent_first_registrations_make_one_row,
        concurrent_registrations_are_each_answered_and_logged_once,
        list_filters_by_status_and_tag,
        list_pages_with_total,
        update_patches_descriptive_fields,
        metadata_is_stored_merged_bounded_and_filtered,
        heartbeat_interval_is_stored_kept_on_reregistration_and_patched,
        heartbeat_key_digest_is_stored_kept_by_registration_and_followed,
        changes_carry_each_project_whole,
        maintenance_is_stored_with_its_history_and_log_rows,
        flapping_is_stored_with_its_log_rows_once_and_fenced,
        delete_removes_tags_and_keeps_history_by_slug,
        presence_writes_are_idempotent_and_never_go_back,
        unknown_slugs_are_skipped,
        history_is_newest_first,
        steps_chain_onto_the_stored_status,
        a_presence_write_tells_the_steps_it_logged,
        history_retention_keeps_the_newest_per_project_within_the_age,
        times_round_trip_in_utc_to_the_microsecond,
        large_batches_are_written,
        status_totals_stay_exact_across_writes,
        a_snapshot_of_several_pages_holds_every_project_once_with_its_tags,
    ],
    // The in-memory store has no schema to migrate.
    sql: [migrations_are_idempotent],
);
