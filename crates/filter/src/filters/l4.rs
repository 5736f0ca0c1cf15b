//! Layer 4: `protocol`, `source_port`, `destination_port`, `tcp_flags`.

use flowlog_flow::layer4::Protocol;
use flowlog_flow::layer7::Record;
use flowlog_flow::{Flow, TcpFlags};

use super::FilterError;
use super::event::{Event, Side};

/// Protocols as bits, so that a filter is one mask test per event.
mod bit {
    pub(super) const TCP: u16 = 1 << 0;
    pub(super) const UDP: u16 = 1 << 1;
    pub(super) const ICMPV4: u16 = 1 << 2;
    pub(super) const ICMPV6: u16 = 1 << 3;
    pub(super) const SCTP: u16 = 1 << 4;
    pub(super) const VRRP: u16 = 1 << 5;
    pub(super) const IGMP: u16 = 1 << 6;
    pub(super) const DNS: u16 = 1 << 7;
    pub(super) const HTTP: u16 = 1 << 8;
    pub(super) const KAFKA: u16 = 1 << 9;
}

/// The protocol names a filter may use, case-insensitively.
const PROTOCOLS: &[(&str, u16)] = &[
    ("icmp", bit::ICMPV4 | bit::ICMPV6),
    ("icmpv4", bit::ICMPV4),
    ("icmpv6", bit::ICMPV6),
    ("tcp", bit::TCP),
    ("udp", bit::UDP),
    ("sctp", bit::SCTP),
    ("vrrp", bit::VRRP),
    ("igmp", bit::IGMP),
    ("dns", bit::DNS),
    ("http", bit::HTTP),
    ("kafka", bit::KAFKA),
];

/// The flow's L4 protocol or L7 record type is one of the listed protocols.
#[derive(Debug)]
pub(crate) struct ProtocolFilter(u16);

impl ProtocolFilter {
    pub(crate) fn new(name: &str, values: &[String]) -> Result<Self, FilterError> {
        let mut mask = 0;
        for value in values {
            let (_, bits) = PROTOCOLS.iter().find(|(p, _)| p.eq_ignore_ascii_case(value)).ok_or_else(|| {
                let known: Vec<&str> = PROTOCOLS.iter().map(|(p, _)| *p).collect();
                FilterError::field(name, "unknown protocol")
                    .with_value(value)
                    .with_detail(format!("expected one of {}", known.join(", ")))
            })?;
            mask |= bits;
        }
        Ok(Self(mask))
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        event.flow().is_some_and(|flow| protocols_of(flow) & self.0 != 0)
    }
}

fn protocols_of(flow: &Flow) -> u16 {
    let l4 = match flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) {
        Some(Protocol::Tcp(_)) => bit::TCP,
        Some(Protocol::Udp(_)) => bit::UDP,
        Some(Protocol::IcmPv4(_)) => bit::ICMPV4,
        Some(Protocol::IcmPv6(_)) => bit::ICMPV6,
        Some(Protocol::Sctp(_)) => bit::SCTP,
        Some(Protocol::Vrrp(_)) => bit::VRRP,
        Some(Protocol::Igmp(_)) => bit::IGMP,
        None => 0,
    };
    #[allow(deprecated, reason = "Kafka records are still matched by the `kafka` protocol name")]
    let l7 = match flow.l7.as_ref().and_then(|l7| l7.record.as_ref()) {
        Some(Record::Dns(_)) => bit::DNS,
        Some(Record::Http(_)) => bit::HTTP,
        Some(Record::Kafka(_)) => bit::KAFKA,
        None => 0,
    };
    l4 | l7
}

/// The TCP, UDP or SCTP port on one side is one of the listed ports.
#[derive(Debug)]
pub(crate) struct PortFilter {
    side: Side,
    ports: Vec<u16>,
}

impl PortFilter {
    pub(crate) fn new(side: Side, name: &str, values: &[String]) -> Result<Self, FilterError> {
        let ports = values
            .iter()
            .map(|value| {
                value.parse::<u16>().ok().filter(|_| value.bytes().all(|b| b.is_ascii_digit())).ok_or_else(|| {
                    FilterError::field(name, "invalid port")
                        .with_value(value)
                        .with_detail("expected a number from 0 to 65535")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { side, ports })
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(protocol) = event.flow().and_then(|flow| flow.l4.as_ref()).and_then(|l4| l4.protocol.as_ref()) else {
            return false;
        };
        let (source, destination) = match protocol {
            Protocol::Tcp(tcp) => (tcp.source_port, tcp.destination_port),
            Protocol::Udp(udp) => (udp.source_port, udp.destination_port),
            Protocol::Sctp(sctp) => (sctp.source_port, sctp.destination_port),
            _ => return false,
        };
        let port = match self.side {
            Side::Source => source,
            Side::Destination => destination,
        };
        self.ports.iter().any(|p| u32::from(*p) == port)
    }
}

/// For some entry, every flag set in it is set in the flow's TCP flags.
#[derive(Debug)]
pub(crate) struct TcpFlagsFilter(Vec<u16>);

impl TcpFlagsFilter {
    pub(crate) fn new(entries: &[TcpFlags]) -> Self {
        Self(entries.iter().map(flag_bits).collect())
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let flags = match event.flow().and_then(|flow| flow.l4.as_ref()).and_then(|l4| l4.protocol.as_ref()) {
            Some(Protocol::Tcp(tcp)) => tcp.flags.as_ref(),
            _ => None,
        };
        let Some(flags) = flags else { return false };
        let flags = flag_bits(flags);
        self.0.iter().any(|wanted| flags & wanted == *wanted)
    }
}

fn flag_bits(flags: &TcpFlags) -> u16 {
    let TcpFlags { fin, syn, rst, psh, ack, urg, ece, cwr, ns } = *flags;
    [fin, syn, rst, psh, ack, urg, ece, cwr, ns]
        .iter()
        .enumerate()
        .fold(0, |bits, (i, set)| bits | (u16::from(*set) << i))
}
