//! Reading the dynamic config file when the watcher signals, and handing a
//! valid file to the pipeline, which applies it between two events.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Sender;

use super::config::{self, Entry};
use super::stats::{ReloadStats, fnv1a};
use super::watch::Trigger;
use crate::pipeline::Input;

/// Loads the dynamic config file and sends its changes to the pipeline.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    reserved_path: Option<String>,
    applied_hash: Option<u64>,
    /// The last rejected file, so that a poll does not log it again.
    rejected_hash: Option<u64>,
    stats: Arc<ReloadStats>,
    missing_reported: bool,
}

impl Reloader {
    /// A reloader for the file at `path`. No entry may write to
    /// `reserved_path` (the static exporter's file).
    pub fn new(path: PathBuf, reserved_path: Option<String>, stats: Arc<ReloadStats>) -> Self {
        Self { path, reserved_path, applied_hash: None, rejected_hash: None, stats, missing_reported: false }
    }

    /// Reads the file for start-up. A missing or invalid file gives no
    /// entries (the reason is logged) and is read again on the next change.
    pub fn initial_entries(&mut self) -> (u64, Vec<Entry>) {
        self.read().unwrap_or_default()
    }

    /// Reads the file and, if it changed and is valid, sends it to `pipeline`.
    pub fn reload(&mut self, trigger: Trigger, pipeline: &Sender<Input>) {
        tracing::debug!(?trigger, path = %self.path.display(), "reading the flow log config");
        if let Some((hash, entries)) = self.read() {
            let update = Input::Reconfigure { entries, hash, stats: Arc::clone(&self.stats) };
            if pipeline.send(update).is_err() {
                tracing::debug!("pipeline stopped; config change ignored");
            }
        }
    }

    /// The file's entries if it is valid and differs from what was last applied.
    fn read(&mut self) -> Option<(u64, Vec<Entry>)> {
        let (bytes, config) = match config::load(&self.path, self.reserved_path.as_deref()) {
            Ok(loaded) => {
                self.missing_reported = false;
                loaded
            }
            Err(error) => {
                if !self.missing_reported {
                    tracing::warn!(path = %self.path.display(), %error, "cannot read the flow log config; running exporters are kept");
                    self.missing_reported = true;
                    self.stats.file_rejected();
                }
                return None;
            }
        };
        let hash = fnv1a(&bytes);
        if self.applied_hash == Some(hash) {
            self.stats.unchanged(hash);
            return None;
        }
        if !config.file_errors.is_empty() {
            if self.rejected_hash.replace(hash) == Some(hash) {
                return None;
            }
            for error in &config.file_errors {
                tracing::error!(path = %self.path.display(), %error, "flow log config rejected; running exporters are kept");
            }
            self.stats.file_rejected();
            return None;
        }
        self.applied_hash = Some(hash);
        Some((hash, config.entries))
    }
}
