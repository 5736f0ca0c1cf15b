//! Wall-clock time for the kernel's timestamps.
//!
//! The kernel programs stamp records with `bpf_ktime_get_ns()`, which is
//! `CLOCK_MONOTONIC`; Hubble flows carry wall-clock time. The difference
//! between the two clocks is measured once and added to every timestamp, and
//! measured again when asked (after the wall clock is stepped by NTP or a
//! suspend).

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use flowlog_flow::Timestamp;
use rustix::time::{ClockId, clock_gettime};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// `CLOCK_REALTIME - CLOCK_MONOTONIC` in nanoseconds. Atomic so a decoder
/// shared between threads can be refreshed without a lock.
pub(super) struct ClockOffset(AtomicI64);

impl ClockOffset {
    /// The offset as of now.
    pub(super) fn measure() -> Self {
        ClockOffset(AtomicI64::new(offset_ns()))
    }

    /// Measures the offset again.
    pub(super) fn refresh(&self) {
        self.0.store(offset_ns(), Ordering::Relaxed);
    }

    /// The wall-clock time of a `CLOCK_MONOTONIC` timestamp.
    pub(super) fn timestamp(&self, ktime_ns: u64) -> Timestamp {
        // Monotonic time fits an i64 for 292 years of uptime.
        let wall_ns = (ktime_ns as i64).saturating_add(self.0.load(Ordering::Relaxed));
        Timestamp { seconds: wall_ns.div_euclid(NANOS_PER_SECOND), nanos: wall_ns.rem_euclid(NANOS_PER_SECOND) as i32 }
    }
}

/// Shows the offset in nanoseconds, as the decoder's `Debug` always has.
impl fmt::Debug for ClockOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// The time on `clock`, in nanoseconds.
pub(super) fn clock_ns(clock: ClockId) -> i64 {
    let ts = clock_gettime(clock);
    // `from`, not `as`: tv_nsec is a C long, 32 bits on some targets, where
    // the conversion is not useless.
    #[allow(clippy::useless_conversion, reason = "i64 already on 64-bit targets only")]
    let ns = ts.tv_sec * NANOS_PER_SECOND + i64::from(ts.tv_nsec);
    ns
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC`, taking the wall clock between two
/// monotonic readings so a preemption between the calls costs at most half
/// its length in accuracy.
fn offset_ns() -> i64 {
    let before = clock_ns(ClockId::Monotonic);
    let wall = clock_ns(ClockId::Realtime);
    let after = clock_ns(ClockId::Monotonic);
    wall - (before + (after - before) / 2)
}
