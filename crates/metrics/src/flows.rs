//! Hubble's flow metrics, counted from every event fed to the pipeline:
//! before the exporters' filters, as Hubble counts every flow it processes.
//!
//! | metric | labels | counts |
//! |---|---|---|
//! | `hubble_flows_processed_total` | `protocol`, `type`, `subtype`, `verdict` | every flow |
//! | `hubble_drop_total` | `reason`, `protocol` | flows with verdict `DROPPED` |
//! | `hubble_tcp_flags_total` | `flag`, `family` | `FIN`, `SYN`, `SYN-ACK` and `RST` of `FORWARDED`/`REDIRECTED` TCP flows |
//! | `hubble_icmp_total` | `family`, `type` | ICMP flows |
//!
//! and the DNS metrics of [`crate::dns`].
//!
//! Label values are Hubble's (see [`crate::hubble`] and [`crate::icmp`]),
//! with one deliberate difference: Hubble labels ICMPv6 messages
//! `family="IPv4"` (a slip in its handler), flowlog labels them `IPv6`.

use std::borrow::Cow;
use std::sync::Arc;

use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::layer4::Protocol;
use flowlog_flow::{ExportEvent, Flow, LostEventSource, Verdict};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::dns::DnsMetrics;
use crate::hubble;
use crate::icmp::{icmpv4_type, icmpv6_type};
use crate::lost::ObservedLosses;

/// A label set: (name, value) pairs in Hubble's label order.
type Labels<const N: usize> = [(&'static str, Cow<'static, str>); N];

/// The flow counters. Cloning shares them; counting takes `&self`, from any thread.
#[derive(Debug, Clone, Default)]
pub struct FlowMetrics {
    flows: Family<Labels<4>, Counter>,
    drops: Family<Labels<2>, Counter>,
    tcp_flags: Family<Labels<2>, Counter>,
    icmp: Family<Labels<2>, Counter>,
    dns: DnsMetrics,
    lost: Arc<ObservedLosses>,
}

impl FlowMetrics {
    /// Counts one event: a flow in the flow metrics, a `lost_events` event
    /// (e.g. a replayed one) in `hubble_lost_events_total` under its source;
    /// other events count nowhere, as in Hubble.
    pub fn observe(&self, event: &ExportEvent) {
        match &event.response_types {
            Some(ResponseTypes::Flow(flow)) => self.observe_flow(flow),
            Some(ResponseTypes::LostEvents(lost)) => {
                let source = LostEventSource::try_from(lost.source).unwrap_or(LostEventSource::UnknownLostEventSource);
                self.lost(source, lost.num_events_lost);
            }
            _ => {}
        }
    }

    /// Counts one flow.
    pub fn observe_flow(&self, flow: &Flow) {
        let protocol = hubble::protocol(flow);
        let (kind, subtype) = hubble::type_and_subtype(flow);
        self.flows
            .get_or_create(&[
                ("protocol", protocol.into()),
                ("type", kind.into()),
                ("subtype", subtype),
                ("verdict", hubble::verdict(flow)),
            ])
            .inc();
        if flow.verdict == Verdict::Dropped as i32 {
            self.drops.get_or_create(&[("reason", hubble::drop_reason(flow)), ("protocol", protocol.into())]).inc();
        }
        self.observe_tcp_flags(flow);
        self.observe_icmp(flow);
        self.dns.observe(flow);
    }

    /// The DNS metrics, which the DNS stage also reports to.
    pub fn dns(&self) -> &DnsMetrics {
        &self.dns
    }

    /// Counts `count` events lost before they reached flowlog's exporters
    /// (the kernel's ring buffer, or a loss an input line reports).
    pub fn lost(&self, source: LostEventSource, count: u64) {
        self.lost.add(source, count);
    }

    fn observe_tcp_flags(&self, flow: &Flow) {
        let forwarded = flow.verdict == Verdict::Forwarded as i32 || flow.verdict == Verdict::Redirected as i32;
        let Some(Protocol::Tcp(tcp)) = flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) else { return };
        let (Some(flags), Some(family), true) = (tcp.flags, hubble::ip_family(flow), forwarded) else { return };
        let syn = match (flags.syn, flags.ack) {
            (false, _) => None,
            (true, false) => Some("SYN"),
            (true, true) => Some("SYN-ACK"),
        };
        let seen = [flags.fin.then_some("FIN"), syn, flags.rst.then_some("RST")];
        for flag in seen.into_iter().flatten() {
            self.tcp_flags.get_or_create(&[("flag", flag.into()), ("family", family.clone())]).inc();
        }
    }

    fn observe_icmp(&self, flow: &Flow) {
        let labels: Labels<2> = match flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) {
            Some(Protocol::IcmPv4(icmp)) => [("family", "IPv4".into()), ("type", icmpv4_type(icmp.r#type, icmp.code))],
            Some(Protocol::IcmPv6(icmp)) => [("family", "IPv6".into()), ("type", icmpv6_type(icmp.r#type, icmp.code))],
            _ => return,
        };
        self.icmp.get_or_create(&labels).inc();
    }

    /// Registers the flow counters under Hubble's names.
    pub(crate) fn register(&self, registry: &mut Registry) {
        // The registry adds the `_total` suffix of counters, and a full stop to the help.
        registry.register("hubble_flows_processed", "Total number of flows processed", self.flows.clone());
        registry.register("hubble_drop", "Number of drops", self.drops.clone());
        registry.register("hubble_tcp_flags", "TCP flag occurrences", self.tcp_flags.clone());
        registry.register("hubble_icmp", "Number of ICMP messages", self.icmp.clone());
        self.dns.register(registry);
    }

    /// The losses counted by [`FlowMetrics::lost`], for the lost-events collector.
    pub(crate) fn observed_losses(&self) -> Arc<ObservedLosses> {
        Arc::clone(&self.lost)
    }
}
