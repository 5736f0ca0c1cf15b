//! What goes wrong while exporting, each as one named event that logs and
//! counts in the same statement: `EventsLost { .. }.emit(..)`.
//!
//! Losses can come by the thousand a second (a full queue drops a batch of
//! lines each time), so they are logged when a cause starts losing, at most
//! once per cause per report interval, and counted every time; the stream
//! itself gets one `lost_events` line a second with the count ([`crate::lost`]).

use std::time::SystemTime;

use flowlog_flow::json::EncodeError;

use crate::counters::SinkCounters;
use crate::lost::{LossCause, LossTally};
use crate::writer::WriteError;

/// A sink lost `count` events to `cause`.
#[derive(Debug)]
pub(crate) struct EventsLost<'a> {
    /// The sink (its exporter's name).
    pub sink: &'a str,
    /// Why.
    pub cause: LossCause,
    /// How many.
    pub count: u64,
}

impl EventsLost<'_> {
    /// Counts the loss, tallies it for the stream's next `lost_events` line,
    /// and logs it when it is the first of its cause since that line.
    pub fn emit(self, counters: &SinkCounters, tally: &mut LossTally) {
        if self.count == 0 {
            return;
        }
        counters.lost(self.cause, self.count);
        if tally.record(self.cause, self.count, SystemTime::now()) {
            tracing::warn!(
                exporter = %self.sink,
                cause = self.cause.name(),
                lost = self.count,
                "exporter is losing events; counted, and reported in its stream as lost_events"
            );
        }
    }
}

/// A write failed; its lines were lost (counted as [`EventsLost`]).
#[derive(Debug)]
pub(crate) struct WriteFailed<'a> {
    /// The sink.
    pub sink: &'a str,
    /// What failed, and where.
    pub error: &'a WriteError,
    /// The lines the write lost.
    pub lines: u64,
}

impl WriteFailed<'_> {
    /// Logs the failure; called for the first failure of a streak.
    pub fn emit(self) {
        tracing::warn!(exporter = %self.sink, error = %self.error, lines_lost = self.lines, "cannot write; counting lost lines until writing works again");
    }
}

/// Writing works again after [`WriteFailed`].
#[derive(Debug)]
pub(crate) struct WriteRecovered<'a> {
    /// The sink.
    pub sink: &'a str,
}

impl WriteRecovered<'_> {
    /// Logs the recovery.
    pub fn emit(self) {
        tracing::info!(exporter = %self.sink, "writing works again");
    }
}

/// An event could not be encoded as a line (a value JSON cannot express).
#[derive(Debug)]
pub(crate) struct EncodeFailed<'a> {
    /// The exporter.
    pub exporter: &'a str,
    /// Why.
    pub error: &'a EncodeError,
}

impl EncodeFailed<'_> {
    /// Counts the event as lost, and logs why when it is the first since the
    /// stream's last `lost_events` line.
    pub fn emit(self, counters: &SinkCounters, tally: &mut LossTally) {
        counters.lost(LossCause::EncodeFailed, 1);
        if tally.record(LossCause::EncodeFailed, 1, SystemTime::now()) {
            tracing::warn!(exporter = %self.exporter, error = %self.error, "cannot encode event; counted, and reported in its stream as lost_events");
        }
    }
}
