//! What a sink has done, counted as it happens and readable from any thread
//! (metrics, health checks, tests).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::lost::LossCause;

/// Counters of one sink. All counts only grow.
#[derive(Debug)]
pub struct SinkCounters {
    events_written: AtomicU64,
    bytes_written: AtomicU64,
    rotations: AtomicU64,
    lost: [AtomicU64; LossCause::ALL.len()],
    writing: AtomicBool,
    active: AtomicBool,
    /// Losses of every sink of a pipeline, this one's included: they outlive
    /// the sinks, which dynamic flow logs add and remove.
    totals: Option<Arc<LossTotals>>,
}

/// Events lost by all the sinks that counted into it, by cause; only grows.
#[derive(Debug, Default)]
pub struct LossTotals([AtomicU64; LossCause::ALL.len()]);

impl LossTotals {
    /// Events lost to `cause`, all sinks together.
    pub fn get(&self, cause: LossCause) -> u64 {
        self.0[cause as usize].load(Relaxed)
    }
}

impl Default for SinkCounters {
    fn default() -> Self {
        Self {
            events_written: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            lost: Default::default(),
            writing: AtomicBool::new(true),
            active: AtomicBool::new(false),
            totals: None,
        }
    }
}

/// A consistent-enough copy of [`SinkCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Lines written, loss reports included.
    pub events_written: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Files rotated.
    pub rotations: u64,
    /// Events lost, indexed by `LossCause as usize`.
    pub lost: [u64; LossCause::ALL.len()],
    /// False while the last write failed.
    pub writing: bool,
    /// False when the exporter's `end` has passed (or it has stopped).
    pub active: bool,
}

impl SinkStats {
    /// Events lost to `cause`.
    pub fn lost(&self, cause: LossCause) -> u64 {
        self.lost[cause as usize]
    }
}

impl SinkCounters {
    /// Counters whose losses are also added to `totals`.
    pub fn counting_into(totals: Arc<LossTotals>) -> Self {
        Self { totals: Some(totals), ..Self::default() }
    }

    pub(crate) fn wrote(&self, lines: u64, bytes: u64, rotations: u64) {
        self.events_written.fetch_add(lines, Relaxed);
        self.bytes_written.fetch_add(bytes, Relaxed);
        self.rotations.fetch_add(rotations, Relaxed);
    }

    pub(crate) fn lost(&self, cause: LossCause, count: u64) {
        self.lost[cause as usize].fetch_add(count, Relaxed);
        if let Some(totals) = &self.totals {
            totals.0[cause as usize].fetch_add(count, Relaxed);
        }
    }

    pub(crate) fn set_writing(&self, ok: bool) {
        self.writing.store(ok, Relaxed);
    }

    pub(crate) fn set_active(&self, active: bool) {
        self.active.store(active, Relaxed);
    }

    /// A copy of the current values.
    pub fn snapshot(&self) -> SinkStats {
        SinkStats {
            events_written: self.events_written.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            rotations: self.rotations.load(Relaxed),
            lost: std::array::from_fn(|i| self.lost[i].load(Relaxed)),
            writing: self.writing.load(Relaxed),
            active: self.active.load(Relaxed),
        }
    }
}
