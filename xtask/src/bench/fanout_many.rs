//! (g) the change stream at scale: [`MANY`] SSE clients on one replica.
//!
//! - RSS per idle client: the service's resident memory with the clients connected and
//!   idle, less before they connected, over their number;
//! - one change at a time: from the write's start until the last of the clients has
//!   its event (p50 / p99 over [`CHANGES`] changes).
//!
//! The clients are tasks of one thread (tokio, epoll), each on its own socket, counting
//! `event: updated` lines; the xtask process holds their sockets, not the service.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::net::TcpStream;

use super::fanout::{change, percentile};
use super::http::KeepAlive;
use super::procfs;
use super::report::{thousands, Report};
use super::service::Service;
use super::API_KEY;

/// Clients at once (the service is started with a stream limit above it).
pub(super) const MANY: usize = 10_000;
/// Changes written one at a time, each waited for at every client.
const CHANGES: usize = 50;
/// Connections opened at once while connecting.
const CONNECT_WAVE: usize = 250;

/// Reads the stream's lines from `tcp`, counting `event: updated` into `reached`: the
/// k-th update a client sees adds one to `reached[k]`. `connected` gets one when the
/// stream said `ready`.
async fn client(
    tcp: TcpStream,
    connected: Arc<AtomicUsize>,
    reached: Arc<Vec<AtomicUsize>>,
) -> anyhow::Result<()> {
    let request = format!(
        "GET /api/fed/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    let mut sent = 0;
    while sent < request.len() {
        tcp.writable().await?;
        match tcp.try_write(request.as_bytes().get(sent..).unwrap_or_default()) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut buf = vec![0u8; 4096];
    let mut line: Vec<u8> = Vec::new();
    let mut updates = 0usize;
    let mut head = true;
    loop {
        tcp.readable().await?;
        let n = match tcp.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        };
        for &b in buf.get(..n).unwrap_or_default() {
            if b != b'\n' {
                line.push(b);
                continue;
            }
            if head && line.starts_with(b"HTTP/1.1 ") && !line.starts_with(b"HTTP/1.1 200") {
                bail!(
                    "the change stream answered {}",
                    String::from_utf8_lossy(&line)
                );
            }
            if line.starts_with(b"event: ready") {
                head = false;
                connected.fetch_add(1, Ordering::AcqRel);
            } else if line.starts_with(b"event: updated") {
                updates += 1;
                if let Some(r) = reached.get(updates) {
                    r.fetch_add(1, Ordering::AcqRel);
                }
            }
            line.clear();
        }
    }
}

/// Waits until `done` holds, polling every millisecond; `false` after `within`.
async fn until(within: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

pub(super) fn fanout_many(service: &Service, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: (g) {MANY} SSE clients");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let port = service.port();
    let pid = service.pid();
    let mut http = KeepAlive::new(port);
    change(&mut http, 0)?; // registered: not counted
    rt.block_on(async {
        let before = procfs::vm_mib(pid, "VmRSS:")?;
        let connected = Arc::new(AtomicUsize::new(0));
        let reached: Arc<Vec<AtomicUsize>> =
            Arc::new((0..=CHANGES).map(|_| AtomicUsize::new(0)).collect());
        let mut tasks = tokio::task::JoinSet::new();
        for wave in 0..MANY.div_ceil(CONNECT_WAVE) {
            let n = CONNECT_WAVE.min(MANY - wave * CONNECT_WAVE);
            for _ in 0..n {
                let tcp = TcpStream::connect(("127.0.0.1", port))
                    .await
                    .context("connecting a client")?;
                tasks.spawn(client(tcp, connected.clone(), reached.clone()));
            }
            let want = wave * CONNECT_WAVE + n;
            if !until(Duration::from_secs(30), || {
                connected.load(Ordering::Acquire) >= want
            })
            .await
            {
                bail!(
                    "only {} of {want} clients got their stream",
                    connected.load(Ordering::Acquire)
                );
            }
        }
        // Idle: let the service settle (no keep-alive falls within this).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = procfs::vm_mib(pid, "VmRSS:")?;
        let per_client_kb = (after - before) * 1024.0 / MANY as f64;
        report.row(
            &format!("(g) RSS per idle SSE client, {MANY} clients on one replica"),
            format!(
                "{per_client_kb:.1} KB ({} MiB before, {} MiB with the clients)",
                thousands(before),
                thousands(after)
            ),
            "≤ 20 KB",
            Some(per_client_kb <= 20.0),
        );

        let mut latencies = Vec::with_capacity(CHANGES);
        for i in 1..=CHANGES {
            let started = Instant::now();
            // The write blocks this thread; the clients read once it answered.
            change(&mut http, i)?;
            let all = until(Duration::from_secs(30), || {
                reached
                    .get(i)
                    .is_some_and(|r| r.load(Ordering::Acquire) >= MANY)
            })
            .await;
            if !all {
                bail!(
                    "change {i} reached {} of {MANY} clients within 30 s",
                    reached.get(i).map_or(0, |r| r.load(Ordering::Acquire))
                );
            }
            latencies.push(started.elapsed());
        }
        latencies.sort_unstable();
        let p50 = percentile(&latencies, 0.50);
        let p99 = percentile(&latencies, 0.99);
        report.row(
            &format!("(g) one change → the last of {MANY} SSE clients has it (write included; p50 / p99)"),
            format!(
                "{:.1} ms / {:.1} ms over {CHANGES} changes",
                p50.as_secs_f64() * 1000.0,
                p99.as_secs_f64() * 1000.0
            ),
            "p99 ≤ 250 ms",
            Some(p99 <= Duration::from_millis(250)),
        );
        tasks.abort_all();
        Ok(())
    })
}
