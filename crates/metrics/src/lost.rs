//! `hubble_lost_events_total{source}`: every event lost anywhere, by where.
//!
//! Cilium labels its lost events with the lowercased `LostEventSource`
//! (`perf_event_ring_buffer`, `observer_events_queue`, `hubble_ring_buffer`);
//! flowlog uses the same values where the loss is of the same kind, and its
//! own names for the kinds Hubble has none for:
//!
//! | `source` | counted when | once per |
//! |---|---|---|
//! | `perf_event_ring_buffer` | the kernel's ring buffer was full (`flowlog run`), or a replayed `lost_events` line says so | event |
//! | `observer_events_queue` | a sink's queue was full and its lines were dropped (Cilium's name for its own full queue), or a replayed line says so | sink that lost it |
//! | `write_failed` | a sink could not write (a full disk, say) | sink that lost it |
//! | `encode_failed` | an event could not be written as JSON (Cilium drops those too) | sink that lost it |
//! | `hubble_ring_buffer`, `unknown_lost_event_source` | a replayed `lost_events` line says so | event |
//!
//! Sink losses are read from the export crate's totals, which outlive the
//! dynamic flow logs that come and go, so the counter never goes down.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use flowlog_export::SinkRegistry;
use flowlog_export::lost::LossCause;
use flowlog_flow::LostEventSource;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

/// Sources Hubble names, in `LostEventSource` order.
const HUBBLE_SOURCES: [LostEventSource; 4] = [
    LostEventSource::UnknownLostEventSource,
    LostEventSource::PerfEventRingBuffer,
    LostEventSource::ObserverEventsQueue,
    LostEventSource::HubbleRingBuffer,
];

/// Losses reported to flowlog from upstream, by Hubble source.
#[derive(Debug, Default)]
pub struct ObservedLosses([AtomicU64; HUBBLE_SOURCES.len()]);

impl ObservedLosses {
    pub(crate) fn add(&self, source: LostEventSource, count: u64) {
        self.0[source as usize].fetch_add(count, Relaxed);
    }

    fn get(&self, source: LostEventSource) -> u64 {
        self.0[source as usize].load(Relaxed)
    }
}

/// Encodes `hubble_lost_events_total` at each scrape.
#[derive(Debug)]
pub(crate) struct LostEvents {
    pub(crate) observed: std::sync::Arc<ObservedLosses>,
    pub(crate) sinks: SinkRegistry,
}

impl LostEvents {
    /// Every source and its count. Sources flowlog itself produces are always
    /// listed, so dashboards see a 0 rather than no series.
    fn counts(&self) -> Vec<(String, u64)> {
        let sinks = |cause| self.sinks.lost(cause);
        let mut counts: Vec<(String, u64)> = HUBBLE_SOURCES
            .iter()
            .map(|&source| {
                // A sink's full queue is what Cilium reports as its own full
                // events queue (and what the sink's `lost_events` line says).
                let from_sinks =
                    if source == LostEventSource::ObserverEventsQueue { sinks(LossCause::QueueFull) } else { 0 };
                (source.as_str_name().to_ascii_lowercase(), self.observed.get(source) + from_sinks)
            })
            .filter(|(name, count)| *count > 0 || name == "perf_event_ring_buffer" || name == "observer_events_queue")
            .collect();
        counts.extend([LossCause::WriteFailed, LossCause::EncodeFailed].map(|c| (c.name().to_owned(), sinks(c))));
        counts
    }
}

impl Collector for LostEvents {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric =
            encoder.encode_descriptor("hubble_lost_events", "Number of lost events.", None, MetricType::Counter)?;
        for (source, count) in self.counts() {
            let labels = [("source", source.as_str())];
            ConstCounter::new(count).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
