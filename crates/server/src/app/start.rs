//! The phases of a start, in order: who may call ([`access`]), the store and its schema
//! ([`store`]), the bus ([`bus`]), the use cases with the registry loaded
//! ([`federation`]), the place among the replicas ([`join_replicas`]), listening for
//! heartbeats ([`listen`]), the metrics' sources ([`attach_metrics`]), the background
//! tasks ([`spawn_tasks`]), the uptime reports with theirs ([`uptime`]) and the
//! notifications ([`notify_api`], [`dispatch_notifications`]).
//! [`super::Application::build`] runs them.

use super::*;

/// Who may call: the API keys, and the Host guard of a keyless loopback bind.
pub(super) struct Access {
    pub keys: ApiKeys,
    pub host_guard: Option<Arc<federation_api::hosts::AllowedHosts>>,
}

/// Parses the keys and refuses an open bind without them (unless allowed on purpose).
pub(super) fn access(settings: &Settings) -> anyhow::Result<Access> {
    let keys = ApiKeys::parse(
        settings.api_keys.as_deref(),
        settings.read_api_keys.as_deref(),
    )
    .context("invalid FEDERATION_API_KEYS / FEDERATION_READ_API_KEYS")?;
    let loopback = settings.host.is_loopback();
    if keys.is_empty() && !loopback && !settings.allow_anonymous {
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
    // Without keys on loopback, only loopback host names (and the configured ones): a
    // page using DNS rebinding cannot reach the API through a browser.
    let host_guard = (keys.is_empty() && loopback).then(|| {
        Arc::new(federation_api::hosts::AllowedHosts::parse(
            settings.allowed_hosts.as_deref(),
        ))
    });
    Ok(Access { keys, host_guard })
}

/// Connects to the store and brings its schema up to date, or refuses to start on a
/// schema that is behind (PostgreSQL without `--migrate`).
pub(super) async fn store(settings: &Settings, options: ServeOptions) -> anyhow::Result<Store> {
    let store = connect_store(settings).await?;
    if !store.is_shared() || options.migrate || settings.auto_migrate {
        let applied = store
            .run_migrations()
            .await
            .context("applying migrations")?;
        for version in &applied {
            tracing::info!(%version, "migration applied");
        }
        return Ok(store);
    }
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
    Ok(store)
}

/// The NATS client, when `NATS_URL` is set.
pub(super) async fn bus(settings: &Settings) -> anyhow::Result<Option<NatsBus>> {
    match &settings.nats {
        None => {
            tracing::warn!(
                "NATS_URL is not set: heartbeats are accepted over HTTP only \
                 (POST /api/fed/projects/{{slug}}/heartbeat)"
            );
            Ok(None)
        }
        Some(nats) => Ok(Some(
            NatsBus::connect(nats.clone())
                .await
                .context("setting up the NATS client")?,
        )),
    }
}

/// The use cases on their ports, with the registry loaded from the store, and the hub
/// that feeds the change streams.
pub(super) async fn federation(
    settings: &Settings,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    bus: Option<&NatsBus>,
) -> anyhow::Result<(Arc<Federation>, Arc<ChangeHub>)> {
    let repo: Arc<dyn ProjectRepository> = Arc::new(Metered::new(store.clone(), metrics.clone()));
    let (events, relay, presence, holder): (
        Arc<dyn StatusEvents>,
        Arc<dyn HeartbeatRelay>,
        Presence,
        String,
    ) = match bus {
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
    let presence = presence.with_sweep_interval(
        chrono::TimeDelta::from_std(settings.sweep_interval).unwrap_or(chrono::TimeDelta::MAX),
    );
    let holder = format!("{}-{holder}", hostname());
    tracing::info!(%holder, "this replica's name in the sweeper lease");
    let federation = Arc::new(Federation::new(
        Ports {
            repo,
            log: store.clone(),
            lease: store.clone(),
            events,
            relay,
            clock: Arc::new(SystemClock),
        },
        presence,
        ReplicaOptions {
            holder,
            lease_ttl: settings.lease_ttl,
            log_retention: chrono::TimeDelta::from_std(settings.log_retention)
                .unwrap_or(chrono::TimeDelta::MAX),
            log_max_rows: settings.log_max_rows,
            history_retention: chrono::TimeDelta::from_std(settings.history_retention)
                .unwrap_or(chrono::TimeDelta::MAX),
            history_max_per_project: settings.history_max_per_project,
            flapping: settings.notify.flapping,
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
    Ok((federation, changes))
}

/// Takes part in the sweeper lease. Without a bus a heartbeat reaches only the replica
/// that took it, so only one replica may run ([`federation_domain::readiness::may_run`]):
/// it must hold the lease from the start, after waiting out a previous instance's lease.
pub(super) async fn join_replicas(
    federation: &Federation,
    settings: &Settings,
    has_bus: bool,
    shared_store: bool,
) -> anyhow::Result<()> {
    let campaign = || async {
        federation
            .campaign()
            .await
            .context("taking part in the sweeper lease")
    };
    let mut role = campaign().await?;
    if !has_bus && role == Role::Follower {
        // Maybe the lease of a previous instance killed a moment ago: it expires within
        // its TTL unless its holder is alive and renewing it.
        let deadline = tokio::time::Instant::now() + settings.lease_ttl + settings.sweep_interval;
        while role == Role::Follower && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            role = campaign().await?;
        }
    }
    if !federation_domain::readiness::may_run(role, has_bus, shared_store) {
        bail!(
            "another replica of the federation service is running on this database (it \
             holds the sweeper lease) and NATS_URL is not set: several replicas need NATS, \
             so that every replica hears every heartbeat (docs/replication.md)"
        );
    }
    tracing::info!(role = role.as_str(), "sweeper lease");
    Ok(())
}

/// Subscribes to heartbeats (with a bus); the bus's health as `/ready` reads it.
pub(super) async fn listen(
    bus: &mut Option<NatsBus>,
    federation: &Arc<Federation>,
) -> anyhow::Result<Arc<dyn Fn() -> BusHealth + Send + Sync>> {
    let Some(bus) = bus else {
        return Ok(Arc::new(|| BusHealth::Disabled));
    };
    bus.start(federation.clone())
        .await
        .context("subscribing to heartbeats")?;
    let link = bus.link();
    Ok(Arc::new(move || {
        if link.is_connected() {
            BusHealth::Up
        } else {
            BusHealth::Down
        }
    }))
}

/// What the metrics read at each scrape.
pub(super) fn attach_metrics(
    metrics: &Metrics,
    federation: &Arc<Federation>,
    bus_health: &Arc<dyn Fn() -> BusHealth + Send + Sync>,
    bus: Option<&NatsBus>,
    settings: &Settings,
) {
    metrics.attach(MetricsSources {
        federation: federation.clone(),
        bus: bus_health.clone(),
        nats: bus.map(|bus| {
            let stats = bus.stats();
            let read: federation_api::NatsStats = Arc::new(move || {
                use std::sync::atomic::Ordering::Relaxed;
                NatsCounters {
                    received: stats.received.load(Relaxed),
                    canaries_returned: stats.canaries_returned.load(Relaxed),
                    slow_consumer_events: stats.slow_consumer_events.load(Relaxed),
                }
            });
            read
        }),
        presence_subject: settings
            .nats
            .as_ref()
            .map_or_else(|| "hub.presence".to_owned(), |n| n.presence_subject.clone()),
    });
}

/// The background tasks and the signals that stop them.
pub(super) struct Tasks {
    pub ticker: JoinHandle<()>,
    /// Stops the ticker (its last flush).
    pub stop_sweep: watch::Sender<bool>,
    /// The sweeper lease's own task, stopped after the final flush (which it fences).
    pub lease: JoinHandle<()>,
    pub stop_lease: watch::Sender<bool>,
    pub follower: JoinHandle<()>,
    /// Stops the follower and the SIGHUP task.
    pub stop: watch::Sender<bool>,
}

/// Spawns the ticks (sweep, flush), the sweeper lease on its own timer, the change-log
/// follower and the catalog file's reload on SIGHUP.
pub(super) fn spawn_tasks(
    settings: &Settings,
    federation: &Arc<Federation>,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    has_bus: bool,
) -> Tasks {
    let (stop, stop_rx) = watch::channel(false);
    let (stop_sweep, sweep_rx) = watch::channel(false);
    let ticker = tokio::spawn(run_ticker(
        federation.clone(),
        metrics.clone(),
        settings.sweep_interval,
        settings.log_trim_interval,
        sweep_rx,
    ));
    let (stop_lease, lease_stop_rx) = watch::channel(false);
    let lease = tokio::spawn(lease::run_lease(
        federation.clone(),
        lease::renew_every(settings.lease_ttl, settings.sweep_interval),
        lease_stop_rx,
        has_bus,
    ));
    let follower = tokio::spawn(run_follower(
        federation.clone(),
        store.clone(),
        stop_rx.clone(),
    ));
    tokio::spawn(reapply_catalog_on_sighup(
        federation.clone(),
        store.clone(),
        settings.projects_file.clone(),
        settings.catalog_prune,
        stop_rx,
    ));
    Tasks {
        ticker,
        stop_sweep,
        lease,
        stop_lease,
        follower,
        stop,
    }
}

/// The uptime reports over the store, with the leader's tasks that feed them: the time
/// it heard the bus, the daily rollups and the SLO metrics. They stop with `stop`.
pub(super) fn uptime(
    settings: &Settings,
    federation: &Arc<Federation>,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    objectives: Vec<federation_domain::uptime::Objective>,
    stop: &watch::Sender<bool>,
) -> Arc<federation_domain::uptime::Uptime> {
    let reports = Arc::new(
        federation_domain::uptime::Uptime::new(store.clone(), settings.uptime_degraded)
            .with_objectives(objectives)
            .with_slo_store(store.clone()),
    );
    tokio::spawn(super::uptime::run_heard_recorder(
        federation.clone(),
        reports.clone(),
        settings.sweep_interval.saturating_mul(5),
        stop.subscribe(),
    ));
    tokio::spawn(super::uptime::run_rollups(
        federation.clone(),
        reports.clone(),
        stop.subscribe(),
    ));
    tokio::spawn(super::uptime::run_slos(
        federation.clone(),
        reports.clone(),
        metrics.clone(),
        stop.subscribe(),
    ));
    reports
}

/// The notification routes' ports: the store's channels and deliveries, and the HTTP
/// and SMTP senders with the settings' limits.
pub(super) fn notify_api(
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
        incidents: store.clone(),
        sender: Arc::new(sender),
    })
}

/// The leader's notification dispatcher, which stops with `stop`.
pub(super) fn dispatch_notifications(
    settings: &Settings,
    federation: &Arc<Federation>,
    metrics: &Arc<Metrics>,
    notify: &federation_api::notify::NotifyApi,
    stop: &watch::Sender<bool>,
) {
    tokio::spawn(
        federation_notify::Dispatcher {
            federation: federation.clone(),
            channels: notify.channels.clone(),
            log: notify.deliveries.clone(),
            incidents: notify.incidents.clone(),
            sender: notify.sender.clone(),
            metrics: Arc::new(metrics.notify()),
            options: federation_notify::DispatchOptions {
                retry: federation_notify::Retry {
                    deadline: settings.notify.deadline,
                    ..federation_notify::Retry::default()
                },
                incidents: settings.notify.incidents,
                sweep_interval: settings.sweep_interval,
                ..federation_notify::DispatchOptions::default()
            },
        }
        .run(stop.subscribe()),
    );
}
