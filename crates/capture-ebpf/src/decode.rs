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
//! Drops have `event_type.type` 1 and the Hubble [`DropReason`] number as
//! sub-type, also written to `drop_reason_desc` and the deprecated
//! `drop_reason`. The kernel's reason is matched by *name* (the numbers of
//! `enum skb_drop_reason` change between kernel versions; the names do not),
//! and the kernel's name is always kept in `Summary` as
//! `kernel drop reason: NETFILTER_DROP`, so nothing is lost where the
//! mapping is coarse.
//!
//! | kernel `skb_drop_reason` | Hubble `DropReason` | why |
//! |---|---|---|
//! | NETFILTER_DROP | POLICY_DENIED | a netfilter rule is the node's network policy |
//! | TC_INGRESS, TC_EGRESS, TC_DROP | POLICY_DENIED | a tc program or filter decided to drop |
//! | BPF_CGROUP_EGRESS | POLICY_DENIED | a cgroup BPF program refused the packet |
//! | XFRM_POLICY | POLICY_DENIED | the IPsec policy check refused the packet |
//! | SECURITY_HOOK | POLICY_DENIED | an LSM refused the packet |
//! | IP_NOPROTO, UNHANDLED_PROTO | UNKNOWN_L4_PROTOCOL | nothing handles the transport protocol |
//! | IPV6DISABLED | UNSUPPORTED_L3_PROTOCOL | IPv6 is off on the device |
//! | IP_INHDR, PKT_TOO_SMALL, HDR_TRUNC, INVALID_PROTO | INVALID_PACKET_DROPPED | malformed or truncated headers |
//! | IP_CSUM, TCP_CSUM, UDP_CSUM, ICMP_CSUM, SKB_CSUM | INVALID_PACKET_DROPPED | bad checksum |
//! | IPV6_BAD_EXTHDR | INVALID_IPV6_EXTENSION_HEADER | same meaning |
//! | IP_OUTNOROUTES, IP_INNOROUTES | FIB_LOOKUP_FAILED | the route lookup found nothing |
//! | IP_INADDRERRORS, IP_INVALID_DEST | UNKNOWN_L3_TARGET_ADDRESS | the destination address is unusable |
//! | IP_RPFILTER, IP_INVALID_SOURCE, IP_LOCAL_SOURCE | INVALID_SOURCE_IP | the source address is not acceptable |
//! | VXLAN_VNI_NOT_FOUND | INVALID_VNI | no VXLAN device for the VNI |
//! | FQ_HORIZON_LIMIT | REACHED_EDT_RATE_LIMITING_DROP_HORIZON | the fq qdisc's EDT horizon, as in Cilium's bandwidth manager |
//! | NO_SOCKET | DROP_REASON_UNKNOWN | no local socket; Hubble's SOCKET_LOOKUP_FAILED is Cilium's own socket assignment, not this |
//! | anything else, or a number the running kernel does not name | DROP_REASON_UNKNOWN | no Hubble equivalent |
//!
//! Hubble's TTL_EXCEEDED has no kernel counterpart: the kernel has no
//! dedicated drop reason for an expired TTL or hop limit (none in the 6.18
//! list), so such drops arrive under a generic reason and map as that reason.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicI64, Ordering};

use flowlog_flow::layer4::Protocol;
use flowlog_flow::{
    CiliumEventType, DropReason, Ethernet, Flow, FlowType, IcmPv4, IcmPv6, Ip, IpVersion, Layer4, NetworkInterface,
    Sctp, Tcp, TcpFlags, Timestamp, TraceObservationPoint, TrafficDirection, Udp, Verdict,
};

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

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// What the interface a trace record was taken on is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InterfaceRole {
    /// The host side of a pod's veth pair: traffic through it is the pod's.
    Endpoint,
    /// The node's uplink: traffic through it comes from or goes to the network.
    Network,
}

/// Names of the kernel's `enum skb_drop_reason` values, as the running kernel
/// numbers them.
///
/// The numbering changes between kernel versions, so it is read from the
/// `skb:kfree_skb` tracepoint's format rather than compiled in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropReasonNames {
    names: HashMap<u32, String>,
}

