//! Notification delivery series, by channel (a channel's name is a validated slug, and
//! there are at most 100): `federation_notifications_sent`, `…_failed`, `…_retried`
//! and `federation_notification_send_seconds` (the taken attempt's duration).

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type ChannelLabel = Vec<(&'static str, String)>;

/// The delivery series.
#[derive(Debug, Clone)]
pub struct NotifyMetrics {
    sent: Family<ChannelLabel, Counter>,
    failed: Family<ChannelLabel, Counter>,
    retried: Family<ChannelLabel, Counter>,
    latency: Family<ChannelLabel, Histogram, fn() -> Histogram>,
}

impl NotifyMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            sent: Family::default(),
            failed: Family::default(),
            retried: Family::default(),
            latency: Family::new_with_constructor(super::latency_histogram),
        };
        registry.register(
            "federation_notifications_sent",
            "Notifications a channel's receiver took, by channel",
            m.sent.clone(),
        );
        registry.register(
            "federation_notifications_failed",
            "Notifications given up on (refused, or the retry deadline passed), by channel",
            m.failed.clone(),
        );
        registry.register(
            "federation_notifications_retried",
            "Notification attempts that failed and were tried again, by channel",
            m.retried.clone(),
        );
        registry.register(
            "federation_notification_send_seconds",
            "Duration of the attempt a receiver took, by channel",
            m.latency.clone(),
        );
        m
    }
}

fn label(channel: &str) -> ChannelLabel {
    vec![("channel", channel.to_owned())]
}

impl federation_notify::DeliveryMetrics for NotifyMetrics {
    fn sent(&self, channel: &str, latency: Duration) {
        self.sent.get_or_create(&label(channel)).inc();
        self.latency
            .get_or_create(&label(channel))
            .observe(latency.as_secs_f64());
    }

    fn failed(&self, channel: &str) {
        self.failed.get_or_create(&label(channel)).inc();
    }

    fn retried(&self, channel: &str) {
        self.retried.get_or_create(&label(channel)).inc();
    }
}
