//! (i) notifications: 10,000 single deliveries in a minute to a local receiver (the test
//! kit's recording one): the p99 of the send (the service's
//! `federation_notification_send_seconds`), and none lost (every expected
//! `Idempotency-Key` arrived).
//!
//! The load: [`PROJECTS`] projects online, then every second [`PER_SECOND`] of them
//! report `degraded` in an HTTP heartbeat and the ones degraded the second before report
//! healthy again: each degraded and each recovered is one message to the channel
//! (rules `on: [degraded, recovered]`, no hold), two per project, 10,000 in all, spread
//! over a minute (so no project flaps and no two changes of one project are close).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use federation_testkit::{Receiver, ReceiverMode};
use serde_json::{json, Value};

use super::http::KeepAlive;
use super::report::{thousands, Report};
use super::service::Service;
use super::{at, wait_until};

/// Projects, each told twice (degraded, recovered).
const PROJECTS: usize = 5_000;
/// Projects degraded (and recovered) per second: 10,000 messages a minute.
const PER_SECOND: usize = PROJECTS / 60 + 1;
/// The send's p99 must be at most this (ms).
const MAX_P99_MS: f64 = 100.0;
/// The channel's name (its metrics' label).
const CHANNEL: &str = "bench";

/// The environment of the instance: a fast sweep, so a heartbeat's change is written
/// within 200 ms, and no silence expiry during the minute.
pub(super) const ENV: [(&str, &str); 3] = [
    ("FEDERATION_SWEEP_INTERVAL", "200ms"),
    ("FEDERATION_DEGRADED_AFTER", "600s"),
    ("FEDERATION_OFFLINE_AFTER", "900s"),
];

fn heartbeat(http: &mut KeepAlive, slug: &str, degraded: bool) -> anyhow::Result<()> {
    let body = if degraded {
        json!({"project_slug": slug, "status": "degraded", "reasons": ["bench"]})
    } else {
        json!({"project_slug": slug})
    };
    let (status, answer) = http.post_json(
        &format!("/api/fed/projects/{slug}/heartbeat"),
        &body.to_string(),
    )?;
    if status != 202 {
        bail!("heartbeat for {slug}: {status} {answer:.200}");
    }
    Ok(())
}

/// `federation_notification_send_seconds_bucket{channel="bench",le="…"} n` → (le, n),
/// by `le`.
fn buckets(metrics: &str) -> Vec<(f64, f64)> {
    let prefix = "federation_notification_send_seconds_bucket{";
    let mut out: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|rest| {
            let (labels, value) = rest.split_once('}')?;
            if !labels.contains(&format!("channel=\"{CHANNEL}\"")) {
                return None;
            }
            let le = labels
                .split(',')
                .find_map(|l| l.trim().strip_prefix("le="))?
                .trim_matches('"');
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, value.trim().parse().ok()?))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The upper bound of the bucket holding the `p` quantile (seconds), and the count.
fn quantile(buckets: &[(f64, f64)], p: f64) -> Option<(f64, f64)> {
    let total = buckets.last()?.1;
    let rank = (total * p).ceil();
    buckets
        .iter()
        .find(|(_, n)| *n >= rank)
        .map(|(le, _)| (*le, total))
}

