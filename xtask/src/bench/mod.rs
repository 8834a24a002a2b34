//! `cargo xtask bench`: one run that measures the service against its targets.
//!
//! Builds the release binary, starts a throwaway PostgreSQL and nats-server (the test
//! kit's), and runs the service as a child process (release build, `serve` with
//! `DATABASE_URL`, `NATS_URL`, `FEDERATION_AUTO_MIGRATE=true`, a free `SERVICE_PORT`).
//! Load comes from other processes: `federation simulate` (the NATS publisher and the
//! registrations), `federation bench-listen` (a bare async-nats subscriber that counts,
//! or reads status events), and `wrk` for REST. Prints a markdown table and writes it to
//! `bench/report.md` in cargo's target directory (`target/` unless `CARGO_TARGET_DIR` or
//! cargo's configuration says otherwise); the service logs go to `bench/service-*.log`
//! beside it.
//!
//! (a) ingest on one instance, then (b) REST reads (32 connections) and (c) POST on it;
//! (d) detection on a second instance with `offline_after` = 3 s; (e) steady state on a
//! third, fresh one (so its peak RSS is its own); (f) three replicas on one database:
//! registration → visible on the others, the whole list of 1,000 projects, failover after
//! kill -9 of the leader; (g) the change stream: one change fanned out to 100 SSE
//! clients, and changes per second sustained to them; (h) uptime reports over 90 days of
//! daily rollups, one project's and a fleet of 100,000's; (i) notifications: 10,000
//! single deliveries in a minute to a local receiver, the send's p99 and none lost; (j)
//! 1,000 projects offline at once: the one incident message at a local receiver. (m), a
//! million projects on one replica, runs only when `--only` names it.

//!
//! The tools: [`service`] (the service as a child process), [`tool`] (the `federation`
//! binary as load generator and listener), [`wrk`], [`metrics`] (the service's
//! `/metrics`), [`procfs`] (CPU and memory from `/proc`), [`report`] (the table). The
//! phases: [`ingest`], [`rest`], [`detection`], [`steady`], [`replicas`]; [`http`] is a
//! keep-alive client for the loops of (f).

mod browser;
mod detection;
mod fanout;
mod fanout_many;
mod http;
mod incident;
mod ingest;
mod metrics;
mod million;
mod notify;
mod procfs;
mod replicas;
mod report;
mod rest;
mod service;
pub(crate) mod soak;
mod steady;
mod tool;
mod uptime;
mod wrk;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use federation_testkit::PostgresCluster;
use serde_json::Value;

use report::Report;
use service::Service;
use tool::Tool;

/// The fleet of (h), the uptime reports.
const UPTIME_PROJECTS: usize = 100_000;

/// The API key the service accepts and every load tool sends.
const API_KEY: &str = "bench-key-0123456789";

