//! Where flows go: the pipeline that offers every event to its consumers,
//! and the consumers that write Hubble export lines.
//!
//! ```text
//! sources ─ Input ─▶ Pipeline ─┬─▶ Exporter "static" (filters ▸ aggregation ▸ mask ▸ encode) ─▶ Sink ─▶ writer thread ─▶ file / stdout
//!                              ├─▶ DynamicFlowLogs ─┬─▶ Exporter "drops" ─▶ Sink ─▶ …
//!                              │                    └─▶ Exporter …
//!                              └─▶ (any other Consumer: the Hubble server's ring buffer)
//! ```
//!
//! - [`pipeline`]: the pipeline and its input; [`consumer`]: the trait its
//!   consumers implement; [`lines`]: encoding each event once per mask.
//! - [`exporter`]: a JSON-line exporter, its settings ([`exporter::config`],
//!   declared once for every front end through [`option`]) and aggregation.
//! - [`dynamic`]: flow logs from a watched YAML file, changed while running.
//! - [`sinks`]: where an exporter's lines go (a file, stdout) and the queue
//!   and writer thread every sink has; [`writer`]: rotating files.
//! - [`lost`]: loss accounting and reports; [`counters`]: what each sink
//!   did; [`registry`]: the current sinks, for metrics, health checks and
//!   the shutdown report; [`events`]: failures that log and count together.

#![deny(missing_docs)]

pub mod consumer;
pub mod context;
pub mod counters;
pub mod dynamic;
mod events;
pub mod exporter;
pub mod lines;
pub mod lost;
pub mod option;
pub mod pipeline;
pub mod registry;
pub mod sinks;
pub mod writer;

pub use consumer::Consumer;
pub use context::ExportContext;
pub use dynamic::DynamicFlowLogs;
pub use exporter::Exporter;
pub use exporter::config::ExporterConfig;
pub use exporter::spec::ExporterSpec;
pub use option::Origin;
pub use pipeline::{Input, InputSender, Pipeline, input_channel};
pub use registry::{SinkInfo, SinkRegistry};
pub use sinks::{SinkConfig, WhenFull, WriterDone};
