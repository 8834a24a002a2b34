//! (f) three replicas of the service on one PostgreSQL and one nats-server, each on its
//! own port: how soon a registration through one is readable on the others, the whole
//! list of their 1,000 projects with wrk, and how long a kill -9 of the leader leaves
//! them without one.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use super::http::KeepAlive;
use super::report::{thousands, Report};
use super::service::Service;
use super::wait_until;
use super::wrk::{self, READS};

/// How many replicas (f) runs.
pub(super) const REPLICAS: usize = 3;
/// The sweeper lease (`FEDERATION_LEASE_TTL`) the replicas run with.
pub(super) const LEASE_TTL: Duration = Duration::from_secs(2);
/// Their sweep tick (`FEDERATION_SWEEP_INTERVAL`), at which the lease is renewed or taken.
pub(super) const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Registered one by one through the first replica: the fleet (f) reads.
const PROJECTS: usize = 1_000;
/// A registration not visible on every other replica within this fails the phase.
const VISIBLE_WITHIN: Duration = Duration::from_secs(10);
/// Target: registration visible elsewhere, p99 (ms).
const VISIBLE_MAX_P99_MS: f64 = 1_000.0;
/// Target: the whole list, requests per second.
const WHOLE_LIST_MIN_RPS: f64 = 2_000.0;
/// How many leaders (f) kills, one after the other (3 → 2 → 1 replicas).
const KILLS: usize = 2;

