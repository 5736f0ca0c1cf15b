//! What a sink has done, counted as it happens and readable from any thread
//! (metrics, health checks, tests).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::lost::LossCause;

/// Counters of one sink. The counts only grow; the gauges say where the
/// sink's lines are now.
#[derive(Debug)]
pub struct SinkCounters {
    events_written: AtomicU64,
    bytes_written: AtomicU64,
    rotations: AtomicU64,
    lost: [AtomicU64; LossCause::ALL.len()],
    writing: AtomicBool,
    active: AtomicBool,
    /// Lines handed to the writer thread, and lines it (or a full queue) is
    /// done with: written or lost. Their difference is in the queue.
    handed: AtomicU64,
    settled: AtomicU64,
    /// Lines in the pipeline's batch, not yet handed over. Stored, not
    /// added to, on every line: a plain store costs the hot path nothing.
    pending: AtomicU64,
    /// Writer threads running for this sink: a retired sink's writer can
    /// still be finishing while its successor starts.
    writers: AtomicU64,
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
            handed: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            writers: AtomicU64::new(0),
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
    /// Lines accepted and not yet written or counted lost: pending in the
    /// pipeline, queued, or being written.
    pub unwritten: u64,
    /// True while a writer thread of this sink runs.
    pub writing_thread: bool,
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

    pub(crate) fn handed(&self, lines: u64) {
        self.handed.fetch_add(lines, Relaxed);
    }

    pub(crate) fn settled(&self, lines: u64) {
        self.settled.fetch_add(lines, Relaxed);
    }

    pub(crate) fn set_pending(&self, lines: u64) {
        self.pending.store(lines, Relaxed);
    }

    pub(crate) fn writer_started(&self) {
        self.writers.fetch_add(1, Relaxed);
    }

    pub(crate) fn writer_ended(&self) {
        self.writers.fetch_sub(1, Relaxed);
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
            // `settled` is read first: a batch settled between the two reads
            // then counts as unwritten, never the other way round.
            unwritten: {
                let settled = self.settled.load(Relaxed);
                self.handed.load(Relaxed).saturating_sub(settled) + self.pending.load(Relaxed)
            },
            writing_thread: self.writers.load(Relaxed) > 0,
        }
    }
}
