//! [`DnsObserver`]: DNS packets in, L7 DNS flows out, and the names the
//! answers taught put on every flow.
//!
//! A message crossing the node is seen on every interface it passes (the
//! client pod's veth, then the server's): Cilium's DNS proxy sees it once,
//! and so it is reported once. A message with the same addresses, ports,
//! transport, ID and direction seen on another interface within
//! [`DUPLICATE_WINDOW_NS`] is that message again; seen again on the *same*
//! interface, it is a retransmission, and an event of its own. (A message
//! whose addresses NAT rewrote in between is a different message.)
//!
//! Queries wait for their response in a table of at most
//! [`MAX_PENDING_QUERIES`] for [`QUERY_TIMEOUT_NS`]; a response that finds
//! its query gets `l7.latency_ns`.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use flowlog_flow::Flow;

use crate::cache::{CacheLimits, DnsCache};
use crate::l7::into_l7;
use crate::message::{Message, ParseError};
use crate::recent::Recent;
use crate::stream::{Segment, StreamKey, Streams};

/// How long a message seen on one interface is the same message on another.
/// Crossing the node takes microseconds, but a packet can wait for its next
/// hop's neighbour resolution first: a second or more when an IPv6 address
/// is still tentative, up to three ARP or NDP probes of a second each.
pub const DUPLICATE_WINDOW_NS: u64 = 5_000_000_000;
/// How long a query waits for its response.
pub const QUERY_TIMEOUT_NS: u64 = 30 * 1_000_000_000;
/// The most queries waiting for their response.
pub const MAX_PENDING_QUERIES: usize = 16_384;
/// The most messages remembered for [`DUPLICATE_WINDOW_NS`].
const MAX_RECENT_MESSAGES: usize = 16_384;

/// How a DNS payload travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One message per datagram.
    Udp,
    /// Part of a stream of length-prefixed messages.
    Tcp {
        /// The sequence number of the payload's first byte.
        seq: u32,
        /// The segment's TCP flags byte.
        flags: u8,
    },
}

/// A packet to or from a DNS port, as the capture saw it.
#[derive(Clone, Copy, Debug)]
pub struct DnsPacket<'a> {
    /// Where it came from.
    pub source: SocketAddr,
    /// Where it went.
    pub destination: SocketAddr,
    /// The interface it was seen on.
    pub interface: u32,
    /// How it travelled.
    pub transport: Transport,
    /// Its TCP or UDP payload, as far as it was captured.
    pub payload: &'a [u8],
    /// Whether the payload was longer than what was captured.
    pub cut: bool,
}

/// Why (part of) a DNS packet gave no flow; each is counted under
/// [`reason`](Self::reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skipped {
    /// The payload is not a DNS message Hubble can show.
    Parse(ParseError),
    /// The message was longer than the capture copies (2 KiB a packet), or
    /// than a TCP stream keeps (16 KiB a message).
    Cut,
    /// A TCP segment came from a stream whose SYN was not seen.
    TcpStartNotSeen,
    /// A TCP segment came after a gap in its stream.
    TcpGap,
    /// A TCP connection closed in the middle of a message.
    TcpClosedInsideMessage,
    /// Too many TCP streams are being followed to follow another.
    TcpTooManyStreams,
}

impl Skipped {
    /// The `reason` label it is counted under.
    pub fn reason(self) -> &'static str {
        match self {
            Skipped::Parse(error) => error.as_str(),
            Skipped::Cut => "cut",
            Skipped::TcpStartNotSeen => "tcp_start_not_seen",
            Skipped::TcpGap => "tcp_gap",
            Skipped::TcpClosedInsideMessage => "tcp_closed_inside_message",
            Skipped::TcpTooManyStreams => "tcp_too_many_streams",
        }
    }
}

/// Who sent a message to whom, and which message it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct MessageKey {
    source: SocketAddr,
    destination: SocketAddr,
    tcp: bool,
    id: u16,
    is_response: bool,
}

/// A query, as its response finds it: client, server, transport and ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct QueryKey {
    client: SocketAddr,
    server: SocketAddr,
    tcp: bool,
    id: u16,
}

