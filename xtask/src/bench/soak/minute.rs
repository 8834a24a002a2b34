//! The soak's minute lines and REST totals.

use serde_json::Value;

use super::super::report::thousands;
use super::super::service::Service;
use super::{load, ReplicaSample, MINUTE, REPLICAS, REST_PER_SECOND};

/// The REST totals, for the report.
pub(super) fn load_total(t: load::Tally) -> String {
    format!(
        "{} answered < 400, {} 4xx, {} 5xx, {} failed; {REST_PER_SECOND}/s on each of {REPLICAS} replicas",
        thousands(t.ok as f64),
        t.client_errors,
        t.server_errors,
        t.failed
    )
}

pub(super) fn header() -> String {
    "min | RSS MiB r1 / r2 / r3 | CPU % r1 / r2 / r3 | heartbeats/s r1 / r2 / r3 | REST ok / 4xx / 5xx / failed | changes streamed r1 / r2 / r3 | online r1 / r2 / r3 | role".to_owned()
}

/// A replica's role from `/ready`, as one letter (see [`ReplicaSample::role`]).
pub(super) fn role(replica: &Service) -> char {
    let role = replica.get("/ready").ok().and_then(|(_, body)| {
        serde_json::from_str::<Value>(&body)
            .ok()?
            .pointer("/replica/role")?
            .as_str()
            .map(str::to_owned)
    });
    match role.as_deref() {
        Some("leader") => 'L',
        Some("leader_unconfirmed") => 'l',
        Some("follower") => 'F',
        _ => '?',
    }
}

pub(super) fn minute_line(
    minute: u64,
    before: &[ReplicaSample],
    now: &[ReplicaSample],
    rest: load::Tally,
) -> String {
    let join = |f: &dyn Fn(&ReplicaSample, &ReplicaSample) -> String| {
        before
            .iter()
            .zip(now)
            .map(|(b, n)| f(b, n))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let secs = MINUTE.as_secs_f64();
    format!(
        "{minute:3} | {} | {} | {} | {} / {} / {} / {} | {} | {} | {}",
        join(&|_, n| format!("{:.0}", n.rss_mib)),
        join(&|b, n| format!("{:.0}", (n.cpu_seconds - b.cpu_seconds) / secs * 100.0)),
        join(&|b, n| format!("{:.0}", (n.heartbeats - b.heartbeats) / secs)),
        rest.ok,
        rest.client_errors,
        rest.server_errors,
        rest.failed,
        join(&|b, n| format!("{}", n.streamed - b.streamed)),
        join(&|_, n| format!("{}", n.online)),
        now.iter().map(|n| n.role).collect::<String>(),
    )
}
