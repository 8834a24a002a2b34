//! The change stream (`GET /api/fed/events`) and blocking queries, against the real
//! service on both backends.

use std::time::{Duration, Instant};

use crate::helpers::{
    eventually, metric_value, project, Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY,
};
use serde_json::{json, Value};

/// One event of a stream.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: u64,
    pub kind: String,
    pub data: Value,
}

/// A change stream read frame by frame.
pub struct Sse {
    resp: reqwest::Response,
    buf: String,
    /// Comment lines seen (keep-alives).
    pub comments: usize,
}

impl Sse {
    pub async fn open(app: &TestApp, query: &str, last_event_id: Option<u64>) -> Self {
        let resp = Self::request(app, query, last_event_id, Some(READ_KEY)).await;
        assert_eq!(resp.status(), 200, "GET /api/fed/events{query}");
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        assert!(resp.headers().contains_key("x-federation-index"));
        Self {
            resp,
            buf: String::new(),
            comments: 0,
        }
    }

    pub async fn request(
        app: &TestApp,
        query: &str,
        last_event_id: Option<u64>,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut req = app.get(&format!("/api/fed/events{query}"));
        if let Some(key) = key {
            req = req.header("X-API-Key", key);
        }
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        req.send().await.expect("request")
    }

    /// The next event (comments and `retry:` skipped), or `None` when the stream ended.
    pub async fn next_within(&mut self, within: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = Event {
                    id: 0,
                    kind: String::new(),
                    data: Value::Null,
                };
                let mut is_event = false;
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        event.id = v.parse().expect("numeric id");
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event.kind = v.to_owned();
                        is_event = true;
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data = serde_json::from_str(v).expect("JSON data");
                    }
                }
                if is_event {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}; buffered {:?}", self.buf))
                .expect("stream read");
            match chunk {
                Some(bytes) => self
                    .buf
                    .push_str(std::str::from_utf8(&bytes).expect("UTF-8")),
                None => return None,
            }
        }
    }

    pub async fn next(&mut self) -> Event {
        self.next_within(Duration::from_secs(20))
            .await
            .expect("the stream ended")
    }

    /// The next event that is not a start or end of flapping (which rounds of beats
    /// and silence to a whole fleet bring too); ids still only grow.
    pub async fn next_not_flap(&mut self) -> Event {
        loop {
            let e = self.next().await;
            if e.kind != "flapping" && e.kind != "stable" {
                return e;
            }
        }
    }

    /// Events until (and with) the first `ready`.
    pub async fn until_ready(&mut self) -> Vec<Event> {
        let mut seen = Vec::new();
        loop {
            let e = self.next().await;
            let done = e.kind == "ready";
            seen.push(e);
            if done {
                return seen;
            }
        }
    }
}

fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{} {}", e.kind, e.data["slug"].as_str().unwrap_or("-")))
        .collect()
}

pub async fn metric(app: &TestApp, name: &str) -> f64 {
    metric_value(&app.metrics().await, name).unwrap_or_else(|| panic!("no {name} in /metrics"))
}

async fn patch(app: &TestApp, slug: &str, body: Value) {
    assert_eq!(app.patch_project(slug, &body).await.status(), 200);
}

