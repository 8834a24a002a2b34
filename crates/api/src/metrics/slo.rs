//! The service level objectives' series: one per objective (the catalog file's
//! `slos:` and those made over REST; none without objectives, so they are not in [`super::METRIC_NAMES`]).
//! deploy/prometheus/slo.yml turns them into burn-rate alerts.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use federation_domain::uptime::SloStatus;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Metrics;

/// The series an objective adds.
pub const SLO_METRIC_NAMES: &[&str] = &[
    "federation_slo_sli_ratio",
    "federation_slo_objective_ratio",
    "federation_slo_error_budget_remaining_ratio",
];

type Subject = [(&'static str, String); 2];
type WithWindow = [(&'static str, String); 3];
type Ratio = Gauge<f64, AtomicU64>;

pub(super) struct SloGauges {
    sli: Family<Subject, Ratio>,
    objective: Family<WithWindow, Ratio>,
    remaining: Family<WithWindow, Ratio>,
    /// The label sets last set, so that a removed objective's series go.
    shown: Mutex<Vec<WithWindow>>,
}

impl SloGauges {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let gauges = Self {
            sli: Family::default(),
            objective: Family::default(),
            remaining: Family::default(),
            shown: Mutex::new(Vec::new()),
        };
        registry.register(
            "federation_slo_sli_ratio",
            "The available share of an objective's projects now, among those not in \
             maintenance (absent while none counts)",
            gauges.sli.clone(),
        );
        registry.register(
            "federation_slo_objective_ratio",
            "An objective's target uptime, as a ratio (0.999), over its window",
            gauges.objective.clone(),
        );
        registry.register(
            "federation_slo_error_budget_remaining_ratio",
            "The error budget an objective has left over its window: 1 untouched, 0 \
             spent, below 0 overspent (absent while no time counts)",
            gauges.remaining.clone(),
        );
        gauges
    }
}

impl Metrics {
    /// Sets the objectives' series from where they stand, removing those of
    /// objectives no longer kept.
    pub fn set_slos(&self, statuses: &[SloStatus]) {
        let now: Vec<WithWindow> = statuses
            .iter()
            .map(|s| {
                let o = &s.objective;
                [
                    ("kind", o.subject.kind().to_owned()),
                    ("name", o.subject.name().to_owned()),
                    ("window", o.window.clone()),
                ]
            })
            .collect();
        let gone: Vec<WithWindow> = {
            let mut shown = self.slo.shown.lock().unwrap_or_else(|p| p.into_inner());
            let gone = shown.iter().filter(|k| !now.contains(k)).cloned().collect();
            *shown = now;
            gone
        };
        for [kind, name, window] in gone {
            self.slo
                .objective
                .remove(&[kind.clone(), name.clone(), window.clone()]);
            self.slo
                .remaining
                .remove(&[kind.clone(), name.clone(), window]);
            self.slo.sli.remove(&[kind, name]);
        }
        for s in statuses {
            let o = &s.objective;
            let subject: Subject = [
                ("kind", o.subject.kind().to_owned()),
                ("name", o.subject.name().to_owned()),
            ];
            let [kind, name] = subject.clone();
            let with_window: WithWindow = [kind, name, ("window", o.window.clone())];
            self.slo
                .objective
                .get_or_create(&with_window)
                .set(o.percent / 100.0);
            match s.sli {
                Some(v) => {
                    self.slo.sli.get_or_create(&subject).set(v);
                }
                None => {
                    self.slo.sli.remove(&subject);
                }
            }
            match s.budget.and_then(|b| b.remaining_ratio) {
                Some(v) => {
                    self.slo.remaining.get_or_create(&with_window).set(v);
                }
                None => {
                    self.slo.remaining.remove(&with_window);
                }
            }
        }
    }
}
