//! `federation simulate`: a fleet of N projects for load tests.
//!
//! Registers `<prefix>-0 … <prefix>-(N-1)` with `POST /api/fed/projects` (at most
//! `--concurrency` requests in flight), then publishes their heartbeats round-robin,
//! paced by `--interval` (each project once per interval, spread evenly) or `--rate`
//! (heartbeats per second over the whole fleet; `max` for as fast as possible), for
//! `--duration` or until `--total` heartbeats. Over NATS when `--nats-url` (or
//! NATS_URL) is given, with NATS_TOKEN, NATS_CREDS or NATS_NKEY as the service takes
//! them ([`NatsArgs`]), else over HTTP. A progress line every second on stderr; a
//! summary at the end (`--json`: one JSON object on stdout).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use clap::Args;
use futures::StreamExt;
use serde::Serialize;
use tokio::time::Instant;

use super::client::{FederationClient, NewProject, DEFAULT_SERVER};
use super::{duration_arg, NatsArgs};

/// How many heartbeats one pass of the publishing loop may send before it looks at the
/// clock again.
const BURST: u64 = 1024;

/// How fast the fleet beats, all projects together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    PerSecond(f64),
    Max,
}

/// `500`, `500/s`, `2.5k/s`, or `max`.
pub fn rate_arg(raw: &str) -> Result<Rate, String> {
    let s = raw.trim().to_ascii_lowercase();
    if s == "max" || s == "0" {
        return Ok(Rate::Max);
    }
    let s = s.strip_suffix("/s").unwrap_or(&s);
    let (number, factor) = match s.strip_suffix('k') {
        Some(n) => (n, 1000.0),
        None => (s, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(Rate::PerSecond(r * factor)),
        _ => Err(format!(
            "{raw:?}: a rate is heartbeats per second such as 500, 500/s, 2k/s or max"
        )),
    }
}

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// How many projects.
    #[arg(long)]
    pub projects: usize,
    /// Each project beats once per interval (spread evenly over it).
    #[arg(long, value_parser = duration_arg, conflicts_with = "rate")]
    pub interval: Option<Duration>,
    /// Heartbeats per second over the whole fleet (`500/s`, `2k/s`, `max`).
    #[arg(long, value_parser = rate_arg)]
    pub rate: Option<Rate>,
    /// How long to publish (registration not included).
    #[arg(long, value_parser = duration_arg, default_value = "60s")]
    pub duration: Duration,
    /// The service, for registration (and HTTP heartbeats without --nats-url).
    #[arg(long, env = "FEDERATION_SERVER", default_value = DEFAULT_SERVER, hide_env_values = true)]
    pub server: String,
    /// Publish heartbeats on NATS instead of over HTTP (when `--nats-url` is given).
    #[command(flatten)]
    pub nats: NatsArgs,
    #[arg(long, env = "FEDERATION_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Slugs are `<prefix>-<n>`.
    #[arg(long, default_value = "sim")]
    pub prefix: String,
    /// Requests in flight at once (registration, HTTP heartbeats).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Register through `POST /api/fed/projects:bulk`, this many projects per request
    /// (1: one `POST /api/fed/projects` each).
    #[arg(long, default_value_t = 1, value_parser = bulk_arg)]
    pub bulk: usize,
    /// The projects are registered already.
    #[arg(long, conflicts_with = "register_only")]
    pub no_register: bool,
    /// Register and exit.
    #[arg(long)]
    pub register_only: bool,
    /// Register the projects with this heartbeat interval in seconds (their degraded and
    /// offline thresholds follow it).
    #[arg(long)]
    pub declare_interval: Option<u32>,
    /// Stop after this many heartbeats.
    #[arg(long)]
    pub total: Option<u64>,
    /// After the run, send one more heartbeat for this (registered) slug and report when.
    #[arg(long)]
    pub mark: Option<String>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    #[arg(
        long,
        env = "FEDERATION_PRESENCE_SUBJECT",
        default_value = federation_heartbeat::DEFAULT_SUBJECT_PREFIX
    )]
    pub subject_prefix: String,
}

