//! The records the kernel programs write to the `events` ring buffer.
//!
//! [`FlowRecord`] mirrors `struct flow_record` in `bpf/record.h` field for
//! field: 80 bytes, no implicit padding, native byte order for the integer
//! fields (the programs run on this machine), network order for addresses.
//! A [`Kind::Dns`] record is followed by a [`DnsPayload`] (`struct
//! dns_record`). This module is the one place records are decoded.

use std::fmt;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One packet seen by a tc program, or one packet the kernel dropped.
///
/// The layout is the wire format between kernel and userspace; change it
/// together with `bpf/record.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// `bpf_ktime_get_ns()`: `CLOCK_MONOTONIC`, in nanoseconds.
    pub ktime_ns: u64,
    /// Interface index, in the network namespace of that interface.
    pub ifindex: u32,
    /// Packet length (`skb->len`).
    pub len: u32,
    /// `enum skb_drop_reason` for [`Kind::Drop`], 0 otherwise.
    pub drop_reason: u32,
    /// Outermost VLAN id, 0 when untagged.
    pub vlan_id: u16,
    /// Ethertype after VLAN tags, host order.
    pub eth_proto: u16,
    /// Raw [`Kind`].
    pub kind: u8,
    /// Raw [`Direction`].
    pub direction: u8,
    /// 0 (not IP), 4 or 6.
    pub ip_version: u8,
    /// `IPPROTO_*` of the transport header, after IPv6 extension headers.
    pub l4_proto: u8,
    /// TCP flags byte (see [`tcp_flags`]), 0 when not TCP.
    pub tcp_flags: u8,
    /// Raw [`Reply`].
    pub is_reply: u8,
    /// ICMP or ICMPv6 type.
    pub icmp_type: u8,
    /// ICMP or ICMPv6 code.
    pub icmp_code: u8,
    /// Source MAC address (zero for drops without an Ethernet header).
    pub src_mac: [u8; 6],
    /// Destination MAC address.
    pub dst_mac: [u8; 6],
    /// Source address, network order; IPv4 in the first four bytes.
    pub saddr: [u8; 16],
    /// Destination address, network order; IPv4 in the first four bytes.
    pub daddr: [u8; 16],
    /// Source port, host order; 0 when not TCP, UDP or SCTP.
    pub sport: u16,
    /// Destination port, host order; 0 when not TCP, UDP or SCTP.
    pub dport: u16,
}

/// `sizeof(struct flow_record)` in `bpf/record.h`.
pub const RECORD_SIZE: usize = 80;
const _: () = assert!(size_of::<FlowRecord>() == RECORD_SIZE);

/// `FLOWLOG_DNS_MAX_BYTES` in `bpf/record.h`: how much of a DNS message a
/// record carries (why 2 KiB is explained there).
pub const DNS_MAX_BYTES: usize = 2048;
/// `sizeof(struct dns_record)`: the flow record, 8 bytes of header, the bytes.
const DNS_RECORD_SIZE: usize = RECORD_SIZE + 8 + DNS_MAX_BYTES;

/// The TCP or UDP payload of a packet to or from a DNS port: the tail of a
/// [`Kind::Dns`] record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsPayload {
    /// TCP: the sequence number of the payload's first byte; 0 for UDP.
    pub tcp_seq: u32,
    /// How long the payload is: the TCP segment's, or the whole UDP
    /// datagram's even when this is its first fragment (saturating at 65535).
    pub wire_len: u16,
    /// Its first bytes: all of it unless [`is_cut`](Self::is_cut).
    pub bytes: Vec<u8>,
}

impl DnsPayload {
    /// The payload of one ring buffer item holding a `dns_record`; `None`
    /// when the item is too short or claims more bytes than it holds.
    pub fn parse(item: &[u8]) -> Option<DnsPayload> {
        if item.len() < DNS_RECORD_SIZE {
            return None;
        }
        let header = &item[RECORD_SIZE..RECORD_SIZE + 8];
        let tcp_seq = u32::from_ne_bytes(header[0..4].try_into().ok()?);
        let wire_len = u16::from_ne_bytes(header[4..6].try_into().ok()?);
        let captured = usize::from(u16::from_ne_bytes(header[6..8].try_into().ok()?));
        if captured > DNS_MAX_BYTES || captured > usize::from(wire_len) {
            return None;
        }
        let start = RECORD_SIZE + 8;
        Some(DnsPayload { tcp_seq, wire_len, bytes: item[start..start + captured].to_vec() })
    }

