//! The seam between the pipeline and what takes its events.

use std::fmt;
use std::time::Instant;

use crate::lines::Event;
use crate::lost::LossCause;
use crate::sinks::WriterDone;

/// Takes the pipeline's events: the static exporter, the dynamic flow logs
/// (one consumer owning all of them), and the Hubble server's ring buffer.
///
/// Only [`consume`](Consumer::consume) is required; the other hooks do
/// nothing unless a consumer needs them. The pipeline calls them all on its
/// own thread, one at a time, in this order of life: `consume`, `lost`,
/// `tick` and `flush` interleaved for as long as events come, then `stop`.
///
/// A consumer must never make that thread wait: not for a file, a lock
/// another thread holds for long, or another thread to finish. Work that may
/// block belongs on a thread of the consumer's own (each file sink has its
/// writer thread); a consumer that cannot keep up drops and reports the loss,
/// unless the pipeline was built to wait
/// ([`WhenFull::Wait`](crate::sinks::WhenFull::Wait), for replays).
pub trait Consumer: Send + fmt::Debug {
    /// Takes one event. `event.line(mask)` gives its export line, encoded
    /// once per mask however many consumers ask.
    fn consume(&mut self, event: &mut Event<'_>);

    /// Counts `count` events lost before the pipeline (the kernel's ring
    /// buffer was full); a consumer that reports losses in its stream
    /// reports these too.
    fn lost(&mut self, _cause: LossCause, _count: u64) {}

    /// The clock has moved on to `now` (at least once a second, and at the
    /// instant this returned last): close aggregation windows, expire what
    /// has ended, apply waiting control messages. Returns when the consumer
    /// next needs a tick, if sooner than a second.
    fn tick(&mut self, _now: Instant) -> Option<Instant> {
        None
    }

    /// Input has gone idle: hand what is pending to the writers now, so a
    /// quiet stream's lines reach their files at once.
    fn flush(&mut self) {}

    /// The input has ended: write out what is aggregated and pending and let
    /// go of every output. Must not wait; returns what is still writing, for
    /// the caller to wait for as long as it chooses.
    fn stop(self: Box<Self>) -> Vec<WriterDone> {
        Vec::new()
    }
}
