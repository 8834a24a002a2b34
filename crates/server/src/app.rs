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
    Federation, HeartbeatRelay, NoRelay, NoStatusEvents, Ports, Presence, ProjectRepository,
    ReplicaOptions, Role, StatusEvents, SystemClock,
};
use federation_nats::NatsBus;
use federation_store::{DatabaseUrl, Store, StoreOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog;
use crate::conn::Bounded;
use crate::metered::Metered;
use crate::settings::{HttpLimits, Settings, DEFAULT_SQLITE_PATH};

mod lease;
mod shutdown;
mod start;
mod tasks;
pub use tasks::EAGER_GAP;
mod uptime;
use tasks::*;

/// The version the service reports (`/health`, metrics).
const VERSION: &str = env!("CARGO_PKG_VERSION");

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
    status_page: federation_api::StatusPage,
) -> std::io::Result<actix_web::dev::Server> {
    use actix_service::{fn_service, map_config, IntoServiceFactory as _, ServiceFactoryExt as _};
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let local = listener.local_addr()?;
    let send_timeout = limits.send_timeout;
    let body_timeout = federation_api::BodyTimeout(limits.body_timeout);
    let status_page = actix_web::web::Data::new(status_page);
    // Signals are the service's own (`app::shutdown`): it drains before the server stops.
    let builder = actix_server::Server::build().disable_signals();
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
                .app_data(status_page.clone())
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
    /// Stops the ticker (its last flush).
    stop_sweep: watch::Sender<bool>,
    follower: JoinHandle<()>,
    /// Stops the follower and the SIGHUP task.
    stop_ticker: watch::Sender<bool>,
    /// The sweeper lease's own task, stopped after the final flush (which it fences).
    lease: JoinHandle<()>,
    stop_lease: watch::Sender<bool>,
    bus: Option<NatsBus>,
    /// Serving or stopping (`/ready`).
    lifecycle: Arc<federation_api::Lifecycle>,
    /// How long a stop by signal serves on with `/ready` at 503.
    drain: Duration,
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

impl Application {
    /// Starts the service in named phases (see [`start`]): each phase's failure stops
    /// the start before the next touches anything.
    pub async fn build(settings: Settings, options: ServeOptions) -> anyhow::Result<Self> {
        let access = start::access(&settings)?;
        // A bad catalog file or a taken port stops the start before anything is touched
        // or any task is spawned.
        let catalog = catalog::read(&settings.projects_file)?;
        let objectives = crate::slo::read(&settings.projects_file)?;
        let channels = catalog::channels::read(&settings.projects_file)?;
        let listener = TcpListener::bind((settings.host, settings.port))
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();

        let store = Arc::new(start::store(&settings, options).await?);
        let metrics = Arc::new(Metrics::new(VERSION));
        let mut bus = start::bus(&settings).await?;
        let (federation, changes) =
            start::federation(&settings, &store, &metrics, bus.as_ref()).await?;
        start::join_replicas(&federation, &settings, bus.is_some(), store.is_shared()).await?;
        apply_catalog(
            &federation,
            &settings.projects_file,
            catalog,
            settings.catalog_prune,
        )
        .await?;
        let bus_health = start::listen(&mut bus, &federation).await?;
        start::attach_metrics(&metrics, &federation, &bus_health, bus.as_ref(), &settings);
        let tasks = start::spawn_tasks(&settings, &federation, &store, &metrics, bus.is_some());

        let uptime = start::uptime(
            &settings,
            &federation,
            &store,
            &metrics,
            objectives,
            &tasks.stop,
        );
        // The objectives made over REST are on the board before the first request.
        uptime
            .reload_slos()
            .await
            .context("reading the stored objectives")?;
        let notify = start::notify_api(&store, &settings)?;
        catalog::channels::apply_logged(&*notify.channels, &settings.projects_file, &channels)
            .await?;
        start::dispatch_notifications(&settings, &federation, &metrics, &notify, &tasks.stop);

        let lifecycle = Arc::new(federation_api::Lifecycle::default());
        let state = ApiState {
            federation: federation.clone(),
            keys: access.keys,
            bus: bus_health,
            version: VERSION,
            metrics: metrics.clone(),
            changes: changes.clone(),
            allowed_hosts: access.host_guard,
            lifecycle: lifecycle.clone(),
            uptime,
            notify: Some(notify),
        };
        let server = serve_http(listener, settings.http, state, settings.status_page.clone())?;
        tracing::info!(address = %format!("{}:{port}", settings.host), "federation service listening");

        Ok(Self {
            port,
            server,
            federation,
            metrics,
            changes,
            ticker: tasks.ticker,
            stop_sweep: tasks.stop_sweep,
            follower: tasks.follower,
            stop_ticker: tasks.stop,
            lease: tasks.lease,
            stop_lease: tasks.stop_lease,
            bus,
            lifecycle,
            drain: settings.http.shutdown_drain,
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
    let channels = catalog::channels::read(file)?;
    let prune = prune || catalog.prune || settings.catalog_prune;
    let store = connect_store(settings).await?;
    let channel_store = store.clone();
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
        out.push_str(
            &catalog::channels::apply_described(&channel_store, file, &channels, true).await?,
        );
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
    out.push_str(
        &catalog::channels::apply_described(&channel_store, file, &channels, false).await?,
    );
    Ok(out)
}

/// SIGHUP re-applies the configured catalog file without a restart; a bad file is
/// logged and changes nothing.
async fn reapply_catalog_on_sighup(
    federation: Arc<Federation>,
    channels: Arc<dyn federation_domain::notify::ChannelStore>,
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
                // Both parts of the file are read before either is applied: a bad entry
                // in one changes nothing in the other.
                let applied = match (catalog::read(&path), catalog::channels::read(&path)) {
                    (Ok(catalog), Ok(declared)) => {
                        match apply_catalog(&federation, &path, catalog, prune_setting).await {
                            Ok(()) => catalog::channels::apply_logged(&*channels, &path, &declared).await,
                            Err(e) => Err(e),
                        }
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                if let Err(e) = applied {
                    tracing::error!(error = %format!("{e:#}"), "the catalog file was not applied; nothing changed");
                }
            }
        }
    }
}
