//! Several replicas of the real binary (child processes) on one PostgreSQL and one
//! nats-server: one truth. Short thresholds (degraded 2 s, offline 3 s, sweep 200 ms,
//! lease 2 s) so failover and expiry happen within seconds.

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::binary::Binary;
use crate::helpers::eventually;

const LEASE: Duration = Duration::from_secs(2);
const SWEEP: Duration = Duration::from_millis(200);
const OFFLINE_AFTER: Duration = Duration::from_secs(3);

/// One `federation serve` process.
struct Replica {
    name: String,
    port: u16,
    /// `None` once killed or stopped.
    child: Option<Binary>,
    /// What it printed, once it is no longer running.
    printed: String,
    http: reqwest::Client,
}

impl Replica {
    fn start(
        name: &str,
        database_url: &str,
        nats_url: &str,
        dir: &std::path::Path,
        settings: &[(&str, String)],
    ) -> Replica {
        let port = federation_testkit::free_port();
        Replica::start_on(port, name, database_url, nats_url, dir, settings)
    }

    /// [`Replica::start`] on a given port (a restart keeps its address).
    fn start_on(
        port: u16,
        name: &str,
        database_url: &str,
        nats_url: &str,
        dir: &std::path::Path,
        settings: &[(&str, String)],
    ) -> Replica {
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", database_url.to_owned()),
            ("NATS_URL", nats_url.to_owned()),
            ("SERVICE_HOST", "127.0.0.1".to_owned()),
            ("SERVICE_PORT", port.to_string()),
            ("FEDERATION_AUTO_MIGRATE", "true".to_owned()),
            ("FEDERATION_DEGRADED_AFTER", "2s".to_owned()),
            ("FEDERATION_OFFLINE_AFTER", "3s".to_owned()),
            ("FEDERATION_SWEEP_INTERVAL", "200ms".to_owned()),
            ("FEDERATION_LEASE_TTL", "2s".to_owned()),
            ("FEDERATION_CANARY_INTERVAL", "500ms".to_owned()),
            (
                "FEDERATION_PROJECTS_FILE",
                dir.join("none.yaml").display().to_string(),
            ),
            ("LOG_LEVEL", "info".to_owned()),
            ("HOSTNAME", name.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let child = Binary::spawn(dir, &["serve"], &env);
        Replica {
            name: name.into(),
            port,
            child: Some(child),
            printed: String::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .unwrap(),
        }
    }

    /// [`Replica::start`], then until its `/ready` names a role (it is up, in the lease).
    async fn start_up(
        name: &str,
        database_url: &str,
        nats_url: &str,
        dir: &std::path::Path,
        settings: &[(&str, String)],
    ) -> Replica {
        let r = Replica::start(name, database_url, nats_url, dir, settings);
        eventually(Duration::from_secs(60), || async {
            match r.ready().await["replica"]["role"].as_str() {
                Some(_) => Ok(()),
                None => Err(format!("{} not up yet:\n{}", r.name, r.logs())),
            }
        })
        .await;
        r
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn running(&self) -> &Binary {
        self.child.as_ref().expect("running")
    }

    /// `kill -SIG`, by name (`"STOP"`, `"CONT"`).
    fn signal(&self, sig: &str) {
        self.running().signal(sig);
    }

    /// kill -9.
    fn kill(&mut self) {
        if let Some(c) = self.child.take() {
            self.printed = c.kill();
        }
    }

    /// SIGTERM, and wait for the clean stop.
    async fn terminate(&mut self) {
        let (status, printed) = self.child.take().expect("running").stop().await;
        assert!(
            status.success(),
            "{} stopped with {status}:\n{printed}",
            self.name
        );
        self.printed = printed;
    }

    /// What it printed (stdout and stderr).
    fn logs(&self) -> String {
        self.child
            .as_ref()
            .map_or_else(|| self.printed.clone(), Binary::output)
    }

    /// `GET path`: status and JSON body; `None` when the replica does not answer (a
    /// pooled connection the server closed meanwhile gets a second try).
    async fn get(&self, path: &str) -> Option<(u16, Value)> {
        for _ in 0..2 {
            match self.http.get(self.url(path)).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    return Some((status, r.json().await.unwrap_or(Value::Null)));
                }
                Err(e) => eprintln!("{} did not answer GET {path}: {e}", self.name),
            }
        }
        None
    }