/// `phases`: the letters of the phases to run (`abcdefghij`: the default; `m` on
/// request), as [`crate::cli`] gives them.
pub(crate) fn run(target_dir: &Path, phases: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let load_before = load_average();
    crate::ensure_test_services()?;
    let wrk = wrk::ensure();
    if let Err(e) = &wrk {
        eprintln!("bench: {e:#}; REST is not measured");
    }
    build_release()?;
    // What the rows themselves take, the tools and the build aside.
    let prepared = started.elapsed();
    let paths = Paths::under(target_dir);
    std::fs::create_dir_all(&paths.out)?;
    wrk::write_scripts(&paths.out)?;

    eprintln!("bench: starting PostgreSQL and nats-server");
    let postgres = PostgresCluster::start().context("starting PostgreSQL")?;
    let nats = federation_testkit::NatsServer::start().context("starting nats-server")?;
    let bench = Bench {
        paths: &paths,
        postgres: &postgres,
        nats_url: nats.url(),
        tool: Tool::new(&paths.bin, nats.url()),
    };
    let mut report = Report::default();
    bench.main_instance(phases, wrk.is_ok(), &mut report)?;
    if phases.contains('d') {
        bench.detection_instance(&mut report)?;
    }
    if phases.contains('e') {
        bench.steady_instance(&mut report)?;
    }
    if phases.contains('f') {
        bench.replica_instances(wrk.is_ok(), &mut report)?;
    }
    if phases.contains('g') {
        bench.fanout_instance(&mut report)?;
    }
    if phases.contains('h') {
        bench.uptime_instance(UPTIME_PROJECTS, &mut report)?;
    }
    if phases.contains('i') {
        bench.notify_instance(&mut report)?;
    }
    if phases.contains('j') {
        bench.incident_instance(incident::PROJECTS, &mut report)?;
    }
    if phases.contains('m') {
        bench.million_instance(wrk.is_ok(), &mut report)?;
    }
    drop(nats);
    drop(postgres);

    report.notes.push(format!(
        "Machine: {} cores; everything (service, PostgreSQL, nats-server, load) on it; \
         the test kit's PostgreSQL runs with fsync off. Total bench time {:.0} s: the \
         rows {:.0} s, after {:.0} s of installs and the release build.",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        started.elapsed().as_secs_f64(),
        (started.elapsed() - prepared).as_secs_f64(),
        prepared.as_secs_f64()
    ));
    report.notes.push(format!(
        "Load average (1 min) before the bench: {load_before}; after: {} (anything above the \
         core count means other work competed with the bench).",
        load_average()
    ));
    let md = report.markdown();
    let report_path = paths.report();
    std::fs::write(&report_path, &md)?;
    println!("\n{md}");
    println!("written to {}", report_path.display());
    Ok(())
}

fn build_release() -> anyhow::Result<()> {
    eprintln!("bench: cargo build --release -p federation-server");
    let status = crate::cargo()
        .args(["build", "--release", "-p", "federation-server"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("the release build failed");
    }
    Ok(())
}

/// Where the bench finds the service and writes what it measured, under cargo's target
/// directory.
#[derive(Debug, PartialEq, Eq)]
struct Paths {
    /// The release `federation` binary (`cargo build --release` puts it there).
    bin: PathBuf,
    /// The report, the service logs, wrk's scripts and outputs.
    out: PathBuf,
}

impl Paths {
    fn under(target_dir: &Path) -> Self {
        Paths {
            bin: target_dir.join("release").join("federation"),
            out: target_dir.join("bench"),
        }
    }

    fn report(&self) -> PathBuf {
        self.out.join("report.md")
    }
}

/// What every phase runs against: the binary, the servers, the load tool.
struct Bench<'a> {
    paths: &'a Paths,
    postgres: &'a PostgresCluster,
    nats_url: String,
    tool: Tool<'a>,
}

