//! The leader's record of the time it heard the bus, which uptime reports need to
//! tell known time from unknown (docs/uptime.md).

use super::*;
use federation_domain::uptime::{HeardRecorder, Uptime};

/// Observations the recorder may miss in a row before the gap counts as unknown.
const MISSES: u32 = 3;

/// Every `every`, while this replica leads and hears the bus, moves the end of its
/// heard span forward in the store; once more when stopping.
pub(super) async fn run_heard_recorder(
    federation: Arc<Federation>,
    uptime: Arc<Uptime>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let max_gap = chrono::TimeDelta::from_std(every * MISSES).unwrap_or(chrono::TimeDelta::MAX);
    let mut recorder = HeardRecorder::new(max_gap);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        let stopping = tokio::select! {
            _ = stop.changed() => true,
            _ = ticks.tick() => false,
        };
        let observed = recorder.observe(federation.now(), federation.leads(), federation.guard());
        if let Some(span) = observed {
            match uptime.record_heard(span).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("recording uptime coverage again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "could not record uptime coverage; retried");
                }
                Err(_) => {}
            }
        }
        if stopping {
            return;
        }
    }
}

/// How often the leader looks for closed days to roll up.
const ROLLUP_CHECK: Duration = Duration::from_secs(60);
/// Days rolled up per look (a backfill of 90 days spreads over half an hour).
const ROLLUP_DAYS_PER_CHECK: usize = 3;

/// While this replica leads: at start and every [`ROLLUP_CHECK`], rolls up the closed
/// days not rolled up yet (each project's figures and each group's: the fleet, each
/// tag), for every project registered now.
pub(super) async fn run_rollups(
    federation: Arc<Federation>,
    uptime: Arc<Uptime>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(ROLLUP_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        if !federation.leads() {
            continue;
        }
        match uptime
            .roll_up_pending(federation.now(), federation.as_ref(), ROLLUP_DAYS_PER_CHECK)
            .await
        {
            Ok(days) if !days.is_empty() => {
                tracing::info!(days = ?days, "uptime rolled up");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "uptime rollup failed; retried"),
        }
    }
}

/// How often the objectives' SLI is refreshed (from the registry).
const SLI_EVERY: Duration = Duration::from_secs(15);
/// Budgets are computed every this many SLI refreshes (they read the store).
const BUDGET_EVERY: u32 = 4;

/// Keeps the objectives' SLI and error budgets current, in the board the API reads
/// and in the metrics. Each tick first re-reads the objectives made over REST from the
/// store, so every replica keeps another's writes within [`SLI_EVERY`] (the replica
/// written to reloads at once); a new objective's budget is computed at its first tick.
pub(super) async fn run_slos(
    federation: Arc<Federation>,
    uptime: Arc<Uptime>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(SLI_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round: u32 = 0;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = uptime.reload_slos().await {
            tracing::warn!(error = %e, "reading the objectives failed; retried");
        }
        let board = uptime.slos();
        let projects = objective_members(&federation, board);
        let now = federation.now();
        board.refresh_sli(&projects, now, uptime.degraded());
        let uncomputed = board.statuses().iter().any(|s| s.computed_at.is_none());
        if round.is_multiple_of(BUDGET_EVERY) || uncomputed {
            if let Err(e) = uptime.refresh_budgets(&projects, now).await {
                tracing::warn!(error = %e, "computing the error budgets failed; retried");
            }
        }
        round = round.wrapping_add(1);
        metrics.set_slos(&board.statuses());
    }
}

/// The projects the objectives are about, each once: copies of their registry entries,
/// not of the whole catalog (nothing without objectives).
fn objective_members(
    federation: &Federation,
    board: &federation_domain::uptime::SloBoard,
) -> Vec<federation_domain::Project> {
    use federation_domain::uptime::SloSubject;
    let mut members = std::collections::BTreeMap::new();
    for status in board.statuses() {
        let found = match &status.objective.subject {
            SloSubject::Project(slug) => federation
                .get(slug.as_str())
                .map(|(p, _)| vec![p])
                .unwrap_or_default(),
            SloSubject::Tag(tag) => {
                federation
                    .list(&federation_domain::ListFilter {
                        tag: Some(tag.clone()),
                        ..Default::default()
                    })
                    .items
            }
        };
        for p in found {
            members.insert(p.slug.clone(), p);
        }
    }
    members.into_values().collect()
}