/// Turns DNS packets into L7 flows and keeps the node's DNS cache.
#[derive(Debug)]
pub struct DnsObserver {
    streams: Streams,
    /// Messages seen lately, and on which interface.
    recent: Recent<MessageKey, u32>,
    /// Queries waiting for their response.
    pending: Recent<QueryKey, ()>,
    cache: DnsCache,
}

impl DnsObserver {
    /// An observer whose cache keeps names within `limits`.
    pub fn new(limits: CacheLimits) -> Self {
        DnsObserver {
            streams: Streams::default(),
            recent: Recent::new(MAX_RECENT_MESSAGES, DUPLICATE_WINDOW_NS),
            pending: Recent::new(MAX_PENDING_QUERIES, QUERY_TIMEOUT_NS),
            cache: DnsCache::new(limits),
        }
    }

    /// The cache the responses fed.
    pub fn cache(&self) -> &DnsCache {
        &self.cache
    }

    /// Reads the DNS messages `packet` carries (none, or for TCP several),
    /// `flow` being its L3/L4 flow: an L7 flow for each message not already
    /// seen on another interface, or why one could not be read.
    pub fn observe(&mut self, flow: &Flow, packet: &DnsPacket<'_>) -> Vec<Result<Flow, Skipped>> {
        let now_ns = time_ns(flow);
        let mut observed = Vec::new();
        let payloads = match packet.transport {
            Transport::Udp if packet.cut => return vec![Err(Skipped::Cut)],
            Transport::Udp => vec![Cow::Borrowed(packet.payload)],
            Transport::Tcp { seq, flags } => {
                let key =
                    StreamKey { interface: packet.interface, source: packet.source, destination: packet.destination };
                let segment = Segment { seq, flags, payload: packet.payload, cut: packet.cut };
                let (messages, skipped) = self.streams.take(key, segment, now_ns);
                observed.extend(skipped.map(Err));
                messages.into_iter().map(Cow::Owned).collect()
            }
        };
        for payload in payloads {
            match Message::parse(&payload) {
                Ok(message) => observed.extend(self.message(flow, packet, &message, now_ns).map(Ok)),
                Err(error) => observed.push(Err(Skipped::Parse(error))),
            }
        }
        observed
    }

    /// Fills `flow`'s `source_names` and `destination_names` from the cache.
    pub fn name(&self, flow: &mut Flow, source: IpAddr, destination: IpAddr) {
        if self.cache.is_empty() {
            return;
        }
        let now_ns = time_ns(flow);
        flow.source_names = self.cache.names_of(source, now_ns);
        flow.destination_names = self.cache.names_of(destination, now_ns);
    }

    /// The L7 flow of one message; `None` for a message already reported
    /// from another interface.
    fn message(&mut self, flow: &Flow, packet: &DnsPacket<'_>, message: &Message, now_ns: u64) -> Option<Flow> {
        let tcp = matches!(packet.transport, Transport::Tcp { .. });
        let key = MessageKey {
            source: packet.source,
            destination: packet.destination,
            tcp,
            id: message.id,
            is_response: message.is_response,
        };
        match self.recent.get(&key, now_ns) {
            Some(&interface) if interface != packet.interface => return None,
            _ => {
                self.recent.insert(key, packet.interface, now_ns);
            }
        }
        let latency_ns = if message.is_response {
            let query = QueryKey { client: packet.destination, server: packet.source, tcp, id: message.id };
            self.pending.remove(&query, now_ns).map_or(0, |(asked_ns, ())| now_ns.saturating_sub(asked_ns))
        } else {
            let query = QueryKey { client: packet.source, server: packet.destination, tcp, id: message.id };
            self.pending.insert(query, (), now_ns);
            0
        };
        self.cache.learn(message, now_ns);
        Some(into_l7(flow.clone(), message, latency_ns))
    }
}

/// The flow's time in Unix nanoseconds (0 without one).
fn time_ns(flow: &Flow) -> u64 {
    flow.time.map_or(0, |time| {
        u64::try_from(time.seconds)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(time.nanos).unwrap_or(0))
    })
}
