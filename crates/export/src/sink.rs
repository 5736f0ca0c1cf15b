//! A sink: one output written by a thread of its own, fed batches of whole
//! lines through a bounded queue.
//!
//! The pipeline appends encoded lines to the sink's pending batch and hands the
//! batch over when it is large or when input goes idle, so a line reaches the
//! file within moments of its event while a busy stream costs one queue
//! operation and one `write` per 64 KiB. The writer thread also turns losses
//! into `lost_events` lines (see [`crate::lost`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use flowlog_flow::json::encode_line;

use crate::counters::SinkCounters;
use crate::lost::{LossCause, LossTally, REPORT_INTERVAL};
use crate::registry::SinkRegistry;
use crate::writer::LineOutput;

/// A batch is handed to the writer once it holds this many bytes.
const BATCH_BYTES: usize = 64 * 1024;
/// Batches a sink may have queued: up to 4 MiB of lines waiting for a slow output.
const QUEUE_BATCHES: usize = 64;

/// What the pipeline does when a sink's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for the writer. For replays, where every input line must come out.
    Wait,
    /// Drop the batch and report the loss. For live capture, which must never
    /// be held up by one slow disk.
    Drop,
}

/// The pipeline's end of a sink.
#[derive(Debug)]
pub struct Sink {
    name: String,
    queue: Option<Sender<Batch>>,
    /// Emptied batch buffers coming back from the writer: reusing them spares
    /// an allocation and fresh page faults for every 64 KiB.
    spare: Receiver<Vec<u8>>,
    pending: Batch,
    when_full: WhenFull,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: u64,
}

/// How sinks are started: the same for every sink of a pipeline.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// The node name written in loss reports.
    pub node_name: String,
    /// What to do when a sink's queue is full.
    pub when_full: WhenFull,
    /// Sinks still closing, which a new sink for the same target waits for.
    pub closing: Closing,
    /// Where the pipeline lists its sinks for metrics and health checks.
    pub sinks: SinkRegistry,
}

impl SinkSettings {
    /// Settings for sinks whose loss reports carry `node_name`.
    pub fn new(node_name: &str, when_full: WhenFull) -> Self {
        Self { node_name: node_name.to_owned(), when_full, closing: Closing::default(), sinks: SinkRegistry::default() }
    }
}

/// Sinks being closed on background threads, by target, so that retiring a
/// sink never holds up the pipeline and a new sink for the same file starts
/// only once the old one has written its last line.
#[derive(Debug, Clone, Default)]
pub struct Closing(Arc<Mutex<Vec<ClosingSink>>>);

/// A sink's target and the thread closing it.
type ClosingSink = (String, JoinHandle<()>);

impl Closing {
    /// Closes `sink`, which writes to `target`, in the background.
    pub fn close(&self, target: String, sink: Sink) {
        let thread = std::thread::Builder::new().name(format!("close-{}", sink.name)).spawn(move || sink.close());
        match thread {
            Ok(handle) => self.0.lock().unwrap_or_else(PoisonError::into_inner).push((target, handle)),
            Err(error) => tracing::warn!(%target, %error, "cannot close a sink in the background"),
        }
    }

    /// Waits until every sink writing to `target` has closed.
    pub fn wait_for(&self, target: &str) {
        let handles: Vec<_> = {
            let mut closing = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let (done, rest) = std::mem::take(&mut *closing).into_iter().partition(|(t, _)| t == target);
            *closing = rest;
            done
        };
        for (_, handle) in handles {
            let _ = handle.join();
        }
    }

    /// Waits until every sink has closed.
    pub fn wait_all(&self) {
        let handles = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for (_, handle) in handles {
            let _ = handle.join();
        }
    }
}

/// State both ends of the sink use.
#[derive(Debug)]
struct Shared {
    counters: Arc<SinkCounters>,
    losses: Mutex<LossTally>,
}

impl Shared {
    fn record_loss(&self, cause: LossCause, count: u64) {
        self.counters.lost(cause, count);
        self.losses.lock().unwrap_or_else(PoisonError::into_inner).record(cause, count, SystemTime::now());
    }
}

