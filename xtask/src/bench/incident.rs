//! (j) an incident: 1,000 projects beat twice and fall silent together on an instance
//! with `offline_after` = 3 s; a channel points at a local receiver. How long from the
//! detection (the incident's opening, the `at` of its message) to the one incident
//! message at the receiver, how many members it lists (the rest come in updates), and
//! that no message per project came.

use std::time::Duration;

use anyhow::{bail, Context};
use federation_testkit::{Receiver, ReceiverMode};
use serde_json::Value;

use super::http::KeepAlive;
use super::report::Report;
use super::service::Service;
use super::tool::Tool;
use super::{at, wait_until};

/// The fleet that falls silent.
pub(super) const PROJECTS: usize = 1_000;

/// The service's settings for this phase.
pub(super) const ENV: [(&str, &str); 3] = [
    ("FEDERATION_DEGRADED_AFTER", "0"),
    ("FEDERATION_OFFLINE_AFTER", "3s"),
    ("FEDERATION_INCIDENT_WINDOW", "10s"),
];

pub(super) fn incident(
    tool: &Tool<'_>,
    service: &Service,
    projects: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let receiver = Receiver::start(ReceiverMode::Ok).context("starting the receiver")?;
    let channel = serde_json::json!({
        "name": "bench", "kind": "webhook", "url": receiver.url,
        "secret": "bench-secret-0123456789"
    });
    let (status, body) =
        KeepAlive::new(service.port()).post_json("/api/fed/channels", &channel.to_string())?;
    if status != 201 {
        bail!("creating the channel: HTTP {status} {body}");
    }
    let n = projects.to_string();
    let url = service.url();
    eprintln!("bench: (j) an incident of {n} projects");
    tool.simulate(&[
        "--server",
        &url,
        "--projects",
        &n,
        "--prefix",
        "inc",
        "--register-only",
    ])?;
    service.wait_bus_healthy()?;
    // Two beats each within a second, then silence: they expire together.
    tool.simulate(&[
        "--no-register",
        "--projects",
        &n,
        "--prefix",
        "inc",
        "--rate",
        &format!("{}/s", projects * 2),
        "--total",
        &(projects * 2).to_string(),
        "--duration",
        "10s",
    ])?;
    let arrived = wait_until(Duration::from_secs(60), Duration::from_millis(2), || {
        Ok((receiver.count() > 0).then(chrono::Utc::now))
    })?
    .context("no incident message within 60 s")?;
    let first = receiver
        .received()
        .into_iter()
        .next()
        .context("the receiver lost its message")?;
    let message: Value = serde_json::from_slice(&first.body)?;
    if at(&message, "/event") != "incident" {
        bail!("the first message is not an incident: {message}");
    }
    let opened = chrono::DateTime::parse_from_rfc3339(at(&message, "/at").as_str().unwrap_or(""))
        .context("the message's `at`")?;
    let latency_ms = (arrived - opened.with_timezone(&chrono::Utc)).num_milliseconds();
    let listed = at(&message, "/incident/members")
        .as_array()
        .map_or(0, Vec::len);
    // Anything told one by one would come within the window after the offline status.
    std::thread::sleep(Duration::from_secs(12));
    let all: Vec<Value> = receiver
        .received()
        .iter()
        .filter_map(|r| serde_json::from_slice(&r.body).ok())
        .collect();
    let openings = all.iter().filter(|m| at(m, "/event") == "incident").count();
    let updates: Vec<&Value> = all
        .iter()
        .filter(|m| at(m, "/event") == "incident_updated")
        .collect();
    let later: usize = updates
        .iter()
        .map(|m| at(m, "/incident/members").as_array().map_or(0, Vec::len))
        .sum();
    let one_by_one = all.len() - openings - updates.len();
    report.row(
        &format!(
            "(j) incident: {projects} projects offline at once → the incident message at a local receiver (members listed in it; in updates; messages per project)"
        ),
        format!(
            "{latency_ms} ms ({listed} listed; {later} in {} update(s); {one_by_one} per project)",
            updates.len()
        ),
        "≤ 2,000 ms, 1 incident message, 0 per project",
        Some(latency_ms <= 2_000 && openings == 1 && one_by_one == 0),
    );
    Ok(())
}
