//! The sweeper lease on its own timer: renewed (or campaigned for) every third of its
//! time to live, at most every sweep interval, whatever the presence tick is doing. A
//! tick slower than the lease's TTL (a slow or locked statement) no longer lets the
//! lease lapse, so it does not move the lead; a write of the tick that a newer term
//! overtook meanwhile is fenced by its term in the store (`write_presence` checks the
//! term as it commits).

use std::sync::Arc;
use std::time::Duration;

use federation_domain::{Federation, Role};
use tokio::sync::watch;

/// The shortest pause between two campaigns, whatever the settings.
const MIN_RENEW: Duration = Duration::from_millis(10);

/// How often the lease is renewed: a third of its TTL (two renewals may fail before it
/// lapses), at most every sweep interval (a follower takes a lapsed lease over as soon
/// as the tick-driven campaign did before).
pub(super) fn renew_every(ttl: Duration, sweep: Duration) -> Duration {
    (ttl / 3).min(sweep).max(MIN_RENEW)
}

/// Campaigns every `every` until `stop`; logs failures (first, then at powers of two)
/// and, without a bus, a lease held by another replica (once per change).
pub(super) async fn run_lease(
    federation: Arc<Federation>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
    with_bus: bool,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures: u32 = 0;
    let mut last_role: Option<Role> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        match federation.campaign().await {
            Ok(role) => {
                if failures > 0 {
                    tracing::info!(role = role.as_str(), "sweeper lease reachable again");
                }
                failures = 0;
                if !with_bus && role == Role::Follower && last_role != Some(role) {
                    tracing::warn!("another replica holds the sweeper lease and NATS_URL is not set: heartbeats taken here reach no leader (docs/replication.md)");
                }
                last_role = Some(role);
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(error = %e, failures, "sweeper lease not renewed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_a_third_of_the_ttl_at_most_a_sweep() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(renew_every(s(5), s(1)), s(1));
        assert_eq!(renew_every(s(3), s(2)), s(1));
        assert_eq!(renew_every(s(2), ms(200)), ms(200));
        assert_eq!(renew_every(ms(3), ms(1)), MIN_RENEW);
    }
}
