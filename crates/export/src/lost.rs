//! Loss accounting for one sink: what was dropped, and the `lost_events`
//! lines that report it.
//!
//! Lost data is never silent and never a flood: every drop is counted, and the
//! sink writes at most one `lost_events` line per source per second carrying
//! the count and the times of the first and last loss it covers. (Hubble users
//! complain of lost-event lines crowding out flows: cilium/cilium#15112.)

use std::time::{Duration, SystemTime};

use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::{ExportEvent, LostEvent, LostEventSource, Timestamp};

/// The shortest time between two reports of the same source.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Why a sink lost events, and the `LostEventSource` its report carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossCause {
    /// The kernel's ring buffer was full (reported by capture).
    KernelRingBuffer,
    /// The sink's queue was full: it could not keep up.
    QueueFull,
    /// Writing failed, e.g. the disk was full.
    WriteFailed,
    /// The event holds a value JSON cannot express (e.g. a timestamp past
    /// year 9999); Cilium refuses such events too.
    EncodeFailed,
}

impl LossCause {
    /// Every cause, in report order.
    pub const ALL: [LossCause; 4] =
        [LossCause::KernelRingBuffer, LossCause::QueueFull, LossCause::WriteFailed, LossCause::EncodeFailed];

    /// The source written in the `lost_events` line.
    ///
    /// Hubble's enum has no value for a failed write or encoding, so those
    /// are reported as `UNKNOWN_LOST_EVENT_SOURCE`; metrics and logs name the
    /// real cause.
    pub fn source(self) -> LostEventSource {
        match self {
            LossCause::KernelRingBuffer => LostEventSource::PerfEventRingBuffer,
            LossCause::QueueFull => LostEventSource::ObserverEventsQueue,
            LossCause::WriteFailed | LossCause::EncodeFailed => LostEventSource::UnknownLostEventSource,
        }
    }

    /// A short name for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            LossCause::KernelRingBuffer => "kernel_ring_buffer",
            LossCause::QueueFull => "queue_full",
            LossCause::WriteFailed => "write_failed",
            LossCause::EncodeFailed => "encode_failed",
        }
    }
}

/// Losses not yet reported, per cause.
#[derive(Debug, Default)]
pub struct LossTally {
    pending: [Pending; LossCause::ALL.len()],
}

#[derive(Debug, Default, Clone, Copy)]
struct Pending {
    count: u64,
    first: Option<SystemTime>,
    last: Option<SystemTime>,
    last_report: Option<SystemTime>,
}

impl LossTally {
    /// Records `count` events lost to `cause` at `at`. Returns true when
    /// they are the first of their cause since the last report.
    pub fn record(&mut self, cause: LossCause, count: u64, at: SystemTime) -> bool {
        if count == 0 {
            return false;
        }
        let pending = &mut self.pending[cause as usize];
        let first = pending.count == 0;
        pending.count += count;
        pending.first.get_or_insert(at);
        pending.last = Some(at);
        first
    }

    /// True when some loss is waiting to be reported.
    pub fn is_empty(&self) -> bool {
        self.pending.iter().all(|p| p.count == 0)
    }

    /// Takes the reports that are due at `now`: one per cause with pending
    /// losses whose last report is at least [`REPORT_INTERVAL`] old, or every
    /// pending one when `force` is set (shutdown).
    pub fn take_due(&mut self, now: SystemTime, node_name: &str, force: bool) -> Vec<(LossCause, ExportEvent)> {
        let mut reports = Vec::new();
        for cause in LossCause::ALL {
            let pending = &mut self.pending[cause as usize];
            let quiet =
                pending.last_report.is_none_or(|at| now.duration_since(at).unwrap_or_default() >= REPORT_INTERVAL);
            if pending.count == 0 || !(quiet || force) {
                continue;
            }
            reports.push((cause, report(cause, pending, now, node_name)));
            *pending = Pending { last_report: Some(now), ..Pending::default() };
        }
        reports
    }

