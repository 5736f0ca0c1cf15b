//! The exporters' own metrics, read from their counters at each scrape, so
//! that dynamic flow logs appear and disappear with reloads.
//!
//! Per sink (labels `exporter`, the exporter's name, and `origin`, `static`
//! or `dynamic`), flowlog's own names since Cilium has none:
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `flowlog_exporter_events_written_total` | counter | lines written, `lost_events` reports included |
//! | `flowlog_exporter_bytes_written_total` | counter | bytes written |
//! | `flowlog_exporter_rotations_total` | counter | files rotated |
//! | `flowlog_exporter_events_lost_total{reason}` | counter | events this sink lost, by reason: `kernel_ring_buffer`, `queue_full`, `write_failed`, `encode_failed` |
//! | `flowlog_exporter_active` | gauge | 1 while writing, 0 once its `end` has passed |
//! | `flowlog_exporter_writing` | gauge | 0 while its last write failed |
//!
//! For dynamic flow logs, Cilium's own (`hubble_dynamic_exporter_*`):
//! `exporters_total{status="active"|"inactive"}` (a gauge, despite the name),
//! `up{name}`, `reconfigurations_total{op="add"|"update"|"remove"|"failure"}`,
//! `config_hash` and `config_last_applied` (Unix seconds).

use std::sync::Arc;

use flowlog_export::counters::SinkStats;
use flowlog_export::dynamic::ReloadStats;
use flowlog_export::lost::LossCause;
use flowlog_export::{Origin, SinkInfo, SinkRegistry};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Encodes the per-sink metrics.
#[derive(Debug)]
pub(crate) struct Sinks(pub(crate) SinkRegistry);

/// Encodes Cilium's dynamic exporter metrics.
#[derive(Debug)]
pub(crate) struct DynamicExporters {
    pub(crate) sinks: SinkRegistry,
    pub(crate) reloads: Arc<ReloadStats>,
}

fn origin(sink: &SinkInfo) -> &'static str {
    match sink.origin {
        Origin::Static => "static",
        Origin::Dynamic => "dynamic",
    }
}

/// A counter family: its descriptor, then one sample per label set.
pub(crate) fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge family: its descriptor, then one sample per label set.
pub(crate) fn gauges<L: EncodeLabelSet, N: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, N)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge without labels.
fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Result<(), std::fmt::Error> {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

impl Collector for Sinks {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sinks: Vec<_> = self.0.sinks().into_iter().map(|s| (s.counters.snapshot(), s)).collect();
        let labels = |sink: &SinkInfo| [("exporter", sink.name.clone()), ("origin", origin(sink).to_owned())];
        let each = |value: fn(&SinkStats) -> u64| sinks.iter().map(move |(stats, sink)| (labels(sink), value(stats)));
        let encoder = &mut encoder;
        counters(
            encoder,
            "flowlog_exporter_events_written",
            "Lines an exporter wrote, lost_events reports included.",
            each(|s| s.events_written),
        )?;
        counters(encoder, "flowlog_exporter_bytes_written", "Bytes an exporter wrote.", each(|s| s.bytes_written))?;
        counters(encoder, "flowlog_exporter_rotations", "Files an exporter rotated.", each(|s| s.rotations))?;
        let lost = sinks.iter().flat_map(|(stats, sink)| {
            LossCause::ALL.map(|cause| {
                let [exporter, origin] = labels(sink);
                ([exporter, origin, ("reason", cause.name().to_owned())], stats.lost(cause))
            })
        });
        counters(encoder, "flowlog_exporter_events_lost", "Events an exporter lost, by reason.", lost)?;
        let active = each(|s| u64::from(s.active));
        gauges(encoder, "flowlog_exporter_active", "1 while an exporter writes, 0 once its end has passed.", active)?;
        let writing = each(|s| u64::from(s.writing));
        gauges(encoder, "flowlog_exporter_writing", "0 while an exporter's last write failed.", writing)
    }
}

impl Collector for DynamicExporters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let dynamic: Vec<_> = self
            .sinks
            .sinks()
            .into_iter()
            .filter(|sink| sink.origin == Origin::Dynamic)
            .map(|sink| (sink.name, u64::from(sink.counters.snapshot().active)))
            .collect();
        let active = dynamic.iter().map(|(_, up)| up).sum::<u64>();
        let inactive = dynamic.len() as u64 - active;
        let encoder = &mut encoder;
        gauges(
            encoder,
            "hubble_dynamic_exporter_exporters_total",
            "Number of configured exporters.",
            [([("status", "active")], active), ([("status", "inactive")], inactive)],
        )?;
        let up = dynamic.iter().map(|(name, up)| ([("name", name.as_str())], *up));
        gauges(encoder, "hubble_dynamic_exporter_up", "Status of individual exporters.", up)?;
        let reloads = self.reloads.snapshot();
        let ops = [
            ("add", reloads.added),
            ("update", reloads.updated),
            ("remove", reloads.removed),
            ("failure", reloads.failures),
        ];
        counters(
            encoder,
            "hubble_dynamic_exporter_reconfigurations",
            "Number of dynamic exporters reconfigurations.",
            ops.map(|(op, count)| ([("op", op)], count)),
        )?;
        // As Cilium: the hash as a float, the time in Unix seconds.
        gauge(
            encoder,
            "hubble_dynamic_exporter_config_hash",
            "Hash of last applied config.",
            reloads.config_hash as f64,
        )?;
        let applied = reloads.last_applied_unix_millis as f64 / 1000.0;
        gauge(encoder, "hubble_dynamic_exporter_config_last_applied", "Timestamp of last applied config.", applied)
    }
}
