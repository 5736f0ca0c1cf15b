//! Reading the dynamic config file when its watcher signals, and handing a
//! valid, changed file to the flow logs, which apply it between two events.

use std::path::PathBuf;
use std::sync::Arc;

use flowlog_config::Watcher;

use super::config::{self, DynamicConfig};
use super::stats::{ReloadStats, fnv1a};
use super::{Update, UpdateSender};
use crate::pipeline::{Input, InputSender};

/// Loads the dynamic config file and sends its changes to the flow logs.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    reserved_path: Option<String>,
    applied_hash: Option<u64>,
    /// The last rejected file, so that a poll does not log it again.
    rejected_hash: Option<u64>,
    stats: Arc<ReloadStats>,
    missing_reported: bool,
    updates: UpdateSender,
}

impl Reloader {
    /// A reloader for the file at `path`, sending to `updates`. No entry
    /// may write to `reserved_path` (the static exporter's file).
    ///
    /// Reads the file once now, so its flow logs apply before the first
    /// event. A missing or invalid file gives no flow logs (the reason is
    /// logged) and is read again on the next change.
    pub fn new(path: PathBuf, reserved_path: Option<String>, stats: Arc<ReloadStats>, updates: UpdateSender) -> Self {
        let mut reloader = Self {
            path,
            reserved_path,
            applied_hash: None,
            rejected_hash: None,
            stats,
            missing_reported: false,
            updates,
        };
        let first = std::fs::read(&reloader.path);
        reloader.take(first);
        reloader
    }

    /// Reads the file whenever `watcher` signals, until the flow logs are
    /// gone; `wake` tells the pipeline that an update waits.
    pub async fn run(mut self, mut watcher: Watcher, wake: InputSender) {
        loop {
            let trigger = watcher.next().await;
            tracing::debug!(?trigger, path = %self.path.display(), "reading the flow log config");
            let read = tokio::fs::read(&self.path).await;
            if self.take(read) && wake.send_async(Input::Wake).await.is_err() {
                tracing::debug!("pipeline stopped; config changes are no longer read");
                return;
            }
        }
    }

    /// Sends the file's entries if it is valid and differs from what was
    /// last applied; true when it did.
    fn take(&mut self, read: std::io::Result<Vec<u8>>) -> bool {
        let bytes = match read {
            Ok(bytes) => {
                self.missing_reported = false;
                bytes
            }
            Err(error) => {
                if !self.missing_reported {
                    tracing::warn!(path = %self.path.display(), %error, "cannot read the flow log config; running exporters are kept");
                    self.missing_reported = true;
                    self.stats.file_rejected();
                }
                return false;
            }
        };
        let hash = fnv1a(&bytes);
        if self.applied_hash == Some(hash) {
            self.stats.unchanged(hash);
            return false;
        }
        let DynamicConfig { file_errors, entries } = config::parse_bytes(&bytes, self.reserved_path.as_deref());
        if !file_errors.is_empty() {
            if self.rejected_hash.replace(hash) == Some(hash) {
                return false;
            }
            for error in &file_errors {
                tracing::error!(path = %self.path.display(), %error, "flow log config rejected; running exporters are kept");
            }
            self.stats.file_rejected();
            return false;
        }
        self.applied_hash = Some(hash);
        self.updates.send(Update { entries, hash }).is_ok()
    }
}
