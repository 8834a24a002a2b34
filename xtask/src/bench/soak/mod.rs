//! `cargo xtask soak [--minutes 30]`: the service run for a long time under a realistic
//! load, with the failures it must ride out injected in the middle.
//!
//! - **Cluster:** [`REPLICAS`] replicas of the release binary on one throwaway PostgreSQL
//!   and one nats-server (the test kit's), default settings.
//! - **Fleet:** [`FLEET`] projects registered through the first replica, beating every
//!   30 s over NATS (`federation simulate`); they must stay online throughout.
//! - **Churn:** [`CHURN`] projects tagged [`CHURN_TAG`] that declare a 2 s interval and
//!   beat in bursts of 20 s with 15 s of silence between, so each goes online →
//!   degraded → offline and back about twice a minute: the status changes the soak
//!   checks are never lost.
//! - **REST:** one paced client per replica ([`load`]), reads and writes.
//! - **Outages:** PostgreSQL stopped for [`PG_OUTAGE`] at 40 % of the run, nats-server
//!   killed for [`NATS_OUTAGE`] at 65 %.
//!
//! Every minute it prints each replica's RSS, CPU and heartbeats per second, the REST
//! answers by class and what the change streams carried. At the end it checks:
//!
//! 1. each replica's RSS grew by less than 10 % from the end of the warm-up (a sixth of
//!    the run, at least a minute) to the end;
//! 2. no status change was lost: each churn project's history is one unbroken chain that
//!    ends in the status every replica reports, and each replica's change stream
//!    ([`stream`]) carried exactly that history; every fleet project is online on every
//!    replica;
//! 3. no 5xx and no failed request outside the outage windows (an outage until every
//!    replica is ready again, plus [`GRACE`]).
//!
//! The summary goes to stdout and to `soak/report.md` under cargo's target directory; the
//! service logs to `soak/service-*.log` beside it. Exits non-zero when a check fails.

mod check;
mod load;
mod minute;
mod probe;
mod stream;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use federation_testkit::{NatsServer, PostgresCluster};
use serde_json::Value;

use super::http::KeepAlive;
use super::metrics::HeartbeatCounts;
use super::report::thousands;
use super::service::Service;
use super::tool::Tool;
use super::{procfs, wait_until, Paths};
use check::{Step, Window};
use minute::{header, load_total, minute_line, role};
use probe::{churn_statuses, finish_simulate, history};

/// Replicas on the one database.
const REPLICAS: usize = 3;
/// Projects beating every [`FLEET_INTERVAL`].
pub(super) const FLEET: u64 = 100_000;
/// Their slugs are `<prefix>-<n>`.
pub(super) const FLEET_PREFIX: &str = "sim";
const FLEET_INTERVAL: &str = "30s";
/// Projects that keep changing status.
const CHURN: u64 = 100;
pub(super) const CHURN_TAG: &str = "churn";
/// Their declared heartbeat interval (degraded after 2, offline after 3 of them, but not
/// before the 5 s minimum).
const CHURN_INTERVAL_S: u32 = 2;
const CHURN_BEATING: &str = "20s";
const CHURN_SILENCE: Duration = Duration::from_secs(15);
/// REST requests per second, per replica.
const REST_PER_SECOND: u32 = 40;
const PG_OUTAGE: Duration = Duration::from_secs(20);
const NATS_OUTAGE: Duration = Duration::from_secs(10);
/// After an outage, until every replica is ready again, and this long more.
const GRACE: Duration = Duration::from_secs(10);
/// Target: RSS growth after the warm-up.
const MAX_GROWTH: f64 = 0.10;
const MINUTE: Duration = Duration::from_secs(60);