/// (i) on `service` (fresh, with [`ENV`]).
pub(super) fn notify(service: &Service, report: &mut Report) -> anyhow::Result<()> {
    let receiver = Receiver::start(ReceiverMode::Ok).context("starting the receiver")?;
    let mut http = KeepAlive::new(service.port());
    let channel = json!({"name": CHANNEL, "kind": "webhook", "url": receiver.url,
        "secret": "bench-secret-0123456789",
        "rules": {"on": ["degraded", "recovered"]}});
    let (status, body) = http.post_json("/api/fed/channels", &channel.to_string())?;
    if status != 201 {
        bail!("creating the channel: {status} {body:.200}");
    }
    eprintln!("bench: (i) registering {PROJECTS} projects, each online");
    let slugs: Vec<String> = (0..PROJECTS).map(|i| format!("n{i:05}")).collect();
    for slug in &slugs {
        let project = json!({"slug": slug, "name": slug, "hub_url": "http://hub.example:8000"});
        let (status, body) = http.post_json("/api/fed/projects", &project.to_string())?;
        if !(200..300).contains(&status) {
            bail!("registering {slug}: {status} {body:.200}");
        }
        heartbeat(&mut http, slug, false)?;
    }
    let last = slugs.last().context("no projects")?;
    wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        Ok((at(&service.project(last)?, "/status") == "online").then_some(()))
    })?
    .context("the projects did not come online within 30 s")?;

    eprintln!(
        "bench: (i) {} changes in a minute",
        thousands(2.0 * PROJECTS as f64)
    );
    let started = Instant::now();
    let mut previous: &[String] = &[];
    for (second, chunk) in slugs.chunks(PER_SECOND).enumerate() {
        for slug in chunk {
            heartbeat(&mut http, slug, true)?;
        }
        for slug in previous {
            heartbeat(&mut http, slug, false)?;
        }
        previous = chunk;
        let next = started + Duration::from_secs(second as u64 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    for slug in previous {
        heartbeat(&mut http, slug, false)?;
    }
    let want = 2 * PROJECTS;
    let arrived = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        Ok((receiver.count() >= want).then_some(()))
    })?;
    let took = started.elapsed();

    let mut keys = BTreeSet::new();
    let mut told = BTreeSet::new();
    for r in receiver.received() {
        keys.insert(r.header("idempotency-key").to_owned());
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if let (Some(event), Some(slug)) = (
            at(&body, "/event").as_str(),
            at(&body, "/project/slug").as_str(),
        ) {
            told.insert((slug.to_owned(), event.to_owned()));
        }
    }
    let lost = slugs
        .iter()
        .flat_map(|s| ["degraded", "recovered"].map(|e| (s.clone(), e.to_owned())))
        .filter(|k| !told.contains(k))
        .count();
    let (_, metrics) = service.get("/metrics")?;
    let (p99, sent) = quantile(&buckets(&metrics), 0.99).context("no send latencies")?;
    let (p50, _) = quantile(&buckets(&metrics), 0.5).context("no send latencies")?;
    report.row(
        &format!(
            "(i) {} single deliveries in a minute to a local receiver: send p50, p99 \
             (histogram bucket bounds), lost, duplicated",
            thousands(want as f64)
        ),
        format!(
            "≤ {:.0} ms, ≤ {:.0} ms; {lost} lost, {} duplicated; {} sent, all in {:.1} s{}",
            p50 * 1000.0,
            p99 * 1000.0,
            receiver.count().saturating_sub(keys.len()),
            thousands(sent),
            took.as_secs_f64(),
            if arrived.is_some() {
                ""
            } else {
                " (not all arrived within 60 s after the minute)"
            }
        ),
        "p99 ≤ 100 ms, 0 lost",
        Some(lost == 0 && p99 * 1000.0 <= MAX_P99_MS),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_channels_send_quantiles_from_the_histogram() {
        let metrics = "\
federation_notification_send_seconds_bucket{channel=\"other\",le=\"0.005\"} 100
federation_notification_send_seconds_bucket{channel=\"bench\",le=\"0.005\"} 90
federation_notification_send_seconds_bucket{channel=\"bench\",le=\"0.01\"} 98
federation_notification_send_seconds_bucket{channel=\"bench\",le=\"0.025\"} 100
federation_notification_send_seconds_bucket{channel=\"bench\",le=\"+Inf\"} 100
";
        let b = buckets(metrics);
        assert_eq!(b.len(), 4);
        assert_eq!(quantile(&b, 0.5), Some((0.005, 100.0)));
        assert_eq!(quantile(&b, 0.99), Some((0.025, 100.0)));
        assert_eq!(quantile(&[], 0.99), None);
    }
}
