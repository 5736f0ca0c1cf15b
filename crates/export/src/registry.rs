//! The sinks of a pipeline, listed for readers on other threads.
//!
//! Metrics and health checks need to know which sinks exist *now*: dynamic
//! flow logs come and go with every reload. The pipeline publishes its
//! exporters' sinks here whenever the set changes (start-up and each
//! reconcile, never per event), and readers take a copy of the list when they
//! are asked. Losses are also added up across all sinks, past and present, so
//! that a total never goes down when a flow log is removed.

use std::sync::{Arc, PoisonError, RwLock};

use crate::counters::{LossTotals, SinkCounters};
use crate::exporter::{Exporter, Origin};
use crate::lost::LossCause;

/// The current sinks of one pipeline and their losses ever. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct SinkRegistry {
    current: Arc<RwLock<Vec<SinkInfo>>>,
    lost: Arc<LossTotals>,
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

impl SinkRegistry {
    /// The sinks as the pipeline last published them, in exporter order.
    pub fn sinks(&self) -> Vec<SinkInfo> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
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

    /// Replaces the list with `exporters`' sinks.
    pub(crate) fn publish(&self, exporters: &[Exporter]) {
        let sinks = exporters
            .iter()
            .map(|exporter| SinkInfo {
                name: exporter.spec().name.clone(),
                origin: exporter.origin(),
                target: exporter.spec().target.describe(),
                counters: Arc::clone(exporter.counters()),
            })
            .collect();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = sinks;
    }
}

#[cfg(test)]
mod tests {
    use flowlog_flow::export_event::ResponseTypes;
    use flowlog_flow::{ExportEvent, Flow};

    use crate::dynamic::config::parse;
    use crate::pipeline::Pipeline;
    use crate::sink::{SinkSettings, WhenFull};

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
        let settings = SinkSettings::new("node", WhenFull::Wait);
        let registry = settings.sinks.clone();
        let mut pipeline = Pipeline::new(Vec::new(), settings);
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
