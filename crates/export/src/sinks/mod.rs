//! Where an exporter's lines go: a sink is one output written by a thread
//! of its own, fed batches of whole lines through a bounded queue.
//!
//! ```text
//! Exporter ─ push(line) ─▶ Sink (pending batch) ─ queue (≤ 64 × 64 KiB) ─▶ writer thread ─▶ LineOutput
//!                                                                            ├─ file/: a rotating file, or a device, FIFO or socket as it is
//!                                                                            └─ stdout/
//! ```
//!
//! Each kind of sink is a directory with its settings (`config.rs`) and its
//! output; [`SinkConfig`] is the validated choice between them, compared on
//! reload to tell whether a sink changed. [`queue`] is the part every sink
//! shares: the queue, the writer thread, loss reports, and closing without
//! making the pipeline wait.

pub mod file;
pub mod queue;
pub mod stdout;

use std::path::PathBuf;

pub use queue::{Closing, Sink, WhenFull, WriterDone};

use crate::writer::{LineOutput, RotationPolicy};

/// Where lines go, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkConfig {
    /// The process's standard output.
    Stdout,
    /// A file: rotated by size when it is a regular file, written as it is
    /// when it is a device, FIFO or socket.
    File {
        /// The path as configured.
        path: PathBuf,
        /// Size, backups, compression, mode.
        rotation: RotationPolicy,
    },
}

impl SinkConfig {
    /// The path as a user wrote it: a file path or `stdout`.
    pub fn describe(&self) -> String {
        match self {
            SinkConfig::Stdout => "stdout".to_owned(),
            SinkConfig::File { path, .. } => path.display().to_string(),
        }
    }

    /// The output, for the sink's writer thread: this may look at the file
    /// system (what kind of file the path is), so it is never called on
    /// the pipeline's thread. Files are opened on their first line.
    pub(crate) fn open(&self, sink: &str) -> Box<dyn LineOutput> {
        match self {
            SinkConfig::Stdout => Box::new(stdout::StdoutOutput::default()),
            SinkConfig::File { path, rotation } => file::open(sink, path, rotation),
        }
    }
}