/// Where tracefs may be mounted, newest convention first.
const KFREE_SKB_FORMATS: [&str; 2] =
    ["/sys/kernel/tracing/events/skb/kfree_skb/format", "/sys/kernel/debug/tracing/events/skb/kfree_skb/format"];

impl DropReasonNames {
    /// Reads the names from the running kernel's `skb:kfree_skb` format file.
    ///
    /// Fails when neither tracefs location can be read (tracefs not mounted,
    /// or no permission), or with [`io::ErrorKind::InvalidData`] when the file
    /// names no reasons (a kernel before drop reasons, 5.17).
    pub fn from_tracefs() -> io::Result<Self> {
        let mut last_error = None;
        for path in KFREE_SKB_FORMATS {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let names = Self::parse_format(&text);
                    if names.names.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{path} names no drop reasons"),
                        ));
                    }
                    return Ok(names);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound)))
    }

    /// Parses the text of a tracepoint format file, taking the
    /// `__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, …)` table from
    /// its `print fmt` line. Entries that do not parse are skipped; text
    /// without such a table gives an empty set.
    pub fn parse_format(text: &str) -> Self {
        let mut names = HashMap::new();
        let Some(start) = text.find("__print_symbolic(REC->reason") else {
            return DropReasonNames { names };
        };
        let mut rest = &text[start + "__print_symbolic(REC->reason".len()..];
        // Entries are `{ number, "NAME" }`; the table ends at the call's `)`,
        // which cannot occur inside an entry because names are identifiers.
        loop {
            let open = rest.find('{');
            let close_call = rest.find(')');
            let Some(open) = open.filter(|&open| close_call.is_none_or(|close| open < close)) else {
                break;
            };
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let entry = &rest[open + 1..open + close];
            rest = &rest[open + close + 1..];
            if let Some((number, name)) = entry.split_once(',')
                && let Some(number) = parse_number(number.trim())
            {
                let name = name.trim().trim_matches('"');
                if !name.is_empty() {
                    names.insert(number, name.to_owned());
                }
            }
        }
        DropReasonNames { names }
    }

    /// The kernel's name for `reason` (`"NETFILTER_DROP"`), without the
    /// `SKB_DROP_REASON_` prefix; `None` when this kernel does not name it.
    pub fn name(&self, reason: u32) -> Option<&str> {
        self.names.get(&reason).map(String::as_str)
    }
}

/// Decimal, or hexadecimal with `0x`: tracefs writes resolved enum values
/// in decimal today, but nothing promises it.
fn parse_number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The Hubble drop reason for a kernel drop reason name; the table is in the
/// module documentation.
fn hubble_drop_reason(kernel_name: Option<&str>) -> DropReason {
    match kernel_name {
        Some(
            "NETFILTER_DROP" | "TC_INGRESS" | "TC_EGRESS" | "TC_DROP" | "BPF_CGROUP_EGRESS" | "XFRM_POLICY"
            | "SECURITY_HOOK",
        ) => DropReason::PolicyDenied,
        Some("IP_NOPROTO" | "UNHANDLED_PROTO") => DropReason::UnknownL4Protocol,
        Some("IPV6DISABLED") => DropReason::UnsupportedL3Protocol,
        Some(
            "IP_INHDR" | "PKT_TOO_SMALL" | "HDR_TRUNC" | "INVALID_PROTO" | "IP_CSUM" | "TCP_CSUM" | "UDP_CSUM"
            | "ICMP_CSUM" | "SKB_CSUM",
        ) => DropReason::InvalidPacketDropped,
        Some("IPV6_BAD_EXTHDR") => DropReason::InvalidIpv6ExtensionHeader,
        Some("IP_OUTNOROUTES" | "IP_INNOROUTES") => DropReason::FibLookupFailed,
        Some("IP_INADDRERRORS" | "IP_INVALID_DEST") => DropReason::UnknownL3TargetAddress,
        Some("IP_RPFILTER" | "IP_INVALID_SOURCE" | "IP_LOCAL_SOURCE") => DropReason::InvalidSourceIp,
        Some("VXLAN_VNI_NOT_FOUND") => DropReason::InvalidVni,
        Some("FQ_HORIZON_LIMIT") => DropReason::ReachedEdtRateLimitingDropHorizon,
        _ => DropReason::Unknown,
    }
}

