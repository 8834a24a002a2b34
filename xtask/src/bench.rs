//! `cargo xtask bench`: one run that measures the service against its targets.
//!
//! Builds the release binary, starts a throwaway PostgreSQL and nats-server (the test
//! kit's), and runs the service as a child process (release build, `serve` with
//! `DATABASE_URL`, `NATS_URL`, `FEDERATION_AUTO_MIGRATE=true`, a free `SERVICE_PORT`).
//! Load comes from other processes: `federation simulate` (the NATS publisher and the
//! registrations), `federation bench-listen` (a bare async-nats subscriber that counts,
//! or reads status events), and `wrk` for REST. Prints a markdown table and writes it to
//! `target/bench/report.md`; the service logs go to `target/bench/service-*.log`.
//!
//! (a) ingest on one instance, then (b) REST and (c) POST on it; (d) detection on a
//! second instance with `offline_after` = 3 s; (e) steady state on a third, fresh one (so
//! its peak RSS is its own).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

const API_KEY: &str = "bench-key-0123456789";
const INGEST_PROJECTS: usize = 10_000;
const INGEST_HEARTBEATS: u64 = 1_000_000;
const DETECT_PROJECTS: usize = 100;
const STEADY_PROJECTS: usize = 100_000;
const STEADY_WARMUP: Duration = Duration::from_secs(30);
const STEADY_MEASURE: Duration = Duration::from_secs(60);
const WRK_SECONDS: u32 = 10;
const WRK_CONNECTIONS: u32 = 4;
const MARKER: &str = "bench-marker";

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// `GET path` over HTTP/1.0 (no chunking): status and body.
fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no HTTP status in {raw:.80}"))?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The service under test, as a child process.
struct Service {
    child: Child,
    port: u16,
    name: String,
}

