//! `flowlog run`'s source: the eBPF capture, the DNS stage, then the
//! enrichment stage that names each flow's endpoints.
//!
//! ```text
//! Session (ring buffer, netlink) ─ CapturedFlow ──────────────────────┐
//!                                └ DNS packet ─▶ DnsStage::observe ─ L7 flows ─┴▶ SharedEndpoints::enrich ─▶ DnsStage::name ─▶ flow metrics ─▶ pipeline input
//! ```
//!
//! Built after the exporters and the metrics endpoint (a bad option or a
//! busy port stops the agent before anything touches the kernel). Stopping
//! detaches the programs first, then hands out the records the kernel still
//! holds.

use std::net::IpAddr;
use std::sync::Arc;

use flowlog_capture_ebpf::CaptureOptions;
use flowlog_capture_ebpf::interfaces::InterfaceEvent;
use flowlog_capture_ebpf::session::{Captured, CapturedFlow, Session, SessionOptions, StopHandle};
use flowlog_config::Requester;
use flowlog_enrich::{EndpointsFile, Kubernetes, NodeAddresses, SharedEndpoints};
use flowlog_export::lost::LossCause;
use flowlog_export::{Input, InputSender};
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::{ExportEvent, Flow, LostEventSource};
use flowlog_metrics::Metrics;
use tokio::sync::watch;

use super::dns::DnsStage;
use super::stopped;
use crate::cli::CaptureArgs;
use crate::error::{ConfigError, Failure, RuntimeError};

/// The capture, loaded and attached, and the endpoints its flows are named from.
#[derive(Debug)]
pub struct CaptureSource {
    session: Session,
    endpoints: SharedEndpoints,
    /// `None` when `--dns-ports` is empty.
    dns: Option<DnsStage>,
    metrics: Option<Metrics>,
}

impl CaptureSource {
    /// Reads the endpoints file, lists the node's addresses, starts
    /// watching `kubernetes` (if on), loads the programs and attaches them
    /// to the interfaces that match. Returns the source and what makes the
    /// endpoints file be read again (SIGHUP).
    pub fn start(
        args: &CaptureArgs,
        node_name: &str,
        metrics: Option<Metrics>,
        kubernetes: Option<Kubernetes>,
    ) -> Result<(Self, Vec<Requester>), Failure> {
        if args.interfaces.is_empty() {
            return Err(ConfigError::NothingToCapture.into());
        }
        let limits = args.dns.cache_limits();
        if limits.min_ttl > limits.max_ttl {
            return Err(ConfigError::DnsCacheTtls { min: limits.min_ttl, max: limits.max_ttl }.into());
        }
        let dns_metrics = metrics.as_ref().map(|metrics| metrics.flows().dns().clone());
        let dns = (!args.dns.dns_ports.0.is_empty()).then(|| DnsStage::new(limits, dns_metrics));
        // Named in this order: the endpoints file wins over the node's own
        // addresses, which win over what Kubernetes says.
        let endpoints = SharedEndpoints::default();
        let mut reloads = Vec::new();
        if let Some(path) = &args.endpoints_file {
            let file = EndpointsFile::open(path.clone()).map_err(ConfigError::from)?;
            tracing::info!(file = %path.display(), addresses = file.len(), "endpoints read");
            reloads.push(file.watcher().requester());
            endpoints.add_source(file);
        }
        endpoints.add_source(NodeAddresses::list());
        if let Some(kubernetes) = kubernetes {
            tracing::info!(server = %kubernetes.server(), "naming flows from the Kubernetes API");
            endpoints.add_source(kubernetes);
        }

        let (session, attached) = Session::start(session_options(args, node_name)).map_err(RuntimeError::Capture)?;
        attached.iter().for_each(log_interface);
        if session.interfaces().attached().next().is_none() {
            tracing::warn!(
                patterns = %args.interfaces.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                "no interface matches --interface yet; capturing drops only, and interfaces as they appear"
            );
        }
        Ok((Self { session, endpoints, dns, metrics }, reloads))
    }

    /// Captures until `stop` turns true or the pipeline is gone, then
    /// detaches and hands out what the kernel still holds.
    pub async fn run(self, input: InputSender, mut stop: watch::Receiver<bool>) -> Result<(), Failure> {
        let Self { session, endpoints, mut dns, metrics } = self;
        let stopper: StopHandle = session.stop_handle();
        let flows = metrics.as_ref().map(Metrics::flows);
        // Names the flow's endpoints and addresses, counts it and hands it on.
        let forward = async |mut flow: Flow, addresses: Option<(IpAddr, IpAddr)>, dns: &Option<DnsStage>| {
            if let Some((source, destination)) = addresses {
                endpoints.enrich_addrs(&mut flow, source, destination);
                if let Some(dns) = dns {
                    dns.name(&mut flow, source, destination);
                }
            }
            if let Some(flows) = flows {
                flows.observe_flow(&flow);
            }
            send(&input, Input::Event(Arc::new(export_event(flow)))).await
        };
        let capture = session.run(async |captured| match captured {
            Captured::Flow(CapturedFlow { flow, addresses }) => forward(*flow, addresses, &dns).await,
            Captured::Dns(CapturedFlow { flow, addresses: Some(addresses) }, payload) => {
                let Some(stage) = &mut dns else { return true };
                for l7 in stage.observe(&flow, addresses, &payload) {
                    if !forward(l7, Some(addresses), &dns).await {
                        return false;
                    }
                }
                true
            }
            // Not IP: no DNS to read.
            Captured::Dns(CapturedFlow { addresses: None, .. }, _) => true,
            Captured::Lost(count) => {
                if let Some(flows) = flows {
                    flows.lost(LostEventSource::PerfEventRingBuffer, count);
                }
                send(&input, Input::Lost { cause: LossCause::KernelRingBuffer, count }).await
            }
            Captured::Interface(event) => {
                log_interface(&event);
                true
            }
        });
        tokio::pin!(capture);
        let result = tokio::select! {
            result = &mut capture => result,
            () = stopped(&mut stop) => {
                stopper.stop();
                capture.await
            }
        };
        if let (Err(error), Some(metrics)) = (&result, &metrics) {
            metrics.health().capture_failed(&error.to_string());
        }
        tracing::info!("capture stopped");
        result.map_err(|error| RuntimeError::CaptureRead(error).into())
    }
}

/// Sends `next` to the pipeline, waiting only when its input is full; false
/// once the pipeline is gone. Most sends find room: they take the cheap way.
async fn send(input: &InputSender, next: Input) -> bool {
    match input.try_send(next) {
        Ok(()) => true,
        Err(flume::TrySendError::Full(next)) => input.send_async(next).await.is_ok(),
        Err(flume::TrySendError::Disconnected(_)) => false,
    }
}

fn session_options(args: &CaptureArgs, node_name: &str) -> SessionOptions {
    SessionOptions {
        capture: CaptureOptions {
            aggregation: args.monitor_aggregation,
            report_interval: args.monitor_aggregation_interval,
            ring_buffer_bytes: args.ring_buffer_size_kb.saturating_mul(1024),
            report_unspecified_drops: args.report_unspecified_drops,
            drops: args.capture_drops,
            tc_mode: args.tc_mode,
            dns_ports: args.dns.dns_ports.0.clone(),
        },
        interfaces: args.interfaces.clone(),
        node_name: node_name.to_owned(),
    }
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
