//! (a) ingest: 10,000 projects registered, then 1,000,000 heartbeats as fast as the
//! publisher goes, first to a bare subscriber (the ceiling), then to the service.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::Value;

use super::metrics::{CounterPoller, HeartbeatCounts, Sample};
use super::report::{thousands, Report};
use super::service::Service;
use super::tool::Tool;
use super::{at, num, wait_until};

/// The least share of the raw-NATS ceiling the service's ingest must reach (issue 23).
const INGEST_SHARE_MIN: f64 = 0.75;
/// Bursts, each beside a ceiling measured just before it: the share is their median.
/// One burst lasts two seconds, and on a machine shared by the publisher, the NATS
/// server and the service, a single pair read anywhere from 63 to 80 % for one build.
const BURSTS: usize = 3;

/// The fleet (a) registers and beats, and (b) reads (`ing-0` … `ing-9999`).
const PROJECTS: usize = 10_000;
const HEARTBEATS: u64 = 1_000_000;
/// Registered under its own name, beaten only once, last: when it shows online, the
/// service has stored the end of the burst.
const MARKER: &str = "bench-marker";

pub(super) fn ingest(
    tool: &Tool<'_>,
    service: &Service,
    report: &mut Report,
) -> anyhow::Result<()> {
    let registration_rate = register(tool, service)?;
    service.wait_subscribed()?;
    let ceiling = ceiling(tool)?;
    let run = service_run(tool, service)?;
    let mut pairs = vec![Pair::of(&ceiling, run.published, &run.drain)];
    for _ in 1..BURSTS {
        let ceiling = self::ceiling(tool)?;
        let (published, drain) = again(tool, service, "max")?;
        pairs.push(Pair::of(&ceiling, published, &drain));
    }
    write_rows(report, registration_rate, &ceiling, &run, &pairs);
    below_ceiling(tool, service, report, &pairs)
}

/// A burst below the ceiling, at the share the service must reach of it (of the lowest
/// ceiling measured): every heartbeat must be taken, none dropped or lost.
fn below_ceiling(
    tool: &Tool<'_>,
    service: &Service,
    report: &mut Report,
    pairs: &[Pair],
) -> anyhow::Result<()> {
    let lowest = pairs
        .iter()
        .map(|p| p.ceiling)
        .fold(f64::INFINITY, f64::min);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a rate of at most millions per second"
    )]
    let rate = (lowest * INGEST_SHARE_MIN).max(1.0) as u64;
    let (published, drain) = again(tool, service, &format!("{rate}/s"))?;
    let lost = drain.lost(published);
    report.row(
        &format!(
            "(a) a burst of {} at {:.0} % of the lowest ceiling ({}/s): processed, dropped by the queue, lost before it",
            thousands(HEARTBEATS as f64),
            INGEST_SHARE_MIN * 100.0,
            thousands(rate as f64)
        ),
        format!(
            "{}/s; {} of {}; {} dropped; {} lost",
            thousands(drain.rate),
            thousands(drain.processed),
            thousands(published),
            thousands(drain.dropped),
            thousands(lost)
        ),
        "0 dropped, 0 lost",
        Some(drain.dropped == 0.0 && lost == 0.0),
    );
    Ok(())
}

/// One burst beside its ceiling.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pair {
    ceiling: f64,
    rate: f64,
    /// Dropped by the ingest queue.
    dropped: f64,
    /// Lost before it (a slow consumer).
    lost: f64,
}

impl Pair {
    fn of(ceiling: &Ceiling, published: f64, drain: &Drain) -> Self {
        Self {
            ceiling: ceiling.rate,
            rate: drain.rate,
            dropped: drain.dropped,
            lost: drain.lost(published),
        }
    }

    fn share(&self) -> f64 {
        if self.ceiling > 0.0 {
            self.rate / self.ceiling
        } else {
            0.0
        }
    }
}

/// The median share of the pairs (the lower middle one of an even count).
fn median_share(pairs: &[Pair]) -> f64 {
    let mut shares: Vec<f64> = pairs.iter().map(Pair::share).collect();
    shares.sort_by(f64::total_cmp);
    shares
        .get(shares.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0.0)
}

/// A burst after the first (the fleet is online by then): what was published, and
/// what the service's counter saw.
fn again(tool: &Tool<'_>, service: &Service, rate: &str) -> anyhow::Result<(f64, Drain)> {
    eprintln!("bench: (a) ingest: {HEARTBEATS} heartbeats to the service at {rate}");
    let before = service.heartbeat_counts()?;
    let poller = CounterPoller::start(service.port());
    let published = burst_at(tool, rate, &[])?;
    until_counter_still(&poller)?;
    let drain = Drain::of(&poller.finish(), before, 0.0);
    Ok((num(&published, "/heartbeats/ok"), drain))
}

