//! Lines to the process's standard output.

use std::io::{self, Write};

use super::{LineOutput, WriteError, WriteReport, line_count};

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
        let mut report = WriteReport::default();
        let mut out = io::stdout().lock();
        // Not `write_all`: it would not say how much got out, and the report
        // counts the lines that did.
        let mut written = 0;
        while written < lines.len() {
            match out.write(&lines[written..]) {
                Ok(0) => {
                    report.error = Some(WriteError::Stdout { io_error: io::ErrorKind::WriteZero.into() });
                    break;
                }
                Ok(n) => written += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    report.error = Some(WriteError::Stdout { io_error: error });
                    break;
                }
            }
        }
        // Only whole lines count as written.
        let whole = if written == lines.len() {
            written
        } else {
            lines[..written].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        report.lines_written = line_count(&lines[..whole]);
        report.bytes_written = whole as u64;
        report.lines_lost = line_count(lines) - report.lines_written;
        report
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}
