//! The `Summary` text of a trace, in the style of Hubble's: `TCP Flags: SYN,
//! ACK`, `UDP`, `SCTP`, `ICMPv4 EchoRequest`.

use std::fmt::Write as _;

use flowlog_flow::icmp::{IcmpType, icmpv4, icmpv6};
use flowlog_flow::layer4::Protocol;

/// A summary in the style of Hubble's: `TCP Flags: SYN, ACK`, `UDP`,
/// `ICMPv4 EchoRequest`.
pub(super) fn trace_summary(protocol: Option<&Protocol>) -> String {
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
        Some(Protocol::IcmPv4(icmp)) => icmp_summary("ICMPv4", type_name(icmpv4, icmp.r#type), icmp.r#type, icmp.code),
        Some(Protocol::IcmPv6(icmp)) => icmp_summary("ICMPv6", type_name(icmpv6, icmp.r#type), icmp.r#type, icmp.code),
        _ => String::new(),
    }
}

/// The shared name of an ICMP type (see [`flowlog_flow::icmp`]); a value wider
/// than the 8-bit wire field is no type at all.
fn type_name(lookup: fn(u8) -> Option<IcmpType>, r#type: u32) -> Option<&'static str> {
    u8::try_from(r#type).ok().and_then(lookup).map(|known| known.name)
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

#[cfg(test)]
mod tests {
    use flowlog_flow::{IcmPv4, IcmPv6, Sctp, Tcp, TcpFlags, Udp};

    use super::*;

    fn v4_summary(r#type: u32, code: u32) -> String {
        trace_summary(Some(&Protocol::IcmPv4(IcmPv4 { r#type, code })))
    }

    fn v6_summary(r#type: u32, code: u32) -> String {
        trace_summary(Some(&Protocol::IcmPv6(IcmPv6 { r#type, code })))
    }

    /// The ICMP types named before the names moved to `flowlog_flow::icmp`
    /// read as they did, and unnamed ones still show their numbers.
    #[test]
    fn icmp_summaries() {
        for (r#type, name) in [
            (0, "EchoReply"),
            (3, "DestinationUnreachable"),
            (5, "Redirect"),
            (8, "EchoRequest"),
            (11, "TimeExceeded"),
            (12, "ParameterProblem"),
        ] {
            assert_eq!(v4_summary(r#type, 1), format!("ICMPv4 {name}"));
        }
        for (r#type, name) in [
            (1, "DestinationUnreachable"),
            (2, "PacketTooBig"),
            (3, "TimeExceeded"),
            (4, "ParameterProblem"),
            (128, "EchoRequest"),
            (129, "EchoReply"),
            (133, "RouterSolicitation"),
            (134, "RouterAdvertisement"),
            (135, "NeighborSolicitation"),
            (136, "NeighborAdvertisement"),
        ] {
            assert_eq!(v6_summary(r#type, 0), format!("ICMPv6 {name}"));
        }
        assert_eq!(v4_summary(42, 1), "ICMPv4 type 42 code 1");
        assert_eq!(v4_summary(256, 0), "ICMPv4 type 256 code 0", "not type 0 truncated");
        assert_eq!(v6_summary(130, 0), "ICMPv6 type 130 code 0");
        assert_eq!(v4_summary(4, 0), "ICMPv4 SourceQuench", "named by the shared table");
    }

    #[test]
    fn transport_summaries() {
        let flags = TcpFlags { syn: true, ack: true, fin: true, ..Default::default() };
        let tcp = Protocol::Tcp(Tcp { flags: Some(flags), ..Default::default() });
        assert_eq!(trace_summary(Some(&tcp)), "TCP Flags: SYN, FIN, ACK");
        assert_eq!(trace_summary(Some(&Protocol::Tcp(Tcp::default()))), "TCP Flags: ");
        assert_eq!(trace_summary(Some(&Protocol::Udp(Udp::default()))), "UDP");
        assert_eq!(trace_summary(Some(&Protocol::Sctp(Sctp::default()))), "SCTP");
        assert_eq!(trace_summary(None), "");
    }
}
