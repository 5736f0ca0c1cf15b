//! `flowlog_log_lines_dropped_total`: the agent's own log lines that could
//! not be written (its standard error was closed or its reader went away).
//! The log cannot report its own loss, so the metric does.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

/// Reads the count the logger keeps.
#[derive(Debug)]
pub(crate) struct DroppedLogLines(pub(crate) &'static AtomicU64);

impl Collector for DroppedLogLines {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let help = "Log lines that could not be written to standard error.";
        let metric = encoder.encode_descriptor("flowlog_log_lines_dropped", help, None, MetricType::Counter)?;
        ConstCounter::new(self.0.load(Ordering::Relaxed)).encode(metric)
    }
}