/// The environment of every replica (on top of the bench's): the lease and the tick, and
/// thresholds long enough that no status changes while (f) runs.
pub(super) fn env() -> [(&'static str, String); 4] {
    [
        ("FEDERATION_LEASE_TTL", format!("{}s", LEASE_TTL.as_secs())),
        (
            "FEDERATION_SWEEP_INTERVAL",
            format!("{}s", SWEEP_INTERVAL.as_secs()),
        ),
        ("FEDERATION_DEGRADED_AFTER", "600s".to_owned()),
        ("FEDERATION_OFFLINE_AFTER", "900s".to_owned()),
    ]
}

/// Registers [`PROJECTS`] one by one through the first replica; after each is
/// acknowledged, asks the others for it in a tight loop (each on its own keep-alive
/// connection, the next request as soon as the last answer came) until both answer 200.
pub(super) fn registration(services: &[Service], report: &mut Report) -> anyhow::Result<()> {
    let [writer, readers @ ..] = services else {
        bail!("no replica to register through");
    };
    eprintln!(
        "bench: (f) {PROJECTS} registrations through replica 1, read back on the {} others",
        readers.len()
    );
    let mut writer = KeepAlive::new(writer.port());
    let mut readers: Vec<KeepAlive> = readers.iter().map(|s| KeepAlive::new(s.port())).collect();
    let mut post_ms = Vec::with_capacity(PROJECTS);
    let mut visible_ms = Vec::with_capacity(PROJECTS);
    for i in 0..PROJECTS {
        let slug = format!("rep-{i}");
        let body =
            format!(r#"{{"slug":"{slug}","name":"{slug}","hub_url":"http://{slug}.example.com"}}"#);
        let sent = Instant::now();
        let (status, answer) = writer.post_json("/api/fed/projects", &body)?;
        if !(200..300).contains(&status) {
            bail!("registering {slug} through replica 1: {status} {answer}");
        }
        let acknowledged = Instant::now();
        post_ms.push(ms(acknowledged - sent));
        let path = format!("/api/fed/projects/{slug}");
        let mut seen = vec![false; readers.len()];
        while seen.contains(&false) {
            for (reader, seen) in readers.iter_mut().zip(seen.iter_mut()) {
                if !*seen {
                    *seen = reader.get(&path)?.0 == 200;
                }
            }
            if acknowledged.elapsed() > VISIBLE_WITHIN {
                bail!(
                    "{slug} was not visible on every replica {} s after replica 1 registered it",
                    VISIBLE_WITHIN.as_secs()
                );
            }
        }
        visible_ms.push(ms(acknowledged.elapsed()));
    }
    let visible = Quantiles::of(visible_ms);
    let post = Quantiles::of(post_ms);
    report.row(
        &format!(
            "(f) {REPLICAS} replicas: registration acknowledged by replica 1 → GET by slug 200 on replicas 2 and 3 (p50 / p99 / max over {})",
            thousands(PROJECTS as f64)
        ),
        format!(
            "{:.1} ms / {:.1} ms / {:.1} ms (the POST itself: p50 {:.1} ms, p99 {:.1} ms)",
            visible.p50, visible.p99, visible.max, post.p50, post.p99
        ),
        "p99 ≤ 1,000 ms",
        Some(visible.p99 <= VISIBLE_MAX_P99_MS),
    );
    Ok(())
}

/// Projects (of the [`PROJECTS`] registered, all offline: never heard) brought online,
/// one by one, by a heartbeat over HTTP to replica 1.
const BEATEN: usize = 200;
/// Target: a status changed by a heartbeat, visible on every replica, p99 (ms).
const STATUS_VISIBLE_MAX_P99_MS: f64 = 100.0;

/// For [`BEATEN`] projects in turn: one heartbeat over HTTP to replica 1, then every
/// replica is asked for the project in a tight loop (each on its own keep-alive
/// connection) until all say `online`: from the acknowledged heartbeat to the last.
pub(super) fn heartbeat_visible(services: &[Service], report: &mut Report) -> anyhow::Result<()> {
    let Some(first) = services.first() else {
        bail!("no replica to send heartbeats to");
    };
    eprintln!("bench: (f) {BEATEN} heartbeats through replica 1, the status read on every replica");
    let mut sender = KeepAlive::new(first.port());
    let mut readers: Vec<KeepAlive> = services.iter().map(|s| KeepAlive::new(s.port())).collect();
    let mut visible_ms = Vec::with_capacity(BEATEN);
    for i in 0..BEATEN {
        let slug = format!("rep-{i}");
        let body = format!(r#"{{"project_slug":"{slug}","version":"1.0.0"}}"#);
        let (status, answer) =
            sender.post_json(&format!("/api/fed/projects/{slug}/heartbeat"), &body)?;
        if !(200..300).contains(&status) {
            bail!("a heartbeat for {slug} through replica 1: {status} {answer}");
        }
        let acknowledged = Instant::now();
        let path = format!("/api/fed/projects/{slug}");
        let mut seen = vec![false; readers.len()];
        while seen.contains(&false) {
            for (reader, seen) in readers.iter_mut().zip(seen.iter_mut()) {
                if !*seen {
                    let (status, body) = reader.get(&path)?;
                    *seen = status == 200 && body.contains(r#""status":"online""#);
                }
            }
            if acknowledged.elapsed() > VISIBLE_WITHIN {
                bail!(
                    "{slug} was not online on every replica {} s after its heartbeat",
                    VISIBLE_WITHIN.as_secs()
                );
            }
        }
        visible_ms.push(ms(acknowledged.elapsed()));
    }
    let visible = Quantiles::of(visible_ms);
    report.row(
        &format!(
            "(f) {REPLICAS} replicas: heartbeat acknowledged by replica 1 → `online` on GET by slug of every replica (p50 / p99 / max over {BEATEN}; tick {} s)",
            SWEEP_INTERVAL.as_secs()
        ),
        format!(
            "{:.1} ms / {:.1} ms / {:.1} ms",
            visible.p50, visible.p99, visible.max
        ),
        "p99 ≤ 100 ms",
        Some(visible.p99 <= STATUS_VISIBLE_MAX_P99_MS),
    );
    Ok(())
}

/// `GET /api/fed/projects?limit=1000` on `service` when its fleet is exactly the
/// [`PROJECTS`] (f) registered: the whole list.
pub(super) fn whole_list(out: &Path, service: &Service, report: &mut Report) -> anyhow::Result<()> {
    let path = format!("/api/fed/projects?limit={PROJECTS}");
    let (status, body) = service.get(&path)?;
    let rows = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.as_array().map(Vec::len));
    if status != 200 || rows != Some(PROJECTS) {
        bail!("GET {path}: {status} with {rows:?} rows, not the whole fleet of {PROJECTS}");
    }
    eprintln!("bench: (f) the whole list");
    let list = wrk::run(
        out,
        "list-1000",
        READS,
        &format!("{}{path}", service.url()),
        None,
    )?;
    report.row(
        &format!(
            "(f) GET /api/fed/projects?limit=1000, the whole list of 1,000 projects, on replica 2 of {REPLICAS} ({}): req/s, p50, p99",
            READS.describe()
        ),
        list.summary(),
        "≥ 2,000 req/s",
        Some(list.rps >= WHOLE_LIST_MIN_RPS && list.non_2xx == 0),
    );
    Ok(())
}

/// [`KILLS`] times: finds the leader, kills it with SIGKILL, and measures the time until
/// another replica's `/ready` says `leader`.
pub(super) fn failover(mut services: Vec<Service>, report: &mut Report) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(KILLS);
    for _ in 0..KILLS {
        let leader = wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
            let roles = roles(&services);
            let leaders: Vec<usize> = roles
                .iter()
                .enumerate()
                .filter(|(_, role)| role.as_deref() == Some("leader"))
                .map(|(i, _)| i)
                .collect();
            Ok(match leaders.as_slice() {
                [one] => Some(*one),
                _ => None,
            })
        })?
        .context("no single leader among the replicas within 30 s")?;
        let killed = services.remove(leader);
        eprintln!(
            "bench: (f) kill -9 of the leader ({}), {} replicas left",
            killed.name(),
            services.len()
        );
        let mut readies: Vec<KeepAlive> =
            services.iter().map(|s| KeepAlive::new(s.port())).collect();
        let started = Instant::now();
        killed.kill();
        let took = wait_until(Duration::from_secs(30), Duration::from_millis(1), || {
            let led = readies.iter_mut().any(|ready| {
                ready
                    .get("/ready")
                    .ok()
                    .and_then(|(_, body)| role(&body))
                    .as_deref()
                    == Some("leader")
            });
            Ok(led.then(|| started.elapsed()))
        })?
        .context("no replica took the lead within 30 s of the leader's kill -9")?;
        times.push(ms(took));
    }
    let limit_ms = ms(LEASE_TTL + Duration::from_secs(1));
    let worst = times.iter().copied().fold(0.0, f64::max);
    report.row(
        &format!(
            "(f) failover, lease {} s, tick {} s: kill -9 of the leader → another replica's /ready says leader ({KILLS} kills, {REPLICAS} → 1 replicas)",
            LEASE_TTL.as_secs(),
            SWEEP_INTERVAL.as_secs()
        ),
        times
            .iter()
            .map(|t| format!("{} ms", thousands(*t)))
            .collect::<Vec<_>>()
            .join(", "),
        &format!("≤ {} ms (lease + 1 s)", thousands(limit_ms)),
        Some(times.len() == KILLS && worst <= limit_ms),
    );
    for service in services {
        service.stop();
    }
    Ok(())
}

