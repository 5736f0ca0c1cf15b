//! What the dynamic exporter's reloads did, for metrics and logs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

use super::reconcile::Outcome;

/// Counters of reloads, shared between the reloader, the pipeline and metrics.
#[derive(Debug, Default)]
pub struct ReloadStats {
    added: AtomicU64,
    updated: AtomicU64,
    removed: AtomicU64,
    failures: AtomicU64,
    config_hash: AtomicU64,
    last_applied_unix_millis: AtomicU64,
}

/// A copy of [`ReloadStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReloadSnapshot {
    /// Flow logs started by reloads (Cilium: `reconfigurations_total{op="add"}`).
    pub added: u64,
    /// Flow logs changed (`op="update"`).
    pub updated: u64,
    /// Flow logs removed (`op="remove"`).
    pub removed: u64,
    /// Files and entries rejected (`op="failure"`).
    pub failures: u64,
    /// A hash of the last applied file's bytes (FNV-1a, 64 bits).
    pub config_hash: u64,
    /// When a file was last read and applied, in milliseconds since the Unix epoch; 0 if never.
    pub last_applied_unix_millis: u64,
}

impl ReloadStats {
    /// Records a rejected file.
    pub fn file_rejected(&self) {
        self.failures.fetch_add(1, Relaxed);
    }

    /// Records an applied file with `hash`, and what applying it did.
    pub fn applied(&self, hash: u64, outcome: &Outcome) {
        self.added.fetch_add(outcome.added.len() as u64, Relaxed);
        self.updated.fetch_add(outcome.updated.len() as u64, Relaxed);
        self.removed.fetch_add(outcome.removed.len() as u64, Relaxed);
        self.failures.fetch_add(outcome.rejected.len() as u64, Relaxed);
        self.unchanged(hash);
    }

    /// Records that the file was read again and found as applied.
    pub fn unchanged(&self, hash: u64) {
        self.config_hash.store(hash, Relaxed);
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        self.last_applied_unix_millis.store(now.as_millis() as u64, Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> ReloadSnapshot {
        ReloadSnapshot {
            added: self.added.load(Relaxed),
            updated: self.updated.load(Relaxed),
            removed: self.removed.load(Relaxed),
            failures: self.failures.load(Relaxed),
            config_hash: self.config_hash.load(Relaxed),
            last_applied_unix_millis: self.last_applied_unix_millis.load(Relaxed),
        }
    }
}

/// FNV-1a: a stable hash of the file's bytes. Like Cilium's MD5-based
/// `config_hash`, it only tells operators whether two nodes run the same file.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}
