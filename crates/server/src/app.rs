//! The composition root: builds the store, the use cases, the background tasks and the
//! HTTP server from [`Settings`], and runs them until a signal or [`AppHandle::stop`].

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{dev::ServerHandle, App, HttpServer};
use anyhow::{bail, Context};
use federation_api::{ApiKeys, ApiState, BusHealth, Metrics, MetricsSources, NatsCounters};
use federation_domain::{
    Federation, NoStatusEvents, Presence, ProjectRepository, StatusEvents, SystemClock,
};
use federation_nats::NatsBus;
use federation_store::{DatabaseUrl, Store, StoreOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog;
use crate::metered::Metered;
use crate::settings::{Settings, DEFAULT_SQLITE_PATH};

/// How often the presence table re-reads the catalog, to learn of projects registered
/// or deleted through another replica.
const CATALOG_SYNC_INTERVAL: Duration = Duration::from_secs(30);
/// The longest pause between flush attempts while the store refuses them.
const MAX_FLUSH_BACKOFF: Duration = Duration::from_secs(10);

/// Options of `federation serve` beyond the settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Apply pending PostgreSQL migrations at start (`--migrate`).
    pub migrate: bool,
}

/// The database URL the settings select: `DATABASE_URL`, or the embedded SQLite file.
pub fn database_url(settings: &Settings) -> anyhow::Result<DatabaseUrl> {
    match &settings.database_url {
        Some(raw) => DatabaseUrl::parse(raw).context("invalid DATABASE_URL"),
        None => Ok(DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH))),
    }
}

/// Connects to the store.
pub async fn connect_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = database_url(settings)?;
    Store::connect(
        &url,
        StoreOptions {
            max_connections: settings.max_connections,
            ..StoreOptions::default()
        },
    )
    .await
    .with_context(|| format!("connecting to the database {}", url.redacted()))
}

/// Applies pending migrations; returns the versions applied.
pub async fn migrate(settings: &Settings) -> anyhow::Result<Vec<String>> {
    let store = connect_store(settings).await?;
    store.run_migrations().await.context("applying migrations")
}

/// A running service.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    federation: Arc<Federation>,
    metrics: Arc<Metrics>,
    ticker: JoinHandle<()>,
    stop_ticker: watch::Sender<bool>,
    bus: Option<NatsBus>,
}

/// Stops a running [`Application`] from elsewhere (tests, signal handlers).
#[derive(Clone)]
pub struct AppHandle {
    server: ServerHandle,
}

