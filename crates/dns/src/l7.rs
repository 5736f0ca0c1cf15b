//! A DNS message as Hubble shows it: the `l7.dns` record, and the L7 flow
//! made from the packet's own L3/L4 flow, as Cilium's
//! `pkg/hubble/parser/seven` writes them.
//!
//! | field | query | response |
//! |---|---|---|
//! | `Type` | `L7` | `L7` |
//! | `event_type` | `{type: 129}` (access log) | `{type: 129}` |
//! | `l7.type` | `REQUEST` | `RESPONSE` |
//! | `l7.latency_ns` | 0 | since its query, when that was seen |
//! | `l7.dns` | `query`, `qtypes` | `query`, `ips`, `ttl`, `cnames`, `rcode`, `qtypes`, `rrtypes` |
//! | `is_reply` | false | true |
//! | `Summary` | `DNS Query example.com. A` | `DNS Answer "10.0.0.1" TTL: 60 (Query example.com. A)` |
//!
//! Everything else (addresses, ports, endpoints, `traffic_direction`,
//! verdict, interface) is the packet's L3/L4 flow; the trace's own
//! `trace_observation_point` and Ethernet header are not part of an L7
//! event and are cleared. `observation_source` is left empty, as Retina
//! does: `"proxy"` would claim Cilium's DNS proxy, and the summary then
//! reads `(Query …)` as Cilium writes it for any source but the proxy.

use std::fmt::Write as _;

use flowlog_flow::layer7::Record;
use flowlog_flow::{CiliumEventType, Dns, Flow, FlowType, L7FlowType, Layer7, TraceObservationPoint};

use crate::message::{AnswerData, Message};
use crate::names::{rcode_summary_name, type_name};

/// Cilium's `MessageTypeAccessLog`: the event type of L7 flows.
pub const EVENT_ACCESS_LOG: i32 = 129;

/// The `l7.dns` record of `message`.
pub fn dns_record(message: &Message) -> Dns {
    let query = message.questions.first().map(|question| question.name.to_lowercase()).unwrap_or_default();
    let qtypes = message.questions.iter().map(|question| type_name(question.qtype).to_owned()).collect();
    if !message.is_response {
        return Dns { query, qtypes, ..Dns::default() };
    }
    let mut dns = Dns { query, qtypes, rcode: u32::from(message.rcode), ttl: u32::MAX, ..Dns::default() };
    for answer in &message.answers {
        dns.rrtypes.push(type_name(answer.rtype).to_owned());
        match &answer.data {
            AnswerData::Address(address) => dns.ips.push(address.to_string()),
            AnswerData::Alias(target) => dns.cnames.push(target.clone()),
            AnswerData::Other => continue,
        }
        // As Cilium: the shortest TTL of the A, AAAA and CNAME answers;
        // without any (NXDOMAIN, NODATA) it stays at 2^32-1.
        dns.ttl = dns.ttl.min(answer.ttl);
    }
    dns
}

