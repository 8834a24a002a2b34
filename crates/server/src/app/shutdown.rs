//! Stopping, as a rolling update needs it. On SIGTERM (or SIGINT):
//! 1. `/ready` answers 503 `stopping` at once, so balancers stop sending new traffic;
//! 2. with a bus, the sweep hands over at once: the last flush, then the lease released,
//!    so the next leader takes it without waiting out its TTL (heartbeats taken here
//!    meanwhile still reach the others through the relay);
//! 3. the service serves on for `FEDERATION_SHUTDOWN_DRAIN` (a second signal cuts it
//!    short), then ends every change stream with a short `retry:` hint (its clients
//!    resume elsewhere with `Last-Event-ID`), stops accepting connections and finishes
//!    the requests in flight;
//! 4. without a bus (one replica), the sweep hands over last, after the drain, so no
//!    heartbeat taken during it is lost.
//!
//! [`AppHandle::stop`] stops at once (no drain), for tests and embedders.

use std::pin::pin;
use std::time::Instant;

use super::*;

/// The stop signals, listened to from the start (one listener for the first signal and
/// the second, so a signal is seen once).
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next stop signal's name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn on(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = on(&mut self.term) => "SIGTERM",
                () = on(&mut self.int) => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// The sweep's tasks: the ticker (whose stop makes the last flush) and the lease.
struct Sweep {
    ticker: JoinHandle<()>,
    stop_sweep: watch::Sender<bool>,
    lease: JoinHandle<()>,
    stop_lease: watch::Sender<bool>,
}

impl Sweep {
    /// The last flush, then the lease given back (it fences that flush until then).
    async fn hand_over(self, federation: &Federation) {
        let _ = self.stop_sweep.send(true);
        if let Err(e) = self.ticker.await {
            tracing::error!(error = %e, "presence task failed");
        }
        let _ = self.stop_lease.send(true);
        if let Err(e) = self.lease.await {
            tracing::error!(error = %e, "lease task failed");
        }
        federation.resign().await;
    }
}

impl Application {
    /// Serves until SIGTERM/SIGINT (then drains, as the module says) or
    /// [`AppHandle::stop`], then flushes presence and gives the lease back.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            server,
            federation,
            changes,
            ticker,
            follower,
            stop_ticker,
            stop_sweep,
            lease,
            stop_lease,
            bus,
            lifecycle,
            drain,
            ..
        } = self;
        let handle = server.handle();
        let mut served = pin!(server);
        let mut signals = StopSignals::new();
        let mut sweep = Some(Sweep {
            ticker,
            stop_sweep,
            lease,
            stop_lease,
        });
        let stopped_by_itself = tokio::select! {
            done = &mut served => Some(done),
            signal = signals.next() => {
                let began = Instant::now();
                lifecycle.begin_stopping();
                tracing::info!(?drain, "{signal} received; readiness answers 503 (stopping) while the service drains");
                if bus.is_some() {
                    if let Some(s) = sweep.take() {
                        s.hand_over(&federation).await;
                    }
                    tracing::info!(after_ms = began.elapsed().as_millis() as u64, "sweep handed over: last flush written, lease released");
                }
                None
            }
        };
        let served = match stopped_by_itself {
            Some(done) => done,
            None => {
                let finished = tokio::select! {
                    done = &mut served => Some(done),
                    () = tokio::time::sleep(drain) => None,
                    signal = signals.next() => {
                        tracing::info!("{signal} received again: drain cut short");
                        None
                    }
                };
                match finished {
                    Some(done) => done,
                    None => drain_over(&changes, &handle, &mut served).await,
                }
            }
        };
        changes.close();
        if let Some(s) = sweep.take() {
            s.hand_over(&federation).await;
        }
        let _ = stop_ticker.send(true);
        if let Err(e) = follower.await {
            tracing::error!(error = %e, "follower task failed");
        }
        // After the final flush, which publishes its transitions through the bus.
        if let Some(bus) = bus {
            bus.shutdown().await;
        }
        served.context("HTTP server")?;
        tracing::info!("federation service stopped");
        Ok(())
    }
}

/// The drain is over: change streams end (with their retry hint), no connection is
/// accepted any more, and the requests in flight finish.
async fn drain_over(
    changes: &ChangeHub,
    handle: &ServerHandle,
    served: &mut std::pin::Pin<&mut actix_web::dev::Server>,
) -> std::io::Result<()> {
    changes.close();
    tracing::info!(
        "drain over: change streams ended with a retry hint; finishing the requests in flight"
    );
    // The server future handles the stop command: both are polled.
    let ((), done) = tokio::join!(handle.stop(true), served);
    done
}
