//! (d) detection: 100 projects beat twice and fall silent on an instance with
//! `offline_after` = 3 s; how long until their offline events arrive. Then 20 projects
//! that registered a 5 s heartbeat interval (so offline after 3 × 5 s = 15 s) do the same.

use anyhow::bail;

use super::report::Report;
use super::service::Service;
use super::tool::Tool;
use super::{at, num};

const PROJECTS: usize = 100;
/// Projects that declare their interval, and the interval.
const DECLARED: usize = 20;
const DECLARED_INTERVAL_S: u32 = 5;
/// Their offline threshold: three intervals.
const DECLARED_OFFLINE_MS: f64 = 3.0 * 5_000.0;

pub(super) fn detection(
    tool: &Tool<'_>,
    service: &Service,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("bench: (d) detection over {PROJECTS} projects, offline_after 3 s");
    let n = PROJECTS.to_string();
    tool.simulate(&[
        "--server",
        &service.url(),
        "--projects",
        &n,
        "--prefix",
        "det",
        "--register-only",
    ])?;
    service.wait_bus_healthy()?;
    let events = tool.listen(&[
        "--subject",
        "hub.federation.status.>",
        "--events",
        "--expect",
        &(PROJECTS * 3).to_string(),
        "--idle",
        "8s",
        "--max-wait",
        "60s",
    ])?;
    // Two beats each, then silence.
    tool.simulate(&[
        "--no-register",
        "--projects",
        &n,
        "--prefix",
        "det",
        "--rate",
        &format!("{}/s", PROJECTS * 2),
        "--total",
        &(PROJECTS * 2).to_string(),
        "--duration",
        "10s",
    ])?;
    let events = events.finish()?;
    let offline = at(&events, "/events/offline");
    if !offline.is_object() {
        bail!("no offline event arrived: {events}");
    }
    let p99 = num(offline, "/p99_ms");
    let count = at(offline, "/count");
    report.row(
        "(d) detection, offline_after 3 s: last heartbeat → offline event received (p50 / p99 / max)",
        format!(
            "{:.0} ms / {:.0} ms / {:.0} ms over {count} projects",
            num(offline, "/p50_ms"),
            p99,
            num(offline, "/max_ms"),
        ),
        "≤ 4,000 ms",
        Some(p99 <= 4000.0 && count.as_u64() == Some(PROJECTS as u64)),
    );
    declared_interval(tool, service, report)
}

/// Projects with a 5 s interval are judged by it: offline within 15 s + one second.
fn declared_interval(
    tool: &Tool<'_>,
    service: &Service,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!(
        "bench: (d) detection over {DECLARED} projects with a {DECLARED_INTERVAL_S} s interval"
    );
    let n = DECLARED.to_string();
    let interval = DECLARED_INTERVAL_S.to_string();
    tool.simulate(&[
        "--server",
        &service.url(),
        "--projects",
        &n,
        "--prefix",
        "det5",
        "--declare-interval",
        &interval,
        "--register-only",
    ])?;
    // Online, degraded (2 intervals), offline (3 intervals): the listener must outwait
    // the 10 s between the last heartbeat and degraded.
    let events = tool.listen(&[
        "--subject",
        "hub.federation.status.>",
        "--events",
        "--expect",
        &(DECLARED * 3).to_string(),
        "--idle",
        "20s",
        "--max-wait",
        "90s",
    ])?;
    tool.simulate(&[
        "--no-register",
        "--projects",
        &n,
        "--prefix",
        "det5",
        "--rate",
        &format!("{}/s", DECLARED * 2),
        "--total",
        &(DECLARED * 2).to_string(),
        "--duration",
        "10s",
    ])?;
    let events = events.finish()?;
    let offline = at(&events, "/events/offline");
    if !offline.is_object() {
        bail!("no offline event arrived for the 5 s projects: {events}");
    }
    let (p50, p99, max) = (
        num(offline, "/p50_ms"),
        num(offline, "/p99_ms"),
        num(offline, "/max_ms"),
    );
    let count = at(offline, "/count");
    report.row(
        "(d) detection, a 5 s heartbeat interval (offline after 15 s): last heartbeat → offline event (p50 / p99 / max)",
        format!("{p50:.0} ms / {p99:.0} ms / {max:.0} ms over {count} projects"),
        "15,000–16,000 ms",
        Some(
            p50 >= DECLARED_OFFLINE_MS
                && max <= DECLARED_OFFLINE_MS + 1000.0
                && count.as_u64() == Some(DECLARED as u64),
        ),
    );
    Ok(())
}