/// Turns `flow`, the L3/L4 flow of the packet that carried `message`,
/// into the message's L7 flow. `latency_ns` is the time since the query,
/// for a response whose query was seen (0 otherwise).
pub fn into_l7(mut flow: Flow, message: &Message, latency_ns: u64) -> Flow {
    let dns = dns_record(message);
    let summary = summary(&dns, message.is_response);
    // An event of its own, so a UUID of its own: one TCP segment can carry
    // several messages, and the packet's flow may be exported beside them.
    flow.uuid = flowlog_flow::random_uuid();
    flow.r#type = FlowType::L7 as i32;
    flow.event_type = Some(CiliumEventType { r#type: EVENT_ACCESS_LOG, sub_type: 0 });
    flow.trace_observation_point = TraceObservationPoint::UnknownPoint as i32;
    flow.ethernet = None;
    flow.is_reply = Some(message.is_response);
    flow.l7 = Some(Layer7 {
        r#type: if message.is_response { L7FlowType::Response } else { L7FlowType::Request } as i32,
        latency_ns,
        record: Some(Record::Dns(dns)),
    });
    #[allow(deprecated, reason = "Hubble still fills Summary; it is the only free-text field")]
    {
        flow.summary = summary;
    }
    flow
}

/// The `Summary` Cilium writes (`dnsSummary`).
pub fn summary(dns: &Dns, is_response: bool) -> String {
    let qtypes = dns.qtypes.join(",");
    if !is_response {
        return format!("DNS Query {} {qtypes}", dns.query);
    }
    let answer = if dns.rcode != 0 {
        format!("RCode: {}", rcode_summary_name(u16::try_from(dns.rcode).unwrap_or(u16::MAX)))
    } else {
        let mut parts = Vec::with_capacity(2);
        if !dns.ips.is_empty() {
            parts.push(go_quote(&dns.ips.join(",")));
        }
        if !dns.cnames.is_empty() {
            parts.push(format!("CNAMEs: {}", go_quote(&dns.cnames.join(","))));
        }
        parts.join(" ")
    };
    format!("DNS Answer {answer} TTL: {} (Query {} {qtypes})", dns.ttl, dns.query)
}

/// `text` as Go's `%q` writes it: in double quotes, with `"` and `\`
/// escaped, and control characters as `\n`, `\t` or `\x..`/`\u....`.
fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(quoted, "\\x{:02x}", c as u32);
            }
            '\u{fffd}' => quoted.push_str("\\ufffd"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Answer, Question};

    fn message(is_response: bool, rcode: u16, answers: Vec<Answer>) -> Message {
        Message {
            id: 7,
            is_response,
            rcode,
            questions: vec![Question { name: "WWW.Example.com.".into(), qtype: 1 }],
            answers,
        }
    }

    fn answer(rtype: u16, ttl: u32, data: AnswerData) -> Answer {
        Answer { name: "www.example.com.".into(), rtype, ttl, data }
    }

    #[test]
    fn a_query() {
        let dns = dns_record(&message(false, 0, vec![]));
        assert_eq!(dns, Dns { query: "www.example.com.".into(), qtypes: vec!["A".into()], ..Dns::default() });
        assert_eq!(summary(&dns, false), "DNS Query www.example.com. A");
    }

    #[test]
    fn an_answer_through_a_cname() {
        let dns = dns_record(&message(
            true,
            0,
            vec![
                answer(5, 300, AnswerData::Alias("web.example.com.".into())),
                answer(1, 60, AnswerData::Address("10.0.0.1".parse().unwrap())),
                answer(1, 90, AnswerData::Address("10.0.0.2".parse().unwrap())),
                answer(16, 5, AnswerData::Other),
            ],
        ));
        assert_eq!(dns.ips, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(dns.cnames, ["web.example.com."]);
        assert_eq!(dns.rrtypes, ["CNAME", "A", "A", "TXT"]);
        assert_eq!(dns.ttl, 60, "TXT does not count");
        assert_eq!(
            summary(&dns, true),
            r#"DNS Answer "10.0.0.1,10.0.0.2" CNAMEs: "web.example.com." TTL: 60 (Query www.example.com. A)"#
        );
    }

    #[test]
    fn nxdomain() {
        let dns = dns_record(&message(true, 3, vec![]));
        assert_eq!((dns.rcode, dns.ttl), (3, u32::MAX));
        assert_eq!(
            summary(&dns, true),
            "DNS Answer RCode: Non-Existent Domain TTL: 4294967295 (Query www.example.com. A)"
        );
    }

    #[test]
    fn the_flow_becomes_l7() {
        let trace = Flow {
            r#type: FlowType::L3L4 as i32,
            event_type: Some(CiliumEventType { r#type: 4, sub_type: 5 }),
            trace_observation_point: TraceObservationPoint::FromEndpoint as i32,
            traffic_direction: 2,
            uuid: "the packet's".into(),
            ..Flow::default()
        };
        let other = into_l7(trace.clone(), &message(false, 0, vec![]), 0);
        let flow = into_l7(trace, &message(true, 0, vec![]), 1_500);
        assert_eq!(flow.uuid.len(), 36);
        assert_ne!(flow.uuid, other.uuid, "each message its own event");
        assert_eq!(flow.r#type, FlowType::L7 as i32);
        assert_eq!(flow.event_type, Some(CiliumEventType { r#type: 129, sub_type: 0 }));
        assert_eq!(flow.trace_observation_point, 0);
        assert_eq!(flow.traffic_direction, 2, "kept");
        assert_eq!(flow.is_reply, Some(true));
        let l7 = flow.l7.unwrap();
        assert_eq!((l7.r#type, l7.latency_ns), (L7FlowType::Response as i32, 1_500));
    }

    #[test]
    fn quoting_as_go_does() {
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("a\u{1}"), r#""a\x01""#);
    }
}
