//! A sink: one output written by a thread of its own, fed batches of whole
//! lines through a bounded queue.
//!
//! The pipeline appends encoded lines to the sink's pending batch and hands
//! the batch over when it is large or when input goes idle, so a line reaches
//! the file within moments of its event while a busy stream costs one queue
//! operation and one `write` per 64 KiB. The writer thread also turns losses
//! into `lost_events` lines (see [`crate::lost`]).
//!
//! Nothing here makes the pipeline's thread wait, except a full queue when
//! the sink was built to wait ([`WhenFull::Wait`]). Closing hands the last
//! batch to the writer and returns; the writer writes it, reports what was
//! lost, closes the output and ends, which its [`WriterDone`] tells. A new
//! sink for the same file waits for the old one's writer on its own thread
//! before it opens the file ([`Closing`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use flowlog_flow::json::{EncodeError, encode_line};

use super::SinkConfig;
use crate::context::ExportContext;
use crate::counters::SinkCounters;
use crate::events;
use crate::lost::{LossCause, LossTally, REPORT_INTERVAL};
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
    queue: Sender<Batch>,
    /// Emptied batch buffers coming back from the writer: reusing them spares
    /// an allocation and fresh page faults for every 64 KiB.
    spare: Receiver<Vec<u8>>,
    pending: Batch,
    when_full: WhenFull,
    shared: Arc<Shared>,
    done: WriterDone,
    /// Where the sink writes, and where its writer is listed while it
    /// finishes after the sink is closed.
    target: String,
    closing: Closing,
}

#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: u64,
}

/// Ends when a sink's writer thread has written its last line and closed
/// its output (or panicked). Clones wait for the same thread.
#[derive(Debug, Clone)]
pub struct WriterDone(Receiver<()>);

impl WriterDone {
    /// Waits for the writer to end.
    pub fn wait(&self) {
        let _ = self.0.recv();
    }

    /// True once the writer has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.0.try_recv(), Err(crossbeam_channel::TryRecvError::Disconnected))
    }
}

/// The writers of closed sinks that are still finishing, by target, so that
/// a new sink for a file opens it only once the old sink has written its
/// last line. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Closing(Arc<Mutex<HashMap<String, WriterDone>>>);

impl Closing {
    /// Lists `done`, the writer of a sink for `target` that was just closed.
    fn add(&self, target: String, done: WriterDone) {
        let mut writers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        writers.retain(|_, writer| !writer.is_done());
        writers.insert(target, done);
    }

    /// The writer still finishing for `target`, if any, for a new sink to wait for.
    fn take(&self, target: &str) -> Option<WriterDone> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(target)
    }
}

/// State both ends of the sink use.
#[derive(Debug)]
struct Shared {
    name: String,
    counters: Arc<SinkCounters>,
    losses: Mutex<LossTally>,
    /// The batch pending when the sink closed, for the writer to write
    /// after everything queued: closing never waits for room in the queue.
    last: Mutex<Option<Batch>>,
}

impl Shared {
    fn lose(&self, cause: LossCause, count: u64) {
        let mut losses = self.losses.lock().unwrap_or_else(PoisonError::into_inner);
        events::EventsLost { sink: &self.name, cause, count }.emit(&self.counters, &mut losses);
    }
}

impl Sink {
    /// Starts the writer thread for `config`, counting into `counters`.
    pub fn start(
        name: &str,
        config: &SinkConfig,
        context: &ExportContext,
        counters: Arc<SinkCounters>,
    ) -> std::io::Result<Self> {
        let (queue, batches) = crossbeam_channel::bounded(QUEUE_BATCHES);
        let (recycle, spare) = crossbeam_channel::bounded(QUEUE_BATCHES);
        let (alive, done) = crossbeam_channel::bounded::<()>(0);
        let done = WriterDone(done);
        let target = config.describe();
        let previous = context.closing.take(&target);
        let shared =
            Arc::new(Shared { name: name.to_owned(), counters, losses: Mutex::default(), last: Mutex::default() });
        let writer = Writer {
            config: config.clone(),
            shared: Arc::clone(&shared),
            node_name: context.node_name.clone(),
            failing: false,
            recycle,
        };
        shared.counters.writer_started();
        let spawned = std::thread::Builder::new().name(format!("sink-{name}")).spawn(move || {
            // Dropped however the thread ends, panics included: that is
            // what `WriterDone` waits for.
            let _alive = alive;
            if let Some(previous) = previous {
                previous.wait();
            }
            writer.run(&batches);
        });
        if let Err(error) = spawned {
            shared.counters.writer_ended();
            return Err(error);
        }
        Ok(Self {
            queue,
            spare,
            pending: Batch::default(),
            when_full: context.when_full,
            shared,
            done,
            target,
            closing: context.closing.clone(),
        })
    }

