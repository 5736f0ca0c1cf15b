//! The export pipeline: every event is offered to every exporter, and encoded
//! once per distinct field mask however many exporters share it.
//!
//! One thread runs the pipeline ([`Pipeline::run`]); each exporter's sink
//! writes on a thread of its own, so a slow disk delays only its own sink.

use std::ops::{ControlFlow, Range};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use flowlog_filter::FieldMask;
use flowlog_flow::ExportEvent;
use flowlog_flow::json::encode_line;

use crate::dynamic::reconcile::{Outcome, reconcile};
use crate::dynamic::{Entry, ReloadStats};
use crate::exporter::{Exporter, Verdict};
use crate::lost::LossCause;
use crate::sink::SinkSettings;

/// The longest the pipeline sleeps without looking at its clocks.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// Events handled between two looks at the clock and the aggregation windows.
const EVENTS_PER_TICK: usize = 1024;

/// What the pipeline's input channel carries.
#[derive(Debug)]
pub enum Input {
    /// An event to export.
    Event(Box<ExportEvent>),
    /// Events lost before the pipeline (e.g. in the kernel), reported by every sink.
    Loss {
        /// Why they were lost.
        cause: LossCause,
        /// How many.
        count: u64,
    },
    /// A new dynamic flow log config, to apply between two events.
    Reconfigure {
        /// The config's entries, validated.
        entries: Vec<Entry>,
        /// A hash of the file they come from.
        hash: u64,
        /// Where to count what applying them did.
        stats: Arc<ReloadStats>,
    },
    /// Stop now (e.g. on SIGTERM), without waiting for the senders to finish.
    Stop,
}

/// Exporters and the scratch space to encode for them.
#[derive(Debug)]
pub struct Pipeline {
    exporters: Vec<Exporter>,
    /// For each exporter, the index of its mask in `masks`.
    mask_of: Vec<usize>,
    /// The distinct field masks of all exporters.
    masks: Vec<FieldMask>,
    /// Lines encoded for the current event, one per mask, in `scratch`.
    encoded: Vec<Option<Range<usize>>>,
    scratch: Vec<u8>,
    clock: SystemTime,
    settings: SinkSettings,
}

impl Pipeline {
    /// A pipeline feeding `exporters`, which were started with `settings`.
    pub fn new(exporters: Vec<Exporter>, settings: SinkSettings) -> Self {
        let mut pipeline = Self {
            exporters,
            mask_of: Vec::new(),
            masks: Vec::new(),
            encoded: Vec::new(),
            scratch: Vec::with_capacity(4096),
            clock: SystemTime::now(),
            settings,
        };
        pipeline.index_masks();
        pipeline
    }

    /// Groups the exporters by field mask, so each mask encodes once per
    /// event, and lists their sinks for metrics and health checks.
    fn index_masks(&mut self) {
        self.settings.sinks.publish(&self.exporters);
        self.masks.clear();
        self.mask_of = self
            .exporters
            .iter()
            .map(|exporter| {
                let mask = &exporter.spec().mask;
                self.masks.iter().position(|m| m == mask).unwrap_or_else(|| {
                    self.masks.push(mask.clone());
                    self.masks.len() - 1
                })
            })
            .collect();
        self.encoded = vec![None; self.masks.len()];
    }

    /// The running exporters.
    pub fn exporters(&self) -> &[Exporter] {
        &self.exporters
    }

    /// Offers `event` to every exporter.
    pub fn export(&mut self, event: &ExportEvent) {
        self.scratch.clear();
        self.encoded.fill(None);
        for (exporter, &mask) in self.exporters.iter_mut().zip(&self.mask_of) {
            if !matches!(exporter.offer(event, self.clock), Verdict::Write) {
                continue;
            }
            let line = match &self.encoded[mask] {
                Some(line) => line.clone(),
                None => {
                    let start = self.scratch.len();
                    if let Err(error) = encode_line(event, self.masks[mask].selection(), &mut self.scratch) {
                        tracing::warn!(exporter = %exporter.spec().name, %error, "cannot encode event");
                        exporter.record_loss(LossCause::EncodeFailed, 1);
                        continue;
                    }
                    let line = start..self.scratch.len();
                    self.encoded[mask] = Some(line.clone());
                    line
                }
            };
            exporter.push(&self.scratch[line]);
        }
    }

    /// Applies a dynamic flow log config to the dynamic exporters.
    pub fn reconfigure(&mut self, entries: Vec<Entry>) -> Outcome {
        let outcome = reconcile(&mut self.exporters, entries, &self.settings);
        self.index_masks();
        outcome
    }

    /// Tells every sink that `count` events were lost to `cause` upstream.
    pub fn record_loss(&mut self, cause: LossCause, count: u64) {
        for exporter in &mut self.exporters {
            exporter.record_loss(cause, count);
        }
    }

    /// Reads the clocks: closes aggregation windows that have ended and
    /// expires exporters whose `end` has come.
    pub fn tick(&mut self, now: Instant) {
        self.clock = SystemTime::now();
        for exporter in &mut self.exporters {
            if exporter.window_end().is_some_and(|end| end <= now) {
                exporter.drain_aggregates(now);
            }
            exporter.expire_if_ended(self.clock);
        }
    }

    /// Hands every pending line to its sink's writer.
    pub fn flush(&mut self) {
        for exporter in &mut self.exporters {
            exporter.flush();
        }
    }

    /// When the pipeline next needs to look at its clocks.
    fn deadline(&self, now: Instant) -> Instant {
        self.exporters.iter().filter_map(Exporter::window_end).fold(now + IDLE_TICK, Instant::min)
    }

    /// Exports everything `input` carries until every sender is gone or
    /// [`Input::Stop`] arrives, then stops the exporters (writing what is
    /// aggregated and pending).
    pub fn run(mut self, input: &Receiver<Input>) {
        loop {
            let now = Instant::now();
            match input.recv_timeout(self.deadline(now).saturating_duration_since(now)) {
                Ok(first) => {
                    let stop = std::iter::once(first)
                        .chain(input.try_iter().take(EVENTS_PER_TICK))
                        .any(|next| self.handle(next).is_break());
                    if stop {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.tick(Instant::now());
            if input.is_empty() {
                // Input is idle: let the writers have what is pending, so a
                // quiet stream's lines reach the files at once.
                self.flush();
            }
        }
        self.stop();
    }

    fn handle(&mut self, input: Input) -> ControlFlow<()> {
        match input {
            Input::Event(event) => self.export(&event),
            Input::Loss { cause, count } => self.record_loss(cause, count),
            Input::Reconfigure { entries, hash, stats } => {
                let outcome = self.reconfigure(entries);
                stats.applied(hash, &outcome);
            }
            Input::Stop => return ControlFlow::Break(()),
        }
        ControlFlow::Continue(())
    }

    /// Stops every exporter: aggregated and pending lines are written, loss
    /// reports too, and files are flushed and closed.
    pub fn stop(mut self) {
        for exporter in std::mem::take(&mut self.exporters) {
            exporter.stop();
        }
        self.settings.closing.wait_all();
    }
}
