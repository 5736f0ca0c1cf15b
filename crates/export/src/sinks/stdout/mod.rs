//! The `stdout` sink: lines to the process's standard output, for a
//! container runtime's log driver or a pipe. It has no settings: nothing
//! about it rotates.

use std::io::{self, Write};

use crate::writer::{LineOutput, WriteError, WriteReport, write_stream};

/// Writes lines to standard output; never rotates.
///
/// Each batch is written under the stdout lock, so lines from other writers in
/// the process cannot land in the middle of it.
#[derive(Debug, Default)]
pub struct StdoutOutput {
    // Room for state later without breaking `StdoutOutput::default()` callers.
    _private: (),
}

impl LineOutput for StdoutOutput {
    /// Writes the batch; on an error (a closed pipe, say) the lines not fully
    /// written are counted as lost. A pipe cannot be rewound, so a reader may
    /// see part of the line that was being written when the error came.
    fn write_lines(&mut self, lines: &[u8]) -> WriteReport {
        let (mut report, error) = write_stream(&mut io::stdout().lock(), lines);
        report.error = error.map(|io_error| WriteError::Stdout { io_error });
        report
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}
