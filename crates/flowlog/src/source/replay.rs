//! `flowlog replay`'s source: Hubble export lines from a file, a FIFO or
//! standard input.
//!
//! A reader thread of its own opens the input (opening a FIFO waits for its
//! writer), decodes each line and sends it to the pipeline, waiting when
//! the pipeline is full: a replay loses nothing. Malformed lines are
//! reported with their number and skipped. Told to stop, the source stops
//! handing lines on at once, even while the thread still waits for input.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use flowlog_export::{Input, InputSender};
use flowlog_flow::decode::ExportLines;
use flowlog_flow::export_event::ResponseTypes;
use flowlog_metrics::FlowMetrics;
use tokio::sync::{oneshot, watch};

use super::follow::Follow;
use super::stopped;
use crate::cli::ReplayArgs;
use crate::error::{ConfigError, Failure, RuntimeError};

/// What to replay, not opened yet.
#[derive(Debug)]
pub struct ReplaySource {
    path: String,
    follow: bool,
    node_name: String,
    flows: Option<FlowMetrics>,
}

impl ReplaySource {
    /// The input `args` name; checked, not opened.
    pub fn new(args: &ReplayArgs, node_name: &str, flows: Option<FlowMetrics>) -> Result<Self, Failure> {
        if args.input == "-" && args.follow {
            return Err(ConfigError::FollowStdin.into());
        }
        Ok(Self { path: args.input.clone(), follow: args.follow, node_name: node_name.to_owned(), flows })
    }

    /// Reads the input into `input` until it ends or `stop` turns true.
    pub async fn run(self, input: InputSender, mut stop: watch::Receiver<bool>) -> Result<(), Failure> {
        let stopping = Arc::new(AtomicBool::new(false));
        let (done, finished) = oneshot::channel();
        let reader = Reader { source: self, input, stopping: Arc::clone(&stopping) };
        std::thread::Builder::new()
            .name("replay-reader".into())
            .spawn(move || {
                let _ = done.send(reader.read());
            })
            .map_err(|error| RuntimeError::Start { what: "the replay's reader thread", error })?;
        tokio::select! {
            // A reader that panicked (a bug; the panic is in the log) ended the input.
            finished = finished => finished.unwrap_or(Err(RuntimeError::ReaderPanicked.into())),
            () = stopped(&mut stop) => {
                // The thread may be waiting for input that never comes; it
                // hands nothing on from now, and ends with the process.
                stopping.store(true, Ordering::Relaxed);
                Ok(())
            }
        }
    }
}

/// The reader thread's part.
struct Reader {
    source: ReplaySource,
    input: InputSender,
    stopping: Arc<AtomicBool>,
}

impl Reader {
    /// Decodes every line of the input into the pipeline.
    fn read(self) -> Result<(), Failure> {
        let lines = open(&self.source.path, self.source.follow)?;
        let source = self.source.path.as_str();
        let (mut events, mut rejected) = (0u64, 0u64);
        let mut warned_unknown_fields = false;
        for line in ExportLines::new(lines) {
            if self.stopping.load(Ordering::Relaxed) {
                break;
            }
            let mut decoded = match line {
                Ok(decoded) => decoded,
                Err(error) => {
                    rejected += 1;
                    tracing::warn!(input = source, "skipping {error}");
                    continue;
                }
            };
            if decoded.dropped_unknown_fields && !warned_unknown_fields {
                warned_unknown_fields = true;
                tracing::warn!(
                    input = source,
                    "input has fields this flowlog does not know (from a newer Cilium?); they are dropped"
                );
            }
            // Flows carry their own node name; other events take the input
            // line's or, failing that, ours.
            let event = &mut decoded.event;
            if !matches!(event.response_types, Some(ResponseTypes::Flow(_))) && event.node_name.is_empty() {
                event.node_name.clone_from(&self.source.node_name);
            }
            if let Some(flows) = &self.source.flows {
                flows.observe(&decoded.event);
            }
            if self.input.send(Input::Event(Arc::new(decoded.event))).is_err() {
                break;
            }
            events += 1;
        }
        tracing::info!(input = source, events, rejected, "input ended");
        Ok(())
    }
}

fn open(path: &str, follow: bool) -> Result<Box<dyn BufRead>, Failure> {
    let reader: Box<dyn Read> = match path {
        "-" => Box::new(std::io::stdin()),
        path => {
            let file = File::open(path).map_err(|error| RuntimeError::OpenInput { path: path.to_owned(), error })?;
            if follow { Box::new(Follow::new(file)) } else { Box::new(file) }
        }
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
}
