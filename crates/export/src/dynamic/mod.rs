//! The dynamic exporter: any number of named flow logs, defined in a YAML file
//! that is watched and applied while the agent runs (Cilium's
//! `hubble-flowlogs-config-path`, usually a mounted ConfigMap).
//!
//! ```text
//! file change ─▶ Watcher (debounce) ─▶ Reloader (read, validate) ─ updates ─▶ DynamicFlowLogs::tick (reconcile)
//!                                                  └─ Input::Wake ─▶ pipeline
//! ```
//!
//! [`DynamicFlowLogs`] is one [`Consumer`] of the pipeline that owns every
//! flow log as a child exporter. Its config reaches it on a channel of its
//! own and is applied between two events; the first config, read at
//! start-up, takes the same way as every later one.
//!
//! - [`config`]: the file's schema and validation.
//! - [`reload`]: reading the file when the watcher signals; [`reconcile`]:
//!   applying it to the running flow logs; [`stats`]: counting reloads.

pub mod config;
pub mod reconcile;
pub mod reload;
pub mod stats;

use std::sync::Arc;
use std::time::Instant;

pub use config::{DynamicConfig, Entry};
pub use reconcile::Outcome;
pub use reload::Reloader;
pub use stats::{ReloadSnapshot, ReloadStats};

use crate::consumer::Consumer;
use crate::context::ExportContext;
use crate::exporter::Exporter;
use crate::lines::Event;
use crate::lost::LossCause;
use crate::sinks::WriterDone;

/// A valid config for the flow logs, to apply between two events.
#[derive(Debug)]
pub struct Update {
    /// The config's entries, validated.
    pub entries: Vec<Entry>,
    /// A hash of the file they come from.
    pub hash: u64,
}

/// Where updates for a [`DynamicFlowLogs`] go.
pub type UpdateSender = crossbeam_channel::Sender<Update>;

/// Every dynamic flow log, as one consumer of the pipeline.
#[derive(Debug)]
pub struct DynamicFlowLogs {
    exporters: Vec<Exporter>,
    /// The writers of retired flow logs, still finishing: a stop waits for
    /// them too.
    retiring: Vec<WriterDone>,
    updates: crossbeam_channel::Receiver<Update>,
    context: ExportContext,
    stats: Arc<ReloadStats>,
}

impl DynamicFlowLogs {
    /// No flow logs yet, and where to send the configs to apply, counted in `stats`.
    pub fn new(context: &ExportContext, stats: Arc<ReloadStats>) -> (Self, UpdateSender) {
        let (updates, received) = crossbeam_channel::unbounded();
        let flow_logs =
            Self { exporters: Vec::new(), retiring: Vec::new(), updates: received, context: context.clone(), stats };
        (flow_logs, updates)
    }

    /// Applies a config now: what a tick does with each update.
    pub fn apply(&mut self, entries: Vec<Entry>) -> Outcome {
        self.retiring.retain(|writer| !writer.is_done());
        reconcile::reconcile(&mut self.exporters, entries, &self.context, &mut self.retiring)
    }
}

impl Consumer for DynamicFlowLogs {
    fn consume(&mut self, event: &mut Event<'_>) {
        for exporter in &mut self.exporters {
            exporter.consume(event);
        }
    }

    fn lost(&mut self, cause: LossCause, count: u64) {
        for exporter in &mut self.exporters {
            exporter.lost(cause, count);
        }
    }

    fn tick(&mut self, now: Instant) -> Option<Instant> {
        while let Ok(Update { entries, hash }) = self.updates.try_recv() {
            let outcome = self.apply(entries);
            self.stats.applied(hash, &outcome);
        }
        self.exporters.iter_mut().filter_map(|exporter| exporter.tick(now)).min()
    }

    fn flush(&mut self) {
        for exporter in &mut self.exporters {
            exporter.flush();
        }
    }

    fn stop(self: Box<Self>) -> Vec<WriterDone> {
        let stopped = self.exporters.into_iter().flat_map(|exporter| Box::new(exporter).stop());
        stopped.chain(self.retiring).collect()
    }
}

/// The flow logs with a pipeline's duties done by hand, for tests.
#[cfg(test)]
pub(crate) mod harness {
    use flowlog_flow::ExportEvent;

    use super::*;
    use crate::lines::Lines;

    /// Dynamic flow logs fed directly, without a pipeline thread.
    #[derive(Debug)]
    pub(crate) struct FlowLogsHarness {
        logs: DynamicFlowLogs,
        lines: Lines,
    }

    impl FlowLogsHarness {
        pub(crate) fn new(context: &ExportContext) -> Self {
            let (logs, _) = DynamicFlowLogs::new(context, Arc::default());
            Self { logs, lines: Lines::default() }
        }

        pub(crate) fn reconfigure(&mut self, entries: Vec<Entry>) -> Outcome {
            self.logs.apply(entries)
        }

        pub(crate) fn export(&mut self, event: &ExportEvent) {
            let event = Arc::new(event.clone());
            self.logs.consume(&mut self.lines.start(&event));
        }

        pub(crate) fn record_loss(&mut self, cause: LossCause, count: u64) {
            self.logs.lost(cause, count);
        }

        /// Stops the flow logs and waits for their writers.
        pub(crate) fn stop(self) {
            for writer in Box::new(self.logs).stop() {
                writer.wait();
            }
        }
    }
}
