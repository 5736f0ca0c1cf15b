//! The DNS stage of `flowlog run`, between the capture and the endpoints'
//! names: turns the capture's DNS packets into L7 flows, and names the
//! addresses of every flow from what the answers said.
//!
//! ```text
//! Captured::Dns(flow, payload) ─▶ DnsPacket ─▶ DnsObserver::observe ─▶ L7 flows (then named as any flow)
//!                                                    └─▶ skipped: logged (debug) and counted
//! every flow ─▶ DnsObserver::name ─▶ source_names, destination_names
//! ```

use std::net::{IpAddr, SocketAddr};

use flowlog_capture_ebpf::DnsPayload;
use flowlog_dns::{CacheLimits, DnsObserver, DnsPacket, Skipped, Transport};
use flowlog_flow::Flow;
use flowlog_flow::layer4::Protocol;
use flowlog_metrics::dns::DnsMetrics;

/// The DNS observer, and where it reports.
#[derive(Debug)]
pub struct DnsStage {
    observer: DnsObserver,
    metrics: Option<DnsMetrics>,
}

impl DnsStage {
    /// A stage whose cache keeps names within `limits`, counting into `metrics`.
    pub fn new(limits: CacheLimits, metrics: Option<DnsMetrics>) -> Self {
        DnsStage { observer: DnsObserver::new(limits), metrics }
    }

    /// The L7 flows of one DNS packet whose L3/L4 flow is `flow`, its
    /// endpoints not yet named; what gives no flow is logged and counted.
    pub fn observe(&mut self, flow: &Flow, (source, destination): (IpAddr, IpAddr), payload: &DnsPayload) -> Vec<Flow> {
        let Some(packet) = packet(flow, source, destination, payload) else { return Vec::new() };
        let mut flows = Vec::new();
        for outcome in self.observer.observe(flow, &packet) {
            match outcome {
                Ok(flow) => flows.push(flow),
                Err(skipped) => self.skipped(skipped, &packet),
            }
        }
        if let Some(metrics) = &self.metrics {
            metrics.cache_addresses(self.observer.cache().len());
        }
        flows
    }

    /// Fills `flow`'s `source_names` and `destination_names`.
    pub fn name(&self, flow: &mut Flow, source: IpAddr, destination: IpAddr) {
        self.observer.name(flow, source, destination);
    }

    /// A DNS payload that gave no flow: one debug line and one count.
    fn skipped(&self, skipped: Skipped, packet: &DnsPacket<'_>) {
        tracing::debug!(
            reason = skipped.reason(),
            source = %packet.source,
            destination = %packet.destination,
            bytes = packet.payload.len(),
            "DNS payload skipped"
        );
        if let Some(metrics) = &self.metrics {
            metrics.skipped(skipped.reason());
        }
    }
}

/// What the DNS observer needs of a captured DNS packet; `None` for a
/// packet that is neither TCP nor UDP.
fn packet<'a>(flow: &Flow, source: IpAddr, destination: IpAddr, payload: &'a DnsPayload) -> Option<DnsPacket<'a>> {
    let (source_port, destination_port, transport) = match flow.l4.as_ref()?.protocol.as_ref()? {
        Protocol::Udp(udp) => (udp.source_port, udp.destination_port, Transport::Udp),
        Protocol::Tcp(tcp) => {
            let flags = tcp.flags.unwrap_or_default();
            let flags = u8::from(flags.fin) | u8::from(flags.syn) << 1 | u8::from(flags.rst) << 2;
            (tcp.source_port, tcp.destination_port, Transport::Tcp { seq: payload.tcp_seq, flags })
        }
        _ => return None,
    };
    Some(DnsPacket {
        source: SocketAddr::new(source, u16::try_from(source_port).ok()?),
        destination: SocketAddr::new(destination, u16::try_from(destination_port).ok()?),
        interface: flow.interface.as_ref().map_or(0, |interface| interface.index),
        transport,
        payload: &payload.bytes,
        cut: payload.is_cut(),
    })
}