/// `minutes`: how long (at least 3, which [`crate::cli`] checks).
pub(crate) fn run(target_dir: &std::path::Path, minutes: u64) -> anyhow::Result<()> {
    crate::ensure_test_services()?;
    super::build_release()?;
    let paths = Paths::under(target_dir);
    let out = target_dir.join("soak");
    std::fs::create_dir_all(&out)?;

    eprintln!("soak: starting PostgreSQL and nats-server");
    let postgres = PostgresCluster::start().context("starting PostgreSQL")?;
    let mut nats = NatsServer::start().context("starting nats-server")?;
    let database_url = postgres.create_database("soak")?;
    let mut replicas = Vec::with_capacity(REPLICAS);
    for i in 1..=REPLICAS {
        replicas.push(Service::start(
            &paths.bin,
            &out,
            &format!("replica-{i}"),
            &database_url,
            &nats.url(),
            &[("LOG_LEVEL", "info")],
        )?);
    }
    for replica in &replicas {
        replica.wait_bus_healthy()?;
    }
    let tool = Tool::new(&paths.bin, nats.url());
    register(&replicas)?;

    let soak = Soak {
        replicas: &replicas,
        out: &out,
        tool: &tool,
        minutes,
        start: Instant::now(),
        windows: Mutex::new(Vec::new()),
    };
    let verdict = soak.run(&postgres, &mut nats)?;
    std::fs::write(out.join("report.md"), &verdict.report)?;
    println!("\n{}", verdict.report);
    println!("written to {}", out.join("report.md").display());
    for replica in replicas {
        replica.stop();
    }
    if !verdict.passed {
        bail!("the soak failed a check (see above)");
    }
    Ok(())
}