/// What one phase did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phase {
    pub ok: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_sec: f64,
    /// Registration only: how many were new.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
}

/// The summary of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimulateReport {
    pub projects: usize,
    pub transport: &'static str,
    pub registration: Option<Phase>,
    pub heartbeats: Option<Phase>,
    /// When the `--mark` heartbeat was handed to the client (Unix ms).
    pub mark_sent_unix_ms: Option<f64>,
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// The progress line: rewritten in place on a terminal, one line a second otherwise.
struct Progress {
    label: &'static str,
    start: Instant,
    last: Instant,
    quiet: bool,
    tty: bool,
    of: Option<u64>,
}

impl Progress {
    fn new(label: &'static str, quiet: bool, of: Option<u64>) -> Self {
        let now = Instant::now();
        Self {
            label,
            start: now,
            last: now,
            quiet,
            tty: std::io::stderr().is_terminal(),
            of,
        }
    }

    fn line(&self, done: u64, errors: u64) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let of = self.of.map(|n| format!("/{n}")).unwrap_or_default();
        format!(
            "[{secs:6.1}s] {}: {done}{of} ({rate:.0}/s), {errors} errors",
            self.label
        )
    }

    fn update(&mut self, done: u64, errors: u64) {
        if self.quiet || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        if self.tty {
            eprint!("\r{}   ", self.line(done, errors));
        } else {
            eprintln!("{}", self.line(done, errors));
        }
    }

    fn finish(&self, done: u64, errors: u64) {
        if self.quiet {
            return;
        }
        if self.tty {
            eprintln!("\r{}   ", self.line(done, errors));
        } else {
            eprintln!("{}", self.line(done, errors));
        }
    }
}

fn phase(ok: u64, errors: u64, elapsed: Duration) -> Phase {
    let seconds = elapsed.as_secs_f64();
    Phase {
        ok,
        errors,
        seconds,
        per_sec: if seconds > 0.0 {
            ok as f64 / seconds
        } else {
            0.0
        },
        created: None,
    }
}

/// 1 to the most one bulk registration takes.
fn bulk_arg(raw: &str) -> Result<usize, String> {
    let max = federation_api::MAX_BULK_PROJECTS;
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{raw:?}: give 1 to {max} projects per request")),
    }
}