impl Bench<'_> {
    /// The service `name` on a fresh database `bench_{name}`, with `env` on top.
    fn service(&self, name: &str, env: &[(&str, &str)]) -> anyhow::Result<Service> {
        let database_url = self.postgres.create_database(&format!("bench_{name}"))?;
        self.service_on(name, &database_url, env)
    }

    /// The service `name` on `database_url`, with `env` on top.
    fn service_on(
        &self,
        name: &str,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Service> {
        Service::start(
            &self.paths.bin,
            &self.paths.out,
            name,
            database_url,
            &self.nats_url,
            env,
        )
    }

    /// (a), (b), (c) on one instance; thresholds long enough that the fleet stays online.
    fn main_instance(
        &self,
        phases: &str,
        has_wrk: bool,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let service = self.service(
            "main",
            &[
                ("FEDERATION_DEGRADED_AFTER", "600s"),
                ("FEDERATION_OFFLINE_AFTER", "900s"),
            ],
        )?;
        if phases.contains('a') {
            if let Err(e) = ingest::ingest(&self.tool, &service, report) {
                report.failed("(a) ingest", &e);
            }
        }
        if has_wrk && (phases.contains('b') || phases.contains('c')) {
            // Without (a), the fleet (b) reads is not there yet: register it and beat once each.
            if !phases.contains('a') {
                if let Err(e) = ingest::online_fleet(&self.tool, &service) {
                    report.failed("(b)/(c) fleet setup", &e);
                }
            }
            if let Err(e) = rest::rest(&self.paths.out, &service, phases, report) {
                report.failed("(b)/(c) REST", &e);
            }
        }
        service.stop();
        Ok(())
    }

    /// (d) detection on an instance with offline_after = 3 s.
    fn detection_instance(&self, report: &mut Report) -> anyhow::Result<()> {
        let service = self.service(
            "detect",
            &[
                ("FEDERATION_DEGRADED_AFTER", "2s"),
                ("FEDERATION_OFFLINE_AFTER", "3s"),
            ],
        )?;
        if let Err(e) = detection::detection(&self.tool, &service, report) {
            report.failed("(d) detection", &e);
        }
        service.stop();
        Ok(())
    }

    /// (g) the change stream fanned out, on a fresh instance.
    fn fanout_instance(&self, report: &mut Report) -> anyhow::Result<()> {
        // Room for every client of the large run, and its connections.
        let max = (fanout_many::MANY + 1000).to_string();
        let service = self.service(
            "fanout",
            &[
                ("FEDERATION_STREAM_MAX", &max),
                ("FEDERATION_HTTP_MAX_CONNECTIONS", "20000"),
            ],
        )?;
        if let Err(e) = fanout::fanout(&service, report) {
            report.failed("(g) change stream fan-out", &e);
        }
        if let Err(e) = fanout_many::fanout_many(&service, report) {
            report.failed("(g) change stream fan-out to many clients", &e);
        }
        service.stop();
        Ok(())
    }

    /// (h) uptime reports: the service migrates a fresh database, stops, the fleet is
    /// seeded into it, and the service starts again on it.
    fn uptime_instance(&self, projects: usize, report: &mut Report) -> anyhow::Result<()> {
        let database_url = self.postgres.create_database("bench_uptime")?;
        self.service_on("uptime-migrate", &database_url, &[])?
            .stop();
        eprintln!("bench: (h) seeding {projects} projects with 90 rolled-up days");
        federation_testkit::psql_query(&database_url, &uptime::seed_sql(projects))?;
        // As a database that grew over 90 days would be: vacuumed, its statistics known
        // (else autovacuum works through the 9 million new rows during the timing).
        federation_testkit::psql_query(&database_url, "VACUUM ANALYZE")?;
        let service = self.service_on("uptime", &database_url, &[])?;
        if let Err(e) = uptime::uptime(&service, projects, report) {
            report.failed("(h) uptime", &e);
        }
        service.stop();
        Ok(())
    }

    /// (i) notifications on a fresh instance.
    fn notify_instance(&self, report: &mut Report) -> anyhow::Result<()> {
        let service = self.service("notify", &notify::ENV)?;
        if let Err(e) = notify::notify(&service, report) {
            report.failed("(i) notifications", &e);
        }
        service.stop();
        Ok(())
    }

    /// (j) an incident on a fresh instance with `offline_after` = 3 s.
    fn incident_instance(&self, projects: usize, report: &mut Report) -> anyhow::Result<()> {
        let service = self.service("incident", &incident::ENV)?;
        if let Err(e) = incident::incident(&self.tool, &service, projects, report) {
            report.failed("(j) incident", &e);
        }
        service.stop();
        Ok(())
    }

    /// (e) steady state on a fresh instance with the default thresholds.
    fn steady_instance(&self, report: &mut Report) -> anyhow::Result<()> {
        let service = self.service("steady", &[])?;
        if let Err(e) = steady::steady(&self.tool, &service, report) {
            report.failed("(e) steady state", &e);
        }
        service.stop();
        Ok(())
    }
}

