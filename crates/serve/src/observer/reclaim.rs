//! Freeing the events the ring lets go of, on a thread of their own.
//!
//! An event leaves the ring 4095 events after it came: by then its forty
//! or so allocations (labels, names, addresses) are cold, and freeing them
//! cost the pipeline's thread about 2 µs a flow, where the rest of the
//! ring's work costs 81 ns (docs/performance.md). They are handed over in
//! batches, one channel send per batch, and freed where the pipeline does
//! not wait.

use std::sync::Arc;
use std::sync::mpsc;

use flowlog_flow::ExportEvent;

/// Events handed over at once.
const BATCH: usize = 1024;

/// Collects overwritten events and hands them, a batch at a time, to the
/// freeing thread (or frees them in place if that thread cannot start).
#[derive(Debug)]
pub struct Reclaimer {
    batch: Vec<Arc<ExportEvent>>,
    freeing: Option<mpsc::Sender<Vec<Arc<ExportEvent>>>>,
}

impl Reclaimer {
    /// Starts the freeing thread.
    pub fn start() -> Self {
        let (freeing, batches) = mpsc::channel::<Vec<Arc<ExportEvent>>>();
        let started = std::thread::Builder::new().name("hubble-free".into()).spawn(move || {
            for batch in batches {
                drop(batch);
            }
        });
        if let Err(error) = &started {
            tracing::warn!(%error, "cannot start the thread that frees old Hubble events; the pipeline frees them");
        }
        Self { batch: Vec::with_capacity(BATCH), freeing: started.ok().map(|_| freeing) }
    }

    /// Takes `event` to be freed.
    pub fn reclaim(&mut self, event: Arc<ExportEvent>) {
        self.batch.push(event);
        if self.batch.len() >= BATCH {
            self.hand_over();
        }
    }

    /// Hands over what is collected.
    fn hand_over(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Some(freeing) = &self.freeing
            && let Err(mpsc::SendError(batch)) = freeing.send(batch)
        {
            self.freeing = None;
            drop(batch);
        }
    }
}