/// The (a) fleet without the burst: every project registered and online, for `--only b`.
pub(super) fn online_fleet(tool: &Tool<'_>, service: &Service) -> anyhow::Result<()> {
    let n = PROJECTS.to_string();
    eprintln!("bench: registering {PROJECTS} projects and beating each once");
    service.wait_subscribed()?;
    tool.simulate(&[
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
    ])?;
    // Wait until the whole fleet shows online: the rows after this measure a service
    // at rest, not one still writing the fleet's first beats.
    wait_until(Duration::from_secs(120), Duration::from_millis(200), || {
        let (code, body) = service.get("/api/fed/summary")?;
        let online = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/counts/online").and_then(Value::as_u64));
        Ok((code == 200 && online >= Some(PROJECTS as u64)).then_some(()))
    })?
    .context("the fleet never showed online")
}

/// The fleet and the marker, registered over REST: registrations per second.
fn register(tool: &Tool<'_>, service: &Service) -> anyhow::Result<f64> {
    let n = PROJECTS.to_string();
    eprintln!("bench: (a) registering {PROJECTS} projects");
    let registered = tool.simulate(&[
        "--server",
        &service.url(),
        "--projects",
        &n,
        "--prefix",
        "ing",
        "--register-only",
        "--concurrency",
        "32",
    ])?;
    tool.register(&service.url(), MARKER, "http://bench-marker.example.com")?;
    Ok(num(&registered, "/registration/per_sec"))
}

/// The burst: every heartbeat of the run, as fast as the publisher goes. The ceiling
/// and the service get the very same one; `extra` only says where it goes.
fn burst(tool: &Tool<'_>, extra: &[&str]) -> anyhow::Result<Value> {
    burst_at(tool, "max", extra)
}

/// The burst at `rate` (`max`, or `N/s`).
fn burst_at(tool: &Tool<'_>, rate: &str, extra: &[&str]) -> anyhow::Result<Value> {
    let n = PROJECTS.to_string();
    let total = HEARTBEATS.to_string();
    let mut args = vec![
        "--no-register",
        "--projects",
        &n,
        "--prefix",
        "ing",
        "--rate",
        rate,
        "--total",
        &total,
        "--duration",
        "300s",
    ];
    args.extend_from_slice(extra);
    tool.simulate(&args)
}

/// The burst to a bare subscriber that only counts.
struct Ceiling {
    /// What the subscriber received per second.
    rate: f64,
    received: f64,
    /// What the publisher sent per second.
    publish_rate: f64,
}

/// The same publisher, a bare subscriber that only counts, on a subject the service
/// does not listen to.
fn ceiling(tool: &Tool<'_>) -> anyhow::Result<Ceiling> {
    eprintln!("bench: (a) ceiling: {HEARTBEATS} heartbeats to a bare subscriber");
    let listener = tool.listen(&[
        "--subject",
        "bench.ceiling.*",
        "--expect",
        &HEARTBEATS.to_string(),
        "--idle",
        "3s",
    ])?;
    let published = burst(tool, &["--subject-prefix", "bench.ceiling"])?;
    let received = listener.finish()?;
    Ok(Ceiling {
        rate: num(&received, "/per_sec"),
        received: num(&received, "/received"),
        publish_rate: num(&published, "/heartbeats/per_sec"),
    })
}

/// The burst to the service, as its counter, the marker and its status events saw it.
struct ServiceRun {
    published: f64,
    publish_rate: f64,
    /// The marker published → online through the store; `None` if it never showed
    /// (dropped under overload).
    marker_visible_ms: Option<f64>,
    drain: Drain,
    /// `bench-listen --events`'s summary.
    events: Value,
}

/// The service: its counter, polled; its status events for the first beats.
fn service_run(tool: &Tool<'_>, service: &Service) -> anyhow::Result<ServiceRun> {
    eprintln!("bench: (a) ingest: {HEARTBEATS} heartbeats to the service");
    let before = service.heartbeat_counts()?;
    let events = tool.listen(&[
        "--subject",
        "hub.federation.status.>",
        "--events",
        "--idle",
        "5s",
        "--max-wait",
        "300s",
    ])?;
    let poller = CounterPoller::start(service.port());
    let published = burst(tool, &["--mark", MARKER])?;
    let mark_sent = num(&published, "/mark_sent_unix_ms");
    let marker_visible_ms = marker_visible(service, mark_sent)?;
    until_counter_still(&poller)?;
    let samples = poller.finish();
    Ok(ServiceRun {
        published: num(&published, "/heartbeats/ok"),
        publish_rate: num(&published, "/heartbeats/per_sec"),
        marker_visible_ms,
        drain: Drain::of(&samples, before, mark_sent),
        events: events.finish()?,
    })
}