async fn delete(app: &TestApp, slug: &str) {
    let r = app
        .client
        .delete(app.url(&format!("/api/fed/projects/{slug}")))
        .header("X-API-Key", WRITE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

async fn beat(app: &TestApp, slug: impl std::fmt::Display) {
    app.beat(&slug.to_string(), "1.2.3").await;
}

/// Every change in revision order, a transition with its project, filters, and a
/// resume from `Last-Event-ID` replaying from the log.
async fn order_filters_and_resume(mut config: TestConfig) {
    config.set("FEDERATION_SWEEP_INTERVAL", "100ms");
    let app = config.start().await;
    let mut all = Sse::open(&app, "", None).await;
    let first = all.next().await;
    assert_eq!(first.kind, "ready");
    let start = first.id;
    let mut tagged = Sse::open(&app, "?tag=RUST", None).await;
    assert_eq!(tagged.next().await.kind, "ready");
    let mut online = Sse::open(&app, "?status=online", None).await;
    assert_eq!(online.next().await.kind, "ready");
    let mut only_a = Sse::open(&app, "?slug=a", None).await;
    assert_eq!(only_a.next().await.kind, "ready");

    assert_eq!(app.register(&project("a")).await.status(), 201);
    let mut b = project("b");
    b["tags"] = json!(["rust"]);
    assert_eq!(app.register(&b).await.status(), 201);
    patch(&app, "a", json!({"name": "Project A"})).await;
    beat(&app, "a").await;

    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(all.next().await);
    }
    assert_eq!(
        kinds(&got),
        ["registered a", "registered b", "updated a", "transition a"]
    );
    assert!(got.windows(2).all(|w| w[0].id < w[1].id), "{got:?}");
    assert!(got[0].id > start);
    let t = &got[3].data;
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str()),
        (Some("offline"), Some("online"))
    );
    assert_eq!(t["reason"], "heartbeat");
    assert_eq!(t["revision"].as_u64(), Some(got[3].id));
    assert_eq!(t["project"]["status"], "online");
    assert_eq!(t["project"]["name"], "Project A");
    assert_eq!(got[0].data["project"]["slug"], "a");

    delete(&app, "b").await;
    let deleted = all.next().await;
    assert_eq!(kinds(std::slice::from_ref(&deleted)), ["deleted b"]);
    assert!(deleted.data.get("project").is_none());

    let tagged_got = [tagged.next().await, tagged.next().await];
    assert_eq!(kinds(&tagged_got), ["registered b", "deleted b"]);
    let online_got = online.next().await;
    assert_eq!(kinds(&[online_got]), ["transition a"]);
    let a_got = [
        only_a.next().await,
        only_a.next().await,
        only_a.next().await,
    ];
    assert_eq!(kinds(&a_got), ["registered a", "updated a", "transition a"]);

    // Resume after the first change: the rest again, from the log, then live.
    let mut resumed = Sse::open(&app, "", Some(got[0].id)).await;
    let replay = resumed.until_ready().await;
    assert_eq!(
        kinds(&replay),
        [
            "registered b",
            "updated a",
            "transition a",
            "deleted b",
            "ready -"
        ]
    );
    assert_eq!(replay[4].id, deleted.id);
    assert_eq!(app.register(&project("c")).await.status(), 201);
    assert_eq!(kinds(&[resumed.next().await]), ["registered c"]);
    // The same resume with a filter.
    let mut resumed_b = Sse::open(&app, "?slug=b", Some(got[0].id)).await;
    assert_eq!(
        kinds(&resumed_b.until_ready().await),
        ["registered b", "deleted b", "ready -"]
    );
    // Bad filters and ids are 422 naming the field.
    for (query, id, field) in [
        ("?status=up", None, "status"),
        ("?slug=-x", None, "slug"),
        ("", Some("abc"), "Last-Event-ID"),
    ] {
        let mut req = app
            .get(&format!("/api/fed/events{query}"))
            .header("X-API-Key", READ_KEY);
        if let Some(id) = id {
            req = req.header("Last-Event-ID", id);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 422, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], field);
    }
    app.stop().await;
}
on_both_backends!(stream_order_filters_and_resume, order_filters_and_resume);

/// A client resuming from a revision the log no longer holds gets one `reset`.
async fn reset_after_trim(mut config: TestConfig) {
    config
        .set("FEDERATION_LOG_RETENTION", "200ms")
        .set("FEDERATION_LOG_TRIM_INTERVAL", "100ms");
    let app = config.start().await;
    for slug in ["a", "b", "c"] {
        assert_eq!(app.register(&project(slug)).await.status(), 201);
    }
    let mut live = Sse::open(&app, "", None).await;
    let ready = live.next().await;
    assert_eq!(ready.kind, "ready");
    let first = ready.id - 2;
    let reset = eventually(Duration::from_secs(20), || async {
        let mut s = Sse::open(&app, "", Some(first)).await;
        let e = s.next().await;
        if e.kind == "reset" {
            Ok((e, s))
        } else {
            Err(format!("not trimmed yet: {e:?}"))
        }
    })
    .await;
    let (event, mut stream) = reset;
    assert_eq!(event.data["revision"].as_u64(), Some(event.id));
    assert!(event.id >= ready.id);
    assert_eq!(stream.next().await.kind, "ready");
    // Live from there.
    assert_eq!(app.register(&project("d")).await.status(), 201);
    assert_eq!(kinds(&[stream.next().await]), ["registered d"]);
    // A revision ahead of the registry (another database) is a reset too.
    let mut ahead = Sse::open(&app, "", Some(1_000_000)).await;
    assert_eq!(ahead.next().await.kind, "reset");
    app.stop().await;
}
on_both_backends!(stream_reset_after_trim, reset_after_trim);

