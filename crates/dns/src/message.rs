//! One DNS message, parsed: the part of RFC 1035 that Hubble's L7 DNS
//! record shows.
//!
//! The wire format is read by [`simple_dns`], chosen over `hickory-proto`
//! and `dns-parser`:
//!
//! - it borrows from the input and has no dependencies, where
//!   `hickory-proto` brings an async runtime's worth of crates for a
//!   resolver and DNSSEC that flowlog does not use;
//! - it is kept up (0.13, 2025) where `dns-parser` has not changed since
//!   2018;
//! - compression pointers may only point backwards (`BytesBuffer::new_at`)
//!   and names are capped at 255 bytes, so a pointer loop ends in an error,
//!   never a hang; reads past the end are `InsufficientData`, never a panic.
//!
//! Where it falls short, this module adds what is missing:
//!
//! - it trusts the header's record counts to size its vectors, so a
//!   12-byte message claiming 65,535 records of each kind would make it
//!   allocate megabytes: [`Message::parse`] refuses counts that the
//!   message's length cannot hold before parsing;
//! - its `RCODE` folds unassigned codes into `Reserved`: the code is read
//!   from the header (and the EDNS extension) instead.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::RData;
use simple_dns::{Packet, RCODE, SimpleDnsError};

/// The DNS header: ID, flags and four 16-bit counts.
const HEADER_LEN: usize = 12;
/// The shortest question: the root name (1 byte), type and class.
const MIN_QUESTION_LEN: usize = 5;
/// The shortest resource record: root name, type, class, TTL, RDLENGTH.
const MIN_RECORD_LEN: usize = 11;

/// A DNS message, as far as flows show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The ID that pairs a response with its query.
    pub id: u16,
    /// The QR bit: a response rather than a query.
    pub is_response: bool,
    /// The response code, with the EDNS extended bits when present.
    pub rcode: u16,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Answer>,
}

/// One entry of the question section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The name asked for, fully qualified: with its trailing dot.
    pub name: String,
    /// The QTYPE number.
    pub qtype: u16,
}

/// One record of the answer section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The record's owner name, fully qualified.
    pub name: String,
    /// The record's TYPE number.
    pub rtype: u16,
    /// Seconds the answer may be cached.
    pub ttl: u32,
    /// What the record says, when flows show it.
    pub data: AnswerData,
}

/// The part of an answer's data that flows show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerData {
    /// An A or AAAA record's address.
    Address(IpAddr),
    /// A CNAME record's target, fully qualified.
    Alias(String),
    /// Any other record.
    Other,
}

/// Why a payload is not a DNS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// The message ends before what its header announces.
    Truncated,
    /// The bytes break the wire format (a bad name, pointer or record).
    Malformed,
    /// The header claims more records than the message's length can hold.
    ImpossibleCounts,
    /// The message asks no question: Hubble's DNS record has no query to show.
    NoQuestion,
}

impl ParseError {
    /// The label value under which the error is counted.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseError::Truncated => "truncated",
            ParseError::Malformed => "malformed",
            ParseError::ImpossibleCounts => "impossible_counts",
            ParseError::NoQuestion => "no_question",
        }
    }
}

impl Message {
    /// Parses one whole DNS message (without the TCP length prefix).
    ///
    /// Unknown QTYPEs and classes, and the reserved Z flag, are refused by
    /// simple-dns as malformed.
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        if bytes.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let count = |at: usize| usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
        let records = count(6) + count(8) + count(10);
        if count(4) * MIN_QUESTION_LEN + records * MIN_RECORD_LEN > bytes.len() - HEADER_LEN {
            return Err(ParseError::ImpossibleCounts);
        }
        let packet = Packet::parse(bytes).map_err(|error| match error {
            SimpleDnsError::InsufficientData => ParseError::Truncated,
            _ => ParseError::Malformed,
        })?;
        if packet.questions.is_empty() {
            return Err(ParseError::NoQuestion);
        }
        let rcode = match packet.rcode() {
            // Not a code simple-dns names: the header's four bits.
            RCODE::Reserved => u16::from(bytes[3] & 0x0f),
            rcode => rcode as u16,
        };
        let questions = packet
            .questions
            .iter()
            .map(|question| Question { name: fqdn(&question.qname), qtype: question.qtype.into() })
            .collect();
        let answers = packet
            .answers
            .iter()
            .map(|record| Answer {
                name: fqdn(&record.name),
                rtype: record.rdata.type_code().into(),
                ttl: record.ttl,
                data: match &record.rdata {
                    RData::A(a) => AnswerData::Address(IpAddr::V4(Ipv4Addr::from(a.address))),
                    RData::AAAA(aaaa) => AnswerData::Address(IpAddr::V6(Ipv6Addr::from(aaaa.address))),
                    RData::CNAME(cname) => AnswerData::Alias(fqdn(&cname.0)),
                    _ => AnswerData::Other,
                },
            })
            .collect();
        Ok(Message { id: packet.id(), is_response: bytes[2] & 0x80 != 0, rcode, questions, answers })
    }
}