    /// Its presence ticks so far (0 when it does not answer).
    async fn ticks(&self) -> u64 {
        match self.http.get(self.url("/metrics")).send().await {
            Ok(r) => {
                crate::ticks::counter_in(&r.text().await.unwrap_or_default(), crate::ticks::TICKS)
            }
            Err(_) => 0,
        }
    }

    async fn ready(&self) -> Value {
        self.get("/ready")
            .await
            .map(|(_, v)| v)
            .unwrap_or(Value::Null)
    }

    async fn role(&self) -> String {
        self.ready().await["replica"]["role"]
            .as_str()
            .unwrap_or("unreachable")
            .to_owned()
    }

    async fn status_of(&self, slug: &str) -> String {
        match self.get(&format!("/api/fed/projects/{slug}")).await {
            Some((200, v)) => v["status"].as_str().unwrap_or_default().to_owned(),
            Some((code, _)) => format!("http {code}"),
            None => "unreachable".into(),
        }
    }

    /// The history, oldest first, as `from->to`.
    async fn history(&self, slug: &str) -> Vec<String> {
        self.history_rows(slug, 100)
            .await
            .iter()
            .map(step)
            .collect()
    }

    /// The last `limit` history rows of `slug`, oldest first, as the API gives them.
    async fn history_rows(&self, slug: &str, limit: u32) -> Vec<Value> {
        let (code, v) = self
            .get(&format!("/api/fed/projects/{slug}/history?limit={limit}"))
            .await
            .expect("history");
        assert_eq!(code, 200, "{v}");
        let mut rows = v.as_array().unwrap().clone();
        rows.reverse();
        rows
    }

