//! What one exporter does, validated: where it writes, which events it
//! keeps, how it shapes them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flowlog_filter::{FieldMask, Filters};

use crate::sinks::SinkConfig;

/// Flow aggregation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    /// The fields flows are grouped by.
    pub fields: FieldMask,
    /// The window after which groups are written.
    pub interval: Duration,
}

/// A validated exporter configuration, made by
/// [`ExporterConfig::validate`](super::config::ExporterConfig::validate).
///
/// Two specs are equal when they would export the same lines to the same
/// place: filters compare as sets, masks by their normalised paths. A reload
/// compares them to tell what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterSpec {
    /// The exporter's name.
    pub name: String,
    /// Where lines go.
    pub sink: SinkConfig,
    /// Which events are kept.
    pub filters: Arc<Filters>,
    /// Which flow fields are kept.
    pub mask: FieldMask,
    /// Flow aggregation, when enabled.
    pub aggregation: Option<Aggregation>,
    /// When the exporter stops writing, if ever.
    pub end: Option<SystemTime>,
}

impl ExporterSpec {
    /// True when the exporter's `end` has not yet come.
    pub fn is_active_at(&self, now: SystemTime) -> bool {
        self.end.is_none_or(|end| now < end)
    }
}
