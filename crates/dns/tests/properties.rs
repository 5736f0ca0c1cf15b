//! Property tests of the parser and the DNS stage, on stable Rust with
//! proptest: generated messages read back exactly, TCP streams cut at any
//! points give back the same messages, and random or mutated bytes never
//! panic or hang. (Allocation is bounded by construction: a message's
//! record counts are checked against its length before it is parsed, see
//! `Message::parse`; the capture copies at most 2 KiB a packet, and a TCP
//! stream keeps at most one message of 16 KiB.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use flowlog_dns::message::{Answer, AnswerData, Question};
use flowlog_dns::{CacheLimits, DnsObserver, DnsPacket, Message, Transport};
use flowlog_flow::layer7::Record;
use flowlog_flow::{Flow, Timestamp};
use proptest::prelude::*;
use simple_dns::rdata::{A, AAAA, CNAME, RData, TXT};
use simple_dns::{CLASS, Name, Packet, QCLASS, QTYPE, RCODE, ResourceRecord, TYPE};

/// A name of one to four labels.
fn name() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9][a-z0-9-]{0,14}", 1..4).prop_map(|labels| labels.join("."))
}

/// An answer's data, as generated.
#[derive(Clone, Debug)]
enum Data {
    V4(u32),
    V6(u128),
    Alias(String),
    Text,
}

impl Data {
    fn rdata(&self) -> RData<'_> {
        match self {
            Data::V4(address) => RData::A(A { address: *address }),
            Data::V6(address) => RData::AAAA(AAAA { address: *address }),
            Data::Alias(target) => RData::CNAME(CNAME(Name::new_unchecked(target))),
            Data::Text => RData::TXT(TXT::new().with_string("v=spf1 -all").unwrap()),
        }
    }

    /// The type and data [`Message::parse`] must read.
    fn expected(&self) -> (u16, AnswerData) {
        match self {
            Data::V4(address) => (1, AnswerData::Address(IpAddr::V4(Ipv4Addr::from(*address)))),
            Data::V6(address) => (28, AnswerData::Address(IpAddr::V6(Ipv6Addr::from(*address)))),
            Data::Alias(target) => (5, AnswerData::Alias(format!("{target}."))),
            Data::Text => (16, AnswerData::Other),
        }
    }
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![
        any::<u32>().prop_map(Data::V4),
        any::<u128>().prop_map(Data::V6),
        name().prop_map(Data::Alias),
        Just(Data::Text)
    ]
}

/// A generated message's wire bytes, and what [`Message::parse`] must read from them.
#[derive(Clone, Debug)]
struct Generated {
    bytes: Vec<u8>,
    expected: Message,
}

fn message() -> impl Strategy<Value = Generated> {
    let question = (name(), prop::sample::select(vec![TYPE::A, TYPE::AAAA, TYPE::CNAME, TYPE::TXT, TYPE::MX]));
    let answers = prop::collection::vec((name(), any::<u32>(), data()), 0..6);
    (any::<u16>(), any::<bool>(), 0u16..=10, prop::collection::vec(question, 1..3), answers).prop_map(
        |(id, is_response, rcode, questions, answers)| {
            let mut packet = if is_response { Packet::new_reply(id) } else { Packet::new_query(id) };
            *packet.rcode_mut() = RCODE::from(rcode);
            for (qname, qtype) in &questions {
                let qname = Name::new_unchecked(qname);
                packet.questions.push(simple_dns::Question::new(
                    qname,
                    QTYPE::TYPE(*qtype),
                    QCLASS::CLASS(CLASS::IN),
                    false,
                ));
            }
            for (owner, ttl, data) in &answers {
                packet.answers.push(ResourceRecord::new(Name::new_unchecked(owner), CLASS::IN, *ttl, data.rdata()));
            }
            let bytes = packet.build_bytes_vec_compressed().unwrap();
            let questions = questions
                .iter()
                .map(|(qname, qtype)| Question { name: format!("{qname}."), qtype: (*qtype).into() })
                .collect();
            let answers = answers
                .iter()
                .map(|(owner, ttl, data)| {
                    let (rtype, data) = data.expected();
                    Answer { name: format!("{owner}."), rtype, ttl: *ttl, data }
                })
                .collect();
            Generated { bytes, expected: Message { id, is_response, rcode, questions, answers } }
        },
    )
}

fn flow() -> Flow {
    Flow { time: Some(Timestamp { seconds: 1_700_000_000, nanos: 0 }), ..Flow::default() }
}

fn packet(payload: &[u8], transport: Transport) -> DnsPacket<'_> {
    DnsPacket {
        source: "10.0.0.2:40000".parse::<SocketAddr>().unwrap(),
        destination: "10.0.0.53:53".parse::<SocketAddr>().unwrap(),
        interface: 1,
        transport,
        payload,
        cut: false,
    }
}

fn queries(flows: &[Flow]) -> Vec<String> {
    flows
        .iter()
        .map(|flow| match flow.l7.as_ref().and_then(|l7| l7.record.as_ref()) {
            Some(Record::Dns(dns)) => dns.query.clone(),
            other => panic!("not a DNS flow: {other:?}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_messages_read_back_exactly(generated in message()) {
        prop_assert_eq!(Message::parse(&generated.bytes), Ok(generated.expected));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        let _ = Message::parse(&bytes);
        let mut observer = DnsObserver::new(CacheLimits::default());
        let _ = observer.observe(&flow(), &packet(&bytes, Transport::Udp));
        let _ = observer.observe(&flow(), &packet(&[], Transport::Tcp { seq: 6, flags: 0x02 }));
        let _ = observer.observe(&flow(), &packet(&bytes, Transport::Tcp { seq: 7, flags: 0x18 }));
    }

    #[test]
    fn mutated_and_truncated_messages_never_panic(
        generated in message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        keep in any::<prop::sample::Index>(),
    ) {
        let mut bytes = generated.bytes;
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        let _ = Message::parse(&bytes[..keep.index(bytes.len() + 1)]);
        let mut observer = DnsObserver::new(CacheLimits::default());
        let _ = observer.observe(&flow(), &packet(&bytes, Transport::Udp));
    }

    #[test]
    fn a_tcp_stream_cut_anywhere_gives_back_its_messages(
        messages in prop::collection::vec(message(), 1..5),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        retransmit in any::<bool>(),
        isn in any::<u32>(),
    ) {
        // Queries from the client, framed as RFC 7766 frames them.
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for generated in &messages {
            let mut bytes = generated.bytes.clone();
            bytes[2] &= 0x7f;
            stream.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            stream.extend_from_slice(&bytes);
            expected.push(generated.expected.questions[0].name.to_lowercase());
        }
        let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(stream.len())).collect();
        points.extend([0, stream.len()]);
        points.sort_unstable();
        points.dedup();

        let mut observer = DnsObserver::new(CacheLimits::default());
        let syn = observer.observe(&flow(), &packet(&[], Transport::Tcp { seq: isn, flags: 0x02 }));
        prop_assert!(syn.is_empty());
        let mut flows = Vec::new();
        for window in points.windows(2) {
            let seq = isn.wrapping_add(1).wrapping_add(window[0] as u32);
            let segment = packet(&stream[window[0]..window[1]], Transport::Tcp { seq, flags: 0x18 });
            // A retransmitted segment adds nothing.
            for _ in 0..if retransmit { 2 } else { 1 } {
                for outcome in observer.observe(&flow(), &segment) {
                    flows.push(outcome.map_err(|skipped| TestCaseError::fail(format!("{skipped:?}")))?);
                }
            }
        }
        prop_assert_eq!(queries(&flows), expected);
    }
}