/// The fleet's slugs: `<prefix>-0` …
pub fn slugs(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn hub_url(slug: &str) -> String {
    format!("http://{slug}.sim.example")
}

/// The registration of a simulated project.
fn new_project(slug: &str, heartbeat_interval: Option<u32>) -> NewProject {
    NewProject {
        name: format!("Simulated {slug}"),
        hub_url: hub_url(slug),
        tags: vec!["simulated".into()],
        slug: slug.to_owned(),
        mesh_namespace: None,
        heartbeat_interval,
    }
}

/// Registers the fleet with at most `concurrency` requests in flight, `bulk` projects
/// per request (through `projects:bulk` when more than one).
pub async fn register_fleet(
    client: &FederationClient,
    slugs: &[String],
    heartbeat_interval: Option<u32>,
    concurrency: usize,
    bulk: usize,
    quiet: bool,
) -> Phase {
    let mut progress = Progress::new("registered", quiet, Some(slugs.len() as u64));
    let (mut created, mut updated, mut errors) = (0u64, 0u64, 0u64);
    let mut results = futures::stream::iter(slugs.chunks(bulk.max(1)))
        .map(|chunk| {
            let client = client.clone();
            async move {
                let projects: Vec<NewProject> = chunk
                    .iter()
                    .map(|s| new_project(s, heartbeat_interval))
                    .collect();
                let n = projects.len() as u64;
                let result = match projects.as_slice() {
                    [one] => client
                        .register(one)
                        .await
                        .map(|r| (u64::from(r.created), u64::from(!r.created))),
                    many => client
                        .register_bulk(many)
                        .await
                        .map(|r| (r.created, r.updated)),
                };
                (n, result)
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((n, result)) = results.next().await {
        match result {
            Ok((c, u)) => {
                created += c;
                updated += u;
            }
            Err(e) => {
                errors += n;
                if errors <= 3 * n {
                    tracing::warn!(error = %format!("{e:#}"), "registration failed");
                }
            }
        }
        progress.update(created + updated, errors);
    }
    progress.finish(created + updated, errors);
    let mut p = phase(created + updated, errors, progress.start.elapsed());
    p.created = Some(created);
    p
}

/// Heartbeat bodies built fast: everything but the timestamp is made once per project
/// ([`head`]), and the timestamp at most every 100 ms.
struct Stamp {
    timestamp: String,
    stamped: Instant,
}

const TAIL: &[u8] = br#"","version":"1.0.0"}"#;

/// A project's heartbeat body up to its timestamp.
fn head(slug: &str) -> Vec<u8> {
    format!(
        r#"{{"project_slug":"{slug}","hub_url":"{}","mesh_namespace":"hub.{slug}","timestamp":""#,
        hub_url(slug)
    )
    .into_bytes()
}

/// The body that starts with `head`, stamped now (for a single send).
fn fresh_body(head: &[u8]) -> Vec<u8> {
    let mut body = head.to_vec();
    body.extend_from_slice(now_stamp().as_bytes());
    body.extend_from_slice(TAIL);
    body
}

impl Stamp {
    fn new() -> Self {
        Self {
            timestamp: now_stamp(),
            stamped: Instant::now(),
        }
    }

    /// Refreshes the timestamp at most every 100 ms.
    fn restamp(&mut self) {
        if self.stamped.elapsed() >= Duration::from_millis(100) {
            self.timestamp = now_stamp();
            self.stamped = Instant::now();
        }
    }

    /// The body that starts with `head`, stamped with the current timestamp.
    fn body(&self, head: &[u8]) -> Bytes {
        let mut buf = BytesMut::with_capacity(head.len() + self.timestamp.len() + TAIL.len());
        buf.extend_from_slice(head);
        buf.extend_from_slice(self.timestamp.as_bytes());
        buf.extend_from_slice(TAIL);
        buf.freeze()
    }
}

fn now_stamp() -> String {
    federation_wire::format_timestamp(chrono::Utc::now())
}

/// How many heartbeats are due `elapsed` into the run at `rate`.
fn due(rate: Rate, elapsed: Duration, sent: u64) -> u64 {
    match rate {
        Rate::Max => BURST,
        Rate::PerSecond(r) => {
            let due = (r * elapsed.as_secs_f64()).floor() as u64 + 1;
            due.saturating_sub(sent).min(BURST * 4)
        }
    }
}

struct Pace {
    rate: Rate,
    duration: Duration,
    total: u64,
}

async fn publish_nats(
    client: &async_nats::Client,
    slugs: &[String],
    subject_prefix: &str,
    pace: &Pace,
    quiet: bool,
) -> Phase {
    let fleet: Vec<(async_nats::Subject, Vec<u8>)> = slugs
        .iter()
        .map(|s| (format!("{subject_prefix}.{s}").into(), head(s)))
        .collect();
    // Round-robin over the fleet, resumed where the last burst stopped.
    let mut round = fleet.iter().cycle();
    let mut stamp = Stamp::new();
    let mut progress = Progress::new("heartbeats", quiet, None);
    let start = Instant::now();
    let deadline = start + pace.duration;
    let (mut sent, mut errors) = (0u64, 0u64);
    loop {
        let now = Instant::now();
        if now >= deadline || sent + errors >= pace.total {
            break;
        }
        let allowed = due(pace.rate, now - start, sent + errors).min(pace.total - sent - errors);
        if allowed == 0 {
            if let Rate::PerSecond(r) = pace.rate {
                let next = start + Duration::from_secs_f64((sent + errors) as f64 / r);
                tokio::time::sleep_until(next.min(deadline)).await;
            }
            continue;
        }
        stamp.restamp();
        let burst = usize::try_from(allowed).unwrap_or(usize::MAX);
        for (subject, head) in round.by_ref().take(burst) {
            match client.publish(subject.clone(), stamp.body(head)).await {
                Ok(()) => sent += 1,
                Err(e) => {
                    errors += 1;
                    if errors <= 3 {
                        tracing::warn!(error = %e, "heartbeat not published");
                    }
                }
            }
        }
        progress.update(sent, errors);
    }
    if let Err(e) = tokio::time::timeout(Duration::from_secs(30), client.flush())
        .await
        .map_err(|_| "timed out".to_owned())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        tracing::warn!(error = %e, "NATS client not flushed");
    }
    progress.finish(sent, errors);
    phase(sent, errors, start.elapsed())
}

async fn publish_http(
    client: &FederationClient,
    slugs: &[String],
    pace: &Pace,
    concurrency: usize,
    quiet: bool,
) -> Phase {
    let fleet: Arc<Vec<(String, Vec<u8>)>> =
        Arc::new(slugs.iter().map(|s| (s.clone(), head(s))).collect());
    let next = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + pace.duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, fleet) = (client.clone(), fleet.clone());
        let (next, sent, errors) = (next.clone(), sent.clone(), errors.clone());
        let (rate, total) = (pace.rate, pace.total);
        workers.spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total {
                    return;
                }
                if let Rate::PerSecond(r) = rate {
                    let at = start + Duration::from_secs_f64(k as f64 / r);
                    if at >= deadline {
                        return;
                    }
                    tokio::time::sleep_until(at).await;
                }
                if Instant::now() >= deadline {
                    return;
                }
                let i = (k % fleet.len() as u64) as usize;
                let Some((slug, head)) = fleet.get(i) else {
                    return;
                };
                // The HTTP path stamps each body itself: a fresh timestamp per request.
                match client.heartbeat(slug, fresh_body(head)).await {
                    Ok(()) => sent.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            tracing::warn!(error = %format!("{e:#}"), "heartbeat not accepted");
                        }
                        0
                    }
                };
            }
        });
    }
    let mut progress = Progress::new("heartbeats", quiet, None);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            joined = workers.join_next() => if joined.is_none() { break },
            _ = tick.tick() => progress.update(sent.load(Ordering::Relaxed), errors.load(Ordering::Relaxed)),
        }
    }
    let (sent, errors) = (sent.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    progress.finish(sent, errors);
    phase(sent, errors, start.elapsed())
}