    /// Whether the packet held more than was copied (or the copy failed).
    pub fn is_cut(&self) -> bool {
        self.bytes.len() < usize::from(self.wire_len)
    }
}

/// TCP flag bits of [`FlowRecord::tcp_flags`], as on the wire.
pub mod tcp_flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;
}

/// Which program produced a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A tc program saw the packet.
    Trace,
    /// The kernel freed the packet with a drop reason (`skb:kfree_skb`).
    Drop,
    /// A tc program saw a packet to or from a DNS port; its payload follows.
    Dns,
}

/// Which way a packet crossed the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received by the interface.
    Ingress,
    /// Sent by the interface.
    Egress,
    /// Not known (drops).
    Unknown,
}

/// Whether a packet goes against the direction of the connection's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    /// Same direction as the packet that opened the connection.
    No,
    /// Opposite direction: an answer.
    Yes,
    /// No connection state (non-IP, or the connection table was full).
    Unknown,
}

impl FlowRecord {
    /// Decodes one ring buffer item; `None` when `bytes` is shorter than a record.
    ///
    /// Longer input is accepted (the ring buffer rounds items up to 8 bytes),
    /// and the bytes need no particular alignment.
    pub fn parse(bytes: &[u8]) -> Option<FlowRecord> {
        if bytes.len() < RECORD_SIZE {
            return None;
        }
        // SAFETY: the length is checked above, FlowRecord is plain old data
        // (integers and byte arrays: every bit pattern is valid), and
        // read_unaligned makes no alignment assumption.
        Some(unsafe { bytes.as_ptr().cast::<FlowRecord>().read_unaligned() })
    }

    /// The record's kind, `None` for a value this crate does not know.
    pub fn kind(&self) -> Option<Kind> {
        match self.kind {
            1 => Some(Kind::Trace),
            2 => Some(Kind::Drop),
            3 => Some(Kind::Dns),
            _ => None,
        }
    }

    /// The packet's direction, `None` for a value this crate does not know.
    pub fn direction(&self) -> Option<Direction> {
        match self.direction {
            0 => Some(Direction::Ingress),
            1 => Some(Direction::Egress),
            2 => Some(Direction::Unknown),
            _ => None,
        }
    }

    /// Whether the packet is a reply, `None` for a value this crate does not know.
    pub fn reply(&self) -> Option<Reply> {
        match self.is_reply {
            0 => Some(Reply::No),
            1 => Some(Reply::Yes),
            2 => Some(Reply::Unknown),
            _ => None,
        }
    }

    /// Source address, `None` when the packet is not IP.
    pub fn source(&self) -> Option<IpAddr> {
        ip_addr(self.ip_version, &self.saddr)
    }

    /// Destination address, `None` when the packet is not IP.
    pub fn destination(&self) -> Option<IpAddr> {
        ip_addr(self.ip_version, &self.daddr)
    }
}

fn ip_addr(version: u8, bytes: &[u8; 16]) -> Option<IpAddr> {
    match version {
        4 => Some(IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(*bytes))),
        _ => None,
    }
}

