//! A rolling restart, as a Kubernetes rolling update does it: three replicas under load
//! (projects beating over NATS, REST readers and a writer, change-stream clients), each
//! replica in turn sent SIGTERM and replaced, the next one only once the new one is
//! ready. Clients go through a "balancer" that sends traffic only to replicas whose
//! `/ready` says 200, polled every 50 ms, as an endpoints controller would.
//!
//! The 10,000 projects are scaled down to [`PROJECTS`] (beating every 500 ms),
//! so the whole run takes well under a minute on the 2-core CI machine.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// Projects beating over NATS throughout.
const PROJECTS: usize = 200;
/// How long a stopping replica serves on with `/ready` at 503.
const DRAIN: &str = "1500ms";
const POLL: Duration = Duration::from_millis(50);

#[derive(Clone)]
struct Backend {
    name: String,
    port: u16,
    ready: bool,
    role: String,
}

/// The replicas as clients see them, and what went wrong at the clients.
#[derive(Default)]
struct Balancer {
    backends: Mutex<Vec<Backend>>,
    next: std::sync::atomic::AtomicUsize,
    /// Requests refused, failed or answered 5xx.
    errors: Mutex<Vec<String>>,
    /// (when, replica, role) each time a replica's role changed as `/ready` said it.
    roles: Mutex<Vec<(Instant, String, String)>>,
    stop: AtomicBool,
}

impl Balancer {
    fn set(&self, i: usize, name: &str, port: u16) {
        let mut b = self.backends.lock().unwrap();
        let entry = Backend {
            name: name.to_owned(),
            port,
            ready: false,
            role: String::new(),
        };
        if i < b.len() {
            b[i] = entry;
        } else {
            b.push(entry);
        }
    }

    /// A ready replica's base URL, round robin.
    fn pick(&self) -> Option<String> {
        let b = self.backends.lock().unwrap();
        let ready: Vec<&Backend> = b.iter().filter(|b| b.ready).collect();
        if ready.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) % ready.len();
        Some(format!("http://127.0.0.1:{}", ready[n].port))
    }

    fn error(&self, what: String) {
        eprintln!("client error: {what}");
        self.errors.lock().unwrap().push(what);
    }

    fn is_ready(&self, name: &str) -> bool {
        self.backends
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.name == name && b.ready)
    }

    fn leaders(&self) -> Vec<String> {
        let b = self.backends.lock().unwrap();
        b.iter()
            .filter(|b| b.role == "leader")
            .map(|b| b.name.clone())
            .collect()
    }
}