async fn connected_client(url: &str, nats: &NatsArgs) -> anyhow::Result<async_nats::Client> {
    let client = federation_heartbeat::connect_nats(url, &nats.auth()).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.connection_state() != async_nats::connection::State::Connected {
        if Instant::now() >= deadline {
            bail!("NATS at {url} is not reachable");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(client)
}

/// Runs `federation simulate` and returns its summary (also printed).
pub async fn run(args: SimulateArgs) -> anyhow::Result<SimulateReport> {
    if args.projects == 0 {
        bail!("--projects must be at least 1");
    }
    let rate = match (args.interval, args.rate) {
        (Some(interval), _) if interval.is_zero() => bail!("--interval must be more than 0"),
        (Some(interval), _) => Rate::PerSecond(args.projects as f64 / interval.as_secs_f64()),
        (None, Some(rate)) => rate,
        (None, None) if args.register_only => Rate::Max,
        (None, None) => bail!("give --interval (e.g. 30s) or --rate (e.g. 1000/s, max)"),
    };
    let slugs = slugs(&args.prefix, args.projects);
    // The longest slug is the last one.
    if let Some(last) = slugs.last() {
        federation_domain::Slug::parse(last)
            .map_err(|e| anyhow::anyhow!("--prefix {:?} makes invalid slugs: {e}", args.prefix))?;
    }
    let client = FederationClient::new(&args.server, args.api_key.clone())?;
    let mut report = SimulateReport {
        projects: args.projects,
        transport: if args.nats.url.is_some() {
            "nats"
        } else {
            "http"
        },
        ..SimulateReport::default()
    };
    if !args.no_register {
        report.registration = Some(
            register_fleet(
                &client,
                &slugs,
                args.declare_interval,
                args.concurrency,
                args.bulk,
                args.quiet,
            )
            .await,
        );
    }
    if !args.register_only {
        let pace = Pace {
            rate,
            duration: args.duration,
            total: args.total.unwrap_or(u64::MAX),
        };
        match &args.nats.url {
            Some(url) => {
                let nats = connected_client(url, &args.nats).await?;
                report.heartbeats = Some(
                    publish_nats(&nats, &slugs, &args.subject_prefix, &pace, args.quiet).await,
                );
                if let Some(mark) = &args.mark {
                    let subject = format!("{}.{mark}", args.subject_prefix);
                    let body = Bytes::from(fresh_body(&head(mark)));
                    report.mark_sent_unix_ms = Some(unix_ms());
                    nats.publish(subject, body)
                        .await
                        .context("publishing the mark")?;
                    nats.flush().await.context("flushing the mark")?;
                }
            }
            None => {
                report.heartbeats =
                    Some(publish_http(&client, &slugs, &pace, args.concurrency, args.quiet).await);
                if let Some(mark) = &args.mark {
                    let body = fresh_body(&head(mark));
                    report.mark_sent_unix_ms = Some(unix_ms());
                    client.heartbeat(mark, body).await?;
                }
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        if let Some(r) = &report.registration {
            println!(
                "registered {} projects ({} new) in {:.1}s: {:.0}/s, {} errors",
                r.ok,
                r.created.unwrap_or(0),
                r.seconds,
                r.per_sec,
                r.errors
            );
        }
        if let Some(h) = &report.heartbeats {
            println!(
                "published {} heartbeats over {} in {:.1}s: {:.0}/s, {} errors",
                h.ok, report.transport, h.seconds, h.per_sec, h.errors
            );
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(rate_arg("500"), Ok(Rate::PerSecond(500.0)));
        assert_eq!(rate_arg("500/s"), Ok(Rate::PerSecond(500.0)));
        assert_eq!(rate_arg("2k/s"), Ok(Rate::PerSecond(2000.0)));
        assert_eq!(rate_arg("max"), Ok(Rate::Max));
        assert!(rate_arg("fast").is_err());
        assert!(rate_arg("-1").is_err());
    }

    #[test]
    fn bodies_are_the_heartbeat_payload() {
        let body = Stamp::new().body(&head("sim-1"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&fresh_body(&head("sim-1"))).unwrap()
                ["project_slug"],
            "sim-1"
        );
        assert_eq!(v["project_slug"], "sim-1");
        assert_eq!(v["mesh_namespace"], "hub.sim-1");
        assert_eq!(v["hub_url"], "http://sim-1.sim.example");
        chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap();
        // Built by hand for speed, byte for byte what the wire type encodes.
        let stamp = Stamp::new();
        let wire = federation_wire::HeartbeatWire {
            project_slug: Some("sim-1".into()),
            hub_url: Some(hub_url("sim-1").into()),
            mesh_namespace: Some("hub.sim-1".into()),
            timestamp: Some(stamp.timestamp.as_str().into()),
            version: Some("1.0.0".into()),
            ..Default::default()
        };
        assert_eq!(&stamp.body(&head("sim-1"))[..], &wire.encode().unwrap()[..]);
    }

    #[test]
    fn pacing_releases_what_is_due() {
        let r = Rate::PerSecond(100.0);
        assert_eq!(due(r, Duration::ZERO, 0), 1);
        assert_eq!(due(r, Duration::from_millis(500), 0), 51);
        assert_eq!(due(r, Duration::from_millis(500), 51), 0);
        assert_eq!(due(Rate::Max, Duration::ZERO, 10), BURST);
    }
}