    /// Appends one complete line (ending in `\n`).
    pub fn push(&mut self, line: &[u8]) {
        self.pending.bytes.extend_from_slice(line);
        self.pending.lines += 1;
        self.shared.counters.set_pending(self.pending.lines);
        if self.pending.bytes.len() >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Hands the pending lines to the writer thread.
    pub fn flush(&mut self) {
        if self.pending.lines == 0 {
            return;
        }
        let batch = self.take_pending();
        let refused = match self.when_full {
            WhenFull::Wait => self.queue.send(batch).err().map(|e| e.0),
            WhenFull::Drop => match self.queue.try_send(batch) {
                Ok(()) => None,
                Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => Some(batch),
            },
        };
        if let Some(batch) = refused {
            self.shared.counters.settled(batch.lines);
            self.shared.lose(LossCause::QueueFull, batch.lines);
        }
    }

    /// The pending batch, now counted as handed to the writer, and an empty
    /// one in its place.
    fn take_pending(&mut self) -> Batch {
        let bytes = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH_BYTES));
        let batch = std::mem::replace(&mut self.pending, Batch { bytes, lines: 0 });
        self.shared.counters.handed(batch.lines);
        self.shared.counters.set_pending(0);
        batch
    }

    /// Counts events lost before they reached this sink (e.g. in the kernel);
    /// the writer reports them in the stream.
    pub fn lose(&self, cause: LossCause, count: u64) {
        self.shared.lose(cause, count);
    }

    /// Counts an event that could not be encoded; the writer reports it in
    /// the stream.
    pub fn encode_failed(&self, error: &EncodeError) {
        let mut losses = self.shared.losses.lock().unwrap_or_else(PoisonError::into_inner);
        events::EncodeFailed { exporter: &self.shared.name, error }.emit(&self.shared.counters, &mut losses);
    }

    /// Hands everything pending to the writer, which writes it after what is
    /// queued, reports outstanding losses, flushes and closes the output, and
    /// ends. Returns at once, with what tells when the writer has ended.
    pub fn close(self) -> WriterDone {
        self.done.clone()
    }
}

impl Drop for Sink {
    /// Closes the sink (see [`Sink::close`]).
    fn drop(&mut self) {
        if self.pending.lines > 0 {
            let batch = self.take_pending();
            *self.shared.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(batch);
        }
        self.closing.add(std::mem::take(&mut self.target), self.done.clone());
        // Dropping `self.queue` next tells the writer that nothing more comes.
    }
}

/// The writer thread's end of a sink.
struct Writer {
    config: SinkConfig,
    shared: Arc<Shared>,
    node_name: String,
    /// True while writes fail, so failures are logged once, not per batch.
    failing: bool,
    recycle: Sender<Vec<u8>>,
}

impl Writer {
    fn run(mut self, batches: &Receiver<Batch>) {
        let mut output = self.config.open(&self.shared.name);
        loop {
            let batch = match batches.recv_timeout(REPORT_INTERVAL) {
                Ok(batch) => Some(batch),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.report_losses(output.as_mut(), false);
            if let Some(batch) = batch {
                self.write_batch(output.as_mut(), batch);
            }
        }
        let last = self.shared.last.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(batch) = last {
            self.write_batch(output.as_mut(), batch);
        }
        self.report_losses(output.as_mut(), true);
        if let Err(error) = output.flush() {
            tracing::warn!(exporter = %self.shared.name, %error, "cannot flush output on close");
        }
        drop(output);
        self.shared.counters.writer_ended();
    }

    fn write_batch(&mut self, output: &mut dyn LineOutput, mut batch: Batch) {
        let lost = self.write(output, &batch.bytes);
        self.shared.counters.settled(batch.lines);
        self.shared.lose(LossCause::WriteFailed, lost);
        batch.bytes.clear();
        let _ = self.recycle.try_send(batch.bytes);
    }

    /// Writes lines and accounts for them; returns how many were lost.
    fn write(&mut self, output: &mut dyn LineOutput, lines: &[u8]) -> u64 {
        let report = output.write_lines(lines);
        let counters = &self.shared.counters;
        counters.wrote(report.lines_written, report.bytes_written, report.rotations);
        counters.set_writing(report.error.is_none());
        match (&report.error, self.failing) {
            (Some(error), false) => {
                events::WriteFailed { sink: &self.shared.name, error, lines: report.lines_lost }.emit();
            }
            (None, true) => events::WriteRecovered { sink: &self.shared.name }.emit(),
            _ => {}
        }
        self.failing = report.error.is_some();
        report.lines_lost
    }

    fn report_losses(&mut self, output: &mut dyn LineOutput, force: bool) {
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
            if self.write(output, &line) > 0 {
                // Not written: keep the count for the next report rather than
                // counting the report itself as one more loss.
                self.shared.losses.lock().unwrap_or_else(PoisonError::into_inner).restore(cause, &report);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::writer::RotationPolicy;

    fn file(path: &Path) -> SinkConfig {
        SinkConfig::File { path: path.to_path_buf(), rotation: RotationPolicy::default() }
    }

    fn start(name: &str, config: &SinkConfig, context: &ExportContext) -> Sink {
        Sink::start(name, config, context, context.sinks.new_counters()).unwrap()
    }

    /// Waits for `writer`, failing the test after ten seconds rather than hanging it.
    fn finished(writer: &WriterDone) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !writer.is_done() {
            assert!(Instant::now() < deadline, "a writer did not finish");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_new_sink_waits_for_a_closed_one_on_its_file_and_never_for_a_running_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let context = ExportContext::new("node", WhenFull::Wait);

        // Two sinks running on one target (two exporters on stdout, say) both write.
        let (mut first, mut second) = (start("first", &file(&path), &context), start("second", &file(&path), &context));
        first.push(b"first\n");
        second.push(b"second\n");
        first.flush();
        second.flush();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&path).unwrap_or_default().lines().count() < 2 {
            assert!(Instant::now() < deadline, "a running sink waited for another");
            std::thread::sleep(Duration::from_millis(5));
        }
        finished(&first.close());
        finished(&second.close());

        // A sink taking over a closed sink's file writes after all of its lines.
        let mut old = start("old", &file(&path), &context);
        for _ in 0..10_000 {
            old.push(b"old\n");
        }
        let old = old.close();
        let mut new = start("new", &file(&path), &context);
        new.push(b"new\n");
        let new = new.close();
        finished(&old);
        finished(&new);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(lines.len(), 10_001);
        assert_eq!(lines.last(), Some(&"new"), "the new sink's line comes after every old one");
    }
}
