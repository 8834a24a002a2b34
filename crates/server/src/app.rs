//! The composition root: builds the store, the use cases, the background tasks and the
//! HTTP server from [`Settings`], and runs them until a signal or [`AppHandle::stop`].

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{dev::ServerHandle, App};
use anyhow::{bail, Context};
use federation_api::{
    ApiKeys, ApiState, BusHealth, ChangeHub, Metrics, MetricsSources, NatsCounters,
};
use federation_domain::{
    ChangeLog, Federation, HeartbeatRelay, Lease, NoRelay, NoStatusEvents, Ports, Presence,
    ProjectRepository, ReplicaOptions, Role, StatusEvents, SystemClock,
};
use federation_nats::NatsBus;
use federation_store::{DatabaseUrl, Store, StoreOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog;
use crate::conn::Bounded;
use crate::metered::Metered;
use crate::settings::{HttpLimits, Settings, DEFAULT_SQLITE_PATH};

mod tasks;
use tasks::*;

/// How often a follower reads the log even without a notification (a lost `NOTIFY`,
/// SQLite, a listener being reconnected).
const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// The longest pause between flush attempts while the store refuses them.
const MAX_FLUSH_BACKOFF: Duration = Duration::from_secs(10);

/// Serves the API on `listener` with the bounds of `limits`: what actix-web's
/// `HttpServer` does, with every connection's socket wrapped in [`Bounded`].
fn serve_http(
    listener: TcpListener,
    limits: HttpLimits,
    state: ApiState,
) -> std::io::Result<actix_web::dev::Server> {
    use actix_service::{fn_service, map_config, IntoServiceFactory as _, ServiceFactoryExt as _};
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let local = listener.local_addr()?;
    let send_timeout = limits.send_timeout;
    let body_timeout = federation_api::BodyTimeout(limits.body_timeout);
    let builder = actix_server::Server::build();
    // As actix-web's HttpServer: on a graceful stop, idle keep-alive connections close at
    // once instead of holding the stop up to their timeout.
    let shutdown = builder.graceful_shutdown_signal();
    Ok(builder
        .workers(workers)
        .max_concurrent_connections(limits.max_connections.div_ceil(workers).max(1))
        .shutdown_timeout(10)
        .listen("federation-http", listener, move || {
            let app = App::new()
                .app_data(body_timeout)
                .wrap(tracing_actix_web::TracingLogger::<
                    crate::telemetry::RequestSpan,
                >::new())
                .configure(federation_api::configure(state.clone()));
            let signal = shutdown.clone();
            let http = actix_http::HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = signal.clone();
                    async move { signal.notified().await }
                })
                .keep_alive(limits.keep_alive)
                .client_request_timeout(limits.head_timeout)
                .client_disconnect_timeout(limits.disconnect_timeout)
                .local_addr(local)
                .h1(map_config(app.into_factory(), |()| {
                    actix_web::dev::AppConfig::default()
                }));
            fn_service(move |io: tokio::net::TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok::<_, actix_http::error::DispatchError>((
                    Bounded::new(io, send_timeout),
                    peer,
                )))
            })
            .and_then(http)
        })?
        .run())
}

/// Options of `federation serve` beyond the settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Apply pending PostgreSQL migrations at start (`--migrate`).
    pub migrate: bool,
}

/// The database URL the settings select: `DATABASE_URL`, or the embedded SQLite file.
pub fn database_url(settings: &Settings) -> anyhow::Result<DatabaseUrl> {
    let url = match &settings.database_url {
        Some(raw) => DatabaseUrl::parse(raw).context("invalid DATABASE_URL")?,
        None => DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH)),
    };
    if let DatabaseUrl::Postgres(pg) = &url {
        if !pg.ignored_parameters().is_empty() {
            tracing::warn!(
                ignored = %pg.ignored_parameters().join(", "),
                "DATABASE_URL gives asyncpg-only parameters, which mean nothing here; they are ignored"
            );
        }
    }
    Ok(url)
}