/// A client that never reads is dropped (and counted) while another keeps receiving
/// every change; neither slows the service.
async fn slow_client_dropped(mut config: TestConfig) {
    // Fat projects (32 long tags, a long name) from the catalog file, so each event is
    // ~3 KB; heartbeats then make every tick a batch of hundreds of transitions (online,
    // then degraded and offline on silence), enough to fill the kernel's socket buffers
    // of a client that does not read, then its queue of 4 batches.
    const FLEET: usize = 500;
    let tags: Vec<String> = (0..32)
        .map(|i| format!("{i:02}-{}", "t".repeat(60)))
        .collect();
    let mut yaml = String::from("projects:\n");
    for i in 0..FLEET {
        yaml.push_str(&format!(
            "  - {{slug: fat-{i:04}, name: {}, hub_url: 'http://fat.example.com', tags: {}}}\n",
            "n".repeat(200),
            serde_json::to_string(&tags).unwrap()
        ));
    }
    config.write_projects(&yaml);
    config
        .set("FEDERATION_STREAM_BUFFER", "4")
        .set("FEDERATION_SWEEP_INTERVAL", "100ms")
        .set("FEDERATION_DEGRADED_AFTER", "1s")
        .set("FEDERATION_OFFLINE_AFTER", "2s");
    let app = config.start().await;
    let mut reader = Sse::open(&app, "", None).await;
    assert_eq!(reader.next().await.kind, "ready");

    // The slow client: a socket with a small receive buffer that reads the response
    // head and then nothing.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let mut slow = socket.connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    slow.write_all(
        format!("GET /api/fed/events HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {READ_KEY}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = [0u8; 64];
    let n = slow.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    eventually(Duration::from_secs(10), || async {
        match metric(&app, "federation_event_streams_open").await {
            n if n >= 2.0 => Ok(()),
            n => Err(format!("{n} streams open")),
        }
    })
    .await;

    // Rounds of heartbeats to the whole fleet until the slow client is dropped; the
    // reader takes every transition meanwhile.
    let mut rounds = 0;
    let mut transitions = 0usize;
    let mut last_id = 0;
    let started = Instant::now();
    while metric(&app, "federation_event_stream_clients_dropped_total").await < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the slow client was not dropped after {rounds} rounds"
        );
        rounds += 1;
        for chunk in (0..FLEET).collect::<Vec<_>>().chunks(50) {
            let beats = chunk.iter().map(|i| beat(&app, format!("fat-{i:04}")));
            futures::future::join_all(beats).await;
        }
        // Online, then (degraded and) offline: every transition reaches the reader, in
        // order (a busy tick may take a project from online to offline at once).
        let mut offline = 0;
        while offline < FLEET {
            let e = reader.next_not_flap().await;
            assert_eq!(e.kind, "transition", "{e:?}");
            assert!(e.id > last_id, "{} after {last_id}", e.id);
            last_id = e.id;
            transitions += 1;
            if e.data["to"] == "offline" {
                offline += 1;
            }
        }
    }
    assert!(
        transitions >= rounds * FLEET * 2,
        "{transitions} transitions"
    );
    // The reader goes on.
    assert_eq!(app.register(&project("after")).await.status(), 201);
    assert_eq!(kinds(&[reader.next_not_flap().await]), ["registered after"]);
    // The slow client's stream ends once it reads what was already on its way.
    let mut sink = vec![0u8; 1 << 16];
    let mut tail: Vec<u8> = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match slow.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => tail.extend_from_slice(&sink[..n]),
            }
            // The last chunk of a chunked body.
            if tail.ends_with(b"\r\n0\r\n\r\n") {
                break;
            }
            let keep = tail.len().saturating_sub(16);
            tail.drain(..keep);
        }
    })
    .await
    .expect("the slow client's stream ends");
    eventually(Duration::from_secs(10), || async {
        match metric(&app, "federation_event_streams_open").await {
            n if (n - 1.0).abs() < f64::EPSILON => Ok(()),
            n => Err(format!("{n} streams open")),
        }
    })
    .await;
    eprintln!("slow client dropped after {rounds} round(s) of {FLEET} projects");
    app.stop().await;
}
on_both_backends!(stream_slow_client_dropped, slow_client_dropped);

/// The stream limit answers 503 with Retry-After; keys are required; keep-alives flow.
async fn limit_keys_and_keep_alive(mut config: TestConfig) {
    config
        .set("FEDERATION_STREAM_MAX", "2")
        .set("FEDERATION_STREAM_KEEP_ALIVE", "200ms");
    let app = config.start().await;
    let no_key = Sse::request(&app, "", None, None).await;
    assert_eq!(no_key.status(), 401);
    let bad_key = Sse::request(&app, "", None, Some("nope")).await;
    assert_eq!(bad_key.status(), 403);
    let mut one = Sse::open(&app, "", None).await;
    let two = Sse::request(&app, "", None, Some(WRITE_KEY)).await;
    assert_eq!(two.status(), 200);
    let three = Sse::request(&app, "", None, Some(READ_KEY)).await;
    assert_eq!(three.status(), 503);
    assert!(three.headers().contains_key("retry-after"));
    let body: Value = three.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    assert_eq!(metric(&app, "federation_event_streams_open").await, 2.0);
    // A closed stream frees its place.
    drop(two);
    eventually(Duration::from_secs(10), || async {
        let r = Sse::request(&app, "", None, Some(READ_KEY)).await;
        if r.status() == 200 {
            Ok(())
        } else {
            Err(format!("still {}", r.status()))
        }
    })
    .await;
    // Keep-alive comments on an idle stream.
    assert_eq!(one.next().await.kind, "ready");
    let waited = tokio::time::timeout(Duration::from_millis(1500), one.next()).await;
    assert!(waited.is_err(), "no event expected on an idle stream");
    assert!(one.comments >= 2, "{} keep-alives", one.comments);
    assert!(metric(&app, "federation_event_stream_events_sent_total").await >= 1.0);
    app.stop().await;
}
on_both_backends!(stream_limit_keys_and_keep_alive, limit_keys_and_keep_alive);

