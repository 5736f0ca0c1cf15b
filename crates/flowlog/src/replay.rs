//! `flowlog replay`: Hubble export lines in, through the exporters, out.
//!
//! A reader thread decodes lines and feeds the pipeline; the calling thread
//! runs the pipeline until the input ends or a signal arrives. With
//! `--flowlogs-config-path`, the dynamic flow logs are watched and applied
//! while the replay runs.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use crossbeam_channel::Sender;
use flowlog_export::dynamic::{ReloadStats, Reloader, Watcher};
use flowlog_export::{Exporter, Input, Origin, Pipeline, SinkSettings, WhenFull};
use flowlog_flow::decode::ExportLines;
use flowlog_flow::export_event::ResponseTypes;

use crate::Failure;
use crate::cli::ReplayArgs;
use crate::follow::Follow;

/// Events decoded ahead of the pipeline.
const INPUT_QUEUE: usize = 4096;

pub fn run(args: &ReplayArgs) -> Result<(), Failure> {
    let common = &args.common;
    let node_name = crate::node_name(common);
    let static_spec = crate::static_exporter::spec(&common.export).map_err(Failure::Config)?;
    if static_spec.is_none() && common.flowlogs_config_path.is_none() {
        return Err(Failure::Config(vec![
            "nothing to export to: set --export-file-path (a file, or stdout), --flowlogs-config-path, or both".into(),
        ]));
    }
    // A replay must not lose lines, so a slow sink holds the reader back.
    let settings = SinkSettings::new(&node_name, WhenFull::Wait);
    let reserved_path = static_spec.as_ref().map(|spec| spec.target.describe());
    let static_exporter = static_spec
        .map(|spec| Exporter::start(spec, Origin::Static, &settings))
        .transpose()
        .map_err(|e| Failure::Runtime(format!("cannot start the static exporter: {e}")))?;
    let mut pipeline = Pipeline::new(static_exporter.into_iter().collect(), settings);

    let (sender, receiver) = crossbeam_channel::bounded(INPUT_QUEUE);
    let _watcher = match &common.flowlogs_config_path {
        Some(path) => {
            let stats = Arc::new(ReloadStats::default());
            let mut reloader = Reloader::new(path.clone(), reserved_path, Arc::clone(&stats));
            let (hash, entries) = reloader.initial_entries();
            stats.applied(hash, &pipeline.reconfigure(entries));
            let updates = sender.clone();
            let watcher = Watcher::start(path, crate::CONFIG_POLL, move |trigger| reloader.reload(trigger, &updates))
                .map_err(|e| Failure::Runtime(format!("cannot watch {}: {e}", path.display())))?;
            // A change made between the first read and the start of watching
            // raised no event: read once more now that changes are seen.
            watcher.request();
            Some(watcher)
        }
        None => None,
    };

    // Opened last: opening a FIFO waits for its writer, and by then the
    // exporters are running and the config is watched.
    let input = open_input(&args.input, args.follow)?;
    let stop = sender.clone();
    crate::signals::on_stop_signal(move || {
        let _ = stop.send(Input::Stop);
    })
    .map_err(|e| Failure::Runtime(e.to_string()))?;
    let source = args.input.clone();
    std::thread::Builder::new()
        .name("replay-reader".into())
        .spawn(move || read_events(input, &source, &node_name, &sender))
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
/// is told to stop once it has exported everything before.
fn read_events(input: Box<dyn BufRead + Send>, source: &str, node_name: &str, pipeline: &Sender<Input>) {
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
        if pipeline.send(Input::Event(Box::new(decoded.event))).is_err() {
            return;
        }
        events += 1;
    }
    tracing::info!(input = source, events, rejected, "input ended");
    let _ = pipeline.send(Input::Stop);
}