/// The last heartbeat (the marker) visible through the store: milliseconds since it was
/// sent; `None` if the service dropped it under overload.
fn marker_visible(service: &Service, mark_sent: f64) -> anyhow::Result<Option<f64>> {
    wait_until(Duration::from_secs(30), Duration::from_millis(5), || {
        let p = service.project(MARKER)?;
        Ok((at(&p, "/status") == "online").then(|| unix_ms() - mark_sent))
    })
}

/// Until the counter stands still for a second (at most a minute).
fn until_counter_still(poller: &CounterPoller) -> anyhow::Result<()> {
    let mut still_since = Instant::now();
    let mut last_ok = -1.0;
    wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
        if let Some(sample) = poller.last() {
            if sample.counts.ok != last_ok {
                last_ok = sample.counts.ok;
                still_since = Instant::now();
            }
        }
        Ok((still_since.elapsed() >= Duration::from_secs(1)).then_some(()))
    })?;
    Ok(())
}

/// What the counter samples say about the burst.
#[derive(Debug, PartialEq)]
struct Drain {
    /// Heartbeats counted `ok` during the run.
    processed: f64,
    /// Heartbeats counted `dropped` (the ingest queue was full) during the run.
    dropped: f64,
    /// `ok` per second, from the first sample above the start to the first at the end.
    rate: f64,
    /// Without the marker: from the end of publishing to the first store flush that
    /// completed after the counter stopped.
    stored_after_drain_ms: Option<f64>,
}

impl Drain {
    /// Of `published`, what neither the ingest path took nor its queue counted: lost
    /// before it, by the NATS server or client (a slow consumer).
    fn lost(&self, published: f64) -> f64 {
        (published - self.processed - self.dropped).max(0.0)
    }

    fn of(samples: &[Sample], before: HeartbeatCounts, mark_sent: f64) -> Self {
        let end = samples.last().map_or(before, |s| s.counts);
        let first = samples.iter().find(|s| s.counts.ok > before.ok);
        let drained = samples.iter().find(|s| s.counts.ok >= end.ok);
        let rate = match (first, drained) {
            // The first sample above the start is up to one poll late: count from the
            // ok it shows, not from the start.
            (Some(a), Some(b)) if b.at > a.at => {
                (end.ok - a.counts.ok) / (b.at - a.at).as_secs_f64()
            }
            _ => 0.0,
        };
        let stored_after_drain_ms = drained.and_then(|d| {
            let flushed = samples
                .iter()
                .find(|s| s.at > d.at && s.counts.flushes > d.counts.flushes)?;
            let at_ms = unix_ms() - flushed.at.elapsed().as_secs_f64() * 1000.0;
            Some(at_ms - mark_sent)
        });
        Drain {
            processed: end.ok - before.ok,
            dropped: end.dropped - before.dropped,
            rate,
            stored_after_drain_ms,
        }
    }
}

fn write_rows(
    report: &mut Report,
    registration_rate: f64,
    ceiling: &Ceiling,
    run: &ServiceRun,
    pairs: &[Pair],
) {
    throughput_rows(report, ceiling, run, pairs);
    latency_rows(report, run);
    report.row(
        "POST registration by `federation simulate` (32 in flight)",
        format!("{}/s", thousands(registration_rate)),
        "",
        None,
    );
}

/// The service against the ceiling, and the publisher alone.
fn throughput_rows(report: &mut Report, ceiling: &Ceiling, run: &ServiceRun, pairs: &[Pair]) {
    let Drain {
        processed,
        dropped,
        rate,
        ..
    } = run.drain;
    let later: Vec<String> = pairs
        .iter()
        .skip(1)
        .map(|p| format!("{}/s", thousands(p.rate)))
        .collect();
    let (all_dropped, all_lost) = pairs
        .iter()
        .fold((0.0, 0.0), |(d, l), p| (d + p.dropped, l + p.lost));
    report.row(
        "(a) ingest: heartbeats/s processed (service counter `federation_heartbeats_received_total{outcome=\"ok\"}`)",
        format!(
            "{}/s ({} of {} published processed, {} dropped by the ingest queue, {} lost before it: NATS slow consumer); the later bursts {} (all {}: {} dropped, {} lost)",
            thousands(rate),
            thousands(processed),
            thousands(run.published),
            thousands(dropped),
            thousands(run.drain.lost(run.published)),
            later.join(", "),
            pairs.len(),
            thousands(all_dropped),
            thousands(all_lost)
        ),
        "≥ 100,000/s",
        Some(rate >= 100_000.0),
    );
    let ceilings: Vec<String> = pairs
        .iter()
        .map(|p| format!("{}/s", thousands(p.ceiling)))
        .collect();
    report.row(
        "(a) ceiling: same publisher → bare async-nats subscriber that only counts",
        format!(
            "{} ({} received the first time); before each burst: {}",
            thousands(ceiling.rate),
            thousands(ceiling.received),
            ceilings.join(", ")
        ),
        "",
        None,
    );
    let shares: Vec<String> = pairs
        .iter()
        .map(|p| format!("{:.0} %", p.share() * 100.0))
        .collect();
    let median = median_share(pairs);
    report.row(
        "(a) ingest / ceiling (median of the bursts, each beside the ceiling measured just before it)",
        format!(
            "{:.0} % ({}; the first with the fleet's first beats)",
            median * 100.0,
            shares.join(", ")
        ),
        &format!("≥ {:.0} %", INGEST_SHARE_MIN * 100.0),
        Some(median >= INGEST_SHARE_MIN),
    );
    report.row(
        "(a) publisher alone (`federation simulate --rate max`)",
        format!(
            "{}/s to the service run, {}/s to the ceiling run",
            thousands(run.publish_rate),
            thousands(ceiling.publish_rate)
        ),
        "",
        None,
    );
}

