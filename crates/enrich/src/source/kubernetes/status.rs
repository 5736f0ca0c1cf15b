//! How the watches are doing, for `/metrics` (`flowlog_k8s_*`) and the log:
//! objects held, lists, errors, and when the last event came, per kind.
//!
//! The watches write atomics; the metrics read them at scrape time. A watch
//! that fails says so once in the log, and once more when it works again,
//! however many times it is retried in between.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::records::Kind;

/// Every kind's state.
#[derive(Debug, Default)]
pub struct KubernetesStatus {
    kinds: [KindStatus; Kind::ALL.len()],
}

/// One kind's watch.
#[derive(Debug, Default)]
pub struct KindStatus {
    objects: AtomicU64,
    lists: AtomicU64,
    errors: AtomicU64,
    /// Milliseconds since the Unix epoch; 0 before the first event.
    last_event_ms: AtomicU64,
    failing: AtomicBool,
}

impl KubernetesStatus {
    /// The state of `kind`'s watch.
    pub fn kind(&self, kind: Kind) -> &KindStatus {
        &self.kinds[kind.index()]
    }

    /// Every kind, with its state.
    pub fn kinds(&self) -> impl Iterator<Item = (Kind, &KindStatus)> {
        Kind::ALL.into_iter().map(|kind| (kind, self.kind(kind)))
    }

    /// True once every kind has been listed.
    pub fn synced(&self) -> bool {
        self.kinds.iter().all(KindStatus::listed)
    }
}

impl KindStatus {
    /// Objects held.
    pub fn objects(&self) -> u64 {
        self.objects.load(Ordering::Relaxed)
    }

    /// Lists done after the first: each time the watch had to start over
    /// (its resource version expired, `410 Gone`, or it could not resume).
    pub fn relists(&self) -> u64 {
        self.lists.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// True once the kind has been listed.
    pub fn listed(&self) -> bool {
        self.lists.load(Ordering::Relaxed) > 0
    }

    /// Errors from the API server or the connection to it.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Time since the last event (a list, or an object added, changed or
    /// deleted), or `None` before the first.
    pub fn since_last_event(&self) -> Option<Duration> {
        match self.last_event_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(now_ms().saturating_sub(at))),
        }
    }

    pub(super) fn set_objects(&self, count: usize) {
        self.objects.store(count as u64, Ordering::Relaxed);
    }

    /// A list came, with `count` objects.
    pub(super) fn was_listed(&self, kind: Kind, count: usize) {
        let lists = self.lists.fetch_add(1, Ordering::Relaxed);
        self.event();
        let resource = kind.resource();
        if lists == 0 {
            tracing::info!(resource, objects = count, "listed from the Kubernetes API server");
        } else {
            tracing::info!(resource, objects = count, "listed again from the Kubernetes API server");
        }
    }

    /// An event came: the watch works.
    pub(super) fn event(&self) {
        self.last_event_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// The watch works again after `failed`, if it had.
    pub(super) fn recovered(&self, kind: Kind) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!(resource = kind.resource(), "watching the Kubernetes API server again");
        }
    }

    /// The watch failed; it is retried with backoff.
    pub(super) fn failed(&self, kind: Kind, error: &dyn std::error::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let resource = kind.resource();
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                resource,
                %error,
                "cannot watch the Kubernetes API server; flows are named from what is known, retrying"
            );
        } else {
            tracing::debug!(resource, %error, "watch failed again");
        }
    }
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}