impl Service {
    fn start(
        bin: &Path,
        out: &Path,
        name: &str,
        database_url: &str,
        nats_url: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = federation_testkit::free_port();
        let log = std::fs::File::create(out.join(format!("service-{name}.log")))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env("DATABASE_URL", database_url)
            .env("NATS_URL", nats_url)
            .env("FEDERATION_AUTO_MIGRATE", "true")
            .env("SERVICE_HOST", "127.0.0.1")
            .env("SERVICE_PORT", port.to_string())
            .env("FEDERATION_API_KEYS", API_KEY)
            .env("FEDERATION_PROJECTS_FILE", out.join("no-projects.yaml"))
            .env("LOG_LEVEL", "warn")
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("starting the service")?;
        let mut service = Service {
            child,
            port,
            name: name.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = service.child.try_wait()? {
                bail!(
                    "the service ({name}) exited with {status}; see target/bench/service-{name}.log"
                );
            }
            if matches!(http_get(port, "/health"), Ok((200, _))) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the service ({name}) did not answer /health within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(service)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Until NATS is up and the partition guard's hold after connecting is over.
    fn wait_bus_healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok((_, body)) = http_get(self.port, "/ready") {
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                if v["checks"]["nats"] == "ok" && v["checks"]["partition_guard"] == "inactive" {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("the service's NATS link never became healthy");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Until the presence subscription is proven: NATS up and a canary came back (the
    /// partition guard may still hold expiry; heartbeats are recorded all the same).
    fn wait_subscribed(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok((200, body)) = http_get(self.port, "/metrics") {
                let returned = body
                    .lines()
                    .find_map(|l| l.strip_prefix("federation_nats_canaries_returned_total "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .unwrap_or(0.0);
                if returned > 0.0 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("no canary came back through the service's subscription within 120 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The service's own count of heartbeats by outcome, from `/metrics`.
    fn heartbeat_counts(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        let (status, body) = http_get(self.port, "/metrics")?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(parse_heartbeat_counts(&body))
    }

    fn project(&self, slug: &str) -> anyhow::Result<Value> {
        let (status, body) = http_get(self.port, &format!("/api/fed/projects/{slug}"))?;
        if status != 200 {
            bail!("GET {slug}: {status} {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    fn stop(mut self) {
        // SIGTERM: the service flushes and exits.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "bench: the service ({}) did not stop; killing it",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The key [`parse_heartbeat_counts`] puts the number of store flushes under.
const FLUSHES: &str = "_flushes";

/// `federation_heartbeats_received_total{outcome="ok"} 123` → `ok: 123`; the count of
/// the store flush histogram under [`FLUSHES`].
fn parse_heartbeat_counts(metrics: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines() {
        if let Some(v) = line.strip_prefix("federation_store_flush_duration_seconds_count ") {
            if let Ok(v) = v.trim().parse::<f64>() {
                out.insert(FLUSHES.to_owned(), v);
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("federation_heartbeats_received_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let Some(outcome) = labels
            .split(',')
            .find_map(|l| l.trim().strip_prefix("outcome="))
        else {
            continue;
        };
        if let Ok(v) = value.trim().parse::<f64>() {
            out.insert(outcome.trim_matches('"').to_owned(), v);
        }
    }
    out
}

/// The `federation` binary as a load tool.
struct Tool<'a> {
    bin: &'a Path,
    nats_url: String,
}

impl Tool<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bin);
        cmd.args(args)
            .env("NATS_URL", &self.nats_url)
            .env("FEDERATION_API_KEY", API_KEY)
            .env("LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        cmd
    }

    /// Runs a command that prints one JSON object last on stdout.
    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let out = self
            .command(args)
            .stdout(Stdio::piped())
            .output()
            .with_context(|| format!("running federation {}", args.join(" ")))?;
        if !out.status.success() {
            bail!("federation {} failed: {}", args.join(" "), out.status);
        }
        last_json(&String::from_utf8_lossy(&out.stdout))
    }

    /// Starts `bench-listen` and waits for its `ready`.
    fn listen(&self, args: &[&str]) -> anyhow::Result<Listener> {
        let mut all = vec!["bench-listen"];
        all.extend_from_slice(args);
        let mut child = self
            .command(&all)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting bench-listen")?;
        let mut stdout = BufReader::new(child.stdout.take().context("listener stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            bail!("bench-listen did not start: {line:?}");
        }
        Ok(Listener { child, stdout })
    }
}

struct Listener {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Listener {
    fn finish(mut self) -> anyhow::Result<Value> {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest)?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("bench-listen failed: {status}");
        }
        last_json(&rest)
    }
}

fn last_json(out: &str) -> anyhow::Result<Value> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| anyhow!("no JSON in the output: {out:.200}"))?;
    Ok(serde_json::from_str(line)?)
}

/// One `/metrics` reading: (time, ok count, dropped count, flushes so far).
type Sample = (Instant, f64, f64, f64);

/// Polls `/metrics` until stopped.
struct CounterPoller {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: std::thread::JoinHandle<()>,
}

impl CounterPoller {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || {
                let service = ServicePort(port);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(c) = service.counts() {
                        let ok = c.get("ok").copied().unwrap_or(0.0);
                        let dropped = c.get("dropped").copied().unwrap_or(0.0);
                        let flushes = c.get(FLUSHES).copied().unwrap_or(0.0);
                        samples
                            .lock()
                            .unwrap()
                            .push((Instant::now(), ok, dropped, flushes));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Self {
            stop,
            samples,
            thread,
        }
    }

    fn last(&self) -> Option<Sample> {
        self.samples.lock().unwrap().last().copied()
    }

    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        Arc::try_unwrap(self.samples)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default()
    }
}

struct ServicePort(u16);

impl ServicePort {
    fn counts(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        let (status, body) = http_get(self.0, "/metrics")?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(parse_heartbeat_counts(&body))
    }
}

/// wrk's numbers.
#[derive(Debug, Default, Clone)]
struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    errors: String,
}

fn wrk_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (n, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        return None;
    };
    n.parse::<f64>().ok().map(|v| v * factor)
}

fn parse_wrk(out: &str) -> Wrk {
    let mut w = Wrk::default();
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            w.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            w.p50_ms = wrk_duration_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("99%") {
            w.p99_ms = wrk_duration_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            w.non_2xx = v.trim().parse().unwrap_or(0);
        } else if t.starts_with("Socket errors:") {
            w.errors = t.to_owned();
        }
    }
    w
}

fn run_wrk(out_dir: &Path, url: &str, script: Option<&str>) -> anyhow::Result<Wrk> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{WRK_CONNECTIONS}"),
        &format!("-d{WRK_SECONDS}s"),
        "--latency",
        "-H",
        &format!("X-API-Key: {API_KEY}"),
    ]);
    if let Some(script) = script {
        cmd.arg("-s").arg(out_dir.join(script));
    }
    let out = cmd.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(
        out_dir.join(format!(
            "wrk-{}.txt",
            script.unwrap_or("list").trim_end_matches(".lua")
        )),
        &text,
    )?;
    if !out.status.success() {
        bail!(
            "wrk failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse_wrk(&text))
}

const GET_LUA: &str = r#"math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/fed/projects/ing-" .. math.random(0, 9999))
end
"#;

const POST_LUA: &str = r#"local counter = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
request = function()
  counter = counter + 1
  local slug = "post-" .. tostring(tid) .. "-" .. counter
  local body = '{"slug":"' .. slug .. '","name":"' .. slug .. '","hub_url":"http://' .. slug .. '.example.com"}'
  return wrk.format("POST", "/api/fed/projects", {["Content-Type"] = "application/json", ["X-API-Key"] = "API_KEY"}, body)
end
"#;

fn ensure_wrk() -> anyhow::Result<()> {
    if super::on_path("wrk") {
        return Ok(());
    }
    if !super::is_root() || !super::on_path("apt-get") {
        bail!("wrk is not installed (apt-get install wrk)");
    }
    eprintln!("bench: installing wrk with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    let installed = apt(&["install", "-y", "-qq", "--no-install-recommends", "wrk"])?;
    if !installed.success() {
        apt(&["update", "-qq"])?;
        let again = apt(&["install", "-y", "-qq", "--no-install-recommends", "wrk"])?;
        if !again.success() {
            bail!("apt-get install wrk failed");
        }
    }
    Ok(())
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("odd /proc stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the comm field: state is field 3, utime 14 and stime 15 (1-based).
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A `Vm…:` line of /proc/<pid>/status, in MiB.
fn vm_mib(pid: u32, key: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .ok_or_else(|| anyhow!("{key} not in /proc/{pid}/status"))?;
    let kb: f64 = line.split_whitespace().nth(1).context("value")?.parse()?;
    Ok(kb / 1024.0)
}

#[derive(Default)]
struct Row {
    measure: String,
    result: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    fn row(&mut self, measure: &str, result: String, target: &str, met: Option<bool>) {
        eprintln!("bench: {measure}: {result}");
        self.rows.push(Row {
            measure: measure.to_owned(),
            result,
            target: target.to_owned(),
            met,
        });
    }

    fn failed(&mut self, measure: &str, e: &anyhow::Error) {
        self.row(measure, format!("not measured: {e:#}"), "", Some(false));
    }

    fn markdown(&self) -> String {
        let mut s = String::from("| measure | result | target | met |\n|---|---|---|---|\n");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(s, "| {} | {} | {} | {met} |", r.measure, r.result, r.target);
        }
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }
}

fn thousands(n: f64) -> String {
    let n = n.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// `--only a,b,d`: a subset of the phases (for working on one); all by default.
fn phases(args: &[String]) -> anyhow::Result<String> {
    match args {
        [] => Ok("abcde".into()),
        [flag, list] if flag == "--only" => Ok(list.replace(',', "")),
        _ => bail!("usage: cargo xtask bench [--only a,b,c,d,e]"),
    }
}

pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let phases = phases(args)?;
    super::ensure_test_services()?;
    let wrk = ensure_wrk();
    if let Err(e) = &wrk {
        eprintln!("bench: {e:#}; REST is not measured");
    }

    eprintln!("bench: cargo build --release -p federation-server");
    let status = super::cargo()
        .args(["build", "--release", "-p", "federation-server"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("the release build failed");
    }
    let bin: PathBuf = root.join("target/release/federation");
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("get.lua"), GET_LUA)?;
    std::fs::write(out.join("post.lua"), POST_LUA.replace("API_KEY", API_KEY))?;

    eprintln!("bench: starting PostgreSQL and nats-server");
    let postgres = federation_testkit::PostgresCluster::start().context("starting PostgreSQL")?;
    let nats = federation_testkit::NatsServer::start().context("starting nats-server")?;
    let tool = Tool {
        bin: &bin,
        nats_url: nats.url(),
    };
    let mut report = Report::default();

    // (a), (b), (c) on one instance; thresholds long enough that the fleet stays online.
    let main_db = postgres.create_database("bench_main")?;
    let service = Service::start(
        &bin,
        &out,
        "main",
        &main_db,
        &nats.url(),
        &[
            ("FEDERATION_DEGRADED_AFTER", "600s"),
            ("FEDERATION_OFFLINE_AFTER", "900s"),
        ],
    )?;
    if phases.contains('a') {
        if let Err(e) = ingest(&tool, &service, &mut report) {
            report.failed("(a) ingest", &e);
        }
    }
    if wrk.is_ok() && (phases.contains('b') || phases.contains('c')) {
        // Without (a), the fleet (b) reads is not there yet: register it and beat once each.
        if !phases.contains('a') {
            if let Err(e) = online_fleet(&tool, &service) {
                report.failed("(b)/(c) fleet setup", &e);
            }
        }
        if let Err(e) = rest(&out, &service, &mut report) {
            report.failed("(b)/(c) REST", &e);
        }
    }
    service.stop();

    // (d) detection on an instance with offline_after = 3 s.
    if phases.contains('d') {
        let detect_db = postgres.create_database("bench_detect")?;
        let service = Service::start(
            &bin,
            &out,
            "detect",
            &detect_db,
            &nats.url(),
            &[
                ("FEDERATION_DEGRADED_AFTER", "2s"),
                ("FEDERATION_OFFLINE_AFTER", "3s"),
            ],
        )?;
        if let Err(e) = detection(&tool, &service, &mut report) {
            report.failed("(d) detection", &e);
        }
        service.stop();
    }

    // (e) steady state on a fresh instance with the default thresholds.
    if phases.contains('e') {
        let steady_db = postgres.create_database("bench_steady")?;
        let service = Service::start(&bin, &out, "steady", &steady_db, &nats.url(), &[])?;
        if let Err(e) = steady(&tool, &service, &mut report) {
            report.failed("(e) steady state", &e);
        }
        service.stop();
    }
    drop(nats);
    drop(postgres);

    report.notes.push(format!(
        "Machine: {} cores; everything (service, PostgreSQL, nats-server, load) on it; \
         the test kit's PostgreSQL runs with fsync off. Total bench time {:.0} s.",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        started.elapsed().as_secs_f64()
    ));
    let md = report.markdown();
    std::fs::write(out.join("report.md"), &md)?;
    println!("\n{md}");
    println!("written to target/bench/report.md");
    Ok(())
}

/// The (a) fleet without the burst: every project registered and online, for `--only b`.
fn online_fleet(tool: &Tool<'_>, service: &Service) -> anyhow::Result<()> {
    let n = INGEST_PROJECTS.to_string();
    eprintln!("bench: registering {INGEST_PROJECTS} projects and beating each once");
    service.wait_subscribed()?;
    tool.json(&[
        "simulate",
        "--server",
        &service.url(),
        "--projects",
        &n,
        "--prefix",
        "ing",
        "--rate",
        "max",
        "--total",
        &n,
        "--json",
        "--quiet",
    ])?;
    // Wait for the store to show the fleet online (one flush after the last beat).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = http_get(service.port, "/api/fed/projects?status=online&limit=1")?;
        if code == 200 && body.len() > 2 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the fleet never showed online");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The (a) burst: every heartbeat of the run, as fast as the publisher goes. The ceiling
/// and the service get the very same one; `extra` only says where it goes.
fn burst(tool: &Tool<'_>, extra: &[&str]) -> anyhow::Result<Value> {
    let n = INGEST_PROJECTS.to_string();
    let total = INGEST_HEARTBEATS.to_string();
    let mut args = vec![
        "simulate",
        "--no-register",
        "--projects",
        &n,
        "--prefix",
        "ing",
        "--rate",
        "max",
        "--total",
        &total,
        "--duration",
        "300s",
        "--json",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    tool.json(&args)
}

fn ingest(tool: &Tool<'_>, service: &Service, report: &mut Report) -> anyhow::Result<()> {
    let n = INGEST_PROJECTS.to_string();
    let total = INGEST_HEARTBEATS.to_string();
    eprintln!("bench: (a) registering {INGEST_PROJECTS} projects");
    let reg = tool.json(&[
        "simulate",
        "--server",
        &service.url(),
        "--projects",
        &n,
        "--prefix",
        "ing",
        "--register-only",
        "--concurrency",
        "32",
        "--json",
        "--quiet",
    ])?;
    // The marker: registered under its own name, beaten only once, last.
    let marker_ok = Command::new(tool.bin)
        .args([
            "projects",
            "register",
            "--server",
            &service.url(),
            "--slug",
            MARKER,
            "--hub-url",
            "http://bench-marker.example.com",
        ])
        .env("FEDERATION_API_KEY", API_KEY)
        .stdout(Stdio::null())
        .status()?
        .success();
    if !marker_ok {
        bail!("registering {MARKER} failed");
    }
    let reg_rate = f(&reg["registration"]["per_sec"]);
    service.wait_subscribed()?;

    // The ceiling: the same publisher, a bare subscriber that only counts, on a subject
    // the service does not listen to.
    eprintln!("bench: (a) ceiling: {INGEST_HEARTBEATS} heartbeats to a bare subscriber");
    let listener = tool.listen(&[
        "--subject",
        "bench.ceiling.*",
        "--expect",
        &total,
        "--idle",
        "3s",
    ])?;
    let ceiling_pub = burst(tool, &["--subject-prefix", "bench.ceiling"])?;
    let ceiling = listener.finish()?;
    let ceiling_rate = f(&ceiling["per_sec"]);
    let ceiling_received = f(&ceiling["received"]);

    // The service: its counter, polled; its status events for the first beats.
    eprintln!("bench: (a) ingest: {INGEST_HEARTBEATS} heartbeats to the service");
    let before = service.heartbeat_counts()?;
    let ok0 = before.get("ok").copied().unwrap_or(0.0);
    let dropped0 = before.get("dropped").copied().unwrap_or(0.0);
    let events = tool.listen(&[
        "--subject",
        "hub.federation.status.>",
        "--events",
        "--idle",
        "5s",
        "--max-wait",
        "300s",
    ])?;
    let poller = CounterPoller::start(service.port);
    let publish = burst(tool, &["--mark", MARKER])?;
    let mark_sent = f(&publish["mark_sent_unix_ms"]);
    let published = f(&publish["heartbeats"]["ok"]);
    let publish_rate = f(&publish["heartbeats"]["per_sec"]);
    // The last heartbeat (the marker) visible through the store; lost if the service
    // dropped it under overload.
    let deadline = Instant::now() + Duration::from_secs(30);
    let visible_ms = loop {
        let p = service.project(MARKER)?;
        if p["status"] == "online" {
            break Some(unix_ms() - mark_sent);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Until the counter stands still for a second.
    let mut still_since = Instant::now();
    let mut last_ok = -1.0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && still_since.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(100));
        if let Some((_, ok, _, _)) = poller.last() {
            if ok != last_ok {
                last_ok = ok;
                still_since = Instant::now();
            }
        }
    }
    let samples = poller.finish();
    let events = events.finish()?;
    let (ok_final, dropped_final) = samples
        .last()
        .map(|s| (s.1, s.2))
        .unwrap_or((ok0, dropped0));
    let processed = ok_final - ok0;
    let dropped = dropped_final - dropped0;
    let t_first = samples.iter().find(|s| s.1 > ok0).map(|s| s.0);
    let t_last = samples.iter().find(|s| s.1 >= ok_final).map(|s| s.0);
    let rate = match (t_first, t_last) {
        // The first sample above the start is up to one poll late: count from the one
        // before it.
        (Some(a), Some(b)) if b > a => {
            let first_ok = samples
                .iter()
                .find(|s| s.1 > ok0)
                .map(|s| s.1)
                .unwrap_or(ok0);
            (ok_final - first_ok) / (b - a).as_secs_f64()
        }
        _ => 0.0,
    };
    // Without the marker (dropped under overload): from the end of publishing to the
    // first store flush that completed after the counter stopped.
    let drained = samples.iter().find(|s| s.1 >= ok_final).copied();
    let stored_after_drain_ms = drained.and_then(|d| {
        let flushed = samples.iter().find(|s| s.0 > d.0 && s.3 > d.3)?;
        let at_ms = unix_ms() - flushed.0.elapsed().as_secs_f64() * 1000.0;
        Some(at_ms - mark_sent)
    });
    let ratio = if ceiling_rate > 0.0 {
        rate / ceiling_rate
    } else {
        0.0
    };
    report.row(
        "(a) ingest: heartbeats/s processed (service counter `federation_heartbeats_received_total{outcome=\"ok\"}`)",
        format!(
            "{}/s ({} of {} published processed, {} dropped by the ingest queue)",
            thousands(rate),
            thousands(processed),
            thousands(published),
            thousands(dropped)
        ),
        "≥ 100,000/s",
        Some(rate >= 100_000.0),
    );
    report.row(
        "(a) ceiling: same publisher → bare async-nats subscriber that only counts",
        format!(
            "{}/s ({} received)",
            thousands(ceiling_rate),
            thousands(ceiling_received)
        ),
        "",
        None,
    );
    report.row(
        "(a) ingest / ceiling",
        format!("{:.0} %", ratio * 100.0),
        "≥ 50 %",
        Some(ratio >= 0.5),
    );
    report.row(
        "(a) publisher alone (`federation simulate --rate max`)",
        format!(
            "{}/s to the service run, {}/s to the ceiling run",
            thousands(publish_rate),
            thousands(f(&ceiling_pub["heartbeats"]["per_sec"]))
        ),
        "",
        None,
    );
    match visible_ms {
        Some(ms) => report.row(
            "(a) last heartbeat published → visible in the store (GET)",
            format!("{ms:.0} ms"),
            "≤ 1 s",
            Some(ms <= 1000.0),
        ),
        None => report.row(
            "(a) last heartbeat published → in the store: the marker was dropped under overload; \
             end of publishing → first store flush after the counter stopped",
            match stored_after_drain_ms {
                Some(ms) => format!("{ms:.0} ms"),
                None => "not measured".into(),
            },
            "≤ 1 s",
            stored_after_drain_ms.map(|ms| ms <= 1000.0),
        ),
    }
    let online = &events["events"]["online"];
    if online.is_object() {
        let p99 = f(&online["p99_ms"]);
        report.row(
            "(a) heartbeat → stored (first beat of each project during the run: receipt → stored → status event, p50 / p99)",
            format!(
                "{:.0} ms / {:.0} ms over {} projects",
                f(&online["p50_ms"]),
                p99,
                online["count"]
            ),
            "p99 ≤ 1 s",
            Some(p99 <= 1000.0),
        );
    }
    report.row(
        "POST registration by `federation simulate` (32 in flight)",
        format!("{}/s", thousands(reg_rate)),
        "",
        None,
    );
    Ok(())
}

fn rest(out: &Path, service: &Service, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: (b) GET by slug");
    let get = run_wrk(out, &format!("{}/", service.url()), Some("get.lua"))?;
    report.row(
        &format!("(b) GET /api/fed/projects/{{slug}}, 10,000 projects (wrk, {WRK_CONNECTIONS} connections, {WRK_SECONDS} s): req/s, p50, p99"),
        format!(
            "{}/s, {:.2} ms, {:.2} ms{}",
            thousands(get.rps),
            get.p50_ms,
            get.p99_ms,
            wrk_errors(&get)
        ),
        "p99 ≤ 5 ms",
        Some(get.p99_ms <= 5.0 && get.non_2xx == 0),
    );
    eprintln!("bench: (b) list");
    let list = run_wrk(
        out,
        &format!("{}/api/fed/projects?status=online&limit=100", service.url()),
        None,
    )?;
    report.row(
        &format!("(b) GET /api/fed/projects?status=online&limit=100 (wrk, {WRK_CONNECTIONS} connections): req/s, p50, p99"),
        format!(
            "{}/s, {:.2} ms, {:.2} ms{}",
            thousands(list.rps),
            list.p50_ms,
            list.p99_ms,
            wrk_errors(&list)
        ),
        "p99 ≤ 10 ms",
        Some(list.p99_ms <= 10.0 && list.non_2xx == 0),
    );
    eprintln!("bench: (c) POST");
    let post = run_wrk(out, &format!("{}/", service.url()), Some("post.lua"))?;
    report.row(
        &format!("(c) POST /api/fed/projects, new slugs (wrk, {WRK_CONNECTIONS} connections): req/s, p50, p99"),
        format!(
            "{}/s, {:.2} ms, {:.2} ms{}",
            thousands(post.rps),
            post.p50_ms,
            post.p99_ms,
            wrk_errors(&post)
        ),
        "",
        if post.non_2xx == 0 { None } else { Some(false) },
    );
    Ok(())
}

fn wrk_errors(w: &Wrk) -> String {
    let mut s = String::new();
    if w.non_2xx > 0 {
        let _ = write!(s, " ({} non-2xx)", w.non_2xx);
    }
    if !w.errors.is_empty() {
        let _ = write!(s, " ({})", w.errors);
    }
    s
}

fn detection(tool: &Tool<'_>, service: &Service, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: (d) detection over {DETECT_PROJECTS} projects, offline_after 3 s");
    let n = DETECT_PROJECTS.to_string();
    tool.json(&[
        "simulate",
        "--server",
        &service.url(),
        "--projects",
        &n,
        "--prefix",
        "det",
        "--register-only",
        "--json",
        "--quiet",
    ])?;
    service.wait_bus_healthy()?;
    let events = tool.listen(&[
        "--subject",
        "hub.federation.status.>",
        "--events",
        "--expect",
        &(DETECT_PROJECTS * 3).to_string(),
        "--idle",
        "8s",
        "--max-wait",
        "60s",
    ])?;
    // Two beats each, then silence.
    tool.json(&[
        "simulate",
        "--no-register",
        "--projects",
        &n,
        "--prefix",
        "det",
        "--rate",
        &format!("{}/s", DETECT_PROJECTS * 2),
        "--total",
        &(DETECT_PROJECTS * 2).to_string(),
        "--duration",
        "10s",
        "--json",
        "--quiet",
    ])?;
    let events = events.finish()?;
    let offline = &events["events"]["offline"];
    if !offline.is_object() {
        bail!("no offline event arrived: {events}");
    }
    let p99 = f(&offline["p99_ms"]);
    report.row(
        "(d) detection, offline_after 3 s: last heartbeat → offline event received (p50 / p99 / max)",
        format!(
            "{:.0} ms / {:.0} ms / {:.0} ms over {} projects",
            f(&offline["p50_ms"]),
            p99,
            f(&offline["max_ms"]),
            offline["count"]
        ),
        "≤ 4,000 ms",
        Some(p99 <= 4000.0 && offline["count"].as_u64() == Some(DETECT_PROJECTS as u64)),
    );
    Ok(())
}

fn steady(tool: &Tool<'_>, service: &Service, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: (e) registering {STEADY_PROJECTS} projects");
    let n = STEADY_PROJECTS.to_string();
    let reg = tool.json(&[
        "simulate",
        "--server",
        &service.url(),
        "--projects",
        &n,
        "--prefix",
        "ss",
        "--register-only",
        "--concurrency",
        "32",
        "--json",
        "--quiet",
    ])?;
    service.wait_subscribed()?;
    eprintln!(
        "bench: (e) {STEADY_PROJECTS} projects at a 30 s interval: {} s warm-up, {} s measured",
        STEADY_WARMUP.as_secs(),
        STEADY_MEASURE.as_secs()
    );
    let total = STEADY_WARMUP + STEADY_MEASURE + Duration::from_secs(1);
    let mut publisher = tool
        .command(&[
            "simulate",
            "--no-register",
            "--projects",
            &n,
            "--prefix",
            "ss",
            "--interval",
            "30s",
            "--duration",
            &format!("{}s", total.as_secs()),
            "--json",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    std::thread::sleep(STEADY_WARMUP);
    let cpu0 = cpu_seconds(service.pid())?;
    let ok0 = service
        .heartbeat_counts()?
        .get("ok")
        .copied()
        .unwrap_or(0.0);
    let t0 = Instant::now();
    std::thread::sleep(STEADY_MEASURE);
    let cpu1 = cpu_seconds(service.pid())?;
    let wall = t0.elapsed().as_secs_f64();
    let ok1 = service
        .heartbeat_counts()?
        .get("ok")
        .copied()
        .unwrap_or(0.0);
    let hwm = vm_mib(service.pid(), "VmHWM:")?;
    let rss = vm_mib(service.pid(), "VmRSS:")?;
    let mut stdout = String::new();
    if let Some(mut s) = publisher.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    publisher.wait()?;
    let cpu_pct = (cpu1 - cpu0) / wall * 100.0;
    report.row(
        "(e) steady state, 100,000 projects every 30 s: service CPU (% of one core, over 60 s)",
        format!(
            "{cpu_pct:.1} % ({} heartbeats/s processed)",
            thousands((ok1 - ok0) / wall)
        ),
        "< 10 %",
        Some(cpu_pct < 10.0),
    );
    report.row(
        "(e) steady state: service peak RSS (VmHWM; VmRSS at the end)",
        format!("{hwm:.0} MiB ({rss:.0} MiB)"),
        "≤ 150 MB",
        Some(hwm * 1.048_576 <= 150.0),
    );
    report.row(
        "POST registration of 100,000 projects by `federation simulate` (32 in flight)",
        format!(
            "{}/s ({:.0} s)",
            thousands(f(&reg["registration"]["per_sec"])),
            f(&reg["registration"]["seconds"])
        ),
        "",
        None,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_services_heartbeat_counter() {
        let metrics = "# TYPE federation_heartbeats_received counter\n\
            federation_heartbeats_received_total{outcome=\"ok\"} 1234\n\
            federation_heartbeats_received_total{outcome=\"dropped\"} 5\n\
            federation_nats_messages_received_total 99\n";
        let c = parse_heartbeat_counts(metrics);
        assert_eq!(c.get("ok"), Some(&1234.0));
        assert_eq!(c.get("dropped"), Some(&5.0));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn reads_wrk() {
        let out = "Running 10s test @ http://127.0.0.1:1/\n  Latency Distribution\n     50%  635.00us\n     75%    1.01ms\n     99%    2.10ms\n  70123 requests in 10.00s\nRequests/sec:   7012.34\n";
        let w = parse_wrk(out);
        assert_eq!(w.rps, 7012.34);
        assert!((w.p50_ms - 0.635).abs() < 1e-9);
        assert_eq!(w.p99_ms, 2.1);
        assert_eq!(wrk_duration_ms("1.5s"), Some(1500.0));
        assert_eq!(thousands(1234567.0), "1,234,567");
    }
}
