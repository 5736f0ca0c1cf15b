//! `flowlog run`: the agent. Captures this node's flows with eBPF and feeds
//! them to the exporters until SIGINT or SIGTERM.
//!
//! Start-up happens in an order that loses nothing and leaves nothing behind
//! on failure: the exporters and the metrics endpoint first (a bad option or
//! a busy port stops us before anything touches the kernel), then the
//! capture. On a signal the capture stops first (programs detached, queued
//! records handed out), then the pipeline writes everything pending and
//! closes its files.

use std::path::{Path, PathBuf};

use crossbeam_channel::Sender;
use flowlog_capture_ebpf::CaptureOptions;
use flowlog_capture_ebpf::endpoints::{Endpoints, SharedEndpoints, node_addresses};
use flowlog_capture_ebpf::interfaces::InterfaceEvent;
use flowlog_capture_ebpf::session::{Captured, Session, SessionOptions};
use flowlog_export::dynamic::{Requester, Watcher};
use flowlog_export::lost::LossCause;
use flowlog_export::{Input, WhenFull};
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::{ExportEvent, Flow, LostEventSource};
use flowlog_metrics::Metrics;

use crate::Failure;
use crate::cli::{CaptureArgs, RunArgs};
use crate::exporters::Exporters;

/// Flows decoded ahead of the pipeline. Beyond this the capture thread
/// waits and the kernel's ring buffer absorbs the burst; what overflows it
/// is counted and reported as `lost_events`.
const INPUT_QUEUE: usize = 16 * 1024;

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    if args.capture.interfaces.is_empty() {
        return Err(Failure::Config(vec![
            "nothing to capture on: set --interface (e.g. 'eth*' or 'lxc*:endpoint'), here or in the --config file"
                .into(),
        ]));
    }
    let node_name = crate::node_name(&args.common);
    let endpoints = load_endpoints(args.capture.endpoints_file.as_deref())?;
    // Live capture must never wait for one slow disk: a full sink drops and
    // reports its loss instead.
    let Exporters { pipeline, sender, receiver, metrics, flowlogs } =
        crate::exporters::start(&args.common, &node_name, WhenFull::Drop, INPUT_QUEUE)?;

    let (session, attached) = Session::start(session_options(&args.capture, &node_name, endpoints.clone()))
        .map_err(|e| Failure::Runtime(format!("cannot start capturing: {}", error_chain(&e))))?;
    attached.iter().for_each(log_interface);
    if session.interfaces().attached().next().is_none() {
        tracing::warn!(
            patterns = %args.capture.interfaces.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            "no interface matches --interface yet; capturing drops only, and interfaces as they appear"
        );
    }

    let endpoints_watcher = match &args.capture.endpoints_file {
        Some(path) => Some(watch_endpoints(path.clone(), endpoints)?),
        None => None,
    };

    let stop = session.stop_handle();
    let reloads: Vec<Requester> = flowlogs.iter().chain(&endpoints_watcher).map(Watcher::requester).collect();
    crate::signals::handle(move || stop.stop(), move || reloads.iter().for_each(Requester::request))
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let metrics = metrics.as_ref().map(|endpoint| endpoint.metrics.clone());
    let capture = std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || capture_flows(session, &node_name, sender, metrics.as_ref()))
        .map_err(|e| Failure::Runtime(e.to_string()))?;

    tracing::info!("capturing; SIGINT or SIGTERM stops");
    pipeline.run(&receiver);
    capture.join().map_err(|_| Failure::Runtime("the capture thread panicked".into()))?
}

fn session_options(args: &CaptureArgs, node_name: &str, endpoints: SharedEndpoints) -> SessionOptions {
    SessionOptions {
        capture: CaptureOptions {
            aggregation: args.monitor_aggregation,
            report_interval: args.monitor_aggregation_interval,
            ring_buffer_bytes: args.ring_buffer_size_kb.saturating_mul(1024),
            report_unspecified_drops: args.report_unspecified_drops,
            drops: args.capture_drops,
            tc_mode: args.tc_mode,
        },
        interfaces: args.interfaces.clone(),
        node_name: node_name.to_owned(),
        endpoints,
    }
}