/// Each replica's `replica.role` on `/ready`; `None` where it did not say.
fn roles(services: &[Service]) -> Vec<Option<String>> {
    services
        .iter()
        .map(|s| s.get("/ready").ok().and_then(|(_, body)| role(&body)))
        .collect()
}

fn role(ready: &str) -> Option<String> {
    serde_json::from_str::<Value>(ready)
        .ok()?
        .pointer("/replica/role")?
        .as_str()
        .map(str::to_owned)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p99 and max of a sample (nearest rank); zeros when it is empty.
#[derive(Debug, PartialEq)]
struct Quantiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Quantiles {
    fn of(mut sample: Vec<f64>) -> Self {
        sample.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let i = ((q * sample.len() as f64).ceil() as usize).saturating_sub(1);
            sample.get(i).copied().unwrap_or(0.0)
        };
        Quantiles {
            p50: rank(0.50),
            p99: rank(0.99),
            max: sample.last().copied().unwrap_or(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let q = Quantiles::of((1..=1000).rev().map(f64::from).collect());
        assert_eq!(
            q,
            Quantiles {
                p50: 500.0,
                p99: 990.0,
                max: 1000.0
            }
        );
        assert_eq!(
            Quantiles::of(vec![]),
            Quantiles {
                p50: 0.0,
                p99: 0.0,
                max: 0.0
            }
        );
    }

    #[test]
    fn reads_the_role_on_ready() {
        let ready = r#"{"status":"ok","replica":{"role":"leader","revision":7}}"#;
        assert_eq!(role(ready).as_deref(), Some("leader"));
        assert_eq!(role("{}"), None);
        assert_eq!(role("not json"), None);
    }

    #[test]
    fn the_replicas_run_with_the_lease_and_tick_the_row_names() {
        let env = env();
        assert!(env.contains(&("FEDERATION_LEASE_TTL", "2s".to_owned())));
        assert!(env.contains(&("FEDERATION_SWEEP_INTERVAL", "1s".to_owned())));
    }
}
