//! What one HTTP client may hold of the server (issue 14, item 3): a pipelining flood
//! against the real binary (RSS read from /proc), a stalled body, and the errors the
//! HTTP layer answers on its own, all as JSON with an `X-Request-Id`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::binary::Binary;
use crate::helpers::{Backend, TestConfig, WRITE_KEY};

/// A number from `/proc/<pid>/status` (its first word after `field:`).
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The resident set of `pid`, in MB.
fn rss_mb(pid: u32) -> u64 {
    proc_status(pid, "VmRSS") / 1024
}

/// Starts the binary on port 0 and returns it with its address.
async fn start_binary(dir: &std::path::Path) -> (Binary, String) {
    let env = HashMap::from([
        ("LOG_FORMAT".to_owned(), "json".to_owned()),
        (
            "LOG_LEVEL".to_owned(),
            "warn,federation_server::app=info".to_owned(),
        ),
        ("SERVICE_PORT".to_owned(), "0".to_owned()),
        (
            "FEDERATION_PROJECTS_FILE".to_owned(),
            dir.join("none.yaml").display().to_string(),
        ),
    ]);
    let service = Binary::spawn(dir, &["serve"], &env);
    let address = service.address().await;
    (service, address)
}

/// 400 connections pipeline 20,000 `GET /health` each and read none of the answers.
/// Before the connection wrapper a debug build stopped answering `/health` altogether
/// (a release build grew to 2.9 GB); now RSS stays far below 200 MB and `/health` answers
/// throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelining_flood_leaves_rss_low_and_the_service_answering() {
    const CONNECTIONS: usize = 400;
    const PIPELINED: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let (service, address) = start_binary(dir.path()).await;
    let pid = service.pid();
    // The service turned transparent huge pages off for itself: its resident set grows
    // by what it touches, not in steps of 2 MiB (docs/benchmarks.md, *Huge pages*).
    assert_eq!(proc_status(pid, "THP_enabled"), 0, "transparent huge pages");
    // A new connection for every check: a client arriving during the flood is served.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let health = format!("http://{address}/health");
    assert_eq!(client.get(&health).send().await.unwrap().status(), 200);
    let before = rss_mb(pid);

    let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    let mut floods = Vec::new();
    for _ in 0..CONNECTIONS {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(address.parse().unwrap()).await.unwrap();
        let request = request.clone();
        floods.push(tokio::spawn(async move {
            for _ in 0..PIPELINED / 1000 {
                if stream.write_all(&request).await.is_err() {
                    break;
                }
            }
            // Hold the connection, reading nothing, until the test ends.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(stream);
        }));
    }

    let started = Instant::now();
    let mut peak = before;
    let mut slowest = Duration::ZERO;
    let mut checks = 0;
    while started.elapsed() < Duration::from_secs(15) {
        peak = peak.max(rss_mb(pid));
        let asked = Instant::now();
        let resp = client.get(&health).send().await;
        let took = asked.elapsed();
        assert!(
            resp.as_ref().is_ok_and(|r| r.status() == 200),
            "/health during the flood: {resp:?} after {took:?}"
        );
        slowest = slowest.max(took);
        checks += 1;
        peak = peak.max(rss_mb(pid));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for flood in &floods {
        flood.abort();
    }
    eprintln!(
        "RSS before {before} MB, peak {peak} MB under {CONNECTIONS} pipelining connections; \
         /health answered {checks} times, slowest {slowest:?}"
    );
    assert!(peak < 200, "RSS peaked at {peak} MB");
}

/// Sends `bytes` on a new connection and reads until the server closes it (or
/// `within` passes): the raw answer and how long it took.
async fn exchange(address: &str, bytes: &[u8], within: Duration) -> (String, Duration) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let sent = Instant::now();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "connection still open after {within:?}; got {:?}",
        String::from_utf8_lossy(&answer)
    );
    (
        String::from_utf8_lossy(&answer).into_owned(),
        sent.elapsed(),
    )
}

/// The status, the lower-cased head and the JSON body of one raw answer.
fn parse(answer: &str) -> (u16, String, Value) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_ascii_lowercase(), json)
}

fn limits_config() -> TestConfig {
    let mut config = TestConfig::new(Backend::sqlite);
    config
        .set("FEDERATION_HTTP_BODY_TIMEOUT", "1s")
        // Room for a 200 KB head to arrive on two busy cores (it is read 1 KB a turn).
        .set("FEDERATION_HTTP_HEAD_TIMEOUT", "4s");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_408_and_closed_within_the_body_timeout() {
    let app = limits_config().start().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let request = format!(
        "POST /api/fed/projects HTTP/1.1\r\nHost: x\r\nX-API-Key: {WRITE_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    let (answer, took) = exchange(&address, request.as_bytes(), Duration::from_secs(10)).await;
    let (status, head, json) = parse(&answer);
    assert_eq!(status, 408, "{answer}");
    assert_eq!(json["error"]["code"], "request_timeout", "{answer}");
    assert!(head.contains("\r\nx-request-id: "), "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "{took:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_of_the_http_layer_itself_are_json_with_a_request_id() {
    let app = limits_config().start().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(200_000));
    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(200_000)
    );
    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "bad header line",
            b"GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec(),
            400,
        ),
        ("URI too long", long_uri.into_bytes(), 431),
        ("header block too large", big_header.into_bytes(), 431),
        // No end of head within the head timeout.
        (
            "head not received",
            b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec(),
            408,
        ),
    ];
    for (what, bytes, expected) in cases {
        let (answer, _) = exchange(&address, &bytes, Duration::from_secs(10)).await;
        let (status, head, json) = parse(&answer);
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(head.contains("\r\nx-request-id: "), "{what}: {answer}");
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{what}: {answer}"
        );
        assert!(json["error"]["code"].is_string(), "{what}: {answer}");
        assert!(json["error"]["message"].is_string(), "{what}: {answer}");
    }
    // An ordinary request on the same server is unaffected.
    let (answer, _) = exchange(
        &address,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(parse(&answer).0, 200, "{answer}");
    app.stop().await;
}
