//! What `/healthz` reports: healthy unless the capture stopped with an error
//! or a sink cannot write.

use std::sync::{Arc, Mutex, PoisonError};

use flowlog_export::SinkRegistry;

/// The agent's health, readable from any thread; cloning shares it.
#[derive(Debug, Clone)]
pub struct Health {
    sinks: SinkRegistry,
    capture: Arc<Mutex<Option<String>>>,
}

impl Health {
    /// Health judged from `sinks` and whatever is reported here.
    pub fn new(sinks: SinkRegistry) -> Self {
        Self { sinks, capture: Arc::default() }
    }

    /// Records that the capture stopped because of `reason`; health stays
    /// failed from then on.
    pub fn capture_failed(&self, reason: &str) {
        *self.capture.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.to_owned());
    }

    /// What is broken, one line each; empty when healthy.
    ///
    /// A sink is broken while its last write failed (a full or read-only
    /// disk): it recovers by itself when a later write, or the `lost_events`
    /// report it retries every second, goes through. A sink whose `end` has
    /// passed writes nothing and is not broken.
    pub fn problems(&self) -> Vec<String> {
        let capture = self.capture.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let capture = capture.map(|reason| format!("capture: stopped: {reason}"));
        let sinks = self.sinks.sinks().into_iter().filter_map(|sink| {
            let stats = sink.counters.snapshot();
            (stats.active && !stats.writing)
                .then(|| format!("exporter {:?} ({}): the last write failed", sink.name, sink.target))
        });
        capture.into_iter().chain(sinks).collect()
    }
}