/// A name as DNS tools print it: labels joined by dots, with the root's
/// trailing dot (`example.com.`; the root itself is `.`).
fn fqdn(name: &simple_dns::Name<'_>) -> String {
    let mut text = name.to_string();
    text.push('.');
    text
}

#[cfg(test)]
mod tests {
    use simple_dns::rdata::{A, AAAA, CNAME};
    use simple_dns::{CLASS, Name, PacketFlag, QCLASS, QTYPE, ResourceRecord, TYPE};

    use super::*;

    pub(crate) fn response() -> Vec<u8> {
        let mut packet = Packet::new_reply(0x1234);
        packet.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE);
        let qname = Name::new_unchecked("www.example.com");
        packet.questions.push(simple_dns::Question::new(
            qname.clone(),
            QTYPE::TYPE(TYPE::A),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        let target = Name::new_unchecked("web.example.com");
        packet.answers.push(ResourceRecord::new(qname, CLASS::IN, 300, RData::CNAME(CNAME(target.clone()))));
        packet.answers.push(ResourceRecord::new(target.clone(), CLASS::IN, 60, RData::A(A { address: 0x0a00_0001 })));
        packet.answers.push(ResourceRecord::new(target, CLASS::IN, 60, RData::AAAA(AAAA { address: 1 })));
        packet.build_bytes_vec_compressed().unwrap()
    }

    #[test]
    fn a_response_with_a_cname_chain() {
        let message = Message::parse(&response()).unwrap();
        assert_eq!((message.id, message.is_response, message.rcode), (0x1234, true, 0));
        assert_eq!(message.questions, vec![Question { name: "www.example.com.".into(), qtype: 1 }]);
        assert_eq!(
            message.answers,
            vec![
                Answer {
                    name: "www.example.com.".into(),
                    rtype: 5,
                    ttl: 300,
                    data: AnswerData::Alias("web.example.com.".into())
                },
                Answer {
                    name: "web.example.com.".into(),
                    rtype: 1,
                    ttl: 60,
                    data: AnswerData::Address("10.0.0.1".parse().unwrap())
                },
                Answer {
                    name: "web.example.com.".into(),
                    rtype: 28,
                    ttl: 60,
                    data: AnswerData::Address("::1".parse().unwrap())
                },
            ]
        );
    }

    #[test]
    fn every_cut_of_a_message_is_an_error() {
        let bytes = response();
        for end in 0..bytes.len() {
            assert!(Message::parse(&bytes[..end]).is_err(), "cut at {end}");
        }
    }

    #[test]
    fn counts_the_length_cannot_hold_are_refused_before_parsing() {
        let mut bytes = vec![0u8; 12];
        bytes[4..12].copy_from_slice(&[0xff; 8]);
        assert_eq!(Message::parse(&bytes), Err(ParseError::ImpossibleCounts));
    }

    #[test]
    fn a_pointer_to_itself_is_malformed() {
        // One question whose name is a pointer to its own offset (12).
        let mut bytes = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        bytes.extend([0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&bytes), Err(ParseError::Malformed));
        // And a forward pointer.
        bytes[13] = 14;
        assert!(Message::parse(&bytes).is_err());
    }

    #[test]
    fn unassigned_rcodes_are_kept() {
        let mut bytes = response();
        bytes[3] = (bytes[3] & 0xf0) | 12;
        assert_eq!(Message::parse(&bytes).unwrap().rcode, 12);
    }
}
