//! The sinks of a pipeline, listed for readers on other threads.
//!
//! Metrics, health checks and the shutdown report need to know which sinks
//! exist *now*: dynamic flow logs come and go with every reload. Each
//! exporter registers its sink when it starts and the registration ends
//! with the exporter; readers take a copy of the list when they are asked.
//! A retired sink stays listed for the shutdown report (not for metrics)
//! while its writer still runs. Losses are also added up across all sinks,
//! past and present, so that a total never goes down when a flow log is
//! removed.

use std::sync::{Arc, PoisonError, RwLock};

use crate::counters::{LossTotals, SinkCounters};
use crate::lost::LossCause;
use crate::option::Origin;

/// The sinks of one pipeline and their losses ever. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct SinkRegistry {
    entries: Arc<RwLock<Entries>>,
    lost: Arc<LossTotals>,
}

#[derive(Debug, Default)]
struct Entries {
    next_id: u64,
    list: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    info: SinkInfo,
    retired: bool,
}

/// One sink, as listed in a [`SinkRegistry`].
#[derive(Debug, Clone)]
pub struct SinkInfo {
    /// The exporter's name: `static`, or the dynamic flow log's `name`.
    pub name: String,
    /// Where the exporter's configuration comes from.
    pub origin: Origin,
    /// Where it writes: a file path or `stdout`.
    pub target: String,
    /// What it has done so far.
    pub counters: Arc<SinkCounters>,
}

/// A sink's place in the list, until [`retire`](Registration::retire)d.
/// A stopped exporter's sink stays listed: the last scrape and the shutdown
/// report still see it.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: SinkRegistry,
    id: u64,
}

impl SinkRegistry {
    /// The sinks of the running exporters, in the order they started.
    pub fn sinks(&self) -> Vec<SinkInfo> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.list.iter().filter(|entry| !entry.retired).map(|entry| entry.info.clone()).collect()
    }

    /// Every sink with lines it has not written yet, retired sinks whose
    /// writer still runs included, and how many: what a stop that cannot
    /// wait any longer leaves behind.
    pub fn unwritten(&self) -> Vec<(SinkInfo, u64)> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .list
            .iter()
            .map(|entry| (entry.info.clone(), entry.info.counters.snapshot().unwritten))
            .filter(|(_, unwritten)| *unwritten > 0)
            .collect()
    }

    /// Events lost to `cause` by every sink that was ever listed here,
    /// counted once per sink that lost them.
    pub fn lost(&self, cause: LossCause) -> u64 {
        self.lost.get(cause)
    }

    /// Fresh counters for a new sink, adding its losses to the totals.
    pub(crate) fn new_counters(&self) -> Arc<SinkCounters> {
        Arc::new(SinkCounters::counting_into(Arc::clone(&self.lost)))
    }

    /// Lists a sink until the returned registration is dropped.
    pub(crate) fn register(&self, info: SinkInfo) -> Registration {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        // Retired sinks whose writers have finished have nothing left to report.
        entries.list.retain(|entry| !entry.retired || entry.info.counters.snapshot().writing_thread);
        let id = entries.next_id;
        entries.next_id += 1;
        entries.list.push(Entry { id, info, retired: false });
        Registration { registry: self.clone(), id }
    }
}

impl Registration {
    /// Takes the sink off the list of running sinks (its writer may still
    /// be finishing, which the shutdown report still sees).
    pub(crate) fn retire(self) {
        let mut entries = self.registry.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.list.iter_mut().find(|entry| entry.id == self.id) {
            entry.retired = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use flowlog_flow::export_event::ResponseTypes;
    use flowlog_flow::{ExportEvent, Flow};

    use crate::context::ExportContext;
    use crate::dynamic::config::parse;
    use crate::dynamic::harness::FlowLogsHarness;
    use crate::sinks::WhenFull;

    use super::*;

    #[test]
    fn the_pipeline_lists_its_sinks_as_reloads_change_them_and_totals_outlive_them() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = |names: &[&str]| {
            let entries: String = names
                .iter()
                .map(|name| format!("  - {{name: {name}, filePath: {}/{name}.log}}\n", dir.path().display()))
                .collect();
            parse(&format!("flowLogs:\n{entries}"), None).entries
        };
        let context = ExportContext::new("node", WhenFull::Wait);
        let registry = context.sinks.clone();
        let mut pipeline = FlowLogsHarness::new(&context);
        assert!(registry.sinks().is_empty());

        pipeline.reconfigure(yaml(&["a", "b"]));
        let names: Vec<_> = registry.sinks().into_iter().map(|s| (s.name, s.origin)).collect();
        assert_eq!(names, [("a".to_owned(), Origin::Dynamic), ("b".to_owned(), Origin::Dynamic)]);
        assert!(registry.sinks()[0].target.ends_with("/a.log"));

        pipeline.record_loss(LossCause::KernelRingBuffer, 3);
        let flow = ExportEvent { response_types: Some(ResponseTypes::Flow(Flow::default())), ..Default::default() };
        pipeline.export(&flow);
        pipeline.reconfigure(yaml(&["a"]));
        assert_eq!(registry.sinks().len(), 1, "b was removed");
        assert_eq!(registry.lost(LossCause::KernelRingBuffer), 6, "both sinks counted, b's loss kept");
        pipeline.stop();
        assert_eq!(registry.sinks()[0].counters.snapshot().events_written, 2, "a flow and a loss report");
    }
}