impl AppHandle {
    /// Stops accepting connections, finishes in-flight requests, flushes presence.
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

fn is_loopback(settings: &Settings) -> bool {
    settings.host.is_loopback()
}

impl Application {
    pub async fn build(settings: Settings, options: ServeOptions) -> anyhow::Result<Self> {
        let keys = ApiKeys::parse(
            settings.api_keys.as_deref(),
            settings.read_api_keys.as_deref(),
        )
        .context("invalid FEDERATION_API_KEYS / FEDERATION_READ_API_KEYS")?;
        if keys.is_empty() && !is_loopback(&settings) && !settings.allow_anonymous {
            bail!(
                "refusing to serve on {} without API keys: set FEDERATION_API_KEYS, bind to \
                 127.0.0.1 (SERVICE_HOST), or set FEDERATION_ALLOW_ANONYMOUS=true to allow \
                 anonymous access on purpose",
                settings.host
            );
        }
        if keys.is_empty() {
            tracing::warn!("no API keys configured: the API accepts anonymous requests");
        }

        // A bad catalog file or a taken port stops the start before anything is touched
        // or any task is spawned.
        let catalog = catalog::read(&settings.projects_file)?;
        let listener = TcpListener::bind((settings.host, settings.port))
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();

        let store = connect_store(&settings).await?;
        let migrate_now = store.backend() == "sqlite" || options.migrate || settings.auto_migrate;
        if migrate_now {
            let applied = store
                .run_migrations()
                .await
                .context("applying migrations")?;
            for version in &applied {
                tracing::info!(%version, "migration applied");
            }
        } else {
            let pending = store
                .pending_migrations()
                .await
                .context("checking the database schema")?;
            if !pending.is_empty() {
                bail!(
                    "the database schema is behind ({} migration(s) pending: {}): run `cargo xtask \
                     migrate` (or `federation migrate`), or start with --migrate / \
                     FEDERATION_AUTO_MIGRATE=true",
                    pending.len(),
                    pending.join(", ")
                );
            }
        }

        let version = env!("CARGO_PKG_VERSION");
        let metrics = Arc::new(Metrics::new(version));
        let repo: Arc<dyn ProjectRepository> =
            Arc::new(Metered::new(Arc::new(store), metrics.clone()));
        let mut bus = match &settings.nats {
            None => {
                tracing::warn!(
                    "NATS_URL is not set: heartbeats are accepted over HTTP only \
                     (POST /api/fed/projects/{{slug}}/heartbeat)"
                );
                None
            }
            Some(nats) => Some(
                NatsBus::connect(nats.clone())
                    .await
                    .context("setting up the NATS client")?,
            ),
        };
        let (events, presence): (Arc<dyn StatusEvents>, Presence) = match &bus {
            Some(bus) => (bus.status_events(), Presence::with_bus(settings.policy())),
            None => (Arc::new(NoStatusEvents), Presence::new(settings.policy())),
        };
        let federation = Arc::new(Federation::new(
            repo,
            events,
            Arc::new(SystemClock),
            presence,
        ));
        let loaded = federation.load().await.context("loading presence")?;
        tracing::info!(projects = loaded, "presence loaded from the store");

        seed_catalog(&federation, &settings.projects_file, catalog).await?;

        let bus_health: Arc<dyn Fn() -> BusHealth + Send + Sync> = match &mut bus {
            None => Arc::new(|| BusHealth::Disabled),
            Some(bus) => {
                bus.start(federation.clone())
                    .await
                    .context("subscribing to heartbeats")?;
                let link = bus.link();
                Arc::new(move || {
                    if link.is_connected() {
                        BusHealth::Up
                    } else {
                        BusHealth::Down
                    }
                })
            }
        };

        metrics.attach(MetricsSources {
            federation: federation.clone(),
            bus: bus_health.clone(),
            nats: bus.as_ref().map(|bus| {
                let stats = bus.stats();
                let read: federation_api::NatsStats = Arc::new(move || {
                    use std::sync::atomic::Ordering::Relaxed;
                    NatsCounters {
                        received: stats.received.load(Relaxed),
                        canaries_returned: stats.canaries_returned.load(Relaxed),
                    }
                });
                read
            }),
        });

        let (stop_ticker, stop_rx) = watch::channel(false);
        let ticker = tokio::spawn(run_ticker(
            federation.clone(),
            metrics.clone(),
            settings.sweep_interval,
            stop_rx,
        ));

        let state = ApiState {
            federation: federation.clone(),
            keys,
            bus: bus_health,
            version,
            metrics: metrics.clone(),
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(tracing_actix_web::TracingLogger::<
                    crate::telemetry::RequestSpan,
                >::new())
                .configure(federation_api::configure(state.clone()))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        tracing::info!(address = %format!("{}:{port}", settings.host), "federation service listening");

        Ok(Self {
            port,
            server,
            federation,
            metrics,
            ticker,
            stop_ticker,
            bus,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn federation(&self) -> &Arc<Federation> {
        &self.federation
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn handle(&self) -> AppHandle {
        AppHandle {
            server: self.server.handle(),
        }
    }

    /// Serves until SIGINT/SIGTERM or [`AppHandle::stop`], then flushes presence.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        let _ = self.stop_ticker.send(true);
        if let Err(e) = self.ticker.await {
            tracing::error!(error = %e, "presence task failed");
        }
        // After the final flush, which publishes its transitions through the bus.
        if let Some(bus) = self.bus {
            bus.shutdown().await;
        }
        served.context("HTTP server")?;
        tracing::info!("federation service stopped");
        Ok(())
    }
}

async fn seed_catalog(
    federation: &Federation,
    path: &std::path::Path,
    catalog: Option<Vec<federation_domain::Registration>>,
) -> anyhow::Result<()> {
    match catalog {
        None => {
            tracing::info!(file = %path.display(), "no catalog file; nothing seeded");
        }
        Some(registrations) if registrations.is_empty() => {
            tracing::info!(file = %path.display(), "catalog file lists no projects");
        }
        Some(registrations) => {
            let upserted = federation
                .register_all(&registrations)
                .await
                .with_context(|| format!("applying {}", path.display()))?;
            let created = upserted.iter().filter(|u| u.created).count();
            tracing::info!(
                file = %path.display(),
                created,
                updated = upserted.len() - created,
                "catalog seeded"
            );
        }
    }
    Ok(())
}

fn report_mass_expiry(metrics: &Metrics, mass: Option<federation_domain::MassExpiry>) {
    if let Some(mass) = mass {
        metrics.mass_expiry();
        tracing::warn!(
            expired = mass.expired,
            live = mass.live,
            "mass expiry: more than half of the live projects went offline at once"
        );
    }
}

/// The presence task: every `interval`, sweep and flush in one batched write; every
/// [`CATALOG_SYNC_INTERVAL`], learn of projects registered elsewhere. On stop, one last
/// flush so nothing recorded in memory is lost.
async fn run_ticker(
    federation: Arc<Federation>,
    metrics: Arc<Metrics>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sync = tokio::time::interval(CATALOG_SYNC_INTERVAL);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sync.tick().await; // the first tick is immediate; the catalog was just loaded
    let mut failures: u32 = 0;
    // While the store refuses batches, flushes back off but the clock keeps being
    // applied every tick, so transitions happen (and are stamped) on time.
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticks.tick() => {
                if retry_at.is_some_and(|t| tokio::time::Instant::now() < t) {
                    report_mass_expiry(&metrics, federation.advance());
                    continue;
                }
                let started = std::time::Instant::now();
                let ticked = federation.tick().await;
                metrics.observe_tick(started.elapsed());
                match ticked {
                    Ok(report) => {
                        metrics.add_unpublished(report.unpublished);
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
            _ = sync.tick() => {
                match federation.sync_catalog().await {
                    Ok((added, removed)) if added + removed > 0 => {
                        tracing::info!(added, removed, "presence synchronised with the catalog");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "catalog sync failed"),
                }
            }
        }
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
