//! What every exporter of one pipeline shares.

use crate::lines::Masks;
use crate::registry::SinkRegistry;
use crate::sinks::{Closing, WhenFull};

/// How the exporters of one pipeline are built, and what they share.
/// Cloning shares it.
#[derive(Debug, Clone)]
pub struct ExportContext {
    /// The node name written in loss reports.
    pub node_name: String,
    /// What a sink does when its queue is full.
    pub when_full: WhenFull,
    /// The last writer of each target, which a new sink for it waits for.
    pub closing: Closing,
    /// Where exporters list their sinks for metrics, health and shutdown.
    pub sinks: SinkRegistry,
    /// The field masks in use, so each event is encoded once per mask.
    pub masks: Masks,
}

impl ExportContext {
    /// A context whose loss reports carry `node_name`.
    pub fn new(node_name: &str, when_full: WhenFull) -> Self {
        Self {
            node_name: node_name.to_owned(),
            when_full,
            closing: Closing::default(),
            sinks: SinkRegistry::default(),
            masks: Masks::default(),
        }
    }
}
