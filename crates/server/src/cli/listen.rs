//! `federation bench-listen` (hidden): a bare async-nats subscriber for `cargo xtask
//! bench`. It prints `ready` once subscribed, then counts messages on `--subject` until
//! `--expect` arrived, nothing came for `--idle` after the first, or `--max-wait`
//! passed, and prints one JSON report. With `--events` it reads status events
//! (`{slug, from, to, reason, at, last_heartbeat_at}`) and reports, per target status,
//! the delay from the project's last heartbeat to the event's arrival.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{duration_arg, NatsArgs};

#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// The NATS to listen on (`--nats-url` is required).
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Subject to subscribe (wildcards allowed).
    #[arg(long)]
    pub subject: String,
    /// Stop after this many messages.
    #[arg(long)]
    pub expect: Option<u64>,
    /// Stop when nothing arrived for this long (after the first message).
    #[arg(long, value_parser = duration_arg, default_value = "3s")]
    pub idle: Duration,
    /// Stop after this long in any case.
    #[arg(long, value_parser = duration_arg, default_value = "300s")]
    pub max_wait: Duration,
    /// Read the messages as status events and measure their delays.
    #[arg(long)]
    pub events: bool,
    /// With `--events`: only the events of projects whose slug starts with this (the
    /// others are neither counted nor measured).
    #[arg(long, requires = "events")]
    pub slug_prefix: Option<String>,
}

/// Delays of one kind of event, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Delays {
    pub count: usize,
    /// Event received − `last_heartbeat_at`.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The event's own `at` − `last_heartbeat_at` (the service's view).
    pub at_p50_ms: f64,
    pub at_p99_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ListenReport {
    pub received: u64,
    /// First to last message.
    pub seconds: f64,
    pub per_sec: f64,
    /// Per target status (`online`, `offline`, …), with `--events`.
    pub events: BTreeMap<String, Delays>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    slug: String,
    to: String,
    at: DateTime<Utc>,
    last_heartbeat_at: Option<DateTime<Utc>>,
}

/// The `q`-quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or(0.0)
}

fn delays(mut seen: Vec<f64>, mut at: Vec<f64>) -> Delays {
    seen.sort_by(f64::total_cmp);
    at.sort_by(f64::total_cmp);
    Delays {
        count: seen.len(),
        p50_ms: quantile(&seen, 0.5),
        p99_ms: quantile(&seen, 0.99),
        max_ms: seen.last().copied().unwrap_or(0.0),
        at_p50_ms: quantile(&at, 0.5),
        at_p99_ms: quantile(&at, 0.99),
    }
}

/// Runs the listener; prints `ready`, then the JSON report.
pub async fn run(args: ListenArgs) -> anyhow::Result<ListenReport> {
    let Some(url) = &args.nats.url else {
        anyhow::bail!("say where NATS is: --nats-url URL (or NATS_URL)");
    };
    let client = args
        .nats
        .auth()
        .connect_options(url)
        .await?
        .subscription_capacity(federation_nats::DEFAULT_QUEUE_CAPACITY)
        .connection_timeout(Duration::from_secs(5))
        .connect(federation_nats_options::connect_url(url).as_str())
        .await
        .with_context(|| format!("connecting to {}", federation_domain::redact::url(url)))?;
    let mut sub = client
        .subscribe(args.subject.clone())
        .await
        .with_context(|| format!("subscribing to {}", args.subject))?;
    client.flush().await.context("flushing the subscription")?;
    println!("ready");

    let expect = args.expect.unwrap_or(u64::MAX);
    let deadline = Instant::now() + args.max_wait;
    let mut received = 0u64;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let mut samples: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    while received < expect {
        let wait = match first {
            None => deadline.saturating_duration_since(Instant::now()),
            Some(_) => args
                .idle
                .min(deadline.saturating_duration_since(Instant::now())),
        };
        let Ok(Some(message)) = tokio::time::timeout(wait, sub.next()).await else {
            break;
        };
        let now = Utc::now();
        // Read once: the slug filter (which requires `--events`) and the delays.
        let event = args
            .events
            .then(|| serde_json::from_slice::<Event>(&message.payload).ok())
            .flatten();
        if let Some(prefix) = &args.slug_prefix {
            if !event
                .as_ref()
                .is_some_and(|e| e.slug.starts_with(prefix.as_str()))
            {
                continue;
            }
        }
        last = Instant::now();
        first.get_or_insert(last);
        received += 1;
        if let Some(event) = event {
            if let Some(hb) = event.last_heartbeat_at {
                let ms_after_beat = |t: DateTime<Utc>| {
                    t.signed_duration_since(hb).num_microseconds().unwrap_or(0) as f64 / 1000.0
                };
                let entry = samples.entry(event.to).or_default();
                entry.0.push(ms_after_beat(now));
                entry.1.push(ms_after_beat(event.at));
            }
        }
    }
    if received == 0 && args.expect.is_some() {
        bail!("no message on {} within {:?}", args.subject, args.max_wait);
    }
    let seconds = first.map(|f| (last - f).as_secs_f64()).unwrap_or(0.0);
    let report = ListenReport {
        received,
        seconds,
        per_sec: if seconds > 0.0 {
            received as f64 / seconds
        } else {
            0.0
        },
        events: samples
            .into_iter()
            .map(|(to, (seen, at))| (to, delays(seen, at)))
            .collect(),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
    }
}
