//! The `--endpoints-file`: a YAML or JSON list of the endpoints (pods) on
//! this node, read at start-up and again whenever it changes.
//!
//! A file that cannot be read or parsed at start-up stops the agent before
//! it captures anything; once running, a bad version is reported (every
//! problem, each with its entry and key) and the endpoints in use are kept
//! until a good version arrives. The format is in [`format`].

pub mod format;

use std::io;
use std::path::{Path, PathBuf};

use flowlog_config::Watcher;

pub use self::format::{EndpointsError, Problem, load, parse};
use crate::endpoints::{EndpointMap, Names};
use crate::shared::Layer;
use crate::source::EndpointSource;

/// The endpoints file as a source: its entries, and the watcher that says
/// when to read it again.
#[derive(Debug)]
pub struct EndpointsFile {
    path: PathBuf,
    bytes: Vec<u8>,
    endpoints: EndpointMap,
    watcher: Watcher,
}

impl EndpointsFile {
    /// Reads and checks the file at `path`, and starts watching it (on the
    /// calling tokio runtime).
    pub fn open(path: PathBuf) -> Result<Self, EndpointsError> {
        // Watching first, so a change made while the file is read is seen.
        let watcher = Watcher::start(&path, flowlog_config::POLL);
        let bytes = std::fs::read(&path).map_err(|source| EndpointsError::Read { path: path.clone(), source })?;
        let endpoints = parse_bytes(&path, &bytes)?;
        Ok(Self { path, bytes, endpoints, watcher })
    }

    /// How many addresses the file names.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// True when the file names no address.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The watcher, to ask it for a reload (SIGHUP).
    pub fn watcher(&self) -> &Watcher {
        &self.watcher
    }
}

impl EndpointSource for EndpointsFile {
    fn initial(&self) -> Names {
        self.endpoints.clone().into()
    }

    async fn run(mut self, layer: Layer) {
        let path = self.path.display().to_string();
        // Reported once until the file can be read again, not at every poll.
        let mut unreadable = false;
        loop {
            let trigger = self.watcher.next().await;
            let bytes = match tokio::fs::read(&self.path).await {
                Ok(bytes) => bytes,
                Err(error) => {
                    if !std::mem::replace(&mut unreadable, true) {
                        tracing::error!(file = %path, %error, ?trigger, "cannot read the endpoints file; keeping the endpoints in use");
                    }
                    continue;
                }
            };
            unreadable = false;
            if bytes == self.bytes {
                continue;
            }
            match parse_bytes(&self.path, &bytes) {
                Ok(endpoints) => {
                    tracing::info!(file = %path, addresses = endpoints.len(), "endpoints reloaded");
                    layer.publish(endpoints);
                }
                Err(error) => tracing::error!("{error}; keeping the endpoints in use"),
            }
            // A bad version is remembered too, so the poll does not log it again.
            self.bytes = bytes;
        }
    }
}

/// The file's `bytes` parsed, errors naming the file at `path`.
fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<EndpointMap, EndpointsError> {
    let text = std::str::from_utf8(bytes).map_err(|error| EndpointsError::Read {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, error),
    })?;
    parse(text).map_err(|error| error.in_file(path))
}
