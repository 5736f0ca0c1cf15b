//! Writing lines to something that cannot be rewound: standard output, a
//! FIFO, a device, a socket.

use std::io::{self, Write};

use super::{WriteReport, line_count};

/// Writes `lines` to `out` and says what got out. On an error (a closed
/// pipe, say) the lines not fully written are counted as lost; a reader may
/// see part of the line that was being written when the error came, since
/// the bytes cannot be taken back. Returns the error, for the caller to
/// name its output in it.
pub(crate) fn write_stream(out: &mut impl Write, lines: &[u8]) -> (WriteReport, Option<io::Error>) {
    let mut error = None;
    // Not `write_all`: it would not say how much got out, and the report
    // counts the lines that did.
    let mut written = 0;
    while written < lines.len() {
        match out.write(&lines[written..]) {
            Ok(0) => {
                error = Some(io::ErrorKind::WriteZero.into());
                break;
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                error = Some(e);
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
    let lines_written = line_count(&lines[..whole]);
    let report = WriteReport {
        lines_written,
        bytes_written: whole as u64,
        lines_lost: line_count(lines) - lines_written,
        ..WriteReport::default()
    };
    (report, error)
}