/// The fleet and the churn projects, through the first replica (`projects:bulk`, 1,000
/// to a request); returns once every replica has them all.
fn register(replicas: &[Service]) -> anyhow::Result<()> {
    let first = replicas.first().context("no replica")?;
    let started = Instant::now();
    eprintln!("soak: registering {} projects", thousands(FLEET as f64));
    let mut http = KeepAlive::new(first.port());
    let project = |slug: &str, extra: &str| {
        format!(
            r#"{{"slug":"{slug}","name":"{slug}","hub_url":"http://{slug}.example.com"{extra}}}"#
        )
    };
    let fleet = (0..FLEET).map(|n| project(&format!("{FLEET_PREFIX}-{n}"), ""));
    let churn = (0..CHURN).map(|n| {
        project(
            &format!("{CHURN_TAG}-{n}"),
            &format!(r#","tags":["{CHURN_TAG}"],"heartbeat_interval":{CHURN_INTERVAL_S}"#),
        )
    });
    let all: Vec<String> = fleet.chain(churn).collect();
    for batch in all.chunks(1000) {
        let body = format!(r#"{{"projects":[{}]}}"#, batch.join(","));
        let (status, answer) = http.post_json("/api/fed/projects:bulk", &body)?;
        if status != 200 {
            bail!("registering a batch: {status} {answer:.300}");
        }
    }
    for replica in replicas {
        wait_until(Duration::from_secs(300), Duration::from_millis(500), || {
            Ok((summary(replica)?.total >= FLEET + CHURN).then_some(()))
        })?
        .with_context(|| format!("{} never had the whole fleet", replica.name()))?;
    }
    eprintln!(
        "soak: registered in {:.1} s, on every replica",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What `/api/fed/summary` says, the parts the soak reads.
struct Summary {
    total: u64,
    online: u64,
}

fn summary(replica: &Service) -> anyhow::Result<Summary> {
    let (status, body) = replica.get("/api/fed/summary")?;
    if status != 200 {
        bail!("{}: /api/fed/summary answered {status}", replica.name());
    }
    let v: Value = serde_json::from_str(&body)?;
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Ok(Summary {
        total: n("/total"),
        online: n("/counts/online"),
    })
}

struct Soak<'a> {
    replicas: &'a [Service],
    /// Where the report and the logs go.
    out: &'a std::path::Path,
    tool: &'a Tool<'a>,
    minutes: u64,
    start: Instant,
    windows: Mutex<Vec<(&'static str, Window)>>,
}

/// One replica at one minute.
#[derive(Debug, Clone, Copy, Default)]
struct ReplicaSample {
    rss_mib: f64,
    cpu_seconds: f64,
    heartbeats: f64,
    streamed: u64,
    online: u64,
    /// `/ready`'s `replica.role`, abbreviated: L leader, l leader not yet confirmed, F
    /// follower, ? no answer.
    role: char,
}

struct Verdict {
    report: String,
    passed: bool,
}

impl Soak<'_> {
    fn run(&self, postgres: &PostgresCluster, nats: &mut NatsServer) -> anyhow::Result<Verdict> {
        let run_for = MINUTE * u32::try_from(self.minutes).unwrap_or(u32::MAX);
        let warm_up = (self.minutes / 6).max(1);
        let recorders = self
            .replicas
            .iter()
            .map(|r| stream::Recorder::start(r.port(), CHURN_TAG))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let fleet = self.tool.spawn_simulate(&[
            "--projects",
            &FLEET.to_string(),
            "--prefix",
            FLEET_PREFIX,
            "--no-register",
            "--interval",
            FLEET_INTERVAL,
            "--duration",
            &format!("{}s", run_for.as_secs()),
        ])?;
        let ports: Vec<u16> = self.replicas.iter().map(Service::port).collect();
        let load = load::Load::start(&ports, REST_PER_SECOND, self.start);
        let stop_churn = AtomicBool::new(false);
        let cycles = AtomicU64::new(0);

        let mut lines = Vec::new();
        let mut samples: Vec<Vec<ReplicaSample>> = Vec::new();
        let outcome = std::thread::scope(|scope| {
            scope.spawn(|| self.churn(&stop_churn, &cycles));
            let sampled = (|| -> anyhow::Result<()> {
                let mut nats = Some(nats);
                let mut pg_done = false;
                let mut previous = self.sample(&recorders)?;
                let mut previous_tally = load.tally();
                lines.push(header());
                eprintln!("{}", header());
                for minute in 1..=self.minutes {
                    let due = MINUTE * u32::try_from(minute).unwrap_or(u32::MAX);
                    while self.start.elapsed() < due {
                        let at = self.start.elapsed();
                        if !pg_done && at >= run_for * 2 / 5 {
                            pg_done = true;
                            scope.spawn(|| self.outage("PostgreSQL", || postgres_outage(postgres)));
                        }
                        if at >= run_for * 13 / 20 {
                            if let Some(nats) = nats.take() {
                                scope.spawn(move || {
                                    self.outage("nats-server", || nats_outage(nats))
                                });
                            }
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    let now = self.sample(&recorders)?;
                    let tally = load.tally();
                    let line = minute_line(minute, &previous, &now, tally - previous_tally);
                    eprintln!("{line}");
                    lines.push(line);
                    samples.push(now.clone());
                    previous = now;
                    previous_tally = tally;
                }
                Ok(())
            })();
            stop_churn.store(true, Ordering::Release);
            sampled
        });
        let totals = load.tally();
        let failures = load.finish();
        outcome?;
        let fleet_summary = finish_simulate(fleet);

        let mut report = String::new();
        let mut passed = true;
        writeln!(
            report,
            "# Soak: {} minutes, {REPLICAS} replicas, {} projects every {FLEET_INTERVAL}\n",
            self.minutes,
            thousands(FLEET as f64)
        )?;
        writeln!(report, "```\n{}\n```\n", lines.join("\n"))?;
        let windows = self
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (what, w) in &windows {
            writeln!(
                report,
                "- Outage: {what} from {:.0} s to {:.0} s (until every replica was ready, plus {} s)",
                w.from.as_secs_f64(),
                w.to.as_secs_f64(),
                GRACE.as_secs()
            )?;
        }
        if windows.len() != 2 {
            passed = false;
            writeln!(report, "- FAILED: {} of the 2 outages ran", windows.len())?;
        }
        writeln!(
            report,
            "- Fleet publisher: {}",
            fleet_summary.unwrap_or_else(|e| format!("no summary ({e:#})"))
        )?;
        passed &= self.check_memory(&samples, warm_up, &mut report)?;
        passed &= check_errors(&failures, &windows, load_total(totals), &mut report)?;
        passed &= self.check_changes(recorders, cycles.load(Ordering::Acquire), &mut report)?;
        writeln!(
            report,
            "\n**{}**",
            if passed {
                "PASSED: every check held"
            } else {
                "FAILED"
            }
        )?;
        Ok(Verdict { report, passed })
    }

    /// Runs `inject` (which returns once the outage is over and the component is back),
    /// then waits until every replica is ready, and records the window.
    fn outage(&self, what: &'static str, inject: impl FnOnce() -> anyhow::Result<()>) {
        let from = self.start.elapsed();
        eprintln!("soak: {what} outage at {:.0} s", from.as_secs_f64());
        if let Err(e) = inject() {
            eprintln!("soak: the {what} outage failed: {e:#}");
            return;
        }
        let ready = self.replicas.iter().all(|r| {
            let ok = wait_until(Duration::from_secs(180), Duration::from_millis(100), || {
                Ok(matches!(r.get("/ready"), Ok((200, _))).then_some(()))
            });
            matches!(ok, Ok(Some(())))
        });
        let back = self.start.elapsed();
        eprintln!(
            "soak: {what} back; every replica ready at {:.0} s{}",
            back.as_secs_f64(),
            if ready { "" } else { " (NOT all ready)" }
        );
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((
                what,
                Window {
                    from,
                    to: back + GRACE,
                },
            ));
    }

    /// Bursts of churn heartbeats with silence between, until told to stop.
    fn churn(&self, stop: &AtomicBool, cycles: &AtomicU64) {
        while !stop.load(Ordering::Acquire) {
            let run = self
                .tool
                .command(&[
                    "simulate",
                    "--projects",
                    &CHURN.to_string(),
                    "--prefix",
                    CHURN_TAG,
                    "--no-register",
                    "--interval",
                    &format!("{CHURN_INTERVAL_S}s"),
                    "--duration",
                    CHURN_BEATING,
                    "--quiet",
                ])
                .stdout(std::process::Stdio::null())
                .status();
            if let Err(e) = run {
                eprintln!("soak: the churn publisher did not run: {e:#}");
            }
            cycles.fetch_add(1, Ordering::AcqRel);
            let silent_until = Instant::now() + CHURN_SILENCE;
            while Instant::now() < silent_until && !stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    fn sample(&self, recorders: &[stream::Recorder]) -> anyhow::Result<Vec<ReplicaSample>> {
        self.replicas
            .iter()
            .zip(recorders)
            .map(|(r, rec)| {
                Ok(ReplicaSample {
                    rss_mib: procfs::vm_mib(r.pid(), "VmRSS:")?,
                    cpu_seconds: procfs::cpu_seconds(r.pid())?,
                    heartbeats: r
                        .heartbeat_counts()
                        .map(|c: HeartbeatCounts| c.ok)
                        .unwrap_or(0.0),
                    streamed: rec.transitions(),
                    online: summary(r).map(|s| s.online).unwrap_or(0),
                    role: role(r),
                })
            })
            .collect()
    }

    /// Check 1: RSS after the warm-up against RSS at the end, per replica.
    fn check_memory(
        &self,
        samples: &[Vec<ReplicaSample>],
        warm_up: u64,
        report: &mut String,
    ) -> anyhow::Result<bool> {
        let baseline = samples.get(usize::try_from(warm_up - 1).unwrap_or(usize::MAX));
        let (Some(baseline), Some(last)) = (baseline, samples.last()) else {
            writeln!(report, "- FAILED: no memory samples")?;
            return Ok(false);
        };
        let mut passed = true;
        for (i, (b, l)) in baseline.iter().zip(last).enumerate() {
            let growth = check::growth(b.rss_mib, l.rss_mib).unwrap_or(f64::INFINITY);
            let ok = growth < MAX_GROWTH;
            passed &= ok;
            writeln!(
                report,
                "- {} replica {}: RSS {:.1} MiB after the {warm_up}-minute warm-up, {:.1} MiB at the end: {:+.1} % (limit +{:.0} %)",
                if ok { "ok" } else { "FAILED" },
                i + 1,
                b.rss_mib,
                l.rss_mib,
                growth * 100.0,
                MAX_GROWTH * 100.0
            )?;
        }
        Ok(passed)
    }

    /// Check 2: every churn project's history is whole, ends in its status everywhere,
    /// and each change stream carried exactly it; every fleet project is online.
    fn check_changes(
        &self,
        recorders: Vec<stream::Recorder>,
        cycles: u64,
        report: &mut String,
    ) -> anyhow::Result<bool> {
        // Silence: every churn project goes offline on every replica.
        let statuses = wait_until(Duration::from_secs(120), Duration::from_millis(500), || {
            let statuses = self
                .replicas
                .iter()
                .map(churn_statuses)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let settled = statuses.iter().all(|s| {
                s.len() == usize::try_from(CHURN).unwrap_or(usize::MAX)
                    && s.values().all(|v| v == "offline")
            });
            Ok(settled.then_some(statuses))
        })?;
        let mut passed = true;
        let statuses = match statuses {
            Some(s) => s,
            None => {
                passed = false;
                writeln!(
                    report,
                    "- FAILED: the churn projects did not all go offline on every replica within 120 s of their last burst"
                )?;
                self.replicas
                    .iter()
                    .map(churn_statuses)
                    .collect::<anyhow::Result<Vec<_>>>()?
            }
        };
        let first = self.replicas.first().context("no replica")?;
        let mut histories: HashMap<String, Vec<Step>> = HashMap::new();
        let mut http = KeepAlive::new(first.port());
        for n in 0..CHURN {
            let slug = format!("{CHURN_TAG}-{n}");
            histories.insert(slug.clone(), history(&mut http, &slug)?);
        }
        let recorded: usize = histories.values().map(Vec::len).sum();
        // The streams catch up with what is stored.
        let _ = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            Ok(recorders
                .iter()
                .all(|r| r.transitions() >= recorded as u64)
                .then_some(()))
        });
        let resets: Vec<u64> = recorders.iter().map(stream::Recorder::resets).collect();
        let reconnects: Vec<u64> = recorders.iter().map(stream::Recorder::reconnects).collect();
        let streamed: Vec<HashMap<String, Vec<Step>>> = recorders
            .into_iter()
            .map(stream::Recorder::finish)
            .collect();

        let mut faults = Vec::new();
        let mut fewest = usize::MAX;
        for (slug, history) in &histories {
            fewest = fewest.min(history.len());
            for (i, status) in statuses.iter().enumerate() {
                let now = status.get(slug).map(String::as_str).unwrap_or("missing");
                for fault in check::chain_faults(history, now) {
                    faults.push(format!("{slug} on replica {}: {fault}", i + 1));
                }
            }
            for (i, stream) in streamed.iter().enumerate() {
                let seen = stream.get(slug).map(Vec::as_slice).unwrap_or_default();
                if let Some(d) = check::stream_difference(history, seen) {
                    faults.push(format!("{slug} on replica {}'s stream: {d}", i + 1));
                }
            }
        }
        // A churn project that never changed would make the check above vacuous.
        let churned = fewest >= 3 && fewest != usize::MAX;
        let ok = faults.is_empty() && churned;
        passed &= ok;
        writeln!(
            report,
            "- {} status changes: {} stored for the {CHURN} churn projects over {cycles} bursts (fewest for one project: {fewest}); each replica's change stream carried {}; stream resets {resets:?}, reconnects {reconnects:?}; {} faults",
            if ok { "ok" } else { "FAILED" },
            thousands(recorded as f64),
            streamed
                .iter()
                .map(|s| thousands(s.values().map(Vec::len).sum::<usize>() as f64))
                .collect::<Vec<_>>()
                .join(" / "),
            faults.len()
        )?;
        for fault in faults.iter().take(20) {
            writeln!(report, "  - {fault}")?;
        }
        // The stored history of each project at fault, whole, for whoever looks into it.
        let mut at_fault: Vec<&str> = faults
            .iter()
            .filter_map(|f| f.split_whitespace().next())
            .collect();
        at_fault.dedup();
        for slug in at_fault.into_iter().take(5) {
            let (_, body) = http.get(&format!("/api/fed/projects/{slug}/history?limit=1000"))?;
            let file = self.out.join(format!("history-{slug}.json"));
            std::fs::write(&file, body)?;
            writeln!(report, "  - {slug}'s stored history: {}", file.display())?;
        }
        for (i, replica) in self.replicas.iter().enumerate() {
            let s = summary(replica)?;
            let ok = s.online >= FLEET;
            passed &= ok;
            writeln!(
                report,
                "- {} replica {}: {} of the {} fleet projects online at the end ({} projects in all)",
                if ok { "ok" } else { "FAILED" },
                i + 1,
                thousands(s.online as f64),
                thousands(FLEET as f64),
                thousands(s.total as f64)
            )?;
        }
        Ok(passed)
    }
}

/// Check 3: no server error and no failed request outside an outage window.
fn check_errors(
    failures: &[load::Failure],
    windows: &[(&'static str, Window)],
    total: String,
    report: &mut String,
) -> anyhow::Result<bool> {
    let spans: Vec<Window> = windows.iter().map(|(_, w)| *w).collect();
    let times: Vec<Duration> = failures.iter().map(|f| f.at).collect();
    let outside = check::outside(&times, &spans);
    let ok = outside.is_empty();
    writeln!(
        report,
        "- {} REST ({total}): {} server errors or failed requests, {} of them inside the outage windows, {} outside",
        if ok { "ok" } else { "FAILED" },
        failures.len(),
        failures.len() - outside.len(),
        outside.len()
    )?;
    for f in failures
        .iter()
        .filter(|f| !spans.iter().any(|w| w.contains(f.at)))
        .take(20)
    {
        writeln!(
            report,
            "  - at {:.1} s on replica {}: {}",
            f.at.as_secs_f64(),
            f.replica,
            f.what
        )?;
    }
    Ok(ok)
}

/// PostgreSQL stopped (fast shutdown: connections cut) for [`PG_OUTAGE`], then started
/// again on the same port and data.
fn postgres_outage(postgres: &PostgresCluster) -> anyhow::Result<()> {
    postgres.stop()?;
    std::thread::sleep(PG_OUTAGE);
    postgres.start_again()
}

/// nats-server killed for [`NATS_OUTAGE`], then started again on the same port.
fn nats_outage(nats: &mut NatsServer) -> anyhow::Result<()> {
    nats.stop()?;
    std::thread::sleep(NATS_OUTAGE);
    nats.restart()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_line_shows_differences_and_levels() {
        let before = [ReplicaSample {
            rss_mib: 100.0,
            cpu_seconds: 10.0,
            heartbeats: 1000.0,
            streamed: 5,
            online: 10,
            role: 'F',
        }];
        let now = [ReplicaSample {
            rss_mib: 120.4,
            cpu_seconds: 40.0,
            heartbeats: 7000.0,
            streamed: 8,
            online: 12,
            role: 'L',
        }];
        let rest = load::Tally {
            ok: 100,
            client_errors: 1,
            server_errors: 2,
            failed: 3,
        };
        assert_eq!(
            minute_line(7, &before, &now, rest),
            "  7 | 120 | 50 | 100 | 100 / 1 / 2 / 3 | 3 | 12 | L"
        );
        assert!(load_total(rest).starts_with("100 answered < 400, 1 4xx, 2 5xx, 3 failed"));
    }
}
