//! (m) a million projects on one replica, only with `--only m`: registered with
//! `projects:bulk`; the start-up that loads them; every one's first beat (a million
//! transitions); the steady state with every one beating every 30 s (33,000
//! heartbeats/s over NATS): CPU and RSS; detection of 100 projects that fall silent
//! meanwhile; deleting them one at a time; GET by slug while one client streams the whole
//! list.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::detection::{silence, Round};
use super::fanout::percentile;
use super::http::KeepAlive;
use super::procfs::{cpu_seconds, vm_mib};
use super::report::{thousands, Report};
use super::service::Service;
use super::wrk::{self, READS};
use super::{num, Bench, API_KEY};

pub(super) const PROJECTS: usize = 1_000_000;
/// The slugs are `m-0` … `m-999999` (the `get-million.lua` script reads them).
pub(super) const PREFIX: &str = "m";
/// The longest wait for every project's first beat to be written.
const WAVE_MAX: Duration = Duration::from_secs(600);
/// After that, before measuring.
const WARMUP: Duration = Duration::from_secs(20);
const MEASURE: Duration = Duration::from_secs(60);

impl Bench<'_> {
    /// (m) on a fresh database `bench_million`.
    pub(super) fn million_instance(
        &self,
        has_wrk: bool,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let database_url = self.postgres.create_database("bench_million")?;
        let service = self.service_on("million-register", &database_url, &[])?;
        let n = PROJECTS.to_string();
        eprintln!("bench: (m) registering {PROJECTS} projects, 1,000 per projects:bulk");
        let registered = self.tool.simulate(&[
            "--server",
            &service.url(),
            "--projects",
            &n,
            "--prefix",
            PREFIX,
            "--register-only",
            "--bulk",
            "1000",
            "--concurrency",
            "4",
        ])?;
        report.row(
            "(m) 1,000,000 projects registered with projects:bulk (1,000 each, 4 in flight)",
            format!(
                "{}/s ({:.0} s, {} errors)",
                thousands(num(&registered, "/registration/per_sec")),
                num(&registered, "/registration/seconds"),
                num(&registered, "/registration/errors"),
            ),
            "",
            None,
        );
        service.stop();

        eprintln!("bench: (m) start-up on 1,000,000 projects");
        let started = Instant::now();
        let service = self.service_on("million", &database_url, &[])?;
        let load = started.elapsed();
        let pid = service.pid();
        let loaded_mib = vm_mib(pid, "VmRSS:")?;
        report.row(
            "(m) start-up on 1,000,000 projects: spawn → /health answers (registry loaded); RSS then",
            format!("{:.1} s; {loaded_mib:.0} MiB", load.as_secs_f64()),
            "≤ 15 s",
            Some(load <= Duration::from_secs(15)),
        );
        if let Err(e) = steady(self, &service, has_wrk, report) {
            report.failed("(m) a million projects beating", &e);
        }
        service.stop();
        Ok(())
    }
}

