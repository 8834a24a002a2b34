//! The permissions the bus server refused us, read at scrape time from the domain:
//! `federation_nats_permission_denied{use}` (1 while current) and
//! `federation_nats_permission_violations_total{use}` (reported since start).

use federation_domain::{DeniedUse, Federation};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// The series of this file, for [`super::METRIC_NAMES`].
pub(super) const NAMES: [&str; 2] = [
    "federation_nats_permission_denied",
    "federation_nats_permission_violations_total",
];

pub(super) fn encode(
    encoder: &mut DescriptorEncoder,
    fed: &Federation,
) -> Result<(), std::fmt::Error> {
    let (current, totals) = fed.bus_denials();
    let mut m = encoder.encode_descriptor(
        "federation_nats_permission_denied",
        "1 while the NATS server refuses a publish or a subscription of ours, by what the \
         subject is for (canary, presence, status_events, relay, other); current for 2 \
         minutes after the last refusal, or until the permission is seen working",
        None,
        MetricType::Gauge,
    )?;
    for use_ in DeniedUse::ALL {
        let denied = current.iter().any(|d| d.use_ == use_);
        ConstGauge::new(i64::from(denied)).encode(m.encode_family(&[("use", use_.as_str())])?)?;
    }
    let mut m = encoder.encode_descriptor(
        "federation_nats_permission_violations",
        "Permissions violations the NATS server reported for this replica since start, by \
         what the subject is for",
        None,
        MetricType::Counter,
    )?;
    for (use_, total) in totals {
        ConstCounter::new(total).encode(m.encode_family(&[("use", use_.as_str())])?)?;
    }
    Ok(())
}
