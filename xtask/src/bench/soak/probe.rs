//! What the soak asks the replicas and the publisher: statuses, histories, summaries.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use super::super::http::KeepAlive;
use super::super::report::thousands;
use super::super::service::Service;
use super::check::Step;
use super::CHURN_TAG;

/// Each churn project's status on `replica`.
pub(super) fn churn_statuses(replica: &Service) -> anyhow::Result<HashMap<String, String>> {
    let (status, body) = replica.get(&format!("/api/fed/projects?tag={CHURN_TAG}&limit=1000"))?;
    if status != 200 {
        bail!("{}: listing the churn projects: {status}", replica.name());
    }
    let list: Vec<Value> = serde_json::from_str(&body)?;
    Ok(list
        .iter()
        .filter_map(|p| {
            Some((
                p.get("slug")?.as_str()?.to_owned(),
                p.get("status")?.as_str()?.to_owned(),
            ))
        })
        .collect())
}

/// A project's stored history, oldest first.
pub(super) fn history(http: &mut KeepAlive, slug: &str) -> anyhow::Result<Vec<Step>> {
    let (status, body) = http.get(&format!("/api/fed/projects/{slug}/history?limit=1000"))?;
    if status != 200 {
        bail!("the history of {slug}: {status} {body:.200}");
    }
    let list: Vec<Value> = serde_json::from_str(&body)?;
    let mut steps: Vec<Step> = list
        .iter()
        .filter_map(|t| {
            Some((
                t.get("from")?.as_str()?.to_owned(),
                t.get("to")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    steps.reverse();
    Ok(steps)
}

/// Waits for the fleet publisher (it stops at the end of its `--duration`): its summary.
pub(super) fn finish_simulate(mut child: std::process::Child) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("it did not stop");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut stdout)?;
    }
    let v: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("no JSON summary")?;
    Ok(format!(
        "{} heartbeats published, {} errors, {}/s",
        thousands(super::super::num(&v, "/heartbeats/ok")),
        thousands(super::super::num(&v, "/heartbeats/errors")),
        thousands(super::super::num(&v, "/heartbeats/per_sec"))
    ))
}
