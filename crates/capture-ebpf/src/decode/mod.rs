//! Turns a [`FlowRecord`] into a Hubble [`Flow`].
//!
//! The kernel programs report what they can see cheaply (addresses, ports,
//! flags, a monotonic timestamp, a kernel drop reason number); this module
//! adds what only userspace knows: wall-clock time, the node name, the
//! interface's name and role, and the names of kernel drop reasons on the
//! running kernel.
//!
//! # Direction and observation point
//!
//! The tc programs report the direction relative to the interface; Hubble
//! reports it relative to the endpoint. On the host side of a pod's veth the
//! two are opposite: what the host side *receives* is what the pod *sent*.
//!
//! | interface role | tc direction | `traffic_direction` | `trace_observation_point` | `event_type.sub_type` |
//! |---|---|---|---|---|
//! | [`InterfaceRole::Endpoint`] | ingress | EGRESS | FROM_ENDPOINT | 5 |
//! | [`InterfaceRole::Endpoint`] | egress | INGRESS | TO_ENDPOINT | 0 |
//! | [`InterfaceRole::Network`] | ingress | INGRESS | FROM_NETWORK | 10 |
//! | [`InterfaceRole::Network`] | egress | EGRESS | TO_NETWORK | 11 |
//! | no interface given | ingress | INGRESS | FROM_NETWORK | 10 |
//! | no interface given | egress | EGRESS | TO_NETWORK | 11 |
//!
//! Trace events have `event_type.type` 4 and the observation point as
//! sub-type, except TO_ENDPOINT: its enum number (101) is Hubble's own, the
//! datapath sub-type Cilium emits for it is 0, and that is what Hubble tools
//! expect in `event_type`.
//!
//! Drop records come from `skb:kfree_skb`, which does not say where the
//! packet was going: their direction is TRAFFIC_DIRECTION_UNKNOWN and their
//! observation point is unset.
//!
//! # Drop reasons
//!
//! Drops have `event_type.type` 1 and the Hubble [`DropReason`](flowlog_flow::DropReason) number as
//! sub-type; the kernel's reason is matched by name, and kept in `Summary`.
//! The kernel → Hubble table, and how the names are read from the running
//! kernel, are with the code in `decode/drop_reasons.rs` ([`DropReasonNames`]).

mod clock;
mod drop_reasons;
mod format;
mod summary;

use std::fmt::Write as _;
use std::net::IpAddr;

use flowlog_flow::layer4::Protocol;
use flowlog_flow::{
    CiliumEventType, Ethernet, Flow, FlowType, IcmPv4, IcmPv6, Ip, IpVersion, Layer4, NetworkInterface, Sctp, Tcp,
    TcpFlags, TraceObservationPoint, TrafficDirection, Udp, Verdict,
};

use self::clock::ClockOffset;
pub use self::drop_reasons::DropReasonNames;
use self::drop_reasons::hubble_drop_reason;
use self::format::{format_ip, format_mac};
use self::summary::trace_summary;
use crate::record::{Direction, FlowRecord, Kind, Reply, tcp_flags};

/// Cilium monitor event type of drop notifications.
const EVENT_DROP: i32 = 1;
/// Cilium monitor event type of trace notifications.
const EVENT_TRACE: i32 = 4;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_SCTP: u8 = 132;

/// What the interface a trace record was taken on is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InterfaceRole {
    /// The host side of a pod's veth pair: traffic through it is the pod's.
    Endpoint,
    /// The node's uplink: traffic through it comes from or goes to the network.
    Network,
}

