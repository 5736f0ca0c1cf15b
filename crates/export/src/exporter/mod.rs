//! A JSON-line exporter: filters ▸ aggregation ▸ field mask ▸ encoding ▸ a
//! sink. The static exporter is one; each dynamic flow log is another.
//!
//! - [`config`]: the settings as a user writes them, and their validation;
//! - [`spec`]: the validated settings;
//! - [`aggregate`]: flow aggregation.

pub mod aggregate;
pub mod config;
pub mod spec;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use flowlog_flow::ExportEvent;
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::json::encode_line;

use self::aggregate::Aggregator;
use self::spec::ExporterSpec;
use crate::consumer::Consumer;
use crate::context::ExportContext;
use crate::counters::SinkCounters;
use crate::lines::{Event, SharedMask};
use crate::lost::LossCause;
use crate::option::Origin;
use crate::registry::{Registration, SinkInfo};
use crate::sinks::{Sink, WriterDone};

/// One exporter, started: events offered to it are filtered, aggregated or
/// encoded, and written by its sink's thread. An exporter whose `end` has
/// passed is inactive: its sink is closed and it writes nothing.
#[derive(Debug)]
pub struct Exporter {
    spec: ExporterSpec,
    context: ExportContext,
    mask: SharedMask,
    aggregator: Option<Aggregator>,
    sink: Option<Sink>,
    counters: Arc<SinkCounters>,
    registration: Registration,
    /// The wall clock at the last tick, for `end`.
    now: SystemTime,
}

impl Exporter {
    /// Starts an exporter for `spec`: its sink's writer thread, unless `end`
    /// has already passed. Files are opened by that thread, on their first
    /// line; nothing here touches a file.
    pub fn start(spec: ExporterSpec, origin: Origin, context: &ExportContext) -> std::io::Result<Self> {
        let counters = context.sinks.new_counters();
        let registration = context.sinks.register(SinkInfo {
            name: spec.name.clone(),
            origin,
            target: spec.sink.describe(),
            counters: Arc::clone(&counters),
        });
        let mut exporter = Self {
            mask: context.masks.share(&spec.mask),
            spec,
            context: context.clone(),
            aggregator: None,
            sink: None,
            counters,
            registration,
            now: SystemTime::now(),
        };
        exporter.activate_if_due()?;
        if !exporter.is_active() {
            tracing::info!(exporter = %exporter.spec.name, "exporter's end has passed: inactive");
        }
        Ok(exporter)
    }

    /// The exporter's validated configuration.
    pub fn spec(&self) -> &ExporterSpec {
        &self.spec
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

    /// Decides what to do with `event`: false when it is not for this
    /// exporter or was folded into the aggregation window.
    fn wants(&mut self, event: &ExportEvent) -> bool {
        if self.sink.is_none() || !self.spec.is_active_at(self.now) || !self.spec.filters.apply(event) {
            return false;
        }
        match (&mut self.aggregator, &event.response_types) {
            (Some(aggregator), Some(ResponseTypes::Flow(flow))) => {
                if aggregator.add(flow) {
                    self.drain_aggregates(Instant::now());
                }
                false
            }
            _ => true,
        }
    }

    /// Writes the aggregation window's groups and starts a new window.
    fn drain_aggregates(&mut self, now: Instant) {
        let (Some(aggregator), Some(sink)) = (&mut self.aggregator, &mut self.sink) else { return };
        let mask = aggregator.output_mask().clone();
        let mut line = Vec::new();
        aggregator.drain(now, |event| {
            line.clear();
            match encode_line(event, mask.selection(), &mut line) {
                Ok(()) => sink.push(&line),
                Err(error) => sink.encode_failed(&error),
            }
        });
    }

    /// Takes a changed spec for the same sink. The sink, its open file and
    /// the counters are kept; what was aggregated so far is written first.
    pub(crate) fn reconfigure(&mut self, spec: ExporterSpec) -> std::io::Result<()> {
        debug_assert_eq!(spec.sink, self.spec.sink, "a new sink needs a new exporter");
        self.drain_aggregates(Instant::now());
        let aggregation_changed = spec.aggregation != self.spec.aggregation;
        self.mask = self.context.masks.share(&spec.mask);
        self.spec = spec;
        if aggregation_changed {
            self.aggregator = self.new_aggregator();
        }
        self.now = SystemTime::now();
        self.expire_if_ended();
        self.activate_if_due()
    }

    /// Closes the sink once `end` has passed: everything pending is written,
    /// the file is flushed and closed, and the exporter reports itself inactive.
    fn expire_if_ended(&mut self) {
        if self.sink.is_some() && !self.spec.is_active_at(self.now) {
            tracing::info!(exporter = %self.spec.name, "exporter reached its end: stopped writing");
            self.close_sink();
        }
    }

    /// Starts the sink of an exporter that should be writing and is not.
    fn activate_if_due(&mut self) -> std::io::Result<()> {
        if self.sink.is_some() || !self.spec.is_active_at(self.now) {
            return Ok(());
        }
        let sink = Sink::start(&self.spec.name, &self.spec.sink, &self.context, Arc::clone(&self.counters))?;
        self.sink = Some(sink);
        self.aggregator = self.new_aggregator();
        self.counters.set_active(true);
        tracing::info!(exporter = %self.spec.name, target = %self.spec.sink.describe(), "exporter writing");
        Ok(())
    }

    fn new_aggregator(&self) -> Option<Aggregator> {
        let aggregation = self.spec.aggregation.as_ref()?;
        let aggregator = Aggregator::new(&aggregation.fields, aggregation.interval, Instant::now());
        Some(aggregator.expect("aggregation fields were validated"))
    }

    /// Writes what is aggregated, then lets the sink finish on its own.
    fn close_sink(&mut self) -> Option<WriterDone> {
        self.drain_aggregates(Instant::now());
        self.aggregator = None;
        let done = self.sink.take().map(Sink::close);
        self.counters.set_active(false);
        done
    }

    /// Stops the exporter for good (its flow log was removed or replaced);
    /// its sink finishes writing in the background, which the returned
    /// handle tells.
    pub fn retire(mut self) -> Option<WriterDone> {
        let done = self.close_sink();
        self.registration.retire();
        tracing::info!(exporter = %self.spec.name, "exporter removed");
        done
    }
}

impl Consumer for Exporter {
    fn consume(&mut self, event: &mut Event<'_>) {
        if !self.wants(event.get()) {
            return;
        }
        let Some(sink) = &mut self.sink else { return };
        match event.line(&self.mask) {
            Ok(line) => sink.push(line),
            Err(error) => sink.encode_failed(&error),
        }
    }

    fn lost(&mut self, cause: LossCause, count: u64) {
        if let Some(sink) = &self.sink {
            sink.lose(cause, count);
        }
    }

    fn tick(&mut self, now: Instant) -> Option<Instant> {
        self.now = SystemTime::now();
        if self.aggregator.as_ref().is_some_and(|aggregator| aggregator.window_end() <= now) {
            self.drain_aggregates(now);
        }
        self.expire_if_ended();
        self.aggregator.as_ref().map(Aggregator::window_end)
    }

    fn flush(&mut self) {
        if let Some(sink) = &mut self.sink {
            sink.flush();
        }
    }

    fn stop(mut self: Box<Self>) -> Vec<WriterDone> {
        self.close_sink().into_iter().collect()
    }
}
