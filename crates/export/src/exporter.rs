//! A running exporter: its spec, its aggregation window and its sink.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use flowlog_flow::ExportEvent;
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::json::encode_line;

use crate::aggregate::Aggregator;
use crate::counters::SinkCounters;
use crate::lost::LossCause;
use crate::sink::{Sink, SinkSettings};
use crate::spec::ExporterSpec;

/// Where an exporter's configuration comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The `--export-*` flags: fixed for the life of the process.
    Static,
    /// An entry of the dynamic flow log file: added, changed and removed by reloads.
    Dynamic,
}

/// One exporter, started: events offered to it are filtered, aggregated or
/// encoded, and written by its sink's thread. An exporter whose `end` has
/// passed is inactive: its sink is closed and it writes nothing.
#[derive(Debug)]
pub struct Exporter {
    spec: ExporterSpec,
    origin: Origin,
    settings: SinkSettings,
    aggregator: Option<Aggregator>,
    sink: Option<Sink>,
    counters: Arc<SinkCounters>,
}

/// What an exporter wants done with an event offered to it.
pub(crate) enum Verdict {
    /// Not for this exporter.
    Skip,
    /// Taken into the aggregation window.
    Aggregated,
    /// To be encoded and pushed to the sink.
    Write,
}

impl Exporter {
    /// Starts an exporter for `spec`: its sink thread, unless `end` has
    /// already passed. Files are opened on their first line.
    pub fn start(spec: ExporterSpec, origin: Origin, settings: &SinkSettings) -> std::io::Result<Self> {
        let mut exporter = Self {
            spec,
            origin,
            settings: settings.clone(),
            aggregator: None,
            sink: None,
            counters: settings.sinks.new_counters(),
        };
        exporter.activate_if_due(SystemTime::now())?;
        if !exporter.is_active() {
            tracing::info!(exporter = %exporter.spec.name, "exporter's end has passed: inactive");
        }
        Ok(exporter)
    }

    /// The exporter's validated configuration.
    pub fn spec(&self) -> &ExporterSpec {
        &self.spec
    }

    /// Where the configuration comes from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// False once the exporter's `end` has passed.
    pub fn is_active(&self) -> bool {
        self.sink.is_some()
    }

    /// The sink's counters, shared: they stay readable after the exporter
    /// stops, and carry over when a reload changes the exporter.
    pub fn counters(&self) -> &Arc<SinkCounters> {
        &self.counters
    }

    /// Decides what to do with `event`, folding flows into the window when aggregating.
    pub(crate) fn offer(&mut self, event: &ExportEvent, now: SystemTime) -> Verdict {
        if self.sink.is_none() || !self.spec.is_active_at(now) || !self.spec.filters.apply(event) {
            return Verdict::Skip;
        }
        match (&mut self.aggregator, &event.response_types) {
            (Some(aggregator), Some(ResponseTypes::Flow(flow))) => {
                if aggregator.add(flow) {
                    self.drain_aggregates(Instant::now());
                }
                Verdict::Aggregated
            }
            _ => Verdict::Write,
        }
    }

    /// Appends an encoded line to the sink.
    pub(crate) fn push(&mut self, line: &[u8]) {
        if let Some(sink) = &mut self.sink {
            sink.push(line);
        }
    }

    /// Hands pending lines to the sink's writer.
    pub(crate) fn flush(&mut self) {
        if let Some(sink) = &mut self.sink {
            sink.flush();
        }
    }

    /// Counts `count` events lost to `cause`, to be reported in this exporter's stream.
    pub(crate) fn record_loss(&mut self, cause: LossCause, count: u64) {
        if let Some(sink) = &self.sink {
            sink.record_loss(cause, count);
        }
    }

    /// When the aggregation window ends, if aggregating.
    pub(crate) fn window_end(&self) -> Option<Instant> {
        self.aggregator.as_ref().map(Aggregator::window_end)
    }

    /// Writes the aggregation window's groups and starts a new window.
    pub(crate) fn drain_aggregates(&mut self, now: Instant) {
        let (Some(aggregator), Some(sink)) = (&mut self.aggregator, &mut self.sink) else { return };
        let mask = aggregator.output_mask().clone();
        let mut line = Vec::new();
        aggregator.drain(now, |event| {
            line.clear();
            match encode_line(event, mask.selection(), &mut line) {
                Ok(()) => sink.push(&line),
                Err(error) => {
                    tracing::warn!(exporter = %sink.name(), %error, "cannot encode aggregated flow");
                    sink.record_loss(LossCause::EncodeFailed, 1);
                }
            }
        });
    }

    /// Takes a changed spec for the same target. The sink, its open file and
    /// the counters are kept; what was aggregated so far is written first.
    pub(crate) fn reconfigure(&mut self, spec: ExporterSpec) -> std::io::Result<()> {
        debug_assert_eq!(spec.target, self.spec.target, "a new target needs a new exporter");
        self.drain_aggregates(Instant::now());
        let aggregation_changed = spec.aggregation != self.spec.aggregation;
        self.spec = spec;
        if aggregation_changed {
            self.aggregator = self.new_aggregator();
        }
        let now = SystemTime::now();
        self.expire_if_ended(now);
        self.activate_if_due(now)
    }

    /// Closes the sink once `end` has passed: everything pending is written,
    /// the file is flushed and closed, and the exporter reports itself inactive.
    pub(crate) fn expire_if_ended(&mut self, now: SystemTime) {
        if self.sink.is_some() && !self.spec.is_active_at(now) {
            tracing::info!(exporter = %self.spec.name, "exporter reached its end: stopped writing");
            self.close_sink();
        }
    }

    /// Opens the sink of an exporter that should be writing and is not.
    fn activate_if_due(&mut self, now: SystemTime) -> std::io::Result<()> {
        if self.sink.is_some() || !self.spec.is_active_at(now) {
            return Ok(());
        }
        let target = self.spec.target.describe();
        self.settings.closing.wait_for(&target);
        let sink = Sink::start(&self.spec.name, self.spec.target.open(), &self.settings, Arc::clone(&self.counters))?;
        self.sink = Some(sink);
        self.aggregator = self.new_aggregator();
        self.counters.set_active(true);
        tracing::info!(exporter = %self.spec.name, %target, "exporter writing");
        Ok(())
    }

    fn new_aggregator(&self) -> Option<Aggregator> {
        let aggregation = self.spec.aggregation.as_ref()?;
        let aggregator = Aggregator::new(&aggregation.fields, aggregation.interval, Instant::now());
        Some(aggregator.expect("aggregation fields were validated"))
    }

    /// Writes what is aggregated, then closes the sink in the background.
    fn close_sink(&mut self) {
        self.drain_aggregates(Instant::now());
        self.aggregator = None;
        if let Some(sink) = self.sink.take() {
            self.settings.closing.close(self.spec.target.describe(), sink);
        }
        self.counters.set_active(false);
    }

    /// Stops the exporter; its sink finishes writing in the background.
    pub fn retire(mut self) {
        self.close_sink();
        tracing::info!(exporter = %self.spec.name, "exporter removed");
    }

    /// Writes what is aggregated and pending, closes the sink and waits for it.
    pub fn stop(mut self) {
        self.drain_aggregates(Instant::now());
        if let Some(sink) = self.sink.take() {
            sink.close();
        }
        self.counters.set_active(false);
    }
}
