//! (d) detection: 100 projects beat twice and fall silent on an instance with
//! `offline_after` = 3 s; how long until their offline events arrive.

use anyhow::bail;

use super::report::Report;
use super::service::Service;
use super::tool::Tool;
use super::{at, num};

const PROJECTS: usize = 100;

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
    Ok(())
}
