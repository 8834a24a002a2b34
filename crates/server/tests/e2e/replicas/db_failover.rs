//! A real database failover under load: a PostgreSQL primary with a synchronous
//! streaming standby, two replicas of the real binary on a `DATABASE_URL` naming both
//! (`target_session_attrs=read-write`), a writer on each replica registering projects
//! without pause, projects beating, and a change-stream client on each replica. The primary crashes
//! (immediate stop) and the standby is promoted, as a failover manager does. Then:
//! - the service writes again within 10 s of the promotion (the times are printed);
//! - every registration answered 201 is in the new primary and on both replicas;
//! - every write that failed was answered 503 (never 500, never a hang);
//! - each replica's change stream went on without a gap and without a reset, and no
//!   replica reloaded its registry;
//! - `/ready` is 200 again on both, and one replica leads.
//!
//! PostgreSQL only: SQLite is one file of one process, with no standby to fail over to.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// What the writer saw.
#[derive(Debug, Default)]
struct Written {
    /// Slugs answered 201, with when.
    acked: Vec<(String, Instant)>,
    /// Other answers: status (0: no answer), when, body.
    failed: Vec<(u16, Instant, String)>,
}

/// Registers `{prefix}-0`, `{prefix}-1`, … through `base`, one at a time, until `stop`.
async fn writer(base: String, prefix: &'static str, stop: Arc<AtomicBool>) -> Written {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut out = Written::default();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let slug = format!("{prefix}-{n}");
        n += 1;
        let sent = http
            .post(format!("{base}/api/fed/projects"))
            .json(&json!({"slug": slug, "name": slug, "hub_url": "http://hub.example:8000"}))
            .send()
            .await;
        let at = Instant::now();
        match sent {
            Ok(r) if r.status().as_u16() == 201 => out.acked.push((slug, at)),
            Ok(r) => {
                let code = r.status().as_u16();
                out.failed
                    .push((code, at, r.text().await.unwrap_or_default()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                out.failed.push((0, at, e.to_string()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    out
}

/// What a change-stream client saw.
#[derive(Debug, Default)]
struct Streamed {
    /// The revision its stream was ready at.
    start: Option<u64>,
    /// Change ids in arrival order.
    ids: Vec<u64>,
    resets: usize,
    /// Whether the stream ended before the client stopped.
    ended: bool,
}

/// Follows `base`'s change stream from now until `stop`.
async fn stream_client(base: String, stop: Arc<AtomicBool>) -> Streamed {
    let mut seen = Streamed::default();
    let mut resp = reqwest::Client::new()
        .get(format!("{base}/api/fed/events"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut buf = String::new();
    while !stop.load(Ordering::Relaxed) {
        let chunk = match tokio::time::timeout(Duration::from_millis(200), resp.chunk()).await {
            Err(_) => continue,
            Ok(Ok(Some(c))) => c,
            Ok(_) => {
                seen.ended = true;
                break;
            }
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .and_then(|v| v.parse::<u64>().ok());
            let kind = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            match (kind, id) {
                ("ready", Some(id)) if seen.start.is_none() => seen.start = Some(id),
                ("ready", _) => {}
                ("reset", _) => seen.resets += 1,
                (_, Some(id)) => seen.ids.push(id),
                _ => {}
            }
        }
    }
    seen
}

/// The revisions of the new primary's change log after `after`, in order.
fn log_after(db: &str, after: u64) -> Vec<u64> {
    federation_testkit::psql_query(
        db,
        &format!("SELECT revision FROM change_log WHERE revision > {after} ORDER BY revision"),
    )
    .unwrap()
    .lines()
    .map(|l| l.parse().unwrap())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_failover_under_load_loses_no_acknowledged_write() {
    use federation_testkit::{ReplicatedPostgres, Replication};
    let pair = ReplicatedPostgres::start(Replication::Synchronous).unwrap();
    let url = pair.create_database("failover").unwrap();
    let nats_server = federation_testkit::NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for i in 0..2 {
        replicas.push(
            Replica::start_up(
                &format!("replica-{i}"),
                &url,
                &nats_server.url(),
                dir.path(),
                &[],
            )
            .await,
        );
    }
    let bases: Vec<String> = replicas.iter().map(|r| r.url("")).collect();
    let nats = nats_client(&nats_server.url()).await;
    let beating: Vec<String> = (0..5).map(|i| format!("b-{i}")).collect();
    for slug in &beating {
        replicas[0].register(slug).await;
    }
    let slugs: Vec<&str> = beating.iter().map(String::as_str).collect();
    let _beating = Beating::start(nats.clone(), &slugs);
    for slug in &beating {
        for r in &replicas {
            eventually(Duration::from_secs(10), || async {
                match r.status_of(slug).await.as_str() {
                    "online" => Ok(()),
                    other => Err(format!("{slug} on {}: {other}", r.name)),
                }
            })
            .await;
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let streams: Vec<_> = bases
        .iter()
        .map(|b| tokio::spawn(stream_client(b.clone(), stop.clone())))
        .collect();
    let stop_writer = Arc::new(AtomicBool::new(false));
    // One writer per replica, each through its own pool.
    let writing: Vec<_> = bases
        .iter()
        .zip(["w", "x"])
        .map(|(b, prefix)| tokio::spawn(writer(b.clone(), prefix, stop_writer.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The primary crashes; the standby is promoted at once.
    let old_primary = pair.primary().port();
    pair.primary().stop_immediately().unwrap();
    let promoting = Instant::now();
    let promotion = pair.promote().unwrap();
    let db = pair.standby().url("failover");
    assert_ne!(pair.standby().port(), old_primary);

    // Both replicas are ready again.
    let mut ready_after = Vec::new();
    for r in &replicas {
        eventually(Duration::from_secs(30), || async {
            match r.get("/ready").await {
                Some((200, _)) => Ok(()),
                other => Err(format!("{} not ready: {other:?}", r.name)),
            }
        })
        .await;
        ready_after.push(promoting.elapsed());
    }
    // Let the writer go on against the new primary for a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_writer.store(true, Ordering::Relaxed);
    let mut written = Written::default();
    for w in writing {
        let mut one = w.await.unwrap();
        written.acked.append(&mut one.acked);
        written.failed.append(&mut one.failed);
    }
    written.acked.sort_by_key(|(_, at)| *at);

    let after_promotion = written
        .acked
        .iter()
        .find(|(_, at)| *at > promoting)
        .map(|(_, at)| at.duration_since(promoting))
        .expect("a registration acknowledged after the promotion");
    // The outage as the writers saw it: from the last 201 before the promotion began
    // (nothing can be acknowledged between the crash and the promotion) to the first
    // one after.
    let last_before = written
        .acked
        .iter()
        .filter(|(_, at)| *at < promoting)
        .map(|(_, at)| *at)
        .max()
        .expect("registrations before the crash");
    let first_after = promoting + after_promotion;
    println!(
        "database failover: first 201 {after_promotion:?} after `pg_ctl promote` began (it \
         returned after {promotion:?}); no write acknowledged for {:?} (last 201 before the \
         promotion to first after); /ready 200 again after {ready_after:?}; {} registrations \
         acknowledged, {} refused with {:?}",
        first_after.duration_since(last_before),
        written.acked.len(),
        written.failed.len(),
        written
            .failed
            .iter()
            .map(|(code, _, _)| *code)
            .collect::<BTreeSet<_>>()
    );
    assert!(
        after_promotion < Duration::from_secs(10),
        "writes again only {after_promotion:?} after the promotion"
    );
    // A write that failed was refused as unavailable, never as an internal error.
    for (code, _, body) in &written.failed {
        assert_eq!(*code, 503, "{body}");
    }

    // Every acknowledged registration is in the new primary, and on both replicas once
    // they have read its log to the end.
    let stored: BTreeSet<String> = federation_testkit::psql_query(&db, "SELECT slug FROM projects")
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let lost: Vec<&String> = written
        .acked
        .iter()
        .map(|(s, _)| s)
        .filter(|s| !stored.contains(*s))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let end: u64 = federation_testkit::psql_query(&db, "SELECT max(revision) FROM change_log")
        .unwrap()
        .parse()
        .unwrap();
    for r in &replicas {
        eventually(Duration::from_secs(10), || async {
            let revision = r.ready().await["replica"]["revision"].as_u64().unwrap_or(0);
            match revision >= end {
                true => Ok(()),
                false => Err(format!("{} at revision {revision} of {end}", r.name)),
            }
        })
        .await;
        let (code, list) = r.get("/api/fed/projects").await.unwrap();
        assert_eq!(code, 200);
        let listed: BTreeSet<String> = list
            .as_array()
            .or_else(|| list["items"].as_array())
            .unwrap()
            .iter()
            .map(|p| p["slug"].as_str().unwrap().to_owned())
            .collect();
        let missing: Vec<&String> = written
            .acked
            .iter()
            .map(|(s, _)| s)
            .filter(|s| !listed.contains(*s))
            .collect();
        assert!(missing.is_empty(), "{} lacks {missing:?}", r.name);
    }

    // Each change stream went on through the failover: exactly the log's changes after
    // its start, in order, none missing, none twice, no reset; no registry reloaded.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for (i, s) in streams.into_iter().enumerate() {
        let seen = s.await.unwrap();
        assert_eq!(seen.resets, 0, "stream {i}: {seen:?}");
        assert!(!seen.ended, "stream {i} ended");
        let start = seen.start.expect("the stream was ready");
        let expected: Vec<u64> = log_after(&db, start)
            .into_iter()
            .filter(|id| *id <= end)
            .collect();
        let got: Vec<u64> = seen.ids.iter().copied().filter(|id| *id <= end).collect();
        assert_eq!(got, expected, "stream {i} from revision {start}");
    }
    for r in &replicas {
        let logs = r.logs();
        assert!(
            !logs.contains("registry reloaded"),
            "{} reloaded its registry:\n{logs}",
            r.name
        );
    }
    eventually(Duration::from_secs(10), || async {
        let mut roles = Vec::new();
        for r in &replicas {
            roles.push(r.role().await);
        }
        match roles.iter().filter(|r| *r == "leader").count() {
            1 => Ok(()),
            _ => Err(format!("roles after the failover: {roles:?}")),
        }
    })
    .await;
    drop(nats);
}