impl Sink {
    /// Starts the writer thread for `output`, counting into `counters`.
    pub fn start(
        name: &str,
        output: Box<dyn LineOutput>,
        settings: &SinkSettings,
        counters: Arc<SinkCounters>,
    ) -> std::io::Result<Self> {
        let (queue, batches) = crossbeam_channel::bounded(QUEUE_BATCHES);
        let (recycle, spare) = crossbeam_channel::bounded(QUEUE_BATCHES);
        let shared = Arc::new(Shared { counters, losses: Mutex::default() });
        let writer = Writer {
            name: name.to_owned(),
            output,
            shared: Arc::clone(&shared),
            node_name: settings.node_name.clone(),
            failing: false,
            recycle,
        };
        let when_full = settings.when_full;
        let writer = std::thread::Builder::new().name(format!("sink-{name}")).spawn(move || writer.run(batches))?;
        Ok(Self {
            name: name.to_owned(),
            queue: Some(queue),
            spare,
            pending: Batch::default(),
            when_full,
            shared,
            writer: Some(writer),
        })
    }

    /// Appends one complete line (ending in `\n`).
    pub fn push(&mut self, line: &[u8]) {
        self.pending.bytes.extend_from_slice(line);
        self.pending.lines += 1;
        if self.pending.bytes.len() >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Hands the pending lines to the writer thread.
    pub fn flush(&mut self) {
        if self.pending.lines == 0 {
            return;
        }
        let bytes = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH_BYTES));
        let batch = std::mem::replace(&mut self.pending, Batch { bytes, lines: 0 });
        let Some(queue) = &self.queue else { return };
        let refused = match self.when_full {
            WhenFull::Wait => queue.send(batch).err().map(|e| e.0),
            WhenFull::Drop => match queue.try_send(batch) {
                Ok(()) => None,
                Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => Some(batch),
            },
        };
        if let Some(batch) = refused {
            self.shared.record_loss(LossCause::QueueFull, batch.lines);
        }
    }

    /// Counts events lost before they reached this sink (e.g. in the kernel);
    /// the writer reports them in the stream.
    pub fn record_loss(&self, cause: LossCause, count: u64) {
        self.shared.record_loss(cause, count);
    }

    /// The sink's counters, shared: they stay readable after the sink closes.
    pub fn counters(&self) -> &Arc<SinkCounters> {
        &self.shared.counters
    }

    /// The sink's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes everything pending, reports outstanding losses, flushes and
    /// closes the output, and waits for the writer thread to finish.
    pub fn close(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if self.pending.lines > 0 {
            let when_full = std::mem::replace(&mut self.when_full, WhenFull::Wait);
            self.flush();
            self.when_full = when_full;
        }
        self.queue = None;
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!(sink = %self.name, "sink writer thread panicked");
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The writer thread's end of a sink.
struct Writer {
    name: String,
    output: Box<dyn LineOutput>,
    shared: Arc<Shared>,
    node_name: String,
    /// True while writes fail, so failures are logged once, not per batch.
    failing: bool,
    recycle: Sender<Vec<u8>>,
}

impl Writer {
    fn run(mut self, batches: Receiver<Batch>) {
        loop {
            let batch = match batches.recv_timeout(REPORT_INTERVAL) {
                Ok(batch) => Some(batch),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.report_losses(false);
            if let Some(mut batch) = batch {
                let lost = self.write(&batch.bytes);
                self.shared.record_loss(LossCause::WriteFailed, lost);
                batch.bytes.clear();
                let _ = self.recycle.try_send(batch.bytes);
            }
        }
        self.report_losses(true);
        if let Err(error) = self.output.flush() {
            tracing::warn!(sink = %self.name, %error, "cannot flush output on close");
        }
    }

    /// Writes lines and accounts for them; returns how many were lost.
    fn write(&mut self, lines: &[u8]) -> u64 {
        let report = self.output.write_lines(lines);
        let counters = &self.shared.counters;
        counters.wrote(report.lines_written, report.bytes_written, report.rotations);
        counters.set_writing(report.error.is_none());
        match (&report.error, self.failing) {
            (Some(error), false) => {
                tracing::warn!(sink = %self.name, %error, lines_lost = report.lines_lost, "cannot write; counting lost lines until writing works again");
            }
            (None, true) => tracing::info!(sink = %self.name, "writing works again"),
            _ => {}
        }
        self.failing = report.error.is_some();
        report.lines_lost
    }

    fn report_losses(&mut self, force: bool) {
        let reports = {
            let mut losses = self.shared.losses.lock().unwrap_or_else(PoisonError::into_inner);
            if losses.is_empty() {
                return;
            }
            losses.take_due(SystemTime::now(), &self.node_name, force)
        };
        for (cause, report) in reports {
            let mut line = Vec::with_capacity(256);
            encode_line(&report, None, &mut line).expect("loss reports hold only encodable values");
            if self.write(&line) > 0 {
                // Not written: keep the count for the next report rather than
                // counting the report itself as one more loss.
                self.shared.losses.lock().unwrap_or_else(PoisonError::into_inner).restore(cause, &report);
            }
        }
    }
}
