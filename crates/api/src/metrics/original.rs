//! The original service's metric names and label sets (its `app/utils/metrics.py`), and
//! the names its Grafana dashboard queries (`heartbeat_total`,
//! `catalog_projects_by_status`, …, which the original itself never exported), exposed
//! beside ours so its dashboards and alerts keep their series.
//!
//! Per-project labels (`project_slug`, `subject`) appear only for registered slugs, and
//! only while the catalog holds at most [`ORIGINAL_PER_PROJECT_MAX`] projects; above
//! that, and for slugs not registered, they are summed under one label value
//! ([`OTHER`]), so the number of series stays bounded whatever senders claim.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::Sources;
use crate::BusHealth;

/// The most projects for which per-project series are exposed one by one.
pub const ORIGINAL_PER_PROJECT_MAX: usize = 1000;
/// The label value that sums unregistered slugs (and every project past the bound).
pub const OTHER: &str = "_other";

/// Every series name this module exposes (counters with `_total`, the info metric with
/// `_info`, histograms by their base name).
pub const ORIGINAL_METRIC_NAMES: &[&str] = &[
    "federation_heartbeat_messages_total",
    "federation_heartbeat_processing_duration_seconds",
    "federation_project_catalog_total",
    "federation_project_catalog_last_updated_timestamp",
    "federation_stale_checker_runs_total",
    "federation_stale_checker_projects_marked_offline_total",
    "federation_stale_checker_duration_seconds",
    "federation_nats_connection_status",
    "federation_nats_messages_total",
    "federation_nats_message_processing_duration_seconds",
    "federation_service_info",
    "heartbeat_total",
    "catalog_projects_by_status",
    "stale_projects_total",
    "nats_publish_total",
    "catalog_register_total",
    "catalog_lookup_total",
];

type StatusLabel = [(&'static str, &'static str); 1];

/// The original's buckets for message processing (seconds).
const MESSAGE_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
/// The original's buckets for the stale checker (seconds).
const CHECKER_BUCKETS: [f64; 8] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The series recorded as things happen.
#[derive(Clone)]
pub(super) struct Original {
    register: Counter,
    lookup: Counter,
    published: Counter,
    stale_runs: Family<StatusLabel, Counter>,
    stale_duration: Histogram,
}

impl Original {
    /// Registers the original's series in `registry`.
    pub(super) fn register(
        registry: &mut Registry,
        version: &'static str,
        sources: Arc<OnceLock<Sources>>,
    ) -> Self {
        registry.register(
            "federation_service",
            "Federation Service information (the original's info metric)",
            Info::new(vec![
                ("version", version),
                ("title", "Federation Service"),
                ("environment", "production"),
            ]),
        );
        let original = Original {
            register: Counter::default(),
            lookup: Counter::default(),
            published: Counter::default(),
            stale_runs: Family::default(),
            stale_duration: Histogram::new(CHECKER_BUCKETS),
        };
        registry.register(
            "catalog_register",
            "Registrations (POST /api/fed/projects, bulk entries, the catalog file) that were stored",
            original.register.clone(),
        );
        registry.register(
            "catalog_lookup",
            "Lookups of one project (GET /api/fed/projects/{slug})",
            original.lookup.clone(),
        );
        registry.register(
            "nats_publish",
            "Status events published on NATS",
            original.published.clone(),
        );
        registry.register(
            "federation_stale_checker_runs",
            "Total stale checker runs (presence ticks), by status: success, error",
            original.stale_runs.clone(),
        );
        registry.register(
            "federation_stale_checker_duration_seconds",
            "Stale checker execution duration (one presence tick)",
            original.stale_duration.clone(),
        );
        registry.register_collector(Box::new(OriginalCollector { sources }));
        original
    }

    pub(super) fn registered(&self, n: usize) {
        self.register.inc_by(n as u64);
    }

    pub(super) fn looked_up(&self) {
        self.lookup.inc();
    }

    pub(super) fn published(&self, n: usize) {
        self.published.inc_by(n as u64);
    }

    pub(super) fn tick(&self, seconds: f64, ok: bool) {
        self.stale_duration.observe(seconds);
        let status = if ok { "success" } else { "error" };
        self.stale_runs.get_or_create(&[("status", status)]).inc();
    }
}

/// The original's scrape-time series, read from the domain and the bus.
struct OriginalCollector {
    sources: Arc<OnceLock<Sources>>,
}

/// One label value's counts: recorded, refused, and the last heartbeat (Unix seconds).
struct Row {
    label: String,
    recorded: u64,
    refused: u64,
    last: Option<f64>,
}

impl OriginalCollector {
    /// Each registered project's rows, or one [`OTHER`] row past the bound; the
    /// unregistered senders' count.
    fn rows(src: &Sources) -> Vec<Row> {
        let fed = &src.federation;
        match fed.beats_by_project(ORIGINAL_PER_PROJECT_MAX) {
            Some(projects) => projects
                .into_iter()
                .map(|p| Row {
                    label: p.slug,
                    recorded: u64::from(p.counts.recorded),
                    refused: u64::from(p.counts.refused),
                    last: p
                        .last_heartbeat_at
                        .map(|t| t.timestamp_micros() as f64 / 1e6),
                })
                .collect(),
            None => {
                let c = fed.heartbeat_counters();
                let refused = [
                    "malformed",
                    "slug_mismatch",
                    "bad_namespace",
                    "replay",
                    "oversize",
                ]
                .iter()
                .map(|o| c.get(o))
                .sum();
                vec![Row {
                    label: OTHER.to_owned(),
                    recorded: c.get("ok"),
                    refused,
                    last: None,
                }]
            }
        }
    }