/// Connects to the store.
pub async fn connect_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = database_url(settings)?;
    Store::connect(
        &url,
        StoreOptions {
            max_connections: settings.max_connections,
            connect_timeout: settings.db_connect_timeout,
            pool_timeout: settings.db_pool_timeout,
            statement_timeout: settings.db_statement_timeout,
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

/// As [`migrate`], first converting a database the Python original built.
pub async fn migrate_converting(
    settings: &Settings,
    options: federation_store::original::ConversionOptions,
) -> anyhow::Result<(Option<federation_store::original::Conversion>, Vec<String>)> {
    let store = connect_store(settings).await?;
    store
        .run_migrations_converting(options)
        .await
        .context("applying migrations")
}

/// Migrates the target (`DATABASE_URL`) and copies into it the projects of the
/// original's database at `source`, which is only read.
pub async fn import(
    settings: &Settings,
    source: &str,
    options: federation_store::original::ImportOptions,
) -> anyhow::Result<(Vec<String>, federation_store::original::Conversion)> {
    let store = connect_store(settings).await?;
    let applied = store
        .run_migrations()
        .await
        .context("applying migrations")?;
    let imported = federation_store::original::import(source, &store, options)
        .await
        .context("importing the original's projects")?;
    Ok((applied, imported))
}

/// A running service.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    federation: Arc<Federation>,
    metrics: Arc<Metrics>,
    changes: Arc<ChangeHub>,
    ticker: JoinHandle<()>,
    follower: JoinHandle<()>,
    stop_ticker: watch::Sender<bool>,
    bus: Option<NatsBus>,
}

/// Stops a running [`Application`] from elsewhere (tests, signal handlers).
#[derive(Clone)]
pub struct AppHandle {
    server: ServerHandle,
    changes: Arc<ChangeHub>,
}

impl AppHandle {
    /// Stops accepting connections, ends change streams and blocking queries, finishes
    /// in-flight requests, flushes presence.
    pub async fn stop(&self) {
        self.changes.close();
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
        // Without keys on loopback, only loopback host names (and the configured ones):
        // a page using DNS rebinding cannot reach the API through a browser.
        let host_guard = (keys.is_empty() && is_loopback(&settings)).then(|| {
            Arc::new(federation_api::hosts::AllowedHosts::parse(
                settings.allowed_hosts.as_deref(),
            ))
        });

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
        let store = Arc::new(store);
        let repo: Arc<dyn ProjectRepository> =
            Arc::new(Metered::new(store.clone(), metrics.clone()));
        let log: Arc<dyn ChangeLog> = store.clone();
        let lease: Arc<dyn Lease> = store.clone();
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
        let (events, relay, presence, holder): (
            Arc<dyn StatusEvents>,
            Arc<dyn HeartbeatRelay>,
            Presence,
            String,
        ) = match &bus {
            Some(bus) => (
                bus.status_events(),
                bus.heartbeat_relay(),
                Presence::with_bus(settings.policy()),
                bus.instance().to_owned(),
            ),
            None => (
                Arc::new(NoStatusEvents),
                Arc::new(NoRelay),
                Presence::new(settings.policy()),
                instance_name(),
            ),
        };
        let holder = format!("{}-{holder}", hostname());
        let federation = Arc::new(Federation::new(
            Ports {
                repo,
                log,
                lease,
                events,
                relay,
                clock: Arc::new(SystemClock),
            },
            presence,
            ReplicaOptions {
                holder: holder.clone(),
                lease_ttl: settings.lease_ttl,
                log_retention: chrono::TimeDelta::from_std(settings.log_retention)
                    .unwrap_or(chrono::TimeDelta::MAX),
                log_max_rows: settings.log_max_rows,
                history_retention: chrono::TimeDelta::from_std(settings.history_retention)
                    .unwrap_or(chrono::TimeDelta::MAX),
                history_max_per_project: settings.history_max_per_project,
            },
        ));
        let loaded = federation.load().await.context("loading the registry")?;
        let changes = ChangeHub::new(settings.stream, federation.revision(), metrics.clone());
        federation.on_change(changes.listener());
        tracing::info!(
            projects = loaded,
            revision = federation.revision(),
            "registry loaded from the store"
        );

        // Without a bus, a heartbeat reaches only the replica that took it, so only one
        // replica may run: it must hold the sweeper lease from the start.
        let mut role = federation
            .campaign()
            .await
            .context("taking part in the sweeper lease")?;
        if bus.is_none() && role == Role::Follower {
            // Maybe the lease of a previous instance killed a moment ago: it expires
            // within its TTL unless its holder is alive and renewing it.
            let deadline =
                tokio::time::Instant::now() + settings.lease_ttl + settings.sweep_interval;
            while role == Role::Follower && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(250)).await;
                role = federation
                    .campaign()
                    .await
                    .context("taking part in the sweeper lease")?;
            }
        }
        if !federation_domain::readiness::may_run(role, bus.is_some(), store.is_shared()) {
            bail!(
                "another replica of the federation service is running on this database \
                 (it holds the sweeper lease) and NATS_URL is not set: several replicas need \
                 NATS, so that every replica hears every heartbeat (docs/replication.md)"
            );
        }
        tracing::info!(role = role.as_str(), %holder, "sweeper lease");

        apply_catalog(
            &federation,
            &settings.projects_file,
            catalog,
            settings.catalog_prune,
        )
        .await?;

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
            presence_subject: settings
                .nats
                .as_ref()
                .map_or_else(|| "hub.presence".to_owned(), |n| n.presence_subject.clone()),
        });

        let (stop_ticker, stop_rx) = watch::channel(false);
        let ticker = tokio::spawn(run_ticker(
            federation.clone(),
            metrics.clone(),
            settings.sweep_interval,
            settings.log_trim_interval,
            stop_rx.clone(),
            bus.is_some(),
        ));
        let follower = tokio::spawn(run_follower(
            federation.clone(),
            store.clone(),
            stop_rx.clone(),
        ));
        let notify = notify_api(&store, &settings)?;
        tokio::spawn(
            federation_notify::Dispatcher {
                federation: federation.clone(),
                channels: notify.channels.clone(),
                log: notify.deliveries.clone(),
                sender: notify.sender.clone(),
                metrics: Arc::new(metrics.notify()),
                options: federation_notify::DispatchOptions {
                    retry: federation_notify::Retry {
                        deadline: settings.notify.deadline,
                        ..federation_notify::Retry::default()
                    },
                    flapping: settings.notify.flapping,
                    ..federation_notify::DispatchOptions::default()
                },
            }
            .run(stop_rx.clone()),
        );
        tokio::spawn(reapply_catalog_on_sighup(
            federation.clone(),
            settings.projects_file.clone(),
            settings.catalog_prune,
            stop_rx,
        ));

        let state = ApiState {
            federation: federation.clone(),
            keys,
            bus: bus_health,
            version,
            metrics: metrics.clone(),
            changes: changes.clone(),
            allowed_hosts: host_guard,
            notify: Some(notify),
        };
        let server = serve_http(listener, settings.http, state)?;
        tracing::info!(address = %format!("{}:{port}", settings.host), "federation service listening");

        Ok(Self {
            port,
            server,
            federation,
            metrics,
            changes,
            ticker,
            follower,
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
            changes: self.changes.clone(),
        }
    }

    /// Serves until SIGINT/SIGTERM or [`AppHandle::stop`], then flushes presence.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        // actix stops gracefully on the signal, waiting for open requests: change
        // streams and blocking queries end at once instead of holding the stop.
        let changes = self.changes.clone();
        let on_signal = tokio::spawn(async move {
            crate::cli::shutdown_signal().await;
            changes.close();
        });
        let served = self.server.await;
        on_signal.abort();
        self.changes.close();
        let _ = self.stop_ticker.send(true);
        if let Err(e) = self.ticker.await {
            tracing::error!(error = %e, "presence task failed");
        }
        self.federation.resign().await;
        if let Err(e) = self.follower.await {
            tracing::error!(error = %e, "follower task failed");
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

/// Applies the catalog file (at start, and again on SIGHUP): every entry in one
/// transaction, removing the file's projects it no longer lists when pruning.
async fn apply_catalog(
    federation: &Federation,
    path: &std::path::Path,
    catalog: Option<catalog::Catalog>,
    prune_setting: bool,
) -> anyhow::Result<()> {
    let Some(catalog) = catalog else {
        tracing::info!(file = %path.display(), "no catalog file; nothing applied");
        return Ok(());
    };
    let prune = catalog.prune || prune_setting;
    if catalog.registrations.is_empty() && !prune {
        tracing::info!(file = %path.display(), "catalog file lists no projects");
        return Ok(());
    }
    let applied = federation
        .apply_catalog(&catalog.registrations, prune)
        .await
        .with_context(|| format!("applying {}", path.display()))?;
    let created = applied.upserted.iter().filter(|u| u.created).count();
    tracing::info!(
        file = %path.display(),
        created,
        updated = applied.upserted.len() - created,
        removed = applied.removed.len(),
        prune,
        "catalog applied"
    );
    Ok(())
}

/// `federation catalog apply FILE [--dry-run] [--prune]`: applies a catalog file to the
/// configured database (the running replicas follow the change log), after printing
/// what it changes. Returns the text to print.
pub async fn catalog_apply(
    settings: &Settings,
    file: &std::path::Path,
    dry_run: bool,
    prune: bool,
) -> anyhow::Result<String> {
    let Some(catalog) = catalog::read(file)? else {
        bail!("{}: no such file", file.display());
    };
    let prune = prune || catalog.prune || settings.catalog_prune;
    let store = connect_store(settings).await?;
    let pending = store
        .pending_migrations()
        .await
        .context("checking the database schema")?;
    if !pending.is_empty() {
        bail!("the database schema is behind: run `federation migrate` first");
    }
    let federation = Federation::new(
        Ports {
            repo: Arc::new(store.clone()),
            log: Arc::new(store.clone()),
            lease: Arc::new(store),
            events: Arc::new(NoStatusEvents),
            relay: Arc::new(NoRelay),
            clock: Arc::new(SystemClock),
        },
        Presence::new(settings.policy()),
        ReplicaOptions::default(),
    );
    federation.load().await.context("loading the catalog")?;
    let plan = federation.plan_catalog(&catalog.registrations, prune);
    let mut out = format!(
        "{} ({} entries, prune {})\n",
        file.display(),
        catalog.registrations.len(),
        if prune { "on" } else { "off" }
    );
    for slug in &plan.create {
        out.push_str(&format!("+ {slug}\n"));
    }
    for (slug, fields) in &plan.update {
        out.push_str(&format!("~ {slug}: {}\n", fields.join(", ")));
    }
    for slug in &plan.remove {
        out.push_str(&format!("- {slug} (no longer in the file)\n"));
    }
    out.push_str(&format!(
        "{} to create, {} to update, {} unchanged, {} to remove\n",
        plan.create.len(),
        plan.update.len(),
        plan.unchanged.len(),
        plan.remove.len()
    ));
    if dry_run {
        out.push_str("dry run: nothing changed\n");
        return Ok(out);
    }
    let applied = federation
        .apply_catalog(&catalog.registrations, prune)
        .await
        .with_context(|| format!("applying {}", file.display()))?;
    let created = applied.upserted.iter().filter(|u| u.created).count();
    out.push_str(&format!(
        "applied: {created} created, {} updated, {} removed\n",
        applied.upserted.len() - created,
        applied.removed.len()
    ));
    Ok(out)
}

/// SIGHUP re-applies the configured catalog file without a restart; a bad file is
/// logged and changes nothing.
async fn reapply_catalog_on_sighup(
    federation: Arc<Federation>,
    path: std::path::PathBuf,
    prune_setting: bool,
    mut stop: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; the catalog file is applied at start only");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(()) = hangups.recv() => {
                tracing::info!(file = %path.display(), "SIGHUP: applying the catalog file again");
                let applied = match catalog::read(&path) {
                    Ok(catalog) => apply_catalog(&federation, &path, catalog, prune_setting).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = applied {
                    tracing::error!(error = %format!("{e:#}"), "the catalog file was not applied; nothing changed");
                }
            }
        }
    }
}

/// The notification routes' ports: the store's channels and deliveries, and the HTTP
/// and SMTP senders with the settings' limits.
fn notify_api(
    store: &Arc<Store>,
    settings: &Settings,
) -> anyhow::Result<federation_api::notify::NotifyApi> {
    let sender = federation_notify::Senders {
        http: federation_notify::HttpSender::new(federation_notify::HttpOptions {
            timeout: settings.notify.attempt_timeout,
            deny: settings.notify.deny.clone(),
            ..federation_notify::HttpOptions::default()
        })?,
        smtp: federation_notify::SmtpSender::new(
            settings.notify.attempt_timeout,
            settings.notify.deny.clone(),
        ),
    };
    Ok(federation_api::notify::NotifyApi {
        channels: store.clone(),
        deliveries: store.clone(),
        sender: Arc::new(sender),
    })
}
