//! (d) detection: 100 projects beat twice and fall silent on an instance with
//! `offline_after` = 3 s; how long until their offline events arrive. Then 20 projects
//! that registered a 5 s heartbeat interval (so offline after 3 × 5 s = 15 s) do the same.

use anyhow::bail;

use super::report::Report;
use super::service::Service;
use super::tool::Tool;
use super::{at, num};

/// One round: projects that beat twice and fall silent.
pub(super) struct Round {
    pub(super) prefix: &'static str,
    pub(super) projects: usize,
    /// The heartbeat interval they register (seconds); `None`: the service's thresholds.
    pub(super) interval: Option<u32>,
    /// How long the listener waits for one more event: longer than the gap between the
    /// last heartbeat and the degraded transition.
    pub(super) idle: &'static str,
}

/// Latencies (ms) from a project's last heartbeat to its offline event, and how many.
pub(super) struct Offline {
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
    pub(super) count: Option<u64>,
}

impl Offline {
    /// `p50 ms / p99 ms / max ms over N projects`.
    pub(super) fn summary(&self) -> String {
        format!(
            "{:.0} ms / {:.0} ms / {:.0} ms over {} projects",
            self.p50,
            self.p99,
            self.max,
            self.count.unwrap_or(0)
        )
    }
}

pub(super) fn detection(
    tool: &Tool<'_>,
    service: &Service,
    report: &mut Report,
) -> anyhow::Result<()> {
    let plain = Round {
        prefix: "det",
        projects: 100,
        interval: None,
        idle: "8s",
    };
    let o = silence(tool, service, &plain)?;
    report.row(
        "(d) detection, offline_after 3 s: last heartbeat → offline event received (p50 / p99 / max)",
        o.summary(),
        "≤ 4,000 ms",
        Some(o.p99 <= 4000.0 && o.count == Some(plain.projects as u64)),
    );

    // Projects with a 5 s interval are judged by it: offline within 15 s + one second.
    let declared = Round {
        prefix: "det5",
        projects: 20,
        interval: Some(5),
        idle: "20s",
    };
    let threshold_ms = 3.0 * 5_000.0;
    let o = silence(tool, service, &declared)?;
    report.row(
        "(d) detection, a 5 s heartbeat interval (offline after 15 s): last heartbeat → offline event (p50 / p99 / max)",
        o.summary(),
        "15,000–16,000 ms",
        Some(
            o.p50 >= threshold_ms
                && o.max <= threshold_ms + 1000.0
                && o.count == Some(declared.projects as u64),
        ),
    );
    Ok(())
}

/// Registers the round's projects, beats each twice, and measures their offline events.
pub(super) fn silence(
    tool: &Tool<'_>,
    service: &Service,
    round: &Round,
) -> anyhow::Result<Offline> {
    let n = round.projects.to_string();
    let url = service.url();
    let interval = round.interval.map(|i| i.to_string());
    eprintln!(
        "bench: detection over {n} projects, {}",
        match &interval {
            Some(i) => format!("a {i} s heartbeat interval"),
            None => "offline_after 3 s".to_owned(),
        }
    );
    let mut register = vec![
        "--server",
        &url,
        "--projects",
        &n,
        "--prefix",
        round.prefix,
        "--register-only",
    ];
    if let Some(i) = &interval {
        register.extend(["--declare-interval", i.as_str()]);
    }
    tool.simulate(&register)?;
    service.wait_bus_healthy()?;
    // Online, degraded, offline for each.
    let events = tool.listen(&[
        "--subject",
        "hub.federation.status.>",
        "--events",
        "--slug-prefix",
        &format!("{}-", round.prefix),
        "--expect",
        &(round.projects * 3).to_string(),
        "--idle",
        round.idle,
        "--max-wait",
        "90s",
    ])?;
    // Two beats each, then silence.
    tool.simulate(&[
        "--no-register",
        "--projects",
        &n,
        "--prefix",
        round.prefix,
        "--rate",
        &format!("{}/s", round.projects * 2),
        "--total",
        &(round.projects * 2).to_string(),
        "--duration",
        "10s",
    ])?;
    let events = events.finish()?;
    let offline = at(&events, "/events/offline");
    if !offline.is_object() {
        bail!("no offline event arrived: {events}");
    }
    Ok(Offline {
        p50: num(offline, "/p50_ms"),
        p99: num(offline, "/p99_ms"),
        max: num(offline, "/max_ms"),
        count: at(offline, "/count").as_u64(),
    })
}
