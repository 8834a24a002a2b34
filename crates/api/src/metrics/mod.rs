//! Prometheus metrics (`GET /metrics`, OpenMetrics text from `prometheus-client`).
//!
//! Two kinds of series:
//! - recorded as things happen: HTTP requests (by route *template*, method, status),
//!   tick and flush durations, flush batch sizes and errors, mass expiries;
//! - read at scrape time from the domain and the bus: heartbeats by outcome, status
//!   transitions by (from, to), projects by status, NATS link, partition guard.
//!
//! No label ever carries user input: routes are the registered templates (anything else
//! is `unmatched`), methods a fixed set (else `other`), the rest are closed enums. Our
//! series have no slug label (the number of projects is unbounded); the original
//! service's names ([`original`]) carry registered slugs, up to a bound.
//!
//! [`METRIC_NAMES`] lists every series name this module can expose; the deploy checks
//! compare dashboards and alert rules with what a live `/metrics` answers.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::http::{header, Method};
use actix_web::{web, HttpResponse};
use federation_domain::{Federation, GuardState};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::{ApiState, BusHealth};

mod bus_permissions;
mod notify;
mod original;
mod slo;

pub use notify::NotifyMetrics;

pub use original::{ORIGINAL_METRIC_NAMES, ORIGINAL_PER_PROJECT_MAX};
pub use slo::SLO_METRIC_NAMES;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every series name `/metrics` exposes (histograms by their base name, counters with
/// `_total`, the info metric with `_info`).
pub const METRIC_NAMES: &[&str] = &[
    "federation_build_info",
    "federation_http_requests_total",
    "federation_http_request_duration_seconds",
    "federation_heartbeats_received_total",
    "federation_status_transitions_total",
    "federation_projects",
    "federation_projects_offline_longest_seconds",
    "federation_projects_in_maintenance",
    "federation_projects_expired_total",
    "federation_sweep_duration_seconds",
    "federation_store_flush_duration_seconds",
    "federation_store_flush_batch_size",
    "federation_store_flush_errors_total",
    "federation_events_unpublished_total",
    "federation_mass_expiries_total",
    "federation_nats_enabled",
    "federation_nats_connected",
    "federation_nats_messages_received_total",
    "federation_nats_canaries_returned_total",
    "federation_nats_slow_consumer_events_total",
    bus_permissions::NAMES[0],
    bus_permissions::NAMES[1],
    "federation_partition_guard_active",
    "federation_partition_guard_state",
    "federation_replica_leader",
    "federation_registry_revision",
    "federation_follower_lag_seconds",
    "federation_unconfirmed_transitions",
    "federation_event_streams_open",
    "federation_event_stream_events_sent_total",
    "federation_event_stream_clients_dropped_total",
];

/// Counters of the NATS ingest path, read at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatsCounters {
    /// Presence messages taken off the subscription (canaries excluded).
    pub received: u64,
    /// Our own canaries seen coming back.
    pub canaries_returned: u64,
    /// Messages the NATS client dropped, a subscription's buffer full (its events).
    pub slow_consumer_events: u64,
}

/// Reads the NATS counters.
pub type NatsStats = Arc<dyn Fn() -> NatsCounters + Send + Sync>;

type HttpLabels = [(&'static str, Cow<'static, str>); 3];
type RouteLabels = [(&'static str, Cow<'static, str>); 2];
type KindLabel = [(&'static str, &'static str); 1];

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn batch_histogram() -> Histogram {
    // 1 … 16384 rows
    Histogram::new(exponential_buckets(1.0, 2.0, 15))
}

