//! The export pipeline: every event is offered to every consumer, and
//! encoded once per distinct field mask however many consumers share it.
//!
//! One thread runs the pipeline ([`Pipeline::run`]); whatever may block (a
//! file write) happens on the consumers' own threads, so a slow disk delays
//! only its own sink. Sources of events (the capture, a replay's reader)
//! feed the pipeline through a bounded channel of [`Input`]s, which they may
//! send to from threads or from async tasks.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowlog_flow::ExportEvent;

use crate::consumer::Consumer;
use crate::lines::Lines;
use crate::lost::LossCause;
use crate::sinks::WriterDone;

/// The longest the pipeline sleeps without looking at its clocks.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// Events handled between two looks at the clock and the aggregation windows.
const EVENTS_PER_TICK: usize = 1024;

/// What the pipeline's input channel carries.
#[derive(Debug)]
pub enum Input {
    /// An event to export. Shared, so that a consumer can keep it without
    /// copying it.
    Event(Arc<ExportEvent>),
    /// Events lost before the pipeline (e.g. in the kernel), reported by every sink.
    Lost {
        /// Why they were lost.
        cause: LossCause,
        /// How many.
        count: u64,
    },
    /// A consumer has control messages waiting on a channel of its own (a
    /// new dynamic flow log config): tick now rather than at the next second.
    Wake,
    /// No more input: export what came before, then stop. Also what the
    /// pipeline does when every sender is gone.
    Stop,
}

/// The sending end of a pipeline's input. Cloning makes another sender.
pub type InputSender = flume::Sender<Input>;

/// A bounded input channel for a pipeline: `capacity` inputs may wait.
pub fn input_channel(capacity: usize) -> (InputSender, flume::Receiver<Input>) {
    flume::bounded(capacity)
}

/// The consumers and the scratch space to encode for them.
#[derive(Debug)]
pub struct Pipeline {
    consumers: Vec<Box<dyn Consumer>>,
    lines: Lines,
}

impl Pipeline {
    /// A pipeline feeding `consumers`, in this order.
    pub fn new(consumers: Vec<Box<dyn Consumer>>) -> Self {
        Self { consumers, lines: Lines::default() }
    }

    /// Offers `event` to every consumer.
    pub fn export(&mut self, event: &Arc<ExportEvent>) {
        let mut event = self.lines.start(event);
        for consumer in &mut self.consumers {
            consumer.consume(&mut event);
        }
    }

    /// Tells every consumer that `count` events were lost to `cause` upstream.
    pub fn lost(&mut self, cause: LossCause, count: u64) {
        for consumer in &mut self.consumers {
            consumer.lost(cause, count);
        }
    }

    /// Ticks every consumer; returns when the pipeline next needs a tick.
    pub fn tick(&mut self, now: Instant) -> Instant {
        let mut next = now + IDLE_TICK;
        for consumer in &mut self.consumers {
            if let Some(due) = consumer.tick(now) {
                next = next.min(due);
            }
        }
        next
    }

    /// Hands every pending line to its writer.
    pub fn flush(&mut self) {
        for consumer in &mut self.consumers {
            consumer.flush();
        }
    }

    /// Exports everything `input` carries until [`Input::Stop`] or until
    /// every sender is gone, then stops the consumers and waits for their
    /// writers to finish.
    pub fn run(mut self, input: &flume::Receiver<Input>) {
        // Before the first event: consumers apply what is waiting for them
        // (the dynamic flow logs' first config).
        let mut next_tick = self.tick(Instant::now());
        loop {
            match input.recv_deadline(next_tick) {
                Ok(first) => {
                    let stop = std::iter::once(first)
                        .chain(input.try_iter().take(EVENTS_PER_TICK))
                        .any(|next| self.handle(next).is_break());
                    if stop {
                        break;
                    }
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => break,
            }
            next_tick = self.tick(Instant::now());
            if input.is_empty() {
                // Input is idle: let the writers have what is pending, so a
                // quiet stream's lines reach the files at once.
                self.flush();
            }
        }
        for writer in self.stop() {
            writer.wait();
        }
    }

    fn handle(&mut self, input: Input) -> ControlFlow<()> {
        match input {
            Input::Event(event) => self.export(&event),
            Input::Lost { cause, count } => self.lost(cause, count),
            Input::Wake => {
                self.tick(Instant::now());
            }
            Input::Stop => return ControlFlow::Break(()),
        }
        ControlFlow::Continue(())
    }

    /// Stops every consumer: aggregated and pending lines are handed to the
    /// writers, which write them, report losses, and close their files.
    /// Returns at once, with the writers still finishing.
    pub fn stop(self) -> Vec<WriterDone> {
        self.consumers.into_iter().flat_map(|consumer| consumer.stop()).collect()
    }
}
