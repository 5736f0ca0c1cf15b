//! `flowlog replay`: Hubble export lines in, through the exporters, out.
//!
//! A reader thread decodes lines and feeds the pipeline; the calling thread
//! runs the pipeline until the input ends or a signal arrives. With
//! `--flowlogs-config-path`, the dynamic flow logs are watched and applied
//! while the replay runs.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;
use flowlog_export::dynamic::{Requester, Watcher};
use flowlog_export::{Input, WhenFull};
use flowlog_flow::decode::ExportLines;
use flowlog_flow::export_event::ResponseTypes;
use flowlog_metrics::FlowMetrics;

use crate::Failure;
use crate::cli::ReplayArgs;
use crate::exporters::Exporters;
use crate::follow::Follow;

/// Events decoded ahead of the pipeline.
const INPUT_QUEUE: usize = 4096;

pub fn run(args: &ReplayArgs) -> Result<(), Failure> {
    let node_name = crate::node_name(&args.common);
    // A replay must not lose lines, so a slow sink holds the reader back.
    let Exporters { pipeline, sender, receiver, metrics, flowlogs } =
        crate::exporters::start(&args.common, &node_name, WhenFull::Wait, INPUT_QUEUE)?;

    // Signals are handled before the input is opened, which may wait (a
    // FIFO's writer): a SIGHUP then must not kill us. A stop while waiting
    // exits at once, since nothing has been read that needs writing.
    let reading = Arc::new(AtomicBool::new(false));
    let stop = sender.clone();
    let reload = flowlogs.as_ref().map(Watcher::requester);
    let started = Arc::clone(&reading);
    crate::signals::handle(
        move || {
            if !started.load(Ordering::SeqCst) {
                std::process::exit(0);
            }
            let _ = stop.send(Input::Stop);
        },
        move || reload.iter().for_each(Requester::request),
    )
    .map_err(|e| Failure::Runtime(e.to_string()))?;
    // Opened last: by then the exporters are running and the config is watched.
    let input = open_input(&args.input, args.follow)?;
    reading.store(true, Ordering::SeqCst);
    let source = args.input.clone();
    let flows = metrics.as_ref().map(|endpoint| endpoint.metrics.flows().clone());
    std::thread::Builder::new()
        .name("replay-reader".into())
        .spawn(move || read_events(input, &source, &node_name, &sender, flows.as_ref()))
        .map_err(|e| Failure::Runtime(e.to_string()))?;

    pipeline.run(&receiver);
    Ok(())
}

fn open_input(path: &str, follow: bool) -> Result<Box<dyn BufRead + Send>, Failure> {
    let reader: Box<dyn Read + Send> = match path {
        "-" if follow => return Err(Failure::Config(vec!["--follow needs --input to name a file".into()])),
        "-" => Box::new(std::io::stdin()),
        path => {
            let file = File::open(path).map_err(|e| Failure::Runtime(format!("cannot open --input {path}: {e}")))?;
            if follow { Box::new(Follow::new(file)) } else { Box::new(file) }
        }
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
}

/// Decodes every line of `input` into the pipeline; malformed lines are
/// reported with their number and skipped. At the end of input the pipeline
/// is told to stop once it has exported everything before. Every event is
/// counted in `flows` as it is handed on, before the exporters' filters, as
/// Hubble counts the flows it processes.
fn read_events(
    input: Box<dyn BufRead + Send>,
    source: &str,
    node_name: &str,
    pipeline: &Sender<Input>,
    flows: Option<&FlowMetrics>,
) {
    let (mut events, mut rejected) = (0u64, 0u64);
    let mut warned_unknown_fields = false;
    for line in ExportLines::new(input) {
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
        // Flows carry their own node name; other events take the input line's
        // or, failing that, ours.
        let event = &mut decoded.event;
        if !matches!(event.response_types, Some(ResponseTypes::Flow(_))) && event.node_name.is_empty() {
            event.node_name = node_name.to_owned();
        }
        if let Some(flows) = flows {
            flows.observe(&decoded.event);
        }
        if pipeline.send(Input::Event(Box::new(decoded.event))).is_err() {
            return;
        }
        events += 1;
    }
    tracing::info!(input = source, events, rejected, "input ended");
    let _ = pipeline.send(Input::Stop);
}