/// What the scrape-time series are read from.
#[derive(Clone)]
pub struct Sources {
    pub federation: Arc<Federation>,
    pub bus: Arc<dyn Fn() -> BusHealth + Send + Sync>,
    /// `None` without NATS (the NATS counters then read 0).
    pub nats: Option<NatsStats>,
    /// The presence subject prefix (`hub.presence`), for the original's `subject` label.
    pub presence_subject: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    sources: Arc<OnceLock<Sources>>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    sweep_duration: Histogram,
    flush_duration: Histogram,
    flush_batch: Family<KindLabel, Histogram, fn() -> Histogram>,
    flush_errors: Counter,
    unpublished: Counter,
    mass_expiries: Counter,
    streams_open: Gauge,
    stream_events: Counter,
    stream_dropped: Counter,
    original: original::Original,
    slo: slo::SloGauges,
    notify: NotifyMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every series. The scrape-time ones appear once [`Metrics::attach`]
    /// gave their sources (the store's decorator records flushes before the use cases
    /// that own the counters exist).
    pub fn new(version: &'static str) -> Self {
        let mut registry = Registry::default();
        registry.register(
            "federation_build",
            "Build information of the running service",
            Info::new(vec![("version", version)]),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "federation_http_requests",
            "HTTP requests by route template, method and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "federation_http_request_duration_seconds",
            "HTTP request duration by route template and method",
            http_duration.clone(),
        );
        let sweep_duration = latency_histogram();
        registry.register(
            "federation_sweep_duration_seconds",
            "Duration of one presence tick: sweep, batched store write and event publishing",
            sweep_duration.clone(),
        );
        let flush_duration = latency_histogram();
        registry.register(
            "federation_store_flush_duration_seconds",
            "Duration of one batched presence write to the store",
            flush_duration.clone(),
        );
        let flush_batch = Family::<KindLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            batch_histogram,
        );
        registry.register(
            "federation_store_flush_batch_size",
            "Rows per batched presence write, by kind (updates, transitions)",
            flush_batch.clone(),
        );
        let flush_errors = Counter::default();
        registry.register(
            "federation_store_flush_errors",
            "Batched presence writes the store refused (kept in memory for retry)",
            flush_errors.clone(),
        );
        let unpublished = Counter::default();
        registry.register(
            "federation_events_unpublished",
            "Stored status transitions whose event could not be published",
            unpublished.clone(),
        );
        let mass_expiries = Counter::default();
        registry.register(
            "federation_mass_expiries",
            "Sweeps that expired more than half of the live projects at once",
            mass_expiries.clone(),
        );
        let streams_open = Gauge::default();
        registry.register(
            "federation_event_streams_open",
            "Change streams (GET /api/fed/events) open now",
            streams_open.clone(),
        );
        let stream_events = Counter::default();
        registry.register(
            "federation_event_stream_events_sent",
            "Events written to change streams (keep-alive comments excluded)",
            stream_events.clone(),
        );
        let stream_dropped = Counter::default();
        registry.register(
            "federation_event_stream_clients_dropped",
            "Change-stream clients dropped because they did not keep up",
            stream_dropped.clone(),
        );
        let sources = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(StateCollector {
            sources: sources.clone(),
        }));
        let original = original::Original::register(&mut registry, version, sources.clone());
        let slo = slo::SloGauges::register(&mut registry);
        let notify = NotifyMetrics::register(&mut registry);
        Metrics {
            registry,
            sources,
            http_requests,
            http_duration,
            sweep_duration,
            flush_duration,
            flush_batch,
            flush_errors,
            unpublished,
            mass_expiries,
            streams_open,
            stream_events,
            stream_dropped,
            original,
            slo,
            notify,
        }
    }

    /// The notification delivery series.
    pub fn notify(&self) -> NotifyMetrics {
        self.notify.clone()
    }

    /// Gives the scrape-time series their sources; later calls are ignored.
    pub fn attach(&self, sources: Sources) {
        let _ = self.sources.set(sources);
    }

    /// Records one HTTP request. `route` must be a registered template (see
    /// [`route_label`]).
    pub fn observe_request(
        &self,
        route: &'static str,
        method: &Method,
        status: u16,
        elapsed: Duration,
    ) {
        let method = method_label(method);
        self.http_requests
            .get_or_create(&[
                ("route", Cow::Borrowed(route)),
                ("method", Cow::Borrowed(method)),
                ("status", Cow::Owned(status.to_string())),
            ])
            .inc();
        self.http_duration
            .get_or_create(&[
                ("route", Cow::Borrowed(route)),
                ("method", Cow::Borrowed(method)),
            ])
            .observe(elapsed.as_secs_f64());
    }

    /// Records one presence tick (sweep + flush + publish), and whether it succeeded.
    pub fn observe_tick(&self, elapsed: Duration, ok: bool) {
        self.sweep_duration.observe(elapsed.as_secs_f64());
        self.original.tick(elapsed.as_secs_f64(), ok);
    }

    /// Counts status events published on the bus.
    pub fn add_published(&self, n: usize) {
        self.original.published(n);
    }

    /// Counts stored registrations.
    pub fn registered(&self, n: usize) {
        self.original.registered(n);
    }

    /// Counts a lookup of one project.
    pub fn looked_up(&self) {
        self.original.looked_up();
    }

    /// Records one batched presence write.
    pub fn observe_flush(&self, elapsed: Duration, updates: usize, transitions: usize, ok: bool) {
        self.flush_duration.observe(elapsed.as_secs_f64());
        self.flush_batch
            .get_or_create(&[("kind", "updates")])
            .observe(updates as f64);
        self.flush_batch
            .get_or_create(&[("kind", "transitions")])
            .observe(transitions as f64);
        if !ok {
            self.flush_errors.inc();
        }
    }

    /// Counts stored transitions whose event was not published.
    pub fn add_unpublished(&self, n: usize) {
        self.unpublished.inc_by(n as u64);
    }

    /// Counts a mass expiry.
    /// A change stream opened.
    pub fn stream_opened(&self) {
        self.streams_open.inc();
    }

    /// A change stream closed (or its client was dropped).
    pub fn stream_closed(&self) {
        self.streams_open.dec();
    }

    /// An event written to a change stream.
    pub fn stream_event_sent(&self) {
        self.stream_events.inc();
    }

    /// A change-stream client dropped for not keeping up.
    pub fn stream_client_dropped(&self) {
        self.stream_dropped.inc();
    }

    pub fn mass_expiry(&self) {
        self.mass_expiries.inc();
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

/// The method label: the standard methods by name, anything else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route label of a matched pattern: the registered template it is, or
/// `unmatched` (unknown paths, scope fallbacks): never the raw path.
pub fn route_label(pattern: Option<&str>) -> &'static str {
    pattern
        .and_then(|p| crate::ROUTES.iter().find(|r| r.path == p))
        .map_or("unmatched", |r| r.path)
}

