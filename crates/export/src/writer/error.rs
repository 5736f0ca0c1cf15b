//! Why lines could not be written.

use std::io;
use std::path::PathBuf;

/// Why an output could not write some lines.
///
/// The operating system's error is part of the message (`No space left on
/// device`), not a [`std::error::Error::source`]: sinks log these with `%error`,
/// and a source would be printed twice by reporters that walk the chain.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A file operation failed.
    #[error("cannot {action} {}: {io_error}", path.display())]
    File {
        /// What was being done: `open`, `write`, `rename`…
        action: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// What the operating system said.
        io_error: io::Error,
    },
    /// A line larger than the whole file may be was refused.
    #[error("cannot write to {}: line of {len} bytes exceeds the maximum file size {max}", path.display())]
    LineTooLong {
        /// The file the line was meant for.
        path: PathBuf,
        /// The line's length, `\n` included.
        len: usize,
        /// The maximum file size in bytes.
        max: u64,
    },
    /// The live file is no longer a regular file, so it is not rotated
    /// (renaming a device or a FIFO would break whatever else uses it).
    #[error("cannot rotate {}: it is no longer a regular file; lines are not written until it is one again", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// Writing to standard output failed (a closed pipe, for instance).
    #[error("cannot write to stdout: {io_error}")]
    Stdout {
        /// What the operating system said.
        io_error: io::Error,
    },
}

impl WriteError {
    /// A failed file operation: `action` on `path`.
    pub(crate) fn file(action: &'static str, path: impl Into<PathBuf>, io_error: io::Error) -> Self {
        Self::File { action, path: path.into(), io_error }
    }
}