/// Runs the capture until it is stopped, then tells the pipeline to finish.
/// Every flow and loss is counted in `metrics` as it is handed on, before
/// the exporters' filters, as Hubble counts the flows it processes.
fn capture_flows(
    session: Session,
    node_name: &str,
    pipeline: Sender<Input>,
    metrics: Option<&Metrics>,
) -> Result<(), Failure> {
    let flows = metrics.map(Metrics::flows);
    let result = session.run(|captured| match captured {
        Captured::Flow(flow) => {
            if let Some(flows) = flows {
                flows.observe_flow(&flow);
            }
            pipeline.send(Input::Event(Box::new(export_event(*flow)))).is_ok()
        }
        Captured::Lost(count) => {
            if let Some(flows) = flows {
                flows.lost(LostEventSource::PerfEventRingBuffer, count);
            }
            pipeline.send(Input::Loss { cause: LossCause::KernelRingBuffer, count }).is_ok()
        }
        Captured::Interface(event) => {
            log_interface(&event);
            true
        }
    });
    let result = result.map_err(|e| format!("reading captured flows failed: {e}"));
    if let (Err(error), Some(metrics)) = (&result, metrics) {
        metrics.health().capture_failed(error);
    }
    tracing::info!(node = node_name, "capture stopped; writing what is pending");
    let _ = pipeline.send(Input::Stop);
    result.map_err(Failure::Runtime)
}

/// A flow as the exporter writes it, stamped with the flow's own time and node.
fn export_event(flow: Flow) -> ExportEvent {
    ExportEvent { time: flow.time, node_name: flow.node_name.clone(), response_types: Some(ResponseTypes::Flow(flow)) }
}

fn log_interface(event: &InterfaceEvent) {
    match event {
        InterfaceEvent::Failed { .. } => tracing::warn!("{event}"),
        _ => tracing::info!("{event}"),
    }
}

fn load_endpoints(path: Option<&Path>) -> Result<SharedEndpoints, Failure> {
    let endpoints = match path {
        Some(path) => Endpoints::load(path).map_err(|e| Failure::Config(vec![error_chain(&e)]))?,
        None => Endpoints::default(),
    };
    Ok(SharedEndpoints::new(with_node_addresses(endpoints)))
}

/// The table with this node's own addresses as `reserved:host`.
fn with_node_addresses(endpoints: Endpoints) -> Endpoints {
    match node_addresses() {
        Ok(addresses) => endpoints.with_node_addresses(addresses),
        Err(error) => {
            tracing::warn!(%error, "cannot list this node's addresses; they will show as reserved:world");
            endpoints
        }
    }
}

/// Replaces the endpoint table whenever the endpoints file changes; a file
/// that does not parse is reported and the table in use is kept.
fn watch_endpoints(path: PathBuf, endpoints: SharedEndpoints) -> Result<Watcher, Failure> {
    let mut last_text = std::fs::read(&path).ok();
    let watched = path.clone();
    let watcher = Watcher::start(&watched, crate::CONFIG_POLL, move |_| {
        let text = std::fs::read(&path).ok();
        if text == last_text {
            return;
        }
        last_text = text;
        match Endpoints::load(&path) {
            Ok(table) => {
                tracing::info!(file = %path.display(), addresses = table.len(), "endpoints reloaded");
                endpoints.replace(with_node_addresses(table));
            }
            Err(error) => tracing::error!("{}; keeping the endpoints in use", error_chain(&error)),
        }
    })
    .map_err(|e| Failure::Runtime(format!("cannot watch {}: {e}", watched.display())))?;
    watcher.request();
    Ok(watcher)
}

/// An error and its causes, `outer: inner: innermost`, so the kernel's own
/// words (and the verifier's) reach the operator.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