/// Values read from the domain and the bus at each scrape.
struct StateCollector {
    sources: Arc<OnceLock<Sources>>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCollector").finish_non_exhaustive()
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(m)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(m)
}

impl prometheus_client::collector::Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(src) = self.sources.get() else {
            return Ok(());
        };
        let fed = &src.federation;

        let mut m = encoder.encode_descriptor(
            "federation_heartbeats_received",
            "Heartbeats received (NATS and HTTP) by outcome",
            None,
            MetricType::Counter,
        )?;
        for (outcome, n) in fed.heartbeat_counters().snapshot() {
            ConstCounter::new(n).encode(m.encode_family(&[("outcome", outcome)])?)?;
        }

        let skew = fed.clock_skew();
        let mut buckets = skew.buckets();
        let counted: u64 = buckets.iter().map(|(_, n)| n).sum();
        buckets.push((f64::MAX, skew.count().saturating_sub(counted)));
        let mut m = encoder.encode_descriptor(
            "federation_heartbeat_clock_skew_seconds",
            "How far senders' clocks are from ours (absolute), per accepted heartbeat that \
             carries a timestamp; status is measured on our clock",
            None,
            MetricType::Histogram,
        )?;
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            skew.sum(),
            skew.count(),
            &buckets,
            None,
        )?;

        let mut m = encoder.encode_descriptor(
            "federation_status_transitions",
            "Status transitions stored, by from and to",
            None,
            MetricType::Counter,
        )?;
        for (from, to, n) in fed.transition_counters().snapshot() {
            ConstCounter::new(n)
                .encode(m.encode_family(&[("from", from.as_str()), ("to", to.as_str())])?)?;
        }

        let counts = fed.counts();
        let mut m = encoder.encode_descriptor(
            "federation_projects",
            "Registered projects by status",
            None,
            MetricType::Gauge,
        )?;
        for (status, n) in [
            ("online", counts.online),
            ("degraded", counts.degraded),
            ("offline", counts.offline),
        ] {
            ConstGauge::new(n as i64).encode(m.encode_family(&[("status", status)])?)?;
        }

        let longest = fed
            .longest_offline()
            .map_or(0.0, |d| d.num_milliseconds() as f64 / 1000.0);
        let m = encoder.encode_descriptor(
            "federation_projects_offline_longest_seconds",
            "How long the project offline the longest has been offline (0 when none; \
             projects that never sent a heartbeat are not counted)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(longest).encode(m)?;

        let m = encoder.encode_descriptor(
            "federation_projects_in_maintenance",
            "Projects in an open maintenance window (no degraded/offline transition is \
             recorded for them, and they are not counted by the offline gauge above)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(fed.in_maintenance() as i64).encode(m)?;

        let m = encoder.encode_descriptor(
            "federation_projects_expired",
            "Projects removed for being offline longer than FEDERATION_DEREGISTER_AFTER \
             (only the leader removes; sum across replicas)",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(fed.expired_total()).encode(m)?;

        let bus = (src.bus)();
        gauge(
            &mut encoder,
            "federation_nats_enabled",
            "1 when NATS_URL is set",
            i64::from(bus != BusHealth::Disabled),
        )?;
        gauge(
            &mut encoder,
            "federation_nats_connected",
            "1 while the link to NATS is up (0 when down or disabled)",
            i64::from(bus == BusHealth::Up),
        )?;
        let nats = src.nats.as_ref().map(|f| f()).unwrap_or_default();
        counter(
            &mut encoder,
            "federation_nats_messages_received",
            "Presence messages taken off the NATS subscription (canaries excluded)",
            nats.received,
        )?;
        counter(
            &mut encoder,
            "federation_nats_canaries_returned",
            "Own canaries seen coming back through their subscription",
            nats.canaries_returned,
        )?;
        counter(
            &mut encoder,
            "federation_nats_slow_consumer_events",
            "Slow-consumer events of the NATS client: a message dropped because a \
             subscription's buffer was full (under a burst some events are not reported)",
            nats.slow_consumer_events,
        )?;
        bus_permissions::encode(&mut encoder, fed)?;

        let guard = fed.guard();
        gauge(
            &mut encoder,
            "federation_partition_guard_active",
            "1 while the partition guard holds expiry for silence (link down, canary lost, \
             or recovering after either, also right after start)",
            i64::from(guard.is_active()),
        )?;
        let current = guard.as_str();
        let mut m = encoder.encode_descriptor(
            "federation_partition_guard_state",
            "The partition guard's state (1 for the current one)",
            None,
            MetricType::Gauge,
        )?;
        for state in GuardState::NAMES {
            ConstGauge::new(i64::from(state == current))
                .encode(m.encode_family(&[("state", state)])?)?;
        }

        gauge(
            &mut encoder,
            "federation_replica_leader",
            "1 on the replica that holds the sweeper lease, confirmed by the store within \
             its TTL (writes transitions, publishes events)",
            i64::from(fed.leads()),
        )?;
        gauge(
            &mut encoder,
            "federation_registry_revision",
            "The change-log revision this replica's registry has applied",
            i64::try_from(fed.revision()).unwrap_or(i64::MAX),
        )?;
        let lag = fed
            .follower_lag()
            .map_or(-1.0, |d| d.num_milliseconds() as f64 / 1000.0);
        let m = encoder.encode_descriptor(
            "federation_follower_lag_seconds",
            "Seconds since this replica last read the change log to its end (-1: never)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(lag).encode(m)?;
        gauge(
            &mut encoder,
            "federation_unconfirmed_transitions",
            "Transitions this replica saw while following that the change log has not \
             recorded yet (a promotion writes them with their real times; bounded)",
            i64::try_from(fed.unconfirmed_transitions()).unwrap_or(i64::MAX),
        )?;
        Ok(())
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus / OpenMetrics text exposition. Not behind \
         X-API-Key: it carries aggregate counts, and registered slugs only in the original \
         service's per-project series (up to 1,000 projects); keep the port internal.",
         content_type = "application/openmetrics-text", body = String)
    )
)]
pub(crate) async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.encode())
}