    async fn register(&self, slug: &str) {
        let r = self
            .http
            .post(self.url("/api/fed/projects"))
            .json(&json!({"slug": slug, "name": slug, "hub_url": "http://hub.example:8000"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    async fn http_heartbeat(&self, slug: &str) {
        let r = self
            .http
            .post(self.url(&format!("/api/fed/projects/{slug}/heartbeat")))
            .json(&json!({ "project_slug": slug }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    }
}

/// One history row as `from->to`.
fn step(t: &Value) -> String {
    format!(
        "{}->{}",
        t["from"].as_str().unwrap(),
        t["to"].as_str().unwrap()
    )
}

/// Three replicas on one database and bus, started one after the other (the first one
/// migrates), each ready.
struct Cluster {
    replicas: Vec<Replica>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(database_url: &str, nats_urls: &[String]) -> Cluster {
        Self::start_with(database_url, nats_urls, |_| Vec::new()).await
    }

    /// With settings of its own for replica `i`.
    async fn start_with(
        database_url: &str,
        nats_urls: &[String],
        settings: impl Fn(usize) -> Vec<(&'static str, String)>,
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut replicas = Vec::new();
        for (i, nats) in nats_urls.iter().cycle().take(3).enumerate() {
            let name = format!("replica-{i}");
            replicas
                .push(Replica::start_up(&name, database_url, nats, dir.path(), &settings(i)).await);
        }
        let cluster = Cluster {
            replicas,
            _dir: dir,
        };
        cluster.leader().await;
        cluster
    }

    fn live(&self) -> impl Iterator<Item = &Replica> {
        self.replicas.iter().filter(|r| r.child.is_some())
    }

    /// The index of the one live replica that leads (waits for there to be one).
    async fn leader(&self) -> usize {
        eventually(Duration::from_secs(15), || async {
            let mut leaders = Vec::new();
            for (i, r) in self.replicas.iter().enumerate() {
                if r.child.is_some() && r.role().await == "leader" {
                    leaders.push(i);
                }
            }
            match leaders.as_slice() {
                [one] => Ok(*one),
                other => Err(format!("leaders: {other:?}")),
            }
        })
        .await
    }

    /// Every live replica's history of each of `slugs` is one `offline->online`: nothing
    /// expired, nothing written twice.
    async fn assert_only_came_online(&self, slugs: &[&str]) {
        for r in self.live() {
            for slug in slugs {
                assert_eq!(
                    r.history(slug).await,
                    ["offline->online"],
                    "{slug} on {}",
                    r.name
                );
            }
        }
    }

    /// A few heartbeats for `slug`, then waits until every live replica shows it online.
    async fn bring_online(&self, nats: &async_nats::Client, slug: &str) {
        for _ in 0..3 {
            beat(nats, slug).await;
        }
        self.wait_status(slug, "online", Duration::from_secs(3))
            .await;
    }

    /// Waits until every live replica shows `slug` in `status`.
    async fn wait_status(&self, slug: &str, status: &str, within: Duration) {
        eventually(within, || async {
            let mut seen = Vec::new();
            for r in self.live() {
                seen.push(r.status_of(slug).await);
            }
            if seen.iter().all(|s| s == status) {
                Ok(())
            } else {
                Err(format!("{slug}: {seen:?}, waiting for {status}"))
            }
        })
        .await;
    }
}

async fn nats_client(url: &str) -> async_nats::Client {
    crate::helpers::nats_client(url, async_nats::ConnectOptions::new()).await
}

async fn beat(nats: &async_nats::Client, slug: &str) {
    let body = json!({ "project_slug": slug, "timestamp": chrono::Utc::now().to_rfc3339() });
    let _ = nats
        .publish(
            format!("hub.presence.{slug}"),
            serde_json::to_vec(&body).unwrap().into(),
        )
        .await;
    let _ = nats.flush().await;
}

/// Publishes a heartbeat for each of `slugs` every 300 ms until dropped.
struct Beating(tokio::task::JoinHandle<()>);

impl Beating {
    fn start(nats: async_nats::Client, slugs: &[&str]) -> Beating {
        let slugs: Vec<String> = slugs.iter().map(|s| (*s).to_owned()).collect();
        Beating(tokio::spawn(async move {
            loop {
                for s in &slugs {
                    beat(&nats, s).await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }))
    }
}

impl Drop for Beating {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Status events received on the bus: (slug, to, revision), in arrival order.
type Events = Arc<Mutex<Vec<(String, String, u64)>>>;

async fn record_events(nats: &async_nats::Client) -> Events {
    let mut sub = nats.subscribe("hub.federation.status.>").await.unwrap();
    nats.flush().await.unwrap();
    let events: Events = Arc::default();
    let e = events.clone();
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            e.lock().unwrap().push((
                v["slug"].as_str().unwrap().to_owned(),
                v["to"].as_str().unwrap().to_owned(),
                v["revision"].as_u64().expect("events carry their revision"),
            ));
        }
    });
    events
}

/// The events of `slug`, once per revision (a consumer de-duplicates on it), in order.
fn events_of(events: &Events, slug: &str) -> (Vec<String>, usize) {
    let all = events.lock().unwrap();
    let mine: Vec<&(String, String, u64)> = all.iter().filter(|(s, _, _)| s == slug).collect();
    let mut by_revision = BTreeMap::new();
    for (_, to, rev) in &mine {
        by_revision.insert(*rev, to.clone());
    }
    (by_revision.into_values().collect(), mine.len())
}

const LIFE: [&str; 3] = ["offline->online", "online->degraded", "degraded->offline"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_record_each_change_once_and_a_stopped_replica_strands_nobody() {
    let db = federation_testkit::postgres_database().unwrap();
    let nats_server = federation_testkit::NatsServer::start().unwrap();
    let cluster = Cluster::start(&db.url, &[nats_server.url()]).await;
    let nats = nats_client(&nats_server.url()).await;
    let events = record_events(&nats).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;

    // A registration through one replica is readable on every other within 1 s.
    for slug in ["nats-beat", "http-beat"] {
        let started = Instant::now();
        cluster.replicas[follower].register(slug).await;
        eventually(Duration::from_secs(1), || async {
            for r in cluster.live() {
                if r.status_of(slug).await != "offline" {
                    return Err(format!("{slug} not yet on {}", r.name));
                }
            }
            Ok(())
        })
        .await;
        println!(
            "{slug} visible on all replicas after {:?}",
            started.elapsed()
        );
    }

    // One project beats over NATS, the other over HTTP through a follower only.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        beat(&nats, "nats-beat").await;
        cluster.replicas[follower].http_heartbeat("http-beat").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    cluster
        .wait_status("nats-beat", "online", Duration::from_secs(2))
        .await;
    cluster
        .wait_status("http-beat", "online", Duration::from_secs(2))
        .await;

    // Silence, and the replica that took the HTTP heartbeats stops (a plain SIGTERM).
    let mut cluster = cluster;
    cluster.replicas[follower].terminate().await;
    let within = OFFLINE_AFTER + Duration::from_secs(5);
    for slug in ["nats-beat", "http-beat"] {
        cluster.wait_status(slug, "offline", within).await;
    }
    for r in cluster.live() {
        for slug in ["nats-beat", "http-beat"] {
            assert_eq!(r.history(slug).await, LIFE, "{slug} on {}", r.name);
        }
    }
    // Each transition published once, with its revision, in order.
    eventually(Duration::from_secs(3), || async {
        let (nats_events, _) = events_of(&events, "nats-beat");
        let (http_events, _) = events_of(&events, "http-beat");
        if nats_events.len() == 3 && http_events.len() == 3 {
            Ok(())
        } else {
            Err(format!("events so far: {:?}", events.lock().unwrap()))
        }
    })
    .await;
    for slug in ["nats-beat", "http-beat"] {
        let (tos, received) = events_of(&events, slug);
        assert_eq!(tos, ["online", "degraded", "offline"], "{slug}");
        assert_eq!(received, 3, "{slug}: no event published twice");
    }
    // The two replicas left answer reads from the same revision.
    let mut indexes = BTreeSet::new();
    for r in cluster.live() {
        indexes.insert(r.ready().await["replica"]["revision"].as_u64().unwrap());
    }
    assert_eq!(indexes.len(), 1, "{indexes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_then_a_frozen_leader_hand_the_sweep_over_losing_and_doubling_nothing() {
    let db = federation_testkit::postgres_database().unwrap();
    let nats_server = federation_testkit::NatsServer::start().unwrap();
    let mut cluster = Cluster::start(&db.url, &[nats_server.url()]).await;
    let nats = nats_client(&nats_server.url()).await;
    let events = record_events(&nats).await;
    let beating = ["b1", "b2", "b3", "b4"];
    for slug in beating.iter().chain(&["silent-1", "silent-2"]) {
        cluster.replicas[0].register(slug).await;
    }
    let _beats = Beating::start(nats.clone(), &beating);
    for slug in beating {
        cluster
            .wait_status(slug, "online", Duration::from_secs(5))
            .await;
    }

    // kill -9 of the leader while "silent-1" is on its way to offline.
    cluster.bring_online(&nats, "silent-1").await;
    let old = cluster.leader().await;
    cluster.replicas[old].kill();
    let killed_at = Instant::now();
    let new = cluster.leader().await;
    let failover = killed_at.elapsed();
    println!("failover after kill -9: {failover:?} (lease {LEASE:?}, tick {SWEEP:?})");
    assert!(
        failover < LEASE + SWEEP + Duration::from_secs(2),
        "{failover:?}"
    );
    cluster
        .wait_status(
            "silent-1",
            "offline",
            OFFLINE_AFTER + Duration::from_secs(5),
        )
        .await;

    // SIGSTOP of the new leader past its lease, while "silent-2" goes through its life.
    cluster.bring_online(&nats, "silent-2").await;
    cluster.replicas[new].signal("STOP");
    let frozen_at = Instant::now();
    let third = eventually(Duration::from_secs(15), || async {
        for (i, r) in cluster.replicas.iter().enumerate() {
            if i != new && r.child.is_some() && r.role().await == "leader" {
                return Ok(i);
            }
        }
        Err("no leader besides the frozen one")
    })
    .await;
    println!("failover after SIGSTOP: {:?}", frozen_at.elapsed());
    eventually(OFFLINE_AFTER + Duration::from_secs(8), || async {
        match cluster.replicas[third].status_of("silent-2").await.as_str() {
            "offline" => Ok(()),
            other => Err(format!("silent-2 is {other}")),
        }
    })
    .await;
    cluster.replicas[new].signal("CONT");
    eventually(Duration::from_secs(10), || async {
        match cluster.replicas[new].role().await.as_str() {
            "follower" => Ok(()),
            other => Err(format!("the thawed replica is {other}")),
        }
    })
    .await;
    cluster
        .wait_status("silent-2", "offline", Duration::from_secs(3))
        .await;

    // Nothing lost, nothing doubled, nobody who beat went offline.
    cluster.assert_only_came_online(&beating).await;
    for r in cluster.live() {
        for slug in beating {
            assert_eq!(r.status_of(slug).await, "online");
        }
        for slug in ["silent-1", "silent-2"] {
            assert_eq!(r.history(slug).await, LIFE, "{slug} on {}", r.name);
        }
    }
    for slug in ["silent-1", "silent-2"] {
        let (tos, received) = events_of(&events, slug);
        assert_eq!(tos, ["online", "degraded", "offline"], "{slug}");
        println!("{slug}: {received} events received for 3 revisions");
    }
    let thawed = cluster.replicas[new].logs();
    assert!(
        thawed.contains("no longer leads"),
        "the thawed replica stepped down:\n{thawed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_converge_after_postgres_and_nats_restart() {
    let pg = federation_testkit::PostgresCluster::start().unwrap();
    let url = pg.create_database("replicas").unwrap();
    let mut nats_server = federation_testkit::NatsServer::start().unwrap();
    let cluster = Cluster::start(&url, &[nats_server.url()]).await;
    let nats = nats_client(&nats_server.url()).await;
    let beating = ["p1", "p2", "p3"];
    for slug in beating {
        cluster.replicas[1].register(slug).await;
    }
    let _beats = Beating::start(nats.clone(), &beating);
    for slug in beating {
        cluster
            .wait_status(slug, "online", Duration::from_secs(5))
            .await;
    }

    pg.stop().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await; // an outage of 3 s, on purpose
    pg.start_again().unwrap();
    nats_server.restart().unwrap();

    // Writes work again through any replica and reach every other one.
    eventually(Duration::from_secs(20), || async {
        let r = cluster.replicas[2]
            .http
            .post(cluster.replicas[2].url("/api/fed/projects"))
            .json(&json!({"slug": "after", "name": "after", "hub_url": "http://hub.example:8000"}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("{}", r.status()))
        }
    })
    .await;
    cluster
        .wait_status("after", "offline", Duration::from_secs(5))
        .await;
    cluster.leader().await;
    for slug in beating {
        cluster
            .wait_status(slug, "online", Duration::from_secs(10))
            .await;
    }
    eventually(Duration::from_secs(10), || async {
        let mut seen = BTreeSet::new();
        for r in cluster.live() {
            seen.insert(r.ready().await["replica"]["revision"].as_u64());
        }
        if seen.len() == 1 {
            Ok(())
        } else {
            Err(format!("revisions differ: {seen:?}"))
        }
    })
    .await;
    cluster.assert_only_came_online(&beating).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_a_three_node_nats_cluster_lose_nothing_when_a_node_dies() {
    let routes: Vec<u16> = (0..3).map(|_| federation_testkit::free_port()).collect();
    let mut nodes: Vec<federation_testkit::NatsServer> = routes
        .iter()
        .map(|own| {
            let others: Vec<String> = routes
                .iter()
                .filter(|p| *p != own)
                .map(|p| format!("nats-route://127.0.0.1:{p}"))
                .collect();
            federation_testkit::NatsServer::start_with_config(&format!(
                "cluster {{ name: fed, listen: 127.0.0.1:{own}, routes: [{}] }}",
                others.join(", ")
            ))
            .unwrap()
        })
        .collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url()).collect();
    let db = federation_testkit::postgres_database().unwrap();
    // Replica i connects to node i.
    let cluster = Cluster::start(&db.url, &urls).await;
    let beating = ["c1", "c2", "c3"];
    for slug in beating {
        cluster.replicas[0].register(slug).await;
    }
    // Heartbeats come in through nodes 0 and 1.
    let first = nats_client(&urls[0]).await;
    let second = nats_client(&urls[1]).await;
    let events = record_events(&first).await;
    let _a = Beating::start(first.clone(), &beating[..2]);
    let _b = Beating::start(second.clone(), &beating[2..]);
    for slug in beating {
        cluster
            .wait_status(slug, "online", Duration::from_secs(10))
            .await;
    }

    nodes[2].stop().unwrap();
    // Longer than offline_after, and a tick on every replica after it: every project
    // keeps beating through the other nodes.
    crate::ticks::holds_through_ticks(
        tokio::time::Instant::now(),
        OFFLINE_AFTER + Duration::from_secs(2),
        Duration::from_secs(30),
        || async {
            for r in cluster.live() {
                for slug in beating {
                    assert_eq!(r.status_of(slug).await, "online", "{slug} on {}", r.name);
                }
            }
        },
        || async {
            let mut ticks = Vec::new();
            for r in cluster.live() {
                ticks.push(r.ticks().await);
            }
            ticks
        },
    )
    .await;
    cluster.assert_only_came_online(&beating).await;
    for slug in beating {
        let (tos, received) = events_of(&events, slug);
        assert_eq!((tos, received), (vec!["online".to_owned()], 1), "{slug}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_heartbeats_for_ten_thousand_projects_replicas_differ_by_about_a_tick() {
    const FLEET: usize = 10_000;
    const TICK: Duration = Duration::from_secs(1);
    let db = federation_testkit::postgres_database().unwrap();
    let nats_server = federation_testkit::NatsServer::start().unwrap();
    let catalog = tempfile::NamedTempFile::new().unwrap();
    let mut yaml = String::from("projects:\n");
    for i in 0..FLEET {
        yaml.push_str(&format!(
            "  - {{slug: f{i:05}, name: F{i}, hub_url: \"http://f{i}.example:8000\"}}\n"
        ));
    }
    std::fs::write(catalog.path(), yaml).unwrap();
    let file = catalog.path().display().to_string();
    // The first replica seeds the fleet from the catalog file; a tick of 1 s, as in
    // production, and thresholds a heartbeat every 2 s keeps clear of.
    let cluster = Cluster::start_with(&db.url, &[nats_server.url()], move |i| {
        let mut s = vec![
            ("FEDERATION_SWEEP_INTERVAL", "1s".to_owned()),
            ("FEDERATION_DEGRADED_AFTER", "5s".to_owned()),
            ("FEDERATION_OFFLINE_AFTER", "8s".to_owned()),
            ("FEDERATION_LEASE_TTL", "5s".to_owned()),
            // 10,000 heartbeats a round queue ahead of the canary: the default interval
            // keeps a busy (debug, 2-core) replica from reading that as a lost canary.
            ("FEDERATION_CANARY_INTERVAL", "5s".to_owned()),
        ];
        if i == 0 {
            s.push(("FEDERATION_PROJECTS_FILE", file.clone()));
        }
        s
    })
    .await;
    let nats = nats_client(&nats_server.url()).await;
    let watched = ["f00042", "f05000", "f09999"];
    let silent = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = silent.clone();
    let publisher = nats.clone();
    let beats = tokio::spawn(async move {
        loop {
            let quiet = s.load(std::sync::atomic::Ordering::SeqCst);
            for i in 0..FLEET {
                let slug = format!("f{i:05}");
                if quiet && watched.contains(&slug.as_str()) {
                    continue;
                }
                let body = format!(r#"{{"project_slug":"{slug}"}}"#);
                let _ = publisher
                    .publish(format!("hub.presence.{slug}"), body.into())
                    .await;
            }
            let _ = publisher.flush().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    eventually(Duration::from_secs(60), || async {
        for r in cluster.live() {
            let online = r
                .http
                .get(r.url("/api/fed/projects?status=online&limit=1"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .headers()
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if online != FLEET {
                return Err(format!("{}: {online} online", r.name));
            }
        }
        Ok(())
    })
    .await;

    // The watched projects fall silent: when does each replica stop showing them online?
    silent.store(true, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    let mut seen: BTreeMap<(usize, &str), Duration> = BTreeMap::new();
    while seen.len() < 3 * watched.len() {
        if started.elapsed() > Duration::from_secs(45) {
            let ready: Vec<Value> =
                futures::future::join_all(cluster.replicas.iter().map(|r| r.ready())).await;
            let mut projects = Vec::new();
            for r in &cluster.replicas {
                for slug in watched {
                    projects.push(r.get(&format!("/api/fed/projects/{slug}")).await);
                }
            }
            panic!("degraded seen: {seen:?}; replicas: {ready:?}; projects: {projects:?}");
        }
        for (i, r) in cluster.replicas.iter().enumerate() {
            for slug in watched {
                // Degraded, or already offline if this round came late (a busy machine).
                let left = matches!(r.status_of(slug).await.as_str(), "degraded" | "offline");
                if !seen.contains_key(&(i, slug)) && left {
                    seen.insert((i, slug), started.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    beats.abort();
    for slug in watched {
        let times: Vec<Duration> = (0..3).map(|i| seen[&(i, slug)]).collect();
        let spread = *times.iter().max().unwrap() - *times.iter().min().unwrap();
        println!("{slug}: degraded on the replicas at {times:?}, spread {spread:?}");
        assert!(
            spread <= TICK + Duration::from_millis(500),
            "{slug}: {spread:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_nats_a_second_replica_refuses_to_start_and_a_restarted_one_does() {
    let db = federation_testkit::postgres_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // No NATS: heartbeats over HTTP reach only the replica that took them.
    let mut first = Replica::start("alone", &db.url, "", dir.path(), &[]);
    eventually(Duration::from_secs(60), || async {
        match first.role().await.as_str() {
            "leader" => Ok(()),
            other => Err(format!("{other}:\n{}", first.logs())),
        }
    })
    .await;
    let mut second = Replica::start("second", &db.url, "", dir.path(), &[]);
    let (exited, logs) = second
        .child
        .take()
        .unwrap()
        .finish(Duration::from_secs(30))
        .await;
    assert!(!exited.success());
    assert!(
        logs.contains("several replicas need NATS"),
        "the refusal says why:\n{logs}"
    );

    // A replica killed a moment ago leaves its lease behind: a new one waits it out.
    first.kill();
    let restarted = Replica::start("restarted", &db.url, "", dir.path(), &[]);
    eventually(LEASE + Duration::from_secs(30), || async {
        match restarted.role().await.as_str() {
            "leader" => Ok(()),
            other => Err(format!("{other}:\n{}", restarted.logs())),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_key_and_an_objective_written_on_one_replica_hold_on_the_other() {
    let db = federation_testkit::postgres_database().unwrap();
    let nats_server = federation_testkit::NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for name in ["keys-a", "keys-b"] {
        replicas.push(Replica::start_up(name, &db.url, &nats_server.url(), dir.path(), &[]).await);
    }
    let [a, b] = replicas.as_slice() else {
        unreachable!()
    };
    a.register("keyed").await;
    // No API keys here (open mode): anyone may make the key, as any other write.
    let made = a
        .http
        .post(a.url("/api/fed/projects/keyed/heartbeat-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 201);
    let key = made.json::<Value>().await.unwrap()["heartbeat_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let beat = |r: &Replica, key: Option<&str>| {
        let mut req = r
            .http
            .post(r.url("/api/fed/projects/keyed/heartbeat"))
            .json(&json!({ "project_slug": "keyed" }));
        if let Some(key) = key {
            req = req.header("X-API-Key", key);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // The other replica follows the change from the log.
    eventually(Duration::from_secs(5), || async {
        match beat(b, None).await {
            401 => Ok(()),
            other => Err(format!("still {other}")),
        }
    })
    .await;
    assert_eq!(beat(b, Some("fhk_wrong")).await, 403);
    assert_eq!(beat(b, Some(&key)).await, 202);
    for r in [a, b] {
        eventually(Duration::from_secs(5), || async {
            match r.status_of("keyed").await.as_str() {
                "online" => Ok(()),
                other => Err(format!("{}: {other}", r.name)),
            }
        })
        .await;
    }
    let (_, shown) = b.get("/api/fed/projects/keyed").await.unwrap();
    assert_eq!(shown["heartbeat_key"], true, "{shown}");
    assert!(!shown.to_string().contains(&key[4..]));
    // Removed on the second, open again on the first.
    let removed = b
        .http
        .delete(b.url("/api/fed/projects/keyed/heartbeat-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status().as_u16(), 204);
    eventually(Duration::from_secs(5), || async {
        match beat(a, None).await {
            202 => Ok(()),
            other => Err(format!("still {other}")),
        }
    })
    .await;
    for r in [a, b] {
        assert!(
            !r.logs().contains(&key[4..]),
            "{} logged the key:\n{}",
            r.name,
            r.logs()
        );
    }
    an_objective_written_on_one_replica_reaches_the_other(a, b).await;
}

/// An objective made over REST on `a` is on `b`'s board and `/metrics` within its SLI
/// tick (15 s); deleted on `b`, it leaves `a` the same way (issue 25 item 8).
async fn an_objective_written_on_one_replica_reaches_the_other(a: &Replica, b: &Replica) {
    let made = a
        .http
        .put(a.url("/api/fed/slos/keyed-slo"))
        .json(&json!({"project": "keyed", "objective": 99.5, "window": "7d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 201);
    // The series are per subject: `name` is the project's slug.
    let series = r#"federation_slo_objective_ratio{kind="project",name="keyed",window="7d"} 0.995"#;
    let metrics = |r: &Replica| {
        let req = r.http.get(r.url("/metrics"));
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    eventually(Duration::from_secs(40), || async {
        match b.get("/api/fed/slos/keyed-slo").await {
            Some((200, slo)) if slo["objective_percent"] == 99.5 => {}
            other => return Err(format!("not on {} yet: {other:?}", b.name)),
        }
        let text = metrics(b).await;
        if text.contains(series) {
            Ok(())
        } else {
            let slo: Vec<&str> = text.lines().filter(|l| l.contains("slo")).collect();
            Err(format!(
                "{series} not in {}'s /metrics yet: {slo:#?}",
                b.name
            ))
        }
    })
    .await;
    let taken = b
        .http
        .put(b.url("/api/fed/slos/other"))
        .json(&json!({"project": "keyed", "objective": 99.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status().as_u16(), 409, "one objective per subject");
    let removed = b
        .http
        .delete(b.url("/api/fed/slos/keyed-slo"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status().as_u16(), 204);
    eventually(Duration::from_secs(40), || async {
        if !matches!(a.get("/api/fed/slos/keyed-slo").await, Some((404, _))) {
            return Err(format!("still on {}", a.name));
        }
        if metrics(a)
            .await
            .contains(r#"federation_slo_objective_ratio{kind="project",name="keyed""#)
        {
            Err(format!("still in {}'s /metrics", a.name))
        } else {
            Ok(())
        }
    })
    .await;
}

mod chaos;
mod db_failover;
mod lease_timer;
mod notify_failover;
mod outage_failover;
mod rolling;
