//! `flowlog replay`'s source: Hubble export lines from files (gzipped or
//! not, in time order: [`inputs`](super::inputs)), a FIFO or standard input.
//!
//! A reader thread of its own opens each input in turn (opening a FIFO
//! waits for its writer), decodes each line and sends it to the pipeline,
//! waiting when the pipeline is full: a replay loses nothing. Malformed
//! lines are reported with their input and number and skipped; events
//! outside `--since`/`--until` are passed over. Told to stop, the source
//! stops handing lines on at once, even while the thread still waits for
//! input.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use flowlog_export::{Input as PipelineInput, InputSender};
use flowlog_flow::decode::ExportLines;
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::{ExportEvent, Timestamp};
use flowlog_metrics::FlowMetrics;
use tokio::sync::{oneshot, watch};

use super::inputs::{self, Input};
use super::stopped;
use crate::cli::ReplayArgs;
use crate::error::{ConfigError, Failure, RuntimeError};

/// What to replay, not opened yet.
#[derive(Debug)]
pub struct ReplaySource {
    inputs: Vec<Input>,
    follow: bool,
    window: Window,
    node_name: String,
    flows: Option<FlowMetrics>,
}

impl ReplaySource {
    /// The inputs `args` name, found and ordered, not opened.
    pub fn new(args: &ReplayArgs, node_name: &str, flows: Option<FlowMetrics>) -> Result<Self, Failure> {
        let inputs = inputs::resolve(&args.input)?;
        if args.follow {
            match inputs.as_slice() {
                [Input::Stdin] => return Err(ConfigError::FollowStdin.into()),
                [_] => {}
                many => return Err(ConfigError::FollowMany { count: many.len() }.into()),
            }
        }
        let window = Window {
            since: args.since.as_deref().map(|value| window_time("since", value)).transpose()?,
            until: args.until.as_deref().map(|value| window_time("until", value)).transpose()?,
        };
        Ok(Self { inputs, follow: args.follow, window, node_name: node_name.to_owned(), flows })
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
    /// Decodes every line of every input into the pipeline.
    fn read(self) -> Result<(), Failure> {
        let mut warned_unknown_fields = false;
        for input in &self.source.inputs {
            if !self.read_input(input, &mut warned_unknown_fields)? {
                break;
            }
        }
        Ok(())
    }

    /// Decodes every line of `input` into the pipeline; false when the
    /// replay is to stop.
    fn read_input(&self, input: &Input, warned_unknown_fields: &mut bool) -> Result<bool, Failure> {
        let lines = input.open(self.source.follow)?;
        let name = input.name();
        let source = name.as_str();
        let (mut events, mut rejected, mut outside) = (0u64, 0u64, 0u64);
        let mut going_on = true;
        for line in ExportLines::new(lines) {
            if self.stopping.load(Ordering::Relaxed) {
                going_on = false;
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
            if decoded.unknown_fields > 0 && !*warned_unknown_fields {
                *warned_unknown_fields = true;
                tracing::warn!(
                    input = source,
                    "input has fields this flowlog does not know (from a newer Cilium?); they are dropped"
                );
            }
            if !self.source.window.holds(&decoded.event) {
                outside += 1;
                continue;
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
            if self.input.send(PipelineInput::Event(Arc::new(decoded.event))).is_err() {
                going_on = false;
                break;
            }
            events += 1;
        }
        tracing::info!(input = source, events, rejected, outside_the_window = outside, "input ended");
        Ok(going_on)
    }
}

/// `--since` and `--until`: the events replayed are those whose time is at
/// or after `since` and before `until`. An event without a time is kept.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    since: Option<Timestamp>,
    until: Option<Timestamp>,
}

impl Window {
    fn holds(&self, event: &ExportEvent) -> bool {
        let flow_time = match &event.response_types {
            Some(ResponseTypes::Flow(flow)) => flow.time,
            _ => None,
        };
        let Some(time) = event.time.or(flow_time) else { return true };
        let key = |t: &Timestamp| (t.seconds, t.nanos);
        self.since.is_none_or(|since| key(&time) >= key(&since))
            && self.until.is_none_or(|until| key(&time) < key(&until))
    }
}

/// A `--since`/`--until` value: an RFC 3339 time, or a Go duration before now.
fn window_time(flag: &'static str, value: &str) -> Result<Timestamp, ConfigError> {
    let refused = || ConfigError::ReplayWindow { flag, value: value.to_owned() };
    if let Ok(time) = flowlog_flow::json::read::parse_timestamp(value) {
        return Ok(time);
    }
    let ago = flowlog_config::parse_go_duration(value).map_err(|_| refused())?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let then = now.checked_sub(ago).ok_or_else(refused)?;
    Ok(Timestamp { seconds: then.as_secs() as i64, nanos: then.subsec_nanos() as i32 })
}
