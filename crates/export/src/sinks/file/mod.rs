//! The file sink: lines to a path, rotated by size when the path is a
//! regular file (or does not exist yet), written as they are otherwise.
//!
//! A path may name something that is not ours to rename or delete:
//! `/dev/null`, a FIFO a log collector reads, a socket, `/dev/stdout` (a
//! symlink to the process's own standard output). Rotating one of those
//! would rename the device node away, put a regular file in its place, and
//! later delete the renamed node as an old backup. So the writer looks at
//! the path itself (without following symlinks) before it writes:
//!
//! | the path is | written | rotated, backups pruned |
//! |---|---|---|
//! | a regular file, or nothing yet | appended to, created `0600` | yes ([`RotatingFile`]) |
//! | a character or block device, a FIFO, a socket, a symlink (to anything) | as it is, opened for appending | never: size limits do not apply |
//!
//! The start-up log says which. A FIFO is opened when its first line is
//! written, which waits for a reader: only this sink's writer thread waits,
//! and the pipeline goes on (losing this sink's lines once its queue is
//! full, and reporting them as `lost_events` once the reader comes). A
//! socket is connected to as a Unix stream socket. A write that fails (the
//! reader went away) loses its batch's lines, counted, and the next batch
//! opens the path again.
//!
//! - [`config`]: the sink's rotation settings.

pub mod config;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::writer::{LineOutput, RotatingFile, RotationPolicy, WriteError, WriteReport, line_count, write_stream};

/// What a sink's path is, as far as writing to it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A regular file, or nothing yet: rotated.
    Regular,
    /// Something to write to as it is, never renamed or removed: the
    /// words say what (`a character device`, `a symlink`…).
    AsItIs(&'static str),
}

impl PathKind {
    /// What `path` is, without following a symlink.
    pub fn of(path: &Path) -> io::Result<Self> {
        let file_type = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata.file_type(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(PathKind::Regular),
            Err(error) => return Err(error),
        };
        Ok(if file_type.is_file() {
            PathKind::Regular
        } else if file_type.is_symlink() {
            PathKind::AsItIs("a symlink")
        } else if file_type.is_char_device() {
            PathKind::AsItIs("a character device")
        } else if file_type.is_block_device() {
            PathKind::AsItIs("a block device")
        } else if file_type.is_fifo() {
            PathKind::AsItIs("a FIFO")
        } else if file_type.is_socket() {
            PathKind::AsItIs("a socket")
        } else {
            // A directory: opening it fails, which the first write reports.
            PathKind::AsItIs("a directory")
        })
    }
}

/// The output for a file sink named `sink` writing to `path`, by what the
/// path is now (logged).
pub(crate) fn open(sink: &str, path: &Path, rotation: &RotationPolicy) -> Box<dyn LineOutput> {
    match PathKind::of(path) {
        Ok(PathKind::Regular) => Box::new(RotatingFile::new(path.to_path_buf(), rotation.clone())),
        Ok(PathKind::AsItIs(what)) => {
            tracing::info!(
                exporter = sink,
                path = %path.display(),
                "the path is {what}: lines are written to it as they are; it is never rotated, renamed or removed"
            );
            Box::new(AsItIs { path: path.to_path_buf(), out: None })
        }
        Err(error) => {
            // Cannot tell (a permission problem, say): writing as it is
            // never destroys anything; the first write says what is wrong.
            tracing::warn!(exporter = sink, path = %path.display(), %error, "cannot tell what the path is; writing to it as it is, never rotated");
            Box::new(AsItIs { path: path.to_path_buf(), out: None })
        }
    }
}

/// A device, FIFO, socket or symlink, written as it is.
#[derive(Debug)]
struct AsItIs {
    path: PathBuf,
    /// Open since the last successful write; `None` before the first and
    /// after a failure, so the next batch opens the path again.
    out: Option<Out>,
}

#[derive(Debug)]
enum Out {
    File(File),
    Socket(UnixStream),
}

impl AsItIs {
    /// Opens the path for appending, without creating anything; a socket
    /// (which open(2) refuses) is connected to.
    fn open(&self) -> Result<Out, WriteError> {
        let is_socket = std::fs::metadata(&self.path).is_ok_and(|metadata| metadata.file_type().is_socket());
        if is_socket {
            return UnixStream::connect(&self.path)
                .map(Out::Socket)
                .map_err(|error| WriteError::file("connect to", &self.path, error));
        }
        OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map(Out::File)
            .map_err(|error| WriteError::file("open", &self.path, error))
    }
}

impl LineOutput for AsItIs {
    fn write_lines(&mut self, lines: &[u8]) -> WriteReport {
        let out = match self.out.take() {
            Some(out) => out,
            None => match self.open() {
                Ok(out) => out,
                Err(error) => {
                    return WriteReport { lines_lost: line_count(lines), error: Some(error), ..WriteReport::default() };
                }
            },
        };
        let (mut report, error, out) = match out {
            Out::File(mut file) => {
                let (report, error) = write_stream(&mut file, lines);
                (report, error, Out::File(file))
            }
            Out::Socket(mut socket) => {
                let (report, error) = write_stream(&mut socket, lines);
                (report, error, Out::Socket(socket))
            }
        };
        match error {
            Some(io_error) => report.error = Some(WriteError::file("write", &self.path, io_error)),
            None => self.out = Some(out),
        }
        report
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(Out::File(file)) => file.flush(),
            Some(Out::Socket(socket)) => socket.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