    /// Puts back losses whose report could not be written, so a later one includes them.
    pub fn restore(&mut self, cause: LossCause, report: &ExportEvent) {
        let Some(ResponseTypes::LostEvents(lost)) = &report.response_types else { return };
        let pending = &mut self.pending[cause as usize];
        pending.count += lost.num_events_lost;
        let first = lost.first.map(to_system_time);
        if first.is_some() && (pending.first.is_none() || first < pending.first) {
            pending.first = first;
        }
        pending.last = pending.last.max(lost.last.map(to_system_time));
    }
}

fn report(cause: LossCause, pending: &Pending, now: SystemTime, node_name: &str) -> ExportEvent {
    ExportEvent {
        node_name: node_name.to_owned(),
        time: Some(to_timestamp(now)),
        response_types: Some(ResponseTypes::LostEvents(LostEvent {
            source: cause.source() as i32,
            num_events_lost: pending.count,
            cpu: None,
            first: pending.first.map(to_timestamp),
            last: pending.last.map(to_timestamp),
        })),
    }
}

/// Converts a wall-clock time to a protobuf timestamp.
pub fn to_timestamp(time: SystemTime) -> Timestamp {
    let since_epoch = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Timestamp { seconds: since_epoch.as_secs() as i64, nanos: since_epoch.subsec_nanos() as i32 }
}

fn to_system_time(ts: Timestamp) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(ts.seconds.max(0) as u64, ts.nanos.max(0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost(event: &ExportEvent) -> &LostEvent {
        match &event.response_types {
            Some(ResponseTypes::LostEvents(lost)) => lost,
            other => panic!("not a lost event: {other:?}"),
        }
    }

    #[test]
    fn losses_are_aggregated_into_one_report_per_cause_per_second() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut tally = LossTally::default();
        tally.record(LossCause::QueueFull, 3, t0);
        tally.record(LossCause::QueueFull, 4, t0 + Duration::from_millis(300));
        tally.record(LossCause::WriteFailed, 1, t0 + Duration::from_millis(400));

        let reports = tally.take_due(t0 + Duration::from_millis(500), "node-1", false);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].0, LossCause::QueueFull);
        let queue = lost(&reports[0].1);
        assert_eq!(queue.source, LostEventSource::ObserverEventsQueue as i32);
        assert_eq!(queue.num_events_lost, 7);
        assert_eq!(queue.first, Some(to_timestamp(t0)));
        assert_eq!(queue.last, Some(to_timestamp(t0 + Duration::from_millis(300))));
        assert_eq!(reports[0].1.node_name, "node-1");
        assert_eq!(lost(&reports[1].1).source, LostEventSource::UnknownLostEventSource as i32);
        assert!(tally.is_empty());

        // A new loss within the second waits for the next report...
        tally.record(LossCause::QueueFull, 2, t0 + Duration::from_millis(600));
        assert!(tally.take_due(t0 + Duration::from_millis(900), "node-1", false).is_empty());
        // ...unless the sink is shutting down,
        assert_eq!(tally.take_due(t0 + Duration::from_millis(900), "node-1", true).len(), 1);
        // and goes out once the second has passed.
        tally.record(LossCause::QueueFull, 5, t0 + Duration::from_millis(1_000));
        let reports = tally.take_due(t0 + Duration::from_millis(1_950), "node-1", false);
        assert_eq!(lost(&reports[0].1).num_events_lost, 5);
    }

    #[test]
    fn an_unwritten_report_is_restored_and_merged() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut tally = LossTally::default();
        tally.record(LossCause::WriteFailed, 10, t0);
        let reports = tally.take_due(t0, "n", false);
        tally.restore(LossCause::WriteFailed, &reports[0].1);
        tally.record(LossCause::WriteFailed, 1, t0 + Duration::from_secs(5));
        let reports = tally.take_due(t0 + Duration::from_secs(5), "n", true);
        let merged = lost(&reports[0].1);
        assert_eq!(merged.num_events_lost, 11);
        assert_eq!(merged.first, Some(to_timestamp(t0)));
        assert_eq!(merged.last, Some(to_timestamp(t0 + Duration::from_secs(5))));
    }
}
