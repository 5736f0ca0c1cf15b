//! The pipeline's consumer that writes every event into the ring.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use flowlog_export::lines::Event;
use flowlog_export::lost::LossCause;
use flowlog_export::{Consumer, WriterDone};
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::{ExportEvent, LostEvent};

use super::namespaces::SeenNamespaces;
use super::reclaim::Reclaimer;
use super::{Observer, timestamp};

/// Writes the pipeline's events into an [`Observer`]'s ring: a reference
/// count and a slot swap per event, never a copy and never a wait, however
/// many readers there are and however slow they are.
#[derive(Debug)]
pub struct Recorder {
    observer: Arc<Observer>,
    namespaces: SeenNamespaces,
    reclaimer: Reclaimer,
}

impl Recorder {
    pub(super) fn new(observer: Arc<Observer>) -> Self {
        let mut recorder = Self { observer, namespaces: SeenNamespaces::default(), reclaimer: Reclaimer::start() };
        recorder.publish();
        recorder
    }

    /// Wakes the followers and publishes the namespaces.
    fn publish(&mut self) {
        self.observer.ring.wake_readers();
        let seconds = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs());
        self.namespaces.tick(seconds, &self.observer.namespaces);
    }

    fn push(&mut self, event: Arc<ExportEvent>) {
        if let Some(overwritten) = self.observer.ring.push(event) {
            self.reclaimer.reclaim(overwritten);
        }
    }
}

impl Consumer for Recorder {
    fn consume(&mut self, event: &mut Event<'_>) {
        if let Some(ResponseTypes::Flow(flow)) = &event.get().response_types {
            self.observer.seen_flows.fetch_add(1, Ordering::Relaxed);
            self.namespaces.note(flow);
        }
        self.push(event.shared());
    }

    /// Events lost before the pipeline are in the ring too, as Hubble keeps
    /// them: `GetFlows` sends them as `lost_events`.
    fn lost(&mut self, cause: LossCause, count: u64) {
        let now = timestamp(SystemTime::now());
        let lost = LostEvent {
            source: cause.source() as i32,
            num_events_lost: count,
            cpu: None,
            first: Some(now),
            last: Some(now),
        };
        self.push(Arc::new(ExportEvent {
            response_types: Some(ResponseTypes::LostEvents(lost)),
            node_name: self.observer.node_name.clone(),
            time: Some(now),
        }));
    }

    /// Called after every batch of events: followers wake once a batch.
    fn tick(&mut self, _now: Instant) -> Option<Instant> {
        self.publish();
        None
    }

    fn flush(&mut self) {
        self.observer.ring.wake_readers();
    }

    /// The ring stays readable (a replay keeps serving it): followers are
    /// woken for the last events, and the last namespaces published.
    fn stop(mut self: Box<Self>) -> Vec<WriterDone> {
        self.publish();
        Vec::new()
    }
}