/// Polls every backend's `/ready`, as an endpoints controller does.
async fn poll_readiness(lb: Arc<Balancer>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    while !lb.stop.load(Ordering::Relaxed) {
        let backends = lb.backends.lock().unwrap().clone();
        for (i, b) in backends.iter().enumerate() {
            let (ready, role) = match http
                .get(format!("http://127.0.0.1:{}/ready", b.port))
                .send()
                .await
            {
                Ok(r) => {
                    let ok = r.status().as_u16() == 200;
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    (ok, v["replica"]["role"].as_str().unwrap_or("").to_owned())
                }
                Err(_) => (false, String::new()),
            };
            let mut all = lb.backends.lock().unwrap();
            if let Some(now) = all.get_mut(i).filter(|now| now.name == b.name) {
                if now.role != role {
                    lb.roles
                        .lock()
                        .unwrap()
                        .push((Instant::now(), b.name.clone(), role.clone()));
                }
                now.ready = ready;
                now.role = role;
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// GETs through the balancer until stopped: a list and single projects.
async fn reader(lb: Arc<Balancer>, slugs: Arc<Vec<String>>) -> u64 {
    let http = reqwest::Client::new();
    let mut n: u64 = 0;
    while !lb.stop.load(Ordering::Relaxed) {
        let Some(base) = lb.pick() else {
            lb.error("no ready replica".into());
            tokio::time::sleep(POLL).await;
            continue;
        };
        let path = if n.is_multiple_of(2) {
            "/api/fed/projects?limit=50".to_owned()
        } else {
            format!("/api/fed/projects/{}", slugs[n as usize % slugs.len()])
        };
        match http.get(format!("{base}{path}")).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => lb.error(format!("GET {base}{path}: {}", r.status())),
            Err(e) => lb.error(format!("GET {base}{path}: {e}")),
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    n
}

/// PATCHes a project's name through the balancer every 100 ms: changes for the streams.
async fn writer(lb: Arc<Balancer>) -> u64 {
    let http = reqwest::Client::new();
    let mut n: u64 = 0;
    while !lb.stop.load(Ordering::Relaxed) {
        let Some(base) = lb.pick() else {
            lb.error("no ready replica".into());
            tokio::time::sleep(POLL).await;
            continue;
        };
        let url = format!("{base}/api/fed/projects/p-{}", n % 10);
        match http
            .patch(&url)
            .json(&json!({ "name": format!("renamed {n}") }))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => n += 1,
            Ok(r) => lb.error(format!("PATCH {url}: {}", r.status())),
            Err(e) => lb.error(format!("PATCH {url}: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    n
}

/// What one change-stream client saw.
#[derive(Debug, Default)]
struct Seen {
    /// The revision its first stream was ready at.
    start: u64,
    /// Change ids, in arrival order.
    ids: Vec<u64>,
    resets: usize,
    /// Streams that ended with the stop's `retry:` hint.
    hinted_ends: usize,
    /// Streams that ended without it (cut).
    cut: usize,
    connects: usize,
}

/// Reads SSE frames off `resp` into `seen`; `last` is the last change id. Returns when
/// the stream ends; whether its last frame was a `retry:` hint.
async fn read_stream(resp: &mut reqwest::Response, seen: &mut Seen, first: bool) -> bool {
    let mut buf = String::new();
    let mut last_was_hint = false;
    let mut ready_seen = false;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return last_was_hint,
            Err(_) => return false,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind) = (None, "");
            last_was_hint = false;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse::<u64>().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    kind = if v == "ready" {
                        "ready"
                    } else if v == "reset" {
                        "reset"
                    } else {
                        "change"
                    };
                } else if line.starts_with("retry: ") {
                    last_was_hint = ready_seen && line != "retry: 2000";
                }
            }
            match (kind, id) {
                ("ready", Some(id)) => {
                    if first && !ready_seen {
                        seen.start = id;
                    }
                    ready_seen = true;
                }
                ("reset", _) => seen.resets += 1,
                ("change", Some(id)) => seen.ids.push(id),
                _ => {}
            }
        }
    }
}

/// A change-stream client: follows the stream through the balancer, resuming with
/// `Last-Event-ID` whenever it ends, until stopped.
async fn stream_client(lb: Arc<Balancer>) -> Seen {
    let http = reqwest::Client::new();
    let mut seen = Seen::default();
    let mut last: Option<u64> = None;
    while !lb.stop.load(Ordering::Relaxed) {
        let Some(base) = lb.pick() else {
            lb.error("no ready replica for a stream".into());
            tokio::time::sleep(POLL).await;
            continue;
        };
        let mut req = http.get(format!("{base}/api/fed/events"));
        if let Some(id) = last {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let mut resp = match req.send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                lb.error(format!("GET {base}/api/fed/events: {}", r.status()));
                continue;
            }
            Err(e) => {
                lb.error(format!("GET {base}/api/fed/events: {e}"));
                continue;
            }
        };
        seen.connects += 1;
        let first = seen.connects == 1;
        let stop = async {
            while !lb.stop.load(Ordering::Relaxed) {
                tokio::time::sleep(POLL).await;
            }
        };
        tokio::select! {
            hinted = read_stream(&mut resp, &mut seen, first) => {
                if hinted {
                    seen.hinted_ends += 1;
                } else {
                    seen.cut += 1;
                }
            }
            () = stop => {}
        }
        last = seen.ids.last().copied().or(Some(seen.start));
    }
    seen
}

/// Every change id in the log, from a stream replayed from the start.
async fn all_change_ids(base: &str) -> Vec<u64> {
    let http = reqwest::Client::new();
    let mut resp = http
        .get(format!("{base}/api/fed/events"))
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let mut seen = Seen::default();
    let mut buf = String::new();
    // Until the `ready` that ends the replay.
    'read: while let Some(chunk) = resp.chunk().await.unwrap() {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.contains("event: ready") {
                break 'read;
            }
            if let Some(id) = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .and_then(|v| v.parse().ok())
            {
                seen.ids.push(id);
            }
        }
    }
    seen.ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_under_load_is_invisible_to_clients() {
    let db = federation_testkit::postgres_database().unwrap();
    let nats_server = federation_testkit::NatsServer::start().unwrap();
    let settings = |_| vec![("FEDERATION_SHUTDOWN_DRAIN", DRAIN.to_owned())];
    let mut cluster = Cluster::start_with(&db.url, &[nats_server.url()], settings).await;
    let dir = tempfile::tempdir().unwrap();
    let nats = nats_client(&nats_server.url()).await;
    let slugs: Vec<String> = (0..PROJECTS).map(|i| format!("p-{i}")).collect();
    let leader = cluster.leader().await;
    for s in &slugs {
        cluster.replicas[leader].register(s).await;
    }
    let refs: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let beating = Beating::start(nats.clone(), &refs);
    for s in [&slugs[0], &slugs[PROJECTS - 1]] {
        cluster
            .wait_status(s, "online", Duration::from_secs(20))
            .await;
    }

    let lb = Arc::new(Balancer::default());
    for (i, r) in cluster.replicas.iter().enumerate() {
        lb.set(i, &r.name, r.port);
    }
    let poller = tokio::spawn(poll_readiness(lb.clone()));
    eventually(Duration::from_secs(10), || async {
        let leaders = lb.leaders();
        match cluster.replicas.iter().all(|r| lb.is_ready(&r.name)) && leaders.len() == 1 {
            true => Ok(()),
            false => Err(format!("balancer: leaders {leaders:?}")),
        }
    })
    .await;
    let slugs = Arc::new(slugs);
    let readers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(reader(lb.clone(), slugs.clone())))
        .collect();
    let writer = tokio::spawn(writer(lb.clone()));
    let streams: Vec<_> = (0..3)
        .map(|_| tokio::spawn(stream_client(lb.clone())))
        .collect();

    // SIGTERM each replica in turn; its replacement must be ready before the next.
    let mut restarts = Vec::new();
    for i in 0..3 {
        let old = cluster.replicas[i].name.clone();
        let was_leader = lb.leaders() == [old.clone()];
        let signalled = Instant::now();
        cluster.replicas[i].terminate().await;
        let stopped = signalled.elapsed();
        let name = format!("replica-{i}-b");
        let replacement =
            Replica::start_up(&name, &db.url, &nats_server.url(), dir.path(), &settings(i)).await;
        lb.set(i, &name, replacement.port);
        cluster.replicas[i] = replacement;
        eventually(Duration::from_secs(20), || async {
            match lb.is_ready(&name) {
                true => Ok(()),
                false => Err(format!("{name} not ready at the balancer")),
            }
        })
        .await;
        restarts.push((old, was_leader, signalled, stopped));
    }
    // A little more load on the new set, then stop the clients.
    let changes_before = lb.roles.lock().unwrap().len();
    eventually(Duration::from_secs(5), || async {
        match lb.leaders().len() {
            1 => Ok(()),
            n => Err(format!("{n} leaders")),
        }
    })
    .await;
    lb.stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    let writes = writer.await.unwrap();
    let mut seen = Vec::new();
    for s in streams {
        seen.push(s.await.unwrap());
    }
    poller.await.unwrap();

    // 0 refused, 0 5xx.
    let errors = lb.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "errors at the clients: {errors:#?}");
    assert!(
        reads > 100 && writes > 20,
        "too little load: {reads} reads, {writes} writes"
    );

    // Leadership: at most one move per restart; measure the hand-over. A move is a
    // replica other than the last leader reporting `leader`.
    let roles = lb.roles.lock().unwrap().clone();
    assert!(roles.len() >= changes_before);
    let mut moves: Vec<(Instant, String)> = Vec::new();
    let mut current: Option<&str> = None;
    for (at, name, role) in &roles {
        if role == "leader" && current != Some(name.as_str()) {
            if current.is_some() {
                moves.push((*at, name.clone()));
            }
            current = Some(name);
        }
    }
    let first_restart = restarts[0].2;
    assert!(
        moves.iter().all(|(at, _)| *at >= first_restart),
        "the lead moved before any restart: {moves:?}"
    );
    for (k, (old, was_leader, signalled, stopped)) in restarts.iter().enumerate() {
        let until = restarts.get(k + 1).map(|r| r.2);
        let window: Vec<&(Instant, String)> = moves
            .iter()
            .filter(|(at, _)| at >= signalled && until.is_none_or(|u| *at < u))
            .collect();
        assert!(
            window.len() <= 1,
            "restart of {old} (leader: {was_leader}): the lead moved {} times: {window:?}",
            window.len()
        );
        match window.first() {
            Some((at, to)) => eprintln!(
                "restart of {old} (leader: {was_leader}): the lead moved to {to} {:?} after \
                 SIGTERM (the replica stopped {stopped:?} after it; drain {DRAIN})",
                at.duration_since(*signalled)
            ),
            None => eprintln!(
                "restart of {old} (leader: {was_leader}): the lead stayed (stopped in {stopped:?})"
            ),
        }
    }
    assert!(moves.len() <= restarts.len(), "{moves:?}");

    // Every stream client resumed without a gap: what it got is exactly the log's
    // changes after its start, in order, none twice, and no reset.
    let base = format!("http://127.0.0.1:{}", cluster.replicas[0].port);
    let all = all_change_ids(&base).await;
    for (k, s) in seen.iter().enumerate() {
        let last = s.ids.last().copied().unwrap_or(s.start);
        let expected: Vec<u64> = all
            .iter()
            .copied()
            .filter(|id| *id > s.start && *id <= last)
            .collect();
        assert_eq!(s.resets, 0, "stream client {k}: {s:?}");
        assert_eq!(s.cut, 0, "stream client {k} was cut without a hint: {s:?}");
        assert!(s.connects >= 2, "stream client {k} never resumed: {s:?}");
        assert_eq!(s.ids, expected, "stream client {k}");
        eprintln!(
            "stream client {k}: {} changes over {} streams, {} ended with the retry hint",
            s.ids.len(),
            s.connects,
            s.hinted_ends
        );
    }

    // No false transition: every project came online once and stayed so. The projects
    // beat until here: stopped earlier, they would be late (2 s) by the time the last
    // histories are read, and rightly degraded.
    for slug in slugs.iter() {
        assert_eq!(
            cluster.replicas[0].history(slug).await,
            ["offline->online"],
            "{slug}"
        );
    }
    drop(beating);
    eprintln!(
        "{PROJECTS} projects beating, {reads} reads, {writes} writes, 3 stream clients: 0 errors"
    );
}