    fn per_project(
        &self,
        encoder: &mut DescriptorEncoder,
        src: &Sources,
    ) -> Result<(), std::fmt::Error> {
        let rows = Self::rows(src);
        let unknown = src.federation.heartbeat_counters().get("unknown_project");

        let mut m = encoder.encode_descriptor(
            "federation_heartbeat_messages",
            "Total heartbeat messages received (NATS and HTTP), by project and status:              success, error, unknown_project (unregistered senders are summed under _other)",
            None,
            MetricType::Counter,
        )?;
        for row in &rows {
            for (status, n) in [("success", row.recorded), ("error", row.refused)] {
                ConstCounter::new(n).encode(m.encode_family(&[
                    ("project_slug", row.label.as_str()),
                    ("status", status),
                ])?)?;
            }
        }
        ConstCounter::new(unknown)
            .encode(m.encode_family(&[("project_slug", OTHER), ("status", "unknown_project")])?)?;

        let mut m = encoder.encode_descriptor(
            "federation_nats_messages",
            "Total presence messages by subject and status (success, error); a heartbeat \
             taken over HTTP is counted on its project's subject, where it is relayed",
            None,
            MetricType::Counter,
        )?;
        for row in &rows {
            let subject = format!("{}.{}", src.presence_subject, row.label);
            for (status, n) in [("success", row.recorded), ("error", row.refused)] {
                ConstCounter::new(n).encode(
                    m.encode_family(&[("subject", subject.as_str()), ("status", status)])?,
                )?;
            }
        }

        let mut m = encoder.encode_descriptor(
            "federation_project_catalog_last_updated_timestamp",
            "When each project's entry was last updated by a heartbeat (Unix seconds)",
            None,
            MetricType::Gauge,
        )?;
        for row in &rows {
            if let Some(last) = row.last {
                ConstGauge::new(last)
                    .encode(m.encode_family(&[("project_slug", row.label.as_str())])?)?;
            }
        }

        // Heartbeats are decoded and recorded in batches, not one by one: the original's
        // per-message durations have no counterpart, so these histograms are empty, kept
        // for the queries that name them.
        for (name, help, label, value) in [
            (
                "federation_heartbeat_processing_duration_seconds",
                "Heartbeat message processing duration (not measured per message here: empty)",
                "project_slug",
                OTHER.to_owned(),
            ),
            (
                "federation_nats_message_processing_duration_seconds",
                "NATS message processing duration by subject (not measured per message here: empty)",
                "subject",
                format!("{}.*", src.presence_subject),
            ),
        ] {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            let buckets: Vec<(f64, u64)> = MESSAGE_BUCKETS
                .iter()
                .map(|b| (*b, 0))
                .chain([(f64::MAX, 0)])
                .collect();
            m.encode_family(&[(label, value.as_str())])?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(0.0, 0, &buckets, None)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for OriginalCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginalCollector").finish_non_exhaustive()
    }
}

fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    metric: M,
) -> Result<(), std::fmt::Error> {
    let m = encoder.encode_descriptor(name, help, None, kind)?;
    metric.encode(m)
}

impl prometheus_client::collector::Collector for OriginalCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(src) = self.sources.get() else {
            return Ok(());
        };
        let fed = &src.federation;

        let counts = fed.counts();
        let by_status = [
            ("online", "ONLINE", counts.online),
            ("degraded", "DEGRADED", counts.degraded),
            ("offline", "OFFLINE", counts.offline),
        ];
        // A gauge with a counter's suffix: the original's name, kept as it was.
        let mut m = encoder.encode_descriptor(
            "federation_project_catalog_total",
            "Number of projects in catalog by status (ONLINE, OFFLINE, DEGRADED)",
            None,
            MetricType::Gauge,
        )?;
        for (_, upper, n) in by_status {
            ConstGauge::new(n as i64).encode(m.encode_family(&[("status", upper)])?)?;
        }
        let mut m = encoder.encode_descriptor(
            "catalog_projects_by_status",
            "Projects by status (online, degraded, offline): the original dashboard's name",
            None,
            MetricType::Gauge,
        )?;
        for (lower, _, n) in by_status {
            ConstGauge::new(n as i64).encode(m.encode_family(&[("status", lower)])?)?;
        }

        let beats = fed.heartbeat_counters();
        single(
            &mut encoder,
            "heartbeat",
            "Heartbeats accepted (NATS and HTTP): the original dashboard's name",
            MetricType::Counter,
            ConstCounter::new(beats.get("ok")),
        )?;

        let to_offline: u64 = fed
            .transition_counters()
            .snapshot()
            .into_iter()
            .filter(|(from, to, _)| from != to && to.as_str() == "offline")
            .map(|(_, _, n)| n)
            .sum();
        single(
            &mut encoder,
            "federation_stale_checker_projects_marked_offline",
            "Total projects marked offline by the stale checker (transitions to offline)",
            MetricType::Counter,
            ConstCounter::new(to_offline),
        )?;
        single(
            &mut encoder,
            "stale_projects",
            "Projects marked offline for silence: the original dashboard's name",
            MetricType::Counter,
            ConstCounter::new(to_offline),
        )?;

        self.per_project(&mut encoder, src)?;

        let bus = (src.bus)();
        single(
            &mut encoder,
            "federation_nats_connection_status",
            "NATS connection status (1=connected, 0=disconnected)",
            MetricType::Gauge,
            ConstGauge::new(i64::from(bus == BusHealth::Up)),
        )?;
        Ok(())
    }
}
