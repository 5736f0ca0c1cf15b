//! Where flows go: sinks with rotation, and the exporters that filter, mask,
//! aggregate and encode events for them.
//!
//! ```text
//! events ─▶ Pipeline ─┬─▶ Exporter (filters ▸ aggregation ▸ mask ▸ encode) ─▶ Sink thread ─▶ LineOutput
//!                     └─▶ Exporter …                                       ─▶ Sink thread ─▶ LineOutput
//! ```
//!
//! - [`spec`]: an exporter's settings, validated ([`spec::ExporterSpec`]).
//! - [`exporter`]: a started exporter; [`pipeline`]: all of them, fed one event at a time.
//! - [`sink`]: the bounded queue and writer thread of one exporter; [`writer`]:
//!   what it writes to (stdout, or a size-rotated file).
//! - [`dynamic`]: flow logs from a watched YAML file, changed while running.
//! - [`aggregate`]: flow aggregation; [`lost`]: loss accounting and reports;
//!   [`counters`]: what each sink did; [`registry`]: the current sinks, for
//!   metrics and health checks.

#![deny(missing_docs)]

pub mod aggregate;
pub mod counters;
pub mod duration;
pub mod dynamic;
pub mod exporter;
pub mod lost;
pub mod pipeline;
pub mod registry;
pub mod sink;
pub mod spec;
pub mod writer;

pub use exporter::{Exporter, Origin};
pub use pipeline::{Input, Pipeline};
pub use registry::{SinkInfo, SinkRegistry};
pub use sink::{SinkSettings, WhenFull};
pub use spec::{ExporterOptions, ExporterSpec, SpecError, Target};