/// Turns kernel records into Hubble flows for one node.
#[derive(Debug)]
pub struct Decoder {
    node_name: String,
    drop_reasons: DropReasonNames,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC` in nanoseconds. Atomic so a
    /// decoder shared between threads can be refreshed without a lock.
    clock_offset_ns: AtomicI64,
}

impl Decoder {
    /// A decoder for flows observed on `node_name`.
    ///
    /// Measures the offset between the monotonic clock (which stamps the
    /// records) and the wall clock once; call
    /// [`refresh_clock_offset`](Self::refresh_clock_offset) after the wall
    /// clock is stepped (NTP, suspend) to follow it.
    pub fn new(node_name: String, drop_reasons: DropReasonNames) -> Self {
        Decoder { node_name, drop_reasons, clock_offset_ns: AtomicI64::new(clock_offset_ns()) }
    }

    /// Measures the monotonic-to-wall-clock offset again.
    pub fn refresh_clock_offset(&self) {
        self.clock_offset_ns.store(clock_offset_ns(), Ordering::Relaxed);
    }

    /// The wall-clock time of a `CLOCK_MONOTONIC` timestamp, in nanoseconds
    /// since the Unix epoch.
    fn wall_clock_ns(&self, ktime_ns: u64) -> i64 {
        // Monotonic time fits an i64 for 292 years of uptime.
        (ktime_ns as i64).saturating_add(self.clock_offset_ns.load(Ordering::Relaxed))
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
        let wall_ns = self.wall_clock_ns(record.ktime_ns);
        let kind = record.kind();
        let mut flow = Flow {
            time: Some(Timestamp {
                seconds: wall_ns.div_euclid(NANOS_PER_SECOND),
                nanos: wall_ns.rem_euclid(NANOS_PER_SECOND) as i32,
            }),
            uuid: random_uuid(),
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
            Some(Kind::Trace) => {
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

/// A summary in the style of Hubble's: `TCP Flags: SYN, ACK`, `UDP`,
/// `ICMPv4 EchoRequest`.
fn trace_summary(protocol: Option<&Protocol>) -> String {
    match protocol {
        Some(Protocol::Tcp(tcp)) => {
            let flags = tcp.flags.unwrap_or_default();
            let mut summary = String::with_capacity(48);
            summary.push_str("TCP Flags: ");
            // Hubble's order: SYN first so handshakes read naturally.
            let named = [
                (flags.syn, "SYN"),
                (flags.fin, "FIN"),
                (flags.rst, "RST"),
                (flags.psh, "PSH"),
                (flags.ack, "ACK"),
                (flags.urg, "URG"),
                (flags.ece, "ECE"),
                (flags.cwr, "CWR"),
            ];
            let mut first = true;
            for (_, name) in named.into_iter().filter(|&(set, _)| set) {
                if !first {
                    summary.push_str(", ");
                }
                summary.push_str(name);
                first = false;
            }
            summary
        }
        Some(Protocol::Udp(_)) => "UDP".to_owned(),
        Some(Protocol::Sctp(_)) => "SCTP".to_owned(),
        Some(Protocol::IcmPv4(icmp)) => icmp_summary("ICMPv4", icmpv4_name(icmp.r#type), icmp.r#type, icmp.code),
        Some(Protocol::IcmPv6(icmp)) => icmp_summary("ICMPv6", icmpv6_name(icmp.r#type), icmp.r#type, icmp.code),
        _ => String::new(),
    }
}

fn icmp_summary(family: &str, name: Option<&str>, r#type: u32, code: u32) -> String {
    let mut summary = String::with_capacity(32);
    summary.push_str(family);
    match name {
        Some(name) => {
            summary.push(' ');
            summary.push_str(name);
        }
        None => {
            let _ = write!(summary, " type {type} code {code}");
        }
    }
    summary
}

fn icmpv4_name(r#type: u32) -> Option<&'static str> {
    Some(match r#type {
        0 => "EchoReply",
        3 => "DestinationUnreachable",
        5 => "Redirect",
        8 => "EchoRequest",
        11 => "TimeExceeded",
        12 => "ParameterProblem",
        _ => return None,
    })
}

fn icmpv6_name(r#type: u32) -> Option<&'static str> {
    Some(match r#type {
        1 => "DestinationUnreachable",
        2 => "PacketTooBig",
        3 => "TimeExceeded",
        4 => "ParameterProblem",
        128 => "EchoRequest",
        129 => "EchoReply",
        133 => "RouterSolicitation",
        134 => "RouterAdvertisement",
        135 => "NeighborSolicitation",
        136 => "NeighborAdvertisement",
        _ => return None,
    })
}

// The formatting below writes bytes straight into a sized `String`: the
// decoder formats two addresses, two MACs and a UUID per record, and through
// `fmt` machinery that was a third of its time.

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `aa:bb:cc:dd:ee:ff`, lowercase, as Hubble writes MACs.
fn format_mac(mac: &[u8; 6]) -> String {
    let mut text = String::with_capacity(17);
    for (i, byte) in mac.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        text.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// An address in its usual text form: dotted quad for IPv4 (written here,
/// the common case), RFC 5952 for IPv6 (left to the standard library).
fn format_ip(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => format_ipv4(v4),
        IpAddr::V6(v6) => v6.to_string(),
    }
}

fn format_ipv4(address: Ipv4Addr) -> String {
    let mut text = String::with_capacity(15);
    for (i, octet) in address.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

thread_local! {
    /// xoshiro256++ state for flow UUIDs, seeded once per thread from the
    /// operating system.
    static UUID_RNG: Cell<[u64; 4]> = Cell::new(uuid_seed());
}

/// 256 bits from the operating system's generator, by way of `uuid`.
fn uuid_seed() -> [u64; 4] {
    let (a, b) = (uuid::Uuid::new_v4().as_u64_pair(), uuid::Uuid::new_v4().as_u64_pair());
    let seed = [a.0, a.1, b.0, b.1];
    // xoshiro's one forbidden state; 2^-244 likely, but cheap to rule out.
    if seed == [0; 4] { [1, 2, 3, 4] } else { seed }
}

/// A random (version 4) UUID, hyphenated and lowercase.
///
/// The bits come from a per-thread xoshiro256++ generator seeded from the
/// operating system rather than from one `getrandom(2)` call per flow: the
/// syscall was a quarter of the decoder's time. A flow UUID only has to be
/// unique, not unpredictable; 122 random bits from a 256-bit state are.
fn random_uuid() -> String {
    let bits = UUID_RNG.with(|cell| {
        let mut s = cell.get();
        let mut next = || {
            let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
            let t = s[1] << 17;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = s[3].rotate_left(45);
            result
        };
        let bits = u128::from(next()) << 64 | u128::from(next());
        cell.set(s);
        bits
    });
    let uuid = uuid::Builder::from_random_bytes(bits.to_ne_bytes()).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid.hyphenated().encode_lower(&mut text).to_owned()
}

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; both clocks always exist on Linux.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime({clock}) failed");
    // `from`, not `as`: time_t and c_long are 32 bits on some targets, where
    // the conversion is not useless.
    #[allow(clippy::useless_conversion, reason = "i64 already on 64-bit targets only")]
    let ns = i64::from(ts.tv_sec) * NANOS_PER_SECOND + i64::from(ts.tv_nsec);
    ns
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC`, taking the wall clock between two
/// monotonic readings so a preemption between the calls costs at most half
/// its length in accuracy.
fn clock_offset_ns() -> i64 {
    let before = clock_ns(libc::CLOCK_MONOTONIC);
    let wall = clock_ns(libc::CLOCK_REALTIME);
    let after = clock_ns(libc::CLOCK_MONOTONIC);
    wall - (before + (after - before) / 2)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    /// A shortened copy of the `print fmt` line of a 6.18 kernel's
    /// `/sys/kernel/tracing/events/skb/kfree_skb/format`.
    const FORMAT: &str = r#"name: kfree_skb
ID: 2310
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:enum skb_drop_reason reason;	offset:36;	size:4;	signed:0;

print fmt: "skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s", REC->skbaddr, REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 9, "PKT_TOO_SMALL" }, { 12, "NETFILTER_DROP" }, { 16, "IP_RPFILTER" }, { 54, "IP_OUTNOROUTES" }, { 62, "TC_EGRESS" }, { 73, "TC_INGRESS" }, { 128, "MAX" })
"#;

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
    fn parses_the_kfree_skb_format() {
        let names = DropReasonNames::parse_format(FORMAT);
        assert_eq!(names.name(2), Some("NOT_SPECIFIED"));
        assert_eq!(names.name(12), Some("NETFILTER_DROP"));
        assert_eq!(names.name(73), Some("TC_INGRESS"));
        assert_eq!(names.name(128), Some("MAX"));
        assert_eq!(names.name(4), None);
        assert_eq!(names.names.len(), 9);
        assert_eq!(DropReasonNames::parse_format("print fmt: \"%p\", REC->skbaddr"), DropReasonNames::default());
    }

    #[test]
    fn maps_kernel_reasons() {
        let names = DropReasonNames::parse_format(FORMAT);
        let map = |reason| hubble_drop_reason(names.name(reason));
        assert_eq!(map(9), DropReason::InvalidPacketDropped);
        assert_eq!(map(16), DropReason::InvalidSourceIp);
        assert_eq!(map(54), DropReason::FibLookupFailed);
        assert_eq!(map(62), DropReason::PolicyDenied);
        assert_eq!(map(73), DropReason::PolicyDenied);
        assert_eq!(map(2), DropReason::Unknown);
    }

    #[test]
    fn monotonic_time_becomes_wall_clock() {
        let decoder = decoder();
        let mut record = zeroed();
        record.kind = 1;
        record.ktime_ns = clock_ns(libc::CLOCK_MONOTONIC) as u64;
        let time = decoder.decode(&record, None).time.unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let decoded_ns = i128::from(time.seconds) * 1_000_000_000 + i128::from(time.nanos);
        assert!((decoded_ns - now.as_nanos() as i128).abs() < 1_000_000_000, "{time:?} vs {now:?}");
        assert!((0..1_000_000_000).contains(&time.nanos));

        decoder.refresh_clock_offset();
        let again = decoder.decode(&record, None).time.unwrap();
        assert!((again.seconds - time.seconds).abs() <= 1);
    }

    #[test]
    fn text_forms_match_the_standard_library() {
        for octet in [0u8, 1, 9, 10, 42, 99, 100, 199, 200, 255] {
            let address = Ipv4Addr::new(octet, 255 - octet, octet / 3, 7);
            assert_eq!(format_ip(IpAddr::V4(address)), address.to_string());
        }
        let v6: Ipv6Addr = "fd00:10:244::5".parse().unwrap();
        assert_eq!(format_ip(IpAddr::V6(v6)), "fd00:10:244::5");
        assert_eq!(format_mac(&[0x0a, 0x58, 0x0a, 0xf4, 0x00, 0xff]), "0a:58:0a:f4:00:ff");
    }

    #[test]
    fn flow_uuids_are_random_v4_and_distinct() {
        let uuids: std::collections::HashSet<String> = (0..10_000).map(|_| random_uuid()).collect();
        assert_eq!(uuids.len(), 10_000);
        for text in uuids.iter().take(100) {
            let uuid = uuid::Uuid::parse_str(text).unwrap();
            assert_eq!(uuid.get_version_num(), 4);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(text, &uuid.hyphenated().to_string());
        }
        let other_thread = std::thread::spawn(random_uuid).join().unwrap();
        assert!(!uuids.contains(&other_thread), "threads are seeded apart");
    }

    /// On a machine with tracefs mounted, the running kernel's table parses
    /// and names the reasons the mapping relies on.
    #[test]
    fn running_kernel_names() {
        let Ok(names) = DropReasonNames::from_tracefs() else {
            return; // no tracefs here: nothing to check
        };
        assert!(names.names.values().any(|name| name == "NETFILTER_DROP"));
        assert!(names.names.values().any(|name| name == "NOT_SPECIFIED"));
    }
}
