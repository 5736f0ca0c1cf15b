//! Reading export lines back into events.
//!
//! Accepts what Cilium's exporter and `hubble observe -o jsonpb` write, and
//! everything else Go's protojson reader accepts (the forms are listed in
//! [`crate::json::read`], whose decoder is generated from the schema as the
//! encoder is). Like the Hubble CLI, a line with fields this schema does not
//! know (from a newer Cilium) is still read, without those fields, and the
//! caller is told how many so it can warn.

use std::io::BufRead;

use crate::ExportEvent;
use crate::json::read::read_event;

/// The longest line read; a longer one is reported and skipped.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Why one line could not be read as an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The line is not valid JSON, or does not fit the schema.
    #[error("{0}")]
    Invalid(String),
    /// The line is a JSON object without any event in it.
    #[error("no event in line: expected one of flow, lost_events, agent_event, debug_event, node_status")]
    NoEvent,
    /// The line is not UTF-8.
    #[error("line is not valid UTF-8")]
    NotUtf8,
    /// The line is longer than [`MAX_LINE_BYTES`].
    #[error("line is longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    /// Reading the input failed; nothing more can be read.
    #[error("cannot read input: {0}")]
    Io(#[from] std::io::Error),
}

/// A decoded line.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The event.
    pub event: ExportEvent,
    /// How many keys the line had that this schema does not know; they were skipped.
    pub unknown_fields: u32,
}

/// Decodes single export lines.
#[derive(Debug, Clone, Default)]
pub struct LineDecoder;

impl LineDecoder {
    /// Decodes one line (without its line terminator).
    pub fn decode(&self, line: &str) -> Result<Decoded, DecodeError> {
        let (event, unknown_fields) = read_event(line).map_err(|e| DecodeError::Invalid(describe_json_error(&e)))?;
        match event {
            Some(event) if event.response_types.is_some() => Ok(Decoded { event, unknown_fields }),
            _ => Err(DecodeError::NoEvent),
        }
    }
}

/// serde_json says "at line 1 column 7"; every input here is one line.
fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => format!("{} (column {})", &message[..at], error.column()),
        None => message,
    }
}

/// A line that could not be read, with its 1-based number.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LineError {
    /// 1-based line number in the input.
    pub line: u64,
    /// What was wrong with it.
    pub error: DecodeError,
}

/// Iterates over the events of an export-line stream.
///
/// Blank lines are skipped; a malformed line yields a [`LineError`] and
/// reading goes on with the next one. An I/O error ends the iteration.
#[derive(Debug)]
pub struct ExportLines<R> {
    reader: R,
    decoder: LineDecoder,
    line: u64,
    buffer: Vec<u8>,
    failed: bool,
}

impl<R: BufRead> ExportLines<R> {
    /// Reads export lines from `reader`.
    pub fn new(reader: R) -> Self {
        Self { reader, decoder: LineDecoder, line: 0, buffer: Vec::new(), failed: false }
    }

    /// Reads the next line into `self.buffer`; false at the end of input.
    fn read_line(&mut self) -> Result<bool, DecodeError> {
        self.buffer.clear();
        let mut too_long = false;
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                if too_long {
                    return Err(DecodeError::TooLong);
                }
                return Ok(!self.buffer.is_empty());
            }
            let (chunk, done) = match memchr::memchr(b'\n', available) {
                Some(end) => (&available[..end], Some(end + 1)),
                None => (available, None),
            };
            if self.buffer.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
                self.buffer.clear();
            } else if !too_long {
                self.buffer.extend_from_slice(chunk);
            }
            let consumed = done.unwrap_or(available.len());
            self.reader.consume(consumed);
            if done.is_some() {
                return if too_long { Err(DecodeError::TooLong) } else { Ok(true) };
            }
        }
    }
}

impl<R: BufRead> Iterator for ExportLines<R> {
    type Item = Result<Decoded, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            let read = self.read_line();
            self.line += 1;
            let line = self.line;
            let fail = |error| Some(Err(LineError { line, error }));
            match read {
                Ok(false) => return None,
                Ok(true) => {}
                Err(error @ DecodeError::Io(_)) => {
                    self.failed = true;
                    return fail(error);
                }
                Err(error) => return fail(error),
            }
            // Checked whole, once: the parser then need not check each string.
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                return fail(DecodeError::NotUtf8);
            };
            let text = text.strip_suffix('\r').unwrap_or(text);
            if text.trim().is_empty() {
                continue;
            }
            return Some(self.decoder.decode(text).map_err(|error| LineError { line, error }));
        }
        None
    }
}