/// Published → stored: the last heartbeat (or, when it was dropped, the end of the
/// burst), and the first of each project.
fn latency_rows(report: &mut Report, run: &ServiceRun) {
    let stored_after_drain_ms = run.drain.stored_after_drain_ms;
    match run.marker_visible_ms {
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
    let online = at(&run.events, "/events/online");
    if online.is_object() {
        let p99 = num(online, "/p99_ms");
        report.row(
            "(a) heartbeat → stored (first beat of each project during the run: receipt → stored → status event, p50 / p99)",
            format!(
                "{:.0} ms / {:.0} ms over {} projects",
                num(online, "/p50_ms"),
                p99,
                at(online, "/count")
            ),
            "p99 ≤ 1 s",
            Some(p99 <= 1000.0),
        );
    }
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(start: Instant, ms: u64, ok: f64, dropped: f64, flushes: f64) -> Sample {
        Sample {
            at: start + Duration::from_millis(ms),
            counts: HeartbeatCounts {
                ok,
                dropped,
                flushes,
            },
        }
    }

    #[test]
    fn the_rate_counts_from_the_first_sample_that_moved_to_the_first_at_the_end() {
        let t = Instant::now();
        let before = HeartbeatCounts {
            ok: 100.0,
            dropped: 1.0,
            flushes: 0.0,
        };
        let samples = [
            sample(t, 0, 100.0, 1.0, 0.0),
            sample(t, 1000, 600.0, 1.0, 1.0),
            sample(t, 2000, 1600.0, 3.0, 2.0),
            sample(t, 3000, 2600.0, 11.0, 3.0),
            sample(t, 4000, 2600.0, 11.0, 3.0),
        ];
        let drain = Drain::of(&samples, before, 0.0);
        assert_eq!(drain.processed, 2500.0);
        assert_eq!(drain.dropped, 10.0);
        assert_eq!(drain.rate, 1000.0);
        // No flush after the counter stopped: nothing to measure the store by.
        assert_eq!(drain.stored_after_drain_ms, None);
    }

    #[test]
    fn the_share_is_the_median_of_the_pairs_and_lost_is_what_nobody_counted() {
        let pair = |ceiling: f64, rate: f64| Pair {
            ceiling,
            rate,
            dropped: 0.0,
            lost: 0.0,
        };
        let pairs = [pair(100.0, 80.0), pair(100.0, 60.0), pair(200.0, 140.0)];
        assert_eq!(median_share(&pairs), 0.7);
        assert_eq!(median_share(&pairs[..2]), 0.6, "the lower middle of two");
        assert_eq!(median_share(&[]), 0.0);
        assert_eq!(pair(0.0, 5.0).share(), 0.0);
        let drain = Drain {
            processed: 900.0,
            dropped: 40.0,
            rate: 450.0,
            stored_after_drain_ms: None,
        };
        let ceiling = Ceiling {
            rate: 600.0,
            received: 1000.0,
            publish_rate: 600.0,
        };
        let p = Pair::of(&ceiling, 1000.0, &drain);
        assert_eq!((p.dropped, p.lost, p.share()), (40.0, 60.0, 0.75));
    }

    #[test]
    fn without_samples_nothing_was_processed() {
        let before = HeartbeatCounts::default();
        let drain = Drain::of(&[], before, 0.0);
        assert_eq!(
            drain,
            Drain {
                processed: 0.0,
                dropped: 0.0,
                rate: 0.0,
                stored_after_drain_ms: None
            }
        );
    }
}
