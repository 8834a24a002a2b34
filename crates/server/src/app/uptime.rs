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
