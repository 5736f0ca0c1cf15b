//! Writing a sink's lines: the [`LineOutput`] seam every output implements,
//! and files rotated by size.
//!
//! A sink's writer thread hands an output whole batches of lines (about
//! 64 KiB, each line ending in `\n`) through [`LineOutput`], and gets back a
//! [`WriteReport`] saying what was written, what was lost and why. Outputs
//! never block on anything but their own write.
//!
//! - [`RotatingFile`]: a file rotated by size the way Cilium's exporter
//!   (lumberjack) rotates it, configured by a [`RotationPolicy`];
//! - `write_stream`: what outputs that cannot be rewound share (stdout, a
//!   FIFO, a device; see [`crate::sinks`]).
//!
//! # How a file is rotated
//!
//! The live file's name never changes. When the next line would take it past
//! the maximum size, the file is closed, renamed to a backup named
//! `<stem>-<YYYY-MM-DDTHH-MM-SS.mmm><ext>` (UTC, e.g.
//! `events-2023-08-21T12-12-13.517.log`) and a new live file is created: the
//! rename-and-create that `tail -F`, Fluent Bit and Vector follow, never
//! copy-and-truncate. A line is never split across two files, and a line that
//! could never fit is refused and reported rather than written. Pruning old
//! backups and compressing them (`<backup>.gz`) is done by a background thread
//! per file, the *mill*, so a rotation costs the writer one `rename` and one
//! `open`. Backups keep lumberjack's names so existing globs, log shippers and
//! cleanup jobs keep working.
//!
//! # Why not the `file-rotate` crate
//!
//! Our contract names [`file-rotate`](https://docs.rs/file-rotate) and asks to
//! use it where it fits. It does not fit here:
//!
//! - `ContentLimit::Bytes` cuts the file at the exact byte, splitting a line
//!   between two files; `ContentLimit::BytesSurpassed` keeps lines whole but
//!   rotates only after the limit has been passed, so files exceed the size the
//!   user set. We need "whole lines, never over the limit".
//! - Its suffix schemes append to the full name (`events.log.1`,
//!   `events.log.20230821T121213`); lumberjack's names put the timestamp before
//!   the extension (`events-2023-08-21T12-12-13.517.log`), which is what users
//!   moving from Cilium already match on. Its timestamp scheme also forbids a
//!   `.` in the base name, which rules out `events.log` itself.
//! - Its compression runs inside the `write` call that rotates, so compressing
//!   a 10 MiB backup would stall the writer thread and, behind it, the
//!   pipeline's queue; here it runs on the mill's thread.
//!
//! Wrapping it would have meant replacing each of these parts, so the file
//! handling is written here: rotation in `rotating.rs`, names in
//! `backup_name.rs`, pruning and compression in `mill.rs`.

mod backup_name;
mod error;
mod mill;
mod policy;
mod rotating;
mod stream;

pub use error::WriteError;
pub use policy::RotationPolicy;
pub use rotating::RotatingFile;
pub(crate) use stream::write_stream;

/// Something lines are written to: standard output, a rotating file, a
/// device or FIFO written as it is.
///
/// Used as `Box<dyn LineOutput>` by a sink's writer thread, so it is [`Send`].
/// Implementations report failures in the [`WriteReport`] rather than
/// returning them, because a batch can be partly written: the sink counts
/// what was lost and keeps going, and the next call simply tries again.
pub trait LineOutput: Send {
    /// Writes a batch of whole lines.
    ///
    /// `lines` is a batch of complete lines, each ending in `\n`. Writes as many
    /// whole lines as possible and never leaves part of a line in the output
    /// where that can be undone (a file can; a pipe cannot).
    fn write_lines(&mut self, lines: &[u8]) -> WriteReport;

    /// Pushes anything buffered to the operating system. Does not `fsync`.
    fn flush(&mut self) -> std::io::Result<()>;
}

/// What one [`LineOutput::write_lines`] call did.
#[derive(Debug, Default)]
pub struct WriteReport {
    /// Lines written in full.
    pub lines_written: u64,
    /// Bytes of those lines.
    pub bytes_written: u64,
    /// Files rotated while writing the batch.
    pub rotations: u64,
    /// Lines not written: a write failed, or a single line was larger than the
    /// maximum file size.
    pub lines_lost: u64,
    /// The first error met, if any; its message names what failed and where.
    pub error: Option<WriteError>,
}

impl WriteReport {
    /// Counts `lines` as lost to `error`, keeping the first error of the batch.
    fn lose(&mut self, lines: u64, error: WriteError) {
        self.lines_lost += lines;
        self.error.get_or_insert(error);
    }
}

/// The number of lines in `bytes`: its newlines, plus a last line missing its
/// `\n` (which callers should not send, but which is still one line).
///
/// Written as a plain count so the compiler vectorizes it: it runs over every
/// byte written.
pub(crate) fn line_count(bytes: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    newlines + u64::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::line_count;

    #[test]
    fn counts_lines_including_an_unterminated_last_one() {
        assert_eq!(line_count(b""), 0);
        assert_eq!(line_count(b"a\n"), 1);
        assert_eq!(line_count(b"a\nb\n\n"), 3);
        assert_eq!(line_count(b"a\nb"), 2);
    }
}