/// A one-line summary, for logs and test failures.
impl fmt::Display for FlowRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind() {
            Some(Kind::Trace) => "trace",
            Some(Kind::Drop) => "drop",
            Some(Kind::Dns) => "dns",
            None => "?",
        };
        write!(f, "{kind} if={} dir={} proto={} ", self.ifindex, self.direction, self.l4_proto)?;
        match (self.source(), self.destination()) {
            (Some(s), Some(d)) => write!(f, "{s}:{} -> {d}:{}", self.sport, self.dport)?,
            _ => write!(f, "ethertype={:#06x}", self.eth_proto)?,
        }
        write!(
            f,
            " flags={:#04x} reply={} icmp={}/{} reason={} len={}",
            self.tcp_flags, self.is_reply, self.icmp_type, self.icmp_code, self.drop_reason, self.len
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the byte image the kernel would write, field by field at the C offsets.
    fn image() -> Vec<u8> {
        let mut b = vec![0u8; RECORD_SIZE];
        b[0..8].copy_from_slice(&123u64.to_ne_bytes());
        b[8..12].copy_from_slice(&7u32.to_ne_bytes());
        b[12..16].copy_from_slice(&98u32.to_ne_bytes());
        b[16..20].copy_from_slice(&12u32.to_ne_bytes());
        b[20..22].copy_from_slice(&100u16.to_ne_bytes());
        b[22..24].copy_from_slice(&0x0800u16.to_ne_bytes());
        b[24..32].copy_from_slice(&[2, 2, 4, 17, 0, 2, 0, 0]);
        b[32..38].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        b[38..44].copy_from_slice(&[6, 5, 4, 3, 2, 1]);
        b[44..48].copy_from_slice(&[10, 200, 1, 1]);
        b[60..64].copy_from_slice(&[10, 200, 1, 2]);
        b[76..78].copy_from_slice(&40000u16.to_ne_bytes());
        b[78..80].copy_from_slice(&9u16.to_ne_bytes());
        b
    }

    #[test]
    fn parses_at_the_c_offsets() {
        let r = FlowRecord::parse(&image()).unwrap();
        assert_eq!(r.ktime_ns, 123);
        assert_eq!(r.ifindex, 7);
        assert_eq!(r.len, 98);
        assert_eq!(r.drop_reason, 12);
        assert_eq!(r.vlan_id, 100);
        assert_eq!(r.eth_proto, 0x0800);
        assert_eq!(r.kind(), Some(Kind::Drop));
        assert_eq!(r.direction(), Some(Direction::Unknown));
        assert_eq!(r.ip_version, 4);
        assert_eq!(r.l4_proto, 17);
        assert_eq!(r.reply(), Some(Reply::Unknown));
        assert_eq!(r.src_mac, [1, 2, 3, 4, 5, 6]);
        assert_eq!(r.dst_mac, [6, 5, 4, 3, 2, 1]);
        assert_eq!(r.source(), Some("10.200.1.1".parse().unwrap()));
        assert_eq!(r.destination(), Some("10.200.1.2".parse().unwrap()));
        assert_eq!((r.sport, r.dport), (40000, 9));
    }

    #[test]
    fn rejects_short_input_and_accepts_unaligned() {
        assert_eq!(FlowRecord::parse(&image()[..RECORD_SIZE - 1]), None);
        let mut shifted = vec![0u8];
        shifted.extend(image());
        shifted.extend([0u8; 7]);
        assert_eq!(FlowRecord::parse(&shifted[1..]), FlowRecord::parse(&image()));
    }

    #[test]
    fn dns_payload_after_the_record() {
        let mut item = image();
        item[24] = 3;
        item.resize(DNS_RECORD_SIZE, 0);
        item[80..84].copy_from_slice(&7_000u32.to_ne_bytes());
        item[84..86].copy_from_slice(&3_000u16.to_ne_bytes());
        item[86..88].copy_from_slice(&5u16.to_ne_bytes());
        item[88..93].copy_from_slice(b"hello");
        assert_eq!(FlowRecord::parse(&item).unwrap().kind(), Some(Kind::Dns));
        let payload = DnsPayload::parse(&item).unwrap();
        assert_eq!(payload, DnsPayload { tcp_seq: 7_000, wire_len: 3_000, bytes: b"hello".to_vec() });
        assert!(payload.is_cut());

        item[86..88].copy_from_slice(&3_001u16.to_ne_bytes());
        assert_eq!(DnsPayload::parse(&item), None, "more captured than on the wire");
        assert_eq!(DnsPayload::parse(&item[..DNS_RECORD_SIZE - 1]), None);
    }

    proptest::proptest! {
        /// Whatever the ring buffer holds, decoding it never panics, and a
        /// DNS payload never claims more bytes than the item has or the
        /// packet had.
        #[test]
        fn any_item_decodes_or_is_refused(item in proptest::collection::vec(proptest::num::u8::ANY, 0..2300)) {
            let _ = FlowRecord::parse(&item).map(|record| record.to_string());
            if let Some(payload) = DnsPayload::parse(&item) {
                proptest::prop_assert!(payload.bytes.len() <= DNS_MAX_BYTES);
                proptest::prop_assert!(payload.bytes.len() <= usize::from(payload.wire_len));
            }
        }
    }

    #[test]
    fn ipv6_addresses() {
        let mut b = image();
        b[26] = 6;
        b[44..60].copy_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        let r = FlowRecord::parse(&b).unwrap();
        assert_eq!(r.source(), Some("fd00::1".parse().unwrap()));
        b[26] = 0;
        assert_eq!(FlowRecord::parse(&b).unwrap().source(), None);
    }
}
