//! (g) the change stream fanned out: 100 SSE clients on `GET /api/fed/events`.
//!
//! - one change at a time (a registration that updates one project's name): from the
//!   write's start until the last of the 100 clients has its event (p50 / p99);
//! - then changes written as fast as 4 writers go: changes per second until every
//!   client has every one of them, and how many clients were dropped (none expected).
//!
//! Each client is a thread on a raw keep-alive socket that counts `event: updated` lines.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::http::KeepAlive;
use super::metrics;
use super::report::{thousands, Report};
use super::service::Service;
use super::API_KEY;

const CLIENTS: usize = 100;
const ONE_BY_ONE: usize = 200;
const BURST: usize = 2000;
const WRITERS: usize = 4;

struct Clients {
    seen: Vec<Arc<AtomicU64>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Clients {
    fn open(port: u16) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut seen = Vec::with_capacity(CLIENTS);
        let mut threads = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            let tcp = TcpStream::connect(("127.0.0.1", port)).context("connecting a client")?;
            tcp.set_read_timeout(Some(Duration::from_millis(200)))?;
            let mut writer = tcp.try_clone()?;
            writer.write_all(
                format!(
                    "GET /api/fed/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n\
                     Accept: text/event-stream\r\n\r\n"
                )
                .as_bytes(),
            )?;
            let mut reader = BufReader::new(tcp);
            let mut status = String::new();
            reader.read_line(&mut status)?;
            if !status.starts_with("HTTP/1.1 200") {
                bail!("the change stream answered {}", status.trim());
            }
            let count = Arc::new(AtomicU64::new(0));
            seen.push(count.clone());
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                // A read that times out may leave half a line in `line`: it is kept
                // until the rest arrives.
                let mut line = String::new();
                while !stop.load(Ordering::Relaxed) {
                    match reader.read_line(&mut line) {
                        Ok(0) => return,
                        Ok(_) => {
                            if line.starts_with("event: updated") {
                                count.fetch_add(1, Ordering::Release);
                            }
                            line.clear();
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => return,
                    }
                }
            }));
        }
        Ok(Self {
            seen,
            stop,
            threads,
        })
    }

    /// Waits until every client has seen `n` updates; `false` after `within`.
    fn wait_all(&self, n: u64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.seen.iter().all(|c| c.load(Ordering::Acquire) >= n) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn close(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

pub(super) fn change(http: &mut KeepAlive, i: usize) -> anyhow::Result<()> {
    let body =
        format!(r#"{{"slug":"fanout","name":"change {i}","hub_url":"http://fanout.example.com"}}"#);
    let (status, answer) = http.post_json("/api/fed/projects", &body)?;
    if status != 200 && status != 201 {
        bail!("POST /api/fed/projects answered {status}: {answer:.200}");
    }
    Ok(())
}

pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

pub(super) fn fanout(service: &Service, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: (g) one change fanned out to {CLIENTS} SSE clients");
    let port = service.port();
    let mut http = KeepAlive::new(port);
    change(&mut http, 0)?; // registered: not counted
    let clients = Clients::open(port)?;

    let mut latencies = Vec::with_capacity(ONE_BY_ONE);
    for i in 1..=ONE_BY_ONE {
        let started = Instant::now();
        change(&mut http, i)?;
        if !clients.wait_all(i as u64, Duration::from_secs(10)) {
            clients.close();
            bail!("change {i} did not reach every client within 10 s");
        }
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);
    report.row(
        &format!(
            "(g) one change → the last of {CLIENTS} SSE clients has it (write included; p50 / p99)"
        ),
        format!(
            "{:.1} ms / {:.1} ms over {ONE_BY_ONE} changes",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        ),
        "p99 ≤ 100 ms",
        Some(p99 <= Duration::from_millis(100)),
    );

    eprintln!("bench: (g) {BURST} changes from {WRITERS} writers to {CLIENTS} clients");
    let started = Instant::now();
    let per_writer = BURST / WRITERS;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut http = KeepAlive::new(port);
                for i in 0..per_writer {
                    change(&mut http, ONE_BY_ONE + 1 + w * per_writer + i)?;
                }
                Ok(())
            })
        })
        .collect();
    for w in writers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    let total = (ONE_BY_ONE + per_writer * WRITERS) as u64;
    let all = clients.wait_all(total, Duration::from_secs(60));
    let elapsed = started.elapsed();
    clients.close();
    let dropped = metrics::value(
        &service.get("/metrics")?.1,
        "federation_event_stream_clients_dropped_total",
    )
    .unwrap_or(0.0);
    if !all {
        bail!("not every client had every change within 60 s ({dropped} dropped)");
    }
    let rate = (per_writer * WRITERS) as f64 / elapsed.as_secs_f64();
    report.row(
        &format!("(g) changes/s sustained to {CLIENTS} SSE clients ({WRITERS} writers, until the last client has the last change)"),
        format!(
            "{}/s ({} changes to each client, {} clients dropped)",
            thousands(rate),
            thousands((per_writer * WRITERS) as f64),
            dropped
        ),
        "no client dropped",
        Some(dropped == 0.0),
    );
    Ok(())
}