/// Blocking queries return as soon as the revision passes `index`, or at `wait`; the
/// index header is always there.
async fn blocking_queries(config: TestConfig) {
    let app = config.start().await;
    assert_eq!(app.register(&project("a")).await.status(), 201);
    let index_of = |r: &reqwest::Response| -> u64 {
        r.headers()["x-federation-index"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let r = app
        .get("/api/fed/projects")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    let index = index_of(&r);

    // Nothing changes: answered at `wait`, same index.
    for path in ["/api/fed/projects", "/api/fed/projects/a"] {
        let started = Instant::now();
        let r = app
            .get(&format!("{path}?index={index}&wait=700ms"))
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(r.status(), 200);
        assert_eq!(index_of(&r), index);
        assert!(
            took >= Duration::from_millis(650),
            "{path} answered after {took:?}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{path} answered after {took:?}"
        );
    }
    // An older index: at once.
    let started = Instant::now();
    let r = app
        .get(&format!("/api/fed/projects?index={}&wait=30s", index - 1))
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));

    // A change: answered early, with the new index and the change in the body.
    for (path, slug) in [("/api/fed/projects", "b"), ("/api/fed/projects/a", "c")] {
        let current = index_of(
            &app.get("/api/fed/projects")
                .header("X-API-Key", READ_KEY)
                .send()
                .await
                .unwrap(),
        );
        let started = Instant::now();
        let waiting = app
            .get(&format!("{path}?index={current}&wait=30s"))
            .header("X-API-Key", READ_KEY)
            .send();
        let write = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(app.register(&project(slug)).await.status(), 201);
        };
        let (r, ()) = tokio::join!(waiting, write);
        let r = r.unwrap();
        let took = started.elapsed();
        assert_eq!(r.status(), 200);
        assert!(index_of(&r) > current);
        assert!(
            took < Duration::from_secs(10),
            "{path} answered after {took:?}"
        );
        assert!(
            took >= Duration::from_millis(250),
            "{path} answered after {took:?}"
        );
        if path == "/api/fed/projects" {
            let body: Vec<Value> = r.json().await.unwrap();
            assert!(body.iter().any(|p| p["slug"] == slug));
        }
    }
    // Bad values: 422 naming the field.
    for (query, field) in [("index=x", "index"), ("index=1&wait=soon", "wait")] {
        let r = app
            .get(&format!("/api/fed/projects?{query}"))
            .header("X-API-Key", READ_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], field);
    }
    app.stop().await;
}
on_both_backends!(blocking_query, blocking_queries);

/// The summary: counts by status and tag, the longest offline, revision, guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_counts_and_names_the_longest_offline() {
    let mut config = TestConfig::new(Backend::sqlite);
    config.set("FEDERATION_SWEEP_INTERVAL", "100ms");
    let app = config.start().await;
    for (slug, tags) in [
        ("a", json!(["Rust", "db"])),
        ("b", json!(["rust"])),
        ("c", json!([])),
    ] {
        let mut p = project(slug);
        p["tags"] = tags;
        assert_eq!(app.register(&p).await.status(), 201);
    }
    beat(&app, "b").await;
    app.wait_for_status("b", "online", Duration::from_secs(10))
        .await;
    let r = app
        .get("/api/fed/summary")
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let index: u64 = r.headers()["x-federation-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["revision"].as_u64(), Some(index));
    assert_eq!(s["total"], 3);
    assert_eq!(
        s["counts"],
        json!({"online": 1, "degraded": 0, "offline": 2})
    );
    assert_eq!(
        s["tags"],
        json!([
            {"tag": "db", "total": 1, "online": 0, "degraded": 0, "offline": 1},
            {"tag": "Rust", "total": 2, "online": 1, "degraded": 0, "offline": 1},
        ])
    );
    assert_eq!(s["longest_offline"]["slug"], "a");
    assert_eq!(s["longest_offline"]["last_heartbeat_at"], Value::Null);
    assert_eq!(s["partition_guard"], "inactive");
    let no_key = app.get("/api/fed/summary").send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    app.stop().await;
}