/// Everything beating every 30 s: the warm-up (every project's first beat is a
/// transition), then CPU over [`MEASURE`], detection, and the reads.
fn steady(
    bench: &Bench<'_>,
    service: &Service,
    has_wrk: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    service.wait_subscribed()?;
    let n = PROJECTS.to_string();
    let mut publisher = bench.tool.spawn_simulate(&[
        "--no-register",
        "--projects",
        &n,
        "--prefix",
        PREFIX,
        "--interval",
        "30s",
        "--duration",
        "1200s",
    ])?;
    let result = (|| {
        // Every project's first beat is a transition: a million of them to write.
        let started = Instant::now();
        let all_online = super::wait_until(WAVE_MAX, Duration::from_secs(1), || {
            let (_, body) = service.get("/api/fed/summary")?;
            let summary: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let online = super::at(&summary, "/counts/online").as_u64().unwrap_or(0);
            Ok((online == PROJECTS as u64).then_some(()))
        })?;
        report.row(
            "(m) the first beat of 1,000,000 projects (each a transition) → all online",
            match all_online {
                Some(()) => format!("{:.0} s", started.elapsed().as_secs_f64()),
                None => format!("not within {} s", WAVE_MAX.as_secs()),
            },
            "",
            None,
        );
        eprintln!(
            "bench: (m) {} s warm-up at 33,333 heartbeats/s",
            WARMUP.as_secs()
        );
        std::thread::sleep(WARMUP);
        let pid = service.pid();
        let cpu0 = cpu_seconds(pid)?;
        let ok0 = service.heartbeat_counts()?.ok;
        let t0 = Instant::now();
        std::thread::sleep(MEASURE);
        let cpu = (cpu_seconds(pid)? - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
        let rate = (service.heartbeat_counts()?.ok - ok0) / t0.elapsed().as_secs_f64();
        report.row(
            "(m) 1,000,000 projects every 30 s: service CPU (% of one core, over 60 s)",
            format!("{cpu:.1} % ({} heartbeats/s processed)", thousands(rate)),
            "≤ 50 %",
            Some(cpu <= 50.0),
        );
        report.row(
            "(m) peak RSS (VmHWM; VmRSS now)",
            format!(
                "{:.0} MiB ({:.0} MiB)",
                vm_mib(pid, "VmHWM:")?,
                vm_mib(pid, "VmRSS:")?
            ),
            "≤ 1 GiB",
            Some(vm_mib(pid, "VmHWM:")? <= 1024.0),
        );

        let round = Round {
            prefix: "mdet",
            projects: 100,
            interval: Some(5),
            idle: "20s",
        };
        let o = silence(&bench.tool, service, &round)?;
        report.row(
            "(m) detection among them, a 5 s interval (offline after 15 s): last heartbeat → offline event (p50 / p99 / max)",
            o.summary(),
            "p99 ≤ 16,000 ms",
            Some(o.p99 <= 16_000.0 && o.count == Some(round.projects as u64)),
        );
        deletes(service, round.prefix, round.projects, report)?;
        if has_wrk {
            reads_while_listing(bench, service, report)?;
        }
        Ok(())
    })();
    let _ = publisher.kill();
    let _ = publisher.wait();
    result
}

/// DELETE of `n` projects named `{prefix}-{i}`, one at a time on one connection, while
/// the million beat: each removal is a write and a change to the in-memory tables (one
/// used to walk a list as long as the catalog).
fn deletes(service: &Service, prefix: &str, n: usize, report: &mut Report) -> anyhow::Result<()> {
    let mut http = KeepAlive::new(service.port());
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let path = format!("/api/fed/projects/{prefix}-{i}");
        let started = Instant::now();
        let (status, body) = http.delete(&path)?;
        times.push(started.elapsed());
        anyhow::ensure!(status == 204, "DELETE {path}: {status} {body:.200}");
    }
    times.sort();
    let ms = |p: f64| percentile(&times, p).as_secs_f64() * 1000.0;
    report.row(
        "(m) DELETE /api/fed/projects/{slug} among 1,000,000 beating, one at a time (1 connection): p50, p99",
        format!("{:.2} ms, {:.2} ms over {n}, 0 errors", ms(0.5), ms(0.99)),
        "0 errors",
        Some(true),
    );
    Ok(())
}

/// GET by slug (wrk, 32 connections) while one client reads the whole list over and
/// over.
fn reads_while_listing(
    bench: &Bench<'_>,
    service: &Service,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("bench: (m) GET by slug while one client streams the whole list");
    let stop = Arc::new(AtomicBool::new(false));
    let port = service.port();
    let lister = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut lists = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match read_whole_list(port) {
                    Ok(bytes) => lists.push((t.elapsed(), bytes)),
                    Err(e) => return Err(e),
                }
            }
            Ok(lists)
        })
    };
    let get = wrk::run(
        &bench.paths.out,
        "get-million",
        READS,
        &format!("{}/", service.url()),
        Some("get-million.lua"),
    );
    stop.store(true, Ordering::Relaxed);
    let lists = lister
        .join()
        .map_err(|_| anyhow::anyhow!("the list reader panicked"))??;
    let get = get?;
    let listed = match lists.first() {
        Some((took, bytes)) => format!(
            "{} whole lists of {:.0} MB, the first in {:.1} s",
            lists.len(),
            *bytes as f64 / 1e6,
            took.as_secs_f64()
        ),
        None => "no whole list finished".to_owned(),
    };
    report.row(
        &format!("(m) GET /api/fed/projects/{{slug}} of 1,000,000 while one client streams the whole list ({})", READS.describe()),
        format!("{}; {listed}", get.summary()),
        "p99 ≤ 10 ms",
        Some(get.p99_ms <= 10.0 && get.non_2xx == 0 && get.errors.is_empty()),
    );
    Ok(())
}

/// `GET /api/fed/projects` read to its end: how many bytes (headers included).
fn read_whole_list(port: u16) -> anyhow::Result<u64> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).context("connecting")?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "GET /api/fed/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).context("reading the whole list")?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}
