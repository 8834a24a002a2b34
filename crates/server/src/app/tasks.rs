//! The service's background work: following the change log, the presence ticks (sweep,
//! batched write, publish) with the sweeper lease, and naming this replica.

use super::*;

pub(super) fn report_mass_expiry(metrics: &Metrics, mass: Option<federation_domain::MassExpiry>) {
    if let Some(mass) = mass {
        metrics.mass_expiry();
        tracing::warn!(
            expired = mass.expired,
            live = mass.live,
            "mass expiry: more than half of the live projects went offline at once"
        );
    }
}

/// This process's name in the sweeper lease when there is no NATS instance name.
pub(super) fn instance_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:x}{nanos:x}", std::process::id())
}

/// The host's name, to tell replicas apart in the lease and the logs.
pub(super) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "federation".to_owned())
}

/// The follower: applies the change log to the registry whenever PostgreSQL notifies a
/// change, and every [`FOLLOW_POLL`] anyway. A lost listener is reconnected with
/// backoff; meanwhile polling keeps the registry at most a poll behind.
pub(super) async fn run_follower(
    federation: Arc<Federation>,
    store: Arc<Store>,
    mut stop: watch::Receiver<bool>,
) {
    let mut poll = tokio::time::interval(FOLLOW_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listener = None;
    let mut listen_retry = tokio::time::Instant::now();
    let mut listen_failures: u32 = 0;
    loop {
        if listener.is_none() && tokio::time::Instant::now() >= listen_retry {
            match store.listen().await {
                Ok(Some(l)) => {
                    if listen_failures > 0 {
                        tracing::info!("change-log listener reconnected");
                    }
                    listen_failures = 0;
                    listener = Some(l);
                }
                Ok(None) => listen_retry = tokio::time::Instant::now() + Duration::from_secs(86400),
                Err(e) => {
                    listen_failures += 1;
                    let backoff = Duration::from_millis(250)
                        .saturating_mul(2u32.saturating_pow(listen_failures.min(6)))
                        .min(MAX_FLUSH_BACKOFF);
                    listen_retry = tokio::time::Instant::now() + backoff;
                    if listen_failures == 1 || listen_failures.is_power_of_two() {
                        tracing::warn!(error = %e, retry_in = ?backoff, "change-log listener down; following by polling");
                    }
                }
            }
        }
        let notified = async {
            match listener.as_mut() {
                Some(l) => l.next().await,
                None => std::future::pending().await,
            }
        };
        // The revision a notification says the log reached: nothing to read once the
        // registry has it (this replica's own writes, read back after each).
        let mut reached = None;
        tokio::select! {
            _ = stop.changed() => return,
            _ = poll.tick() => {}
            woke = notified => match woke {
                Ok(revision) => reached = revision,
                Err(e) => {
                    tracing::warn!(error = %e, "change-log listener lost; reconnecting");
                    listener = None;
                    listen_failures = 1;
                    listen_retry = tokio::time::Instant::now();
                }
            }
        }
        let followed = match reached {
            Some(revision) => federation.follow_to(revision).await,
            None => federation.follow().await,
        };
        if let Err(e) = followed {
            tracing::debug!(error = %e, "reading the change log failed; retried");
        }
    }
}

/// What one round with the store did: unless backing off, the tick that writes the
/// presence batch (with how long it took). The lease is renewed on its own timer
/// (`lease::run_lease`), not here: a slow round cannot let it lapse.
/// How often the presence task looks for statuses changed by heartbeats.
const EAGER_POLL: Duration = Duration::from_millis(10);
/// The shortest time between the starts of two rounds with the store when the early
/// ones come one after another.
pub const EAGER_GAP: Duration = Duration::from_millis(40);
/// The shortest time between the starts of two sweeps when a project's deadline (its
/// threshold of silence) calls for one before the next tick: each sweep walks the whole
/// table, so a stream of deadlines costs at most a few sweeps a second.
const DEADLINE_GAP: Duration = Duration::from_millis(200);

pub(super) struct StoreRound {
    tick: Option<(
        Result<federation_domain::TickReport, federation_domain::FlushFailed>,
        Duration,
    )>,
}

pub(super) async fn store_round(
    federation: Arc<Federation>,
    flush: bool,
    early: bool,
) -> StoreRound {
    let tick = if flush {
        let started = std::time::Instant::now();
        let ticked = if early {
            federation.flush_changes().await
        } else {
            federation.tick().await
        };
        Some((ticked, started.elapsed()))
    } else {
        None
    };
    StoreRound { tick }
}

/// The presence task: every `interval`, sweep; the leader writes the batch
/// (transitions, heartbeat times) in one fenced transaction and publishes the events
/// from the log. On stop, one last flush so nothing recorded in memory is lost.
///
/// The round with the store runs in a task of its own: while it waits (a slow or
/// frozen database, up to the store's deadline), every tick still applies the clock to
/// the presence table, so transitions happen, and are stamped, on time.
pub(super) async fn run_ticker(
    federation: Arc<Federation>,
    metrics: Arc<Metrics>,
    interval: Duration,
    trim_interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut trim = tokio::time::interval(trim_interval);
    trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures: u32 = 0;
    // While the store refuses batches, flushes back off but the clock keeps being
    // applied every tick, so transitions happen (and are stamped) on time.
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut round: Option<tokio::task::JoinHandle<StoreRound>> = None;
    // A status changed by a heartbeat is written at once (within EAGER_POLL), not at the
    // next tick; at most one such early round per EAGER_GAP. A storm of changes (a fleet
    // coming up) goes the same way, a tick's worth per round (the rest waits for the
    // next round), so its last event does not wait for the ticks' phase either. A tick
    // that is due comes first: the clock is applied, and quiet rows are written, even
    // while a storm keeps the early rounds busy. When a project's threshold of silence
    // passes between two ticks, the leader sweeps then (within DEADLINE_GAP of the last
    // sweep), so going offline waits for neither the tick's phase nor the next tick.
    let mut eager = tokio::time::interval(EAGER_POLL);
    eager.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut started = tokio::time::Instant::now();
    let mut swept = tokio::time::Instant::now();
    loop {
        let early = tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = ticks.tick() => false,
            _ = eager.tick() => {
                let in_flight = round.as_ref().is_some_and(|r| !r.is_finished());
                let backing_off = retry_at.is_some_and(|t| tokio::time::Instant::now() < t);
                // Only the leader's write makes a change visible (a follower's registry
                // waits for the log), so only the leader rounds early.
                if in_flight || backing_off || !federation.leads() {
                    continue;
                }
                if swept.elapsed() >= DEADLINE_GAP && federation.clock_due() {
                    false
                } else if started.elapsed() >= EAGER_GAP && federation.transitions_waiting() > 0 {
                    true
                } else {
                    continue;
                }
            }
            _ = trim.tick() => {
                match federation.trim_log().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(trimmed = n, "change log trimmed"),
                    Err(e) => tracing::debug!(error = %e, "trimming the change log failed"),
                }
                match federation.trim_history().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(trimmed = n, "status history trimmed"),
                    Err(e) => tracing::debug!(error = %e, "trimming the status history failed"),
                }
                continue;
            }
        };
        if !early {
            swept = tokio::time::Instant::now();
        }
        if round.as_ref().is_some_and(|r| !r.is_finished()) {
            // The store has not answered the last round yet.
            report_mass_expiry(&metrics, federation.advance());
            continue;
        }
        if let Some(done) = round.take() {
            let outcome = match done.await {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::error!(error = %e, "the store round failed");
                    continue;
                }
            };
            if let Some((ticked, took)) = outcome.tick {
                metrics.observe_tick(took, ticked.is_ok());
                match ticked {
                    Ok(report) => {
                        metrics.add_unpublished(report.unpublished);
                        if !report.follower {
                            metrics.add_published(
                                report.transitions.saturating_sub(report.unpublished),
                            );
                        }
                        if failures > 0 {
                            tracing::info!(after_failures = failures, "presence flush recovered");
                            failures = 0;
                            retry_at = None;
                        }
                        report_mass_expiry(&metrics, report.mass_expiry);
                    }
                    Err(e) => {
                        failures += 1;
                        let backoff = interval
                            .saturating_mul(2u32.saturating_pow(failures.min(8)))
                            .min(MAX_FLUSH_BACKOFF);
                        retry_at = Some(tokio::time::Instant::now() + backoff);
                        if failures == 1 || failures.is_power_of_two() {
                            tracing::warn!(error = %e, failures, retry_in = ?backoff, "presence flush failed; kept in memory for retry");
                        }
                    }
                }
            }
        }
        let flush = retry_at.is_none_or(|t| tokio::time::Instant::now() >= t);
        if !flush {
            report_mass_expiry(&metrics, federation.advance());
        }
        // An early round writes only what heartbeats changed; the ticks apply the clock.
        started = tokio::time::Instant::now();
        round = Some(tokio::spawn(store_round(federation.clone(), flush, early)));
    }
    // The round in flight ends within the store's deadline.
    if let Some(last) = round.take() {
        let _ = last.await;
    }
    // Final flush on shutdown; a few tries in case the store blips.
    for attempt in 1..=3 {
        match federation.tick().await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, attempt, "final presence flush failed");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
        }
    }
    tracing::error!("presence changes of the last moments could not be stored");
}