/// Turns kernel records into Hubble flows for one node.
#[derive(Debug)]
pub struct Decoder {
    node_name: String,
    drop_reasons: DropReasonNames,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC`.
    clock_offset_ns: ClockOffset,
}

impl Decoder {
    /// A decoder for flows observed on `node_name`.
    ///
    /// Measures the offset between the monotonic clock (which stamps the
    /// records) and the wall clock once; call
    /// [`refresh_clock_offset`](Self::refresh_clock_offset) after the wall
    /// clock is stepped (NTP, suspend) to follow it.
    pub fn new(node_name: String, drop_reasons: DropReasonNames) -> Self {
        Decoder { node_name, drop_reasons, clock_offset_ns: ClockOffset::measure() }
    }

    /// Measures the monotonic-to-wall-clock offset again.
    pub fn refresh_clock_offset(&self) {
        self.clock_offset_ns.refresh();
    }

    /// Whether `record` is a kernel drop that is bookkeeping rather than a
    /// packet lost on the network, and so is not reported:
    ///
    /// - `QUEUE_PURGE`: a socket was closed with packets still queued; the
    ///   peer's data had arrived.
    /// - `NO_SOCKET` for an ICMP echo reply: the reply was delivered to the
    ///   raw socket of `ping` (a copy), and the kernel then frees the
    ///   original because no ICMP datagram socket wanted it.
    pub fn is_bookkeeping_drop(&self, record: &FlowRecord) -> bool {
        if record.kind() != Some(Kind::Drop) {
            return false;
        }
        let echo_reply = match record.l4_proto {
            IPPROTO_ICMP => record.icmp_type == 0,
            IPPROTO_ICMPV6 => record.icmp_type == 129,
            _ => false,
        };
        match self.drop_reasons.name(record.drop_reason) {
            Some("QUEUE_PURGE") => true,
            Some("NO_SOCKET") => echo_reply,
            _ => false,
        }
    }

    /// The Hubble flow for `record`, taken on the interface named and
    /// classified by `interface` when it is known.
    pub fn decode(&self, record: &FlowRecord, interface: Option<(&str, InterfaceRole)>) -> Flow {
        let kind = record.kind();
        let mut flow = Flow {
            time: Some(self.clock_offset_ns.timestamp(record.ktime_ns)),
            uuid: flowlog_flow::random_uuid(),
            r#type: FlowType::L3L4 as i32,
            node_name: self.node_name.clone(),
            is_reply: match record.reply() {
                Some(Reply::No) => Some(false),
                Some(Reply::Yes) => Some(true),
                Some(Reply::Unknown) | None => None,
            },
            interface: interface.map(|(name, _)| NetworkInterface { index: record.ifindex, name: name.to_owned() }),
            ..Default::default()
        };

        if let (Some(source), Some(destination)) = (record.source(), record.destination()) {
            let ip_version = match source {
                IpAddr::V4(_) => IpVersion::IPv4,
                IpAddr::V6(_) => IpVersion::IPv6,
            };
            flow.ip = Some(Ip {
                source: format_ip(source),
                destination: format_ip(destination),
                ip_version: ip_version as i32,
                ..Default::default()
            });
            flow.l4 = layer4(record).map(|protocol| Layer4 { protocol: Some(protocol) });
        }

        let summary = match kind {
            // A DNS packet's flow is its trace; the DNS stage makes it L7.
            Some(Kind::Trace | Kind::Dns) => {
                self.fill_trace(&mut flow, record, interface.map(|(_, role)| role));
                trace_summary(flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()))
            }
            Some(Kind::Drop) => self.fill_drop(&mut flow, record),
            // A kind this build does not know: keep the packet's addresses
            // but claim no verdict rather than guess one.
            None => String::new(),
        };
        #[allow(deprecated, reason = "Hubble still fills Summary; it is the only free-text field")]
        {
            flow.summary = summary;
        }
        flow
    }

    fn fill_trace(&self, flow: &mut Flow, record: &FlowRecord, role: Option<InterfaceRole>) {
        flow.verdict = Verdict::Forwarded as i32;
        // Drops carry no Ethernet header worth reporting; traces without a
        // MAC (tun devices, layer 3 interfaces) have none either.
        if record.src_mac != [0; 6] || record.dst_mac != [0; 6] {
            flow.ethernet =
                Some(Ethernet { source: format_mac(&record.src_mac), destination: format_mac(&record.dst_mac) });
        }
        let placement = match (role, record.direction()) {
            (Some(InterfaceRole::Endpoint), Some(Direction::Ingress)) => {
                Some((TrafficDirection::Egress, TraceObservationPoint::FromEndpoint))
            }
            (Some(InterfaceRole::Endpoint), Some(Direction::Egress)) => {
                Some((TrafficDirection::Ingress, TraceObservationPoint::ToEndpoint))
            }
            (Some(InterfaceRole::Network) | None, Some(Direction::Ingress)) => {
                Some((TrafficDirection::Ingress, TraceObservationPoint::FromNetwork))
            }
            (Some(InterfaceRole::Network) | None, Some(Direction::Egress)) => {
                Some((TrafficDirection::Egress, TraceObservationPoint::ToNetwork))
            }
            (_, Some(Direction::Unknown) | None) => None,
        };
        let sub_type = match placement {
            Some((direction, point)) => {
                flow.traffic_direction = direction as i32;
                flow.trace_observation_point = point as i32;
                trace_sub_type(point)
            }
            None => 0,
        };
        flow.event_type = Some(CiliumEventType { r#type: EVENT_TRACE, sub_type });
    }

    /// Fills the drop fields and returns the summary naming the kernel's reason.
    fn fill_drop(&self, flow: &mut Flow, record: &FlowRecord) -> String {
        let kernel_name = self.drop_reasons.name(record.drop_reason);
        let reason = hubble_drop_reason(kernel_name);
        flow.verdict = Verdict::Dropped as i32;
        flow.drop_reason_desc = reason as i32;
        #[allow(deprecated, reason = "Hubble still fills drop_reason for older consumers")]
        {
            flow.drop_reason = reason as u32;
        }
        flow.event_type = Some(CiliumEventType { r#type: EVENT_DROP, sub_type: reason as i32 });
        let mut summary = String::with_capacity(40);
        summary.push_str("kernel drop reason: ");
        match kernel_name {
            Some(name) => summary.push_str(name),
            None => {
                let _ = write!(summary, "{}", record.drop_reason);
            }
        }
        summary
    }
}

/// The datapath trace sub-type Cilium emits for an observation point: the
/// enum number, except TO_ENDPOINT (Hubble's 101 stands for Cilium's 0).
fn trace_sub_type(point: TraceObservationPoint) -> i32 {
    match point {
        TraceObservationPoint::ToEndpoint => 0,
        point => point as i32,
    }
}

fn layer4(record: &FlowRecord) -> Option<Protocol> {
    let (source_port, destination_port) = (u32::from(record.sport), u32::from(record.dport));
    let (icmp_type, icmp_code) = (u32::from(record.icmp_type), u32::from(record.icmp_code));
    Some(match record.l4_proto {
        IPPROTO_TCP => Protocol::Tcp(Tcp { source_port, destination_port, flags: Some(tcp_flags(record.tcp_flags)) }),
        IPPROTO_UDP => Protocol::Udp(Udp { source_port, destination_port }),
        IPPROTO_SCTP => Protocol::Sctp(Sctp { source_port, destination_port, ..Default::default() }),
        IPPROTO_ICMP => Protocol::IcmPv4(IcmPv4 { r#type: icmp_type, code: icmp_code }),
        IPPROTO_ICMPV6 => Protocol::IcmPv6(IcmPv6 { r#type: icmp_type, code: icmp_code }),
        _ => return None,
    })
}

fn tcp_flags(bits: u8) -> TcpFlags {
    let set = |flag: u8| bits & flag != 0;
    TcpFlags {
        fin: set(tcp_flags::FIN),
        syn: set(tcp_flags::SYN),
        rst: set(tcp_flags::RST),
        psh: set(tcp_flags::PSH),
        ack: set(tcp_flags::ACK),
        urg: set(tcp_flags::URG),
        ece: set(tcp_flags::ECE),
        cwr: set(tcp_flags::CWR),
        // NS lives in the byte before the flags byte, which the kernel side does not copy.
        ns: false,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::{SystemTime, UNIX_EPOCH};

    use flowlog_flow::DropReason;
    use rustix::time::ClockId;

    use super::clock::clock_ns;
    use super::drop_reasons::tests::FORMAT;
    use super::*;

    fn zeroed() -> FlowRecord {
        FlowRecord::parse(&[0; crate::record::RECORD_SIZE]).unwrap()
    }

    fn v4(record: &mut FlowRecord, source: Ipv4Addr, destination: Ipv4Addr) {
        record.ip_version = 4;
        record.eth_proto = 0x0800;
        record.saddr[..4].copy_from_slice(&source.octets());
        record.daddr[..4].copy_from_slice(&destination.octets());
    }

    fn decoder() -> Decoder {
        Decoder::new("kind/node-1".to_owned(), DropReasonNames::parse_format(FORMAT))
    }

    #[allow(deprecated, reason = "the summary is part of what is decoded")]
    fn summary(flow: &Flow) -> &str {
        &flow.summary
    }

    #[test]
    fn tcp_syn_leaving_a_pod() {
        let mut record = zeroed();
        record.kind = 1;
        record.direction = 0; // tc ingress on the host-side veth
        record.ifindex = 12;
        record.len = 74;
        record.is_reply = 0;
        record.l4_proto = IPPROTO_TCP;
        record.tcp_flags = tcp_flags::SYN;
        record.src_mac = [0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x05];
        record.dst_mac = [0xee, 0xee, 0xee, 0xee, 0xee, 0xee];
        v4(&mut record, Ipv4Addr::new(10, 244, 0, 5), Ipv4Addr::new(10, 96, 0, 10));
        (record.sport, record.dport) = (41234, 8080);

        let flow = decoder().decode(&record, Some(("veth1a2b3c", InterfaceRole::Endpoint)));

        assert_eq!(flow.verdict, Verdict::Forwarded as i32);
        assert_eq!(flow.traffic_direction, TrafficDirection::Egress as i32);
        assert_eq!(flow.trace_observation_point, TraceObservationPoint::FromEndpoint as i32);
        assert_eq!(flow.event_type, Some(CiliumEventType { r#type: 4, sub_type: 5 }));
        assert_eq!(flow.r#type, FlowType::L3L4 as i32);
        assert_eq!(flow.node_name, "kind/node-1");
        assert_eq!(flow.is_reply, Some(false));
        assert_eq!(flow.interface, Some(NetworkInterface { index: 12, name: "veth1a2b3c".to_owned() }));
        assert_eq!(
            flow.ethernet,
            Some(Ethernet { source: "0a:58:0a:f4:00:05".to_owned(), destination: "ee:ee:ee:ee:ee:ee".to_owned() })
        );
        let ip = flow.ip.as_ref().unwrap();
        assert_eq!((ip.source.as_str(), ip.destination.as_str()), ("10.244.0.5", "10.96.0.10"));
        assert_eq!(ip.ip_version, IpVersion::IPv4 as i32);
        let Some(Protocol::Tcp(tcp)) = flow.l4.as_ref().and_then(|l4| l4.protocol.clone()) else {
            panic!("not TCP: {:?}", flow.l4);
        };
        assert_eq!((tcp.source_port, tcp.destination_port), (41234, 8080));
        assert_eq!(tcp.flags, Some(TcpFlags { syn: true, ..Default::default() }));
        assert_eq!(summary(&flow), "TCP Flags: SYN");
        assert_eq!(uuid::Uuid::parse_str(&flow.uuid).unwrap().get_version_num(), 4);
        assert_eq!(flow.drop_reason_desc, 0);
    }

    #[test]
    fn directions_by_role() {
        let mut record = zeroed();
        record.kind = 1;
        let decoder = decoder();
        let place = |record: &FlowRecord, interface| {
            let flow = decoder.decode(record, interface);
            (flow.traffic_direction, flow.trace_observation_point, flow.event_type.unwrap().sub_type)
        };
        record.direction = 1;
        assert_eq!(
            place(&record, Some(("lxc1", InterfaceRole::Endpoint))),
            (TrafficDirection::Ingress as i32, TraceObservationPoint::ToEndpoint as i32, 0)
        );
        assert_eq!(
            place(&record, Some(("eth0", InterfaceRole::Network))),
            (TrafficDirection::Egress as i32, TraceObservationPoint::ToNetwork as i32, 11)
        );
        record.direction = 0;
        assert_eq!(
            place(&record, None),
            (TrafficDirection::Ingress as i32, TraceObservationPoint::FromNetwork as i32, 10)
        );
        let flow = decoder.decode(&record, None);
        assert_eq!((flow.ip, flow.l4, flow.ethernet, flow.interface), (None, None, None, None));
    }

    #[test]
    fn icmpv6_echo_reply() {
        let mut record = zeroed();
        record.kind = 1;
        record.direction = 1;
        record.ip_version = 6;
        record.eth_proto = 0x86dd;
        record.l4_proto = IPPROTO_ICMPV6;
        record.icmp_type = 129;
        record.is_reply = 1;
        record.saddr = "fd00:10:244::1".parse::<Ipv6Addr>().unwrap().octets();
        record.daddr = "fd00:10:244::5".parse::<Ipv6Addr>().unwrap().octets();

        let flow = decoder().decode(&record, Some(("eth0", InterfaceRole::Network)));

        assert_eq!(flow.is_reply, Some(true));
        let ip = flow.ip.as_ref().unwrap();
        assert_eq!((ip.source.as_str(), ip.destination.as_str()), ("fd00:10:244::1", "fd00:10:244::5"));
        assert_eq!(ip.ip_version, IpVersion::IPv6 as i32);
        assert_eq!(
            flow.l4.as_ref().and_then(|l4| l4.protocol.clone()),
            Some(Protocol::IcmPv6(IcmPv6 { r#type: 129, code: 0 }))
        );
        assert_eq!(flow.ethernet, None, "zero MACs");
        assert_eq!(summary(&flow), "ICMPv6 EchoReply");

        record.is_reply = 2;
        assert_eq!(decoder().decode(&record, None).is_reply, None);
    }

    #[test]
    fn netfilter_drop() {
        let mut record = zeroed();
        record.kind = 2;
        record.direction = 2;
        record.drop_reason = 12;
        record.is_reply = 2;
        record.l4_proto = IPPROTO_UDP;
        record.src_mac = [2, 0, 0, 0, 0, 1];
        v4(&mut record, Ipv4Addr::new(10, 244, 0, 5), Ipv4Addr::new(1, 1, 1, 1));
        (record.sport, record.dport) = (5353, 53);

        let flow = decoder().decode(&record, None);

        assert_eq!(flow.verdict, Verdict::Dropped as i32);
        assert_eq!(flow.drop_reason_desc, DropReason::PolicyDenied as i32);
        #[allow(deprecated, reason = "Hubble still fills drop_reason")]
        let deprecated_reason = flow.drop_reason;
        assert_eq!(deprecated_reason, 133);
        assert_eq!(flow.event_type, Some(CiliumEventType { r#type: 1, sub_type: 133 }));
        assert_eq!(flow.traffic_direction, TrafficDirection::Unknown as i32);
        assert_eq!(flow.trace_observation_point, TraceObservationPoint::UnknownPoint as i32);
        assert_eq!(flow.ethernet, None, "drops report no Ethernet header");
        assert_eq!(flow.is_reply, None);
        assert_eq!(
            flow.l4.as_ref().and_then(|l4| l4.protocol.clone()),
            Some(Protocol::Udp(Udp { source_port: 5353, destination_port: 53 }))
        );
        assert!(summary(&flow).contains("NETFILTER_DROP"), "{}", summary(&flow));

        // A reason without a Hubble equivalent, and one this kernel does not name.
        record.drop_reason = 3;
        let flow = decoder().decode(&record, None);
        assert_eq!(flow.drop_reason_desc, DropReason::Unknown as i32);
        assert_eq!(summary(&flow), "kernel drop reason: NO_SOCKET");
        record.drop_reason = 999;
        assert_eq!(summary(&decoder().decode(&record, None)), "kernel drop reason: 999");
    }

    #[test]
    fn monotonic_time_becomes_wall_clock() {
        let decoder = decoder();
        let mut record = zeroed();
        record.kind = 1;
        record.ktime_ns = clock_ns(ClockId::Monotonic) as u64;
        let time = decoder.decode(&record, None).time.unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let decoded_ns = i128::from(time.seconds) * 1_000_000_000 + i128::from(time.nanos);
        assert!((decoded_ns - now.as_nanos() as i128).abs() < 1_000_000_000, "{time:?} vs {now:?}");
        assert!((0..1_000_000_000).contains(&time.nanos));

        decoder.refresh_clock_offset();
        let again = decoder.decode(&record, None).time.unwrap();
        assert!((again.seconds - time.seconds).abs() <= 1);
    }
}
