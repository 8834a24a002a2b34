//! What the dispatcher reports to metrics (the API's registry implements it).

use std::time::Duration;

/// Delivery counters, by channel.
pub trait DeliveryMetrics: Send + Sync + 'static {
    /// A message the receiver took, and how long the successful attempt took.
    fn sent(&self, channel: &str, latency: Duration);
    /// A message given up on (a permanent refusal, or the deadline passed).
    fn failed(&self, channel: &str);
    /// An attempt that failed and will be tried again.
    fn retried(&self, channel: &str);
}

/// No metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl DeliveryMetrics for NoMetrics {
    fn sent(&self, _channel: &str, _latency: Duration) {}
    fn failed(&self, _channel: &str) {}
    fn retried(&self, _channel: &str) {}
}
