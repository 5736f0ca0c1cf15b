//! What `flowlog replay --input` names: files, glob patterns, standard
//! input; read in time order, gzipped or not.
//!
//! An archive is a live file and its rotated backups, whose names carry the
//! time they were rotated (lumberjack's `events-2026-12-02T06-10-01.123.log`,
//! `.gz` once compressed). The backups are read oldest first, then the
//! files whose names carry no time: those hold the newest lines. Files are
//! recognised as gzip by their first two bytes, not by their name.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::LazyLock;

use flate2::bufread::MultiGzDecoder;
use regex::Regex;

use super::follow::Follow;
use crate::error::{ConfigError, Failure, RuntimeError};

/// gzip's magic bytes (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// How much is read from an input at a time.
const BUFFER: usize = 1 << 20;

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file or a FIFO.
    File(PathBuf),
}

impl Input {
    /// How the input is named in the log.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_owned(),
            Input::File(path) => path.display().to_string(),
        }
    }

    /// Opens the input, decompressing it when it is gzip; `follow` keeps
    /// reading a plain file as it grows.
    pub fn open(&self, follow: bool) -> Result<Box<dyn BufRead + Send>, Failure> {
        let raw: Box<dyn Read + Send> = match self {
            Input::Stdin => Box::new(std::io::stdin()),
            Input::File(path) => {
                let open_error = |error| RuntimeError::OpenInput { path: path.display().to_string(), error };
                let file = File::open(path).map_err(open_error)?;
                if follow { Box::new(Follow::new(file)) } else { Box::new(file) }
            }
        };
        let mut reader = BufReader::with_capacity(BUFFER, raw);
        let read_error = |error| RuntimeError::OpenInput { path: self.name(), error };
        // Waits for the first bytes: for a FIFO, until its writer writes.
        if reader.fill_buf().map_err(read_error)?.starts_with(&GZIP_MAGIC) {
            if follow {
                return Err(ConfigError::FollowGzip { path: self.name() }.into());
            }
            return Ok(Box::new(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(reader))));
        }
        Ok(Box::new(reader))
    }
}

/// The inputs `patterns` name, in the order to read them: each pattern's
/// matches (a plain path matches itself), then all of them by the time in
/// their names, those without one last, in the order given.
pub fn resolve(patterns: &[String]) -> Result<Vec<Input>, ConfigError> {
    let mut files = Vec::new();
    for pattern in patterns {
        if pattern == "-" {
            if patterns.len() > 1 {
                return Err(ConfigError::StdinWithFiles);
            }
            return Ok(vec![Input::Stdin]);
        }
        if !pattern.contains(['*', '?', '[']) {
            files.push(PathBuf::from(pattern));
            continue;
        }
        let invalid = |reason: String| ConfigError::InputPattern { pattern: pattern.clone(), reason };
        let mut matched: Vec<PathBuf> = glob::glob(pattern)
            .map_err(|error| invalid(error.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|error| invalid(error.to_string()))?;
        if matched.is_empty() {
            return Err(invalid("no file matches it".to_owned()));
        }
        matched.sort();
        files.extend(matched);
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|path| seen.insert(path.clone()));
    // Stable: files of the same time, and those without one, keep their order.
    files.sort_by_key(|path| rotated_at(path).map_or((1, String::new()), |stamp| (0, stamp)));
    Ok(files.into_iter().map(Input::File).collect())
}

/// The rotation time in a backup's name, as text that sorts as the time does.
fn rotated_at(path: &std::path::Path) -> Option<String> {
    static STAMP: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})").expect("a valid pattern"));
    let name = path.file_name()?.to_str()?;
    STAMP.captures_iter(name).last().map(|stamp| stamp[1].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_come_oldest_first_then_the_live_file() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "events.log",
            "events-2026-12-02T06-10-01.123.log.gz",
            "events-2026-12-01T23-59-59.999.log",
            "events-2026-12-02T06-10-01.124.log.gz",
            "other.txt",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let pattern = dir.path().join("events*").display().to_string();
        let inputs = resolve(&[pattern]).unwrap();
        let order: Vec<String> = inputs
            .iter()
            .map(|input| match input {
                Input::File(path) => path.file_name().unwrap().to_str().unwrap().to_owned(),
                Input::Stdin => "-".to_owned(),
            })
            .collect();
        assert_eq!(
            order,
            [
                "events-2026-12-01T23-59-59.999.log",
                "events-2026-12-02T06-10-01.123.log.gz",
                "events-2026-12-02T06-10-01.124.log.gz",
                "events.log"
            ]
        );
    }

    #[test]
    fn patterns_that_match_nothing_and_stdin_among_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let nothing = dir.path().join("*.log").display().to_string();
        assert!(matches!(resolve(&[nothing]), Err(ConfigError::InputPattern { .. })));
        assert!(matches!(resolve(&["-".into(), "a.log".into()]), Err(ConfigError::StdinWithFiles)));
        assert_eq!(resolve(&["-".into()]).unwrap(), vec![Input::Stdin]);
    }
}