impl Bench<'_> {
    /// (f) [`replicas::REPLICAS`] replicas on one fresh database `bench_replicas`, started
    /// one after the other (the first migrates), with the lease and tick of
    /// [`replicas::env`].
    fn replica_instances(&self, has_wrk: bool, report: &mut Report) -> anyhow::Result<()> {
        let database_url = self.postgres.create_database("bench_replicas")?;
        let env = replicas::env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut services = Vec::with_capacity(replicas::REPLICAS);
        for i in 1..=replicas::REPLICAS {
            match self.service_on(&format!("replica-{i}"), &database_url, &env) {
                Ok(service) => services.push(service),
                Err(e) => {
                    report.failed("(f) replicas", &e);
                    return Ok(());
                }
            }
        }
        if let Err(e) = replicas::registration(&services, report) {
            report.failed("(f) registration → visible on the other replicas", &e);
        }
        if let Err(e) = replicas::heartbeat_visible(&services, report) {
            report.failed("(f) heartbeat → status visible on every replica", &e);
        }
        if let Some(second) = services.get(1).filter(|_| has_wrk) {
            if let Err(e) = replicas::whole_list(&self.paths.out, second, report) {
                report.failed("(f) the whole list", &e);
            }
        }
        if let Err(e) = replicas::failover(services, report) {
            report.failed("(f) failover", &e);
        }
        Ok(())
    }
}

/// Calls `check` every `every` until it gives `Some`, for at most `within`: that value,
/// `None` once the time is up, or the first error `check` returns.
///
/// Callers for whom running out of time is an error say so with
/// `wait_until(…)?.context("…")?`.
fn wait_until<T>(
    within: Duration,
    every: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<Option<T>> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check()? {
            return Ok(Some(value));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(every);
    }
}

/// The 1-minute load average from `/proc/loadavg`, as written there; `?` when unreadable.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

static NULL: Value = Value::Null;

/// The value at a JSON pointer (`/heartbeats/per_sec`) of a tool's output; null when absent.
fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&NULL)
}

/// The number at a JSON pointer of a tool's output; 0 when absent.
fn num(v: &Value, pointer: &str) -> f64 {
    at(v, pointer).as_f64().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_and_the_report_live_under_the_target_directory() {
        let paths = Paths::under(Path::new("/elsewhere/build"));
        assert_eq!(
            paths,
            Paths {
                bin: PathBuf::from("/elsewhere/build/release/federation"),
                out: PathBuf::from("/elsewhere/build/bench"),
            }
        );
        assert_eq!(
            paths.report(),
            PathBuf::from("/elsewhere/build/bench/report.md")
        );
    }

    #[test]
    fn wait_until_gives_the_first_value_or_none_when_the_time_is_up() {
        let mut calls = 0;
        let third = wait_until(Duration::from_secs(10), Duration::from_millis(1), || {
            calls += 1;
            Ok((calls == 3).then_some(calls))
        });
        assert_eq!(third.unwrap(), Some(3));

        let never = wait_until(Duration::from_millis(20), Duration::from_millis(5), || {
            Ok(None::<()>)
        });
        assert_eq!(never.unwrap(), None);

        let failed = wait_until(
            Duration::from_secs(10),
            Duration::from_millis(1),
            || -> anyhow::Result<Option<()>> { Err(anyhow::anyhow!("gone")) },
        );
        assert_eq!(failed.unwrap_err().to_string(), "gone");
    }

    #[test]
    fn reads_numbers_out_of_a_tools_json() {
        let v: Value = serde_json::json!({"heartbeats": {"per_sec": 12.5}, "count": 3});
        assert_eq!(num(&v, "/heartbeats/per_sec"), 12.5);
        assert_eq!(num(&v, "/heartbeats/missing"), 0.0);
        assert_eq!(at(&v, "/count").to_string(), "3");
        assert_eq!(at(&v, "/nothing").to_string(), "null");
    }
}
