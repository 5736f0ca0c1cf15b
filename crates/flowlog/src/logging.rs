//! The agent's own log, on standard error: text for people or JSON lines
//! for log collectors.
//!
//! A log line that cannot be written (the reader of standard error went
//! away: `flowlog … 2>&1 | head -1`, a closed container log pipe) is
//! dropped and counted, never an error: the log is how the agent reports
//! problems, so a problem with the log itself must not stop the agent or
//! keep a finished command alive. (tracing-subscriber would otherwise print
//! its own complaint with `eprintln!`, which panics on a closed pipe.)

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::fmt::MakeWriter;

/// Log lines that could not be written to standard error.
pub static DROPPED_LINES: AtomicU64 = AtomicU64::new(0);

/// Sets up logging at `level` (a tracing filter; `RUST_LOG` overrides it),
/// in `format`: `text` or `json`.
pub fn init(level: &str, format: &str) {
    // kube-rs's client logs every failed request to the API server, and
    // every watch connection that closes; the watches report a failure
    // once, until it ends (RUST_LOG can bring those back).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(format!("{level},kube_client=off")))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(Stderr).log_internal_errors(false);
    if format == "json" {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
}

/// Standard error, writing each log line whole or not at all, and counting
/// the lines it could not write.
#[derive(Debug, Clone, Copy)]
struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

impl Write for Stderr {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        // tracing formats a whole line, then hands it over in one call.
        if io::stderr().lock().write_all(line).is_err() {
            DROPPED_LINES.fetch_add(1, Ordering::Relaxed);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Prints a message for the person who ran the command (start-up errors,
/// `check`'s findings) on standard error, or drops it when nobody reads.
pub fn say(message: impl std::fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "flowlog: {message}");
}
