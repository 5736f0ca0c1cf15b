//! Label values spelled exactly as Hubble's metric handlers spell them
//! (Cilium's `pkg/hubble/metrics/{flow,drop,tcp,icmp}` and
//! `pkg/hubble/api/v1.FlowProtocol`), so dashboards and alerts written for
//! Hubble read flowlog's series unchanged.
//!
//! Enum values are their proto names (`FORWARDED`, `POLICY_DENIED`, `IPv4`),
//! and a number the schema does not name is written as the number, as Go's
//! protobuf `String()` does.

use std::borrow::Cow;

use flowlog_flow::layer4::Protocol;
use flowlog_flow::layer7::Record;
use flowlog_flow::{DropReason, Flow, IpVersion, Verdict};

/// Cilium's monitor message types (`pkg/monitor/api`), the `event_type.type` of a flow.
mod message_type {
    pub const DROP: i32 = 1;
    pub const CAPTURE: i32 = 3;
    pub const TRACE: i32 = 4;
    pub const POLICY_VERDICT: i32 = 5;
    pub const ACCESS_LOG: i32 = 129;
}

/// Trace observation points by `event_type.sub_type` of a trace (Cilium's
/// `TraceObservationPoints`, in the datapath's `enum trace_point` order).
const OBSERVATION_POINTS: [&str; 14] = [
    "to-endpoint",
    "to-proxy",
    "to-host",
    "to-stack",
    "to-overlay",
    "from-endpoint",
    "from-proxy",
    "from-host",
    "from-stack",
    "from-overlay",
    "from-network",
    "to-network",
    "from-crypto",
    "to-crypto",
];

/// The protocol that best describes the flow: for L7 flows the L7 protocol,
/// otherwise the L4 one (`TCP`, `UDP`, `ICMPv4`, …). Hubble's `FlowProtocol`.
pub fn protocol(flow: &Flow) -> &'static str {
    match event_type(flow).0 {
        message_type::ACCESS_LOG => match flow.l7.as_ref().and_then(|l7| l7.record.as_ref()) {
            Some(Record::Dns(_)) => "DNS",
            Some(Record::Http(_)) => "HTTP",
            #[allow(deprecated, reason = "Kafka flows still arrive from older agents")]
            Some(Record::Kafka(_)) => "Kafka",
            None => "Unknown L7",
        },
        message_type::DROP | message_type::TRACE | message_type::POLICY_VERDICT | message_type::CAPTURE => {
            match flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) {
                Some(Protocol::Tcp(_)) => "TCP",
                Some(Protocol::Udp(_)) => "UDP",
                Some(Protocol::IcmPv4(_)) => "ICMPv4",
                Some(Protocol::IcmPv6(_)) => "ICMPv6",
                Some(Protocol::Sctp(_)) => "SCTP",
                Some(Protocol::Vrrp(_)) => "VRRP",
                Some(Protocol::Igmp(_)) => "IGMP",
                None => "Unknown L4",
            }
        }
        _ => "Unknown flow",
    }
}

/// The `type` and `subtype` labels of `hubble_flows_processed_total`:
/// `Trace` with the observation point (`to-endpoint`), `Drop`, `L7` with
/// `DNS` or `HTTP`, `PolicyVerdict`, `Capture`; any other type is `Unknown`
/// with the type's number as subtype.
pub fn type_and_subtype(flow: &Flow) -> (&'static str, Cow<'static, str>) {
    let (kind, sub_type) = event_type(flow);
    match kind {
        message_type::ACCESS_LOG => {
            let subtype = match flow.l7.as_ref().and_then(|l7| l7.record.as_ref()) {
                Some(Record::Dns(_)) => "DNS",
                Some(Record::Http(_)) => "HTTP",
                _ => "",
            };
            ("L7", Cow::Borrowed(subtype))
        }
        message_type::DROP => ("Drop", Cow::Borrowed("")),
        message_type::CAPTURE => ("Capture", Cow::Borrowed("")),
        message_type::TRACE => {
            // Hubble looks the point up in a map: an unknown one reads as "".
            let point = usize::try_from(sub_type).ok().and_then(|i| OBSERVATION_POINTS.get(i));
            ("Trace", Cow::Borrowed(point.copied().unwrap_or("")))
        }
        message_type::POLICY_VERDICT => ("PolicyVerdict", Cow::Borrowed("")),
        other => ("Unknown", Cow::Owned(other.to_string())),
    }
}

/// The verdict's name: `FORWARDED`, `DROPPED`, … (`VERDICT_UNKNOWN` when unset).
pub fn verdict(flow: &Flow) -> Cow<'static, str> {
    enum_name(flow.verdict, |v| Verdict::try_from(v).ok().map(|v| v.as_str_name()))
}

/// The drop reason's name from `drop_reason_desc`: `POLICY_DENIED`, … (`DROP_REASON_UNKNOWN` when unset).
pub fn drop_reason(flow: &Flow) -> Cow<'static, str> {
    enum_name(flow.drop_reason_desc, |v| DropReason::try_from(v).ok().map(|r| r.as_str_name()))
}

/// The IP version's name (`IPv4`, `IPv6`, `IP_NOT_USED`), when the flow has an IP header.
pub fn ip_family(flow: &Flow) -> Option<Cow<'static, str>> {
    let ip = flow.ip.as_ref()?;
    Some(enum_name(ip.ip_version, |v| IpVersion::try_from(v).ok().map(|v| v.as_str_name())))
}

/// The flow's `event_type` as (type, sub-type); an unset one reads as zeros,
/// as in Hubble, where it is a plain struct.
fn event_type(flow: &Flow) -> (i32, i32) {
    flow.event_type.map_or((0, 0), |e| (e.r#type, e.sub_type))
}

fn enum_name(value: i32, name: impl Fn(i32) -> Option<&'static str>) -> Cow<'static, str> {
    name(value).map_or_else(|| Cow::Owned(value.to_string()), Cow::Borrowed)
}

#[cfg(test)]
mod tests {
    use flowlog_flow::{CiliumEventType, Dns, Layer4, Layer7, Tcp, Udp};

    use super::*;

    fn flow(kind: i32, sub_type: i32) -> Flow {
        Flow { event_type: Some(CiliumEventType { r#type: kind, sub_type }), ..Default::default() }
    }

    #[test]
    fn types_and_subtypes_are_hubbles() {
        assert_eq!(type_and_subtype(&flow(4, 0)), ("Trace", "to-endpoint".into()));
        assert_eq!(type_and_subtype(&flow(4, 5)), ("Trace", "from-endpoint".into()));
        assert_eq!(type_and_subtype(&flow(4, 10)), ("Trace", "from-network".into()));
        assert_eq!(type_and_subtype(&flow(4, 11)), ("Trace", "to-network".into()));
        assert_eq!(type_and_subtype(&flow(4, 13)), ("Trace", "to-crypto".into()));
        assert_eq!(type_and_subtype(&flow(4, 99)), ("Trace", "".into()));
        assert_eq!(type_and_subtype(&flow(1, 133)), ("Drop", "".into()));
        assert_eq!(type_and_subtype(&flow(5, 0)), ("PolicyVerdict", "".into()));
        assert_eq!(type_and_subtype(&flow(3, 0)), ("Capture", "".into()));
        assert_eq!(type_and_subtype(&flow(7, 2)), ("Unknown", "7".into()));
        assert_eq!(type_and_subtype(&Flow::default()), ("Unknown", "0".into()));
        let dns = Flow {
            l7: Some(Layer7 { record: Some(Record::Dns(Dns::default())), ..Default::default() }),
            ..flow(129, 0)
        };
        assert_eq!(type_and_subtype(&dns), ("L7", "DNS".into()));
        assert_eq!(protocol(&dns), "DNS");
    }

    #[test]
    fn protocols_follow_the_event_type() {
        let with_l4 = |kind, protocol| Flow { l4: Some(Layer4 { protocol: Some(protocol) }), ..flow(kind, 0) };
        assert_eq!(protocol(&with_l4(4, Protocol::Tcp(Tcp::default()))), "TCP");
        assert_eq!(protocol(&with_l4(1, Protocol::Udp(Udp::default()))), "UDP");
        assert_eq!(protocol(&flow(4, 0)), "Unknown L4");
        assert_eq!(protocol(&flow(129, 0)), "Unknown L7");
        // No event type (a flow from a hand-written line): Hubble cannot tell.
        assert_eq!(protocol(&with_l4(0, Protocol::Tcp(Tcp::default()))), "Unknown flow");
    }

    #[test]
    fn enums_read_as_their_proto_names_or_numbers() {
        let mut f = Flow { verdict: Verdict::Forwarded as i32, ..Default::default() };
        assert_eq!(verdict(&f), "FORWARDED");
        f.verdict = 0;
        assert_eq!(verdict(&f), "VERDICT_UNKNOWN");
        f.verdict = 42;
        assert_eq!(verdict(&f), "42");
        f.drop_reason_desc = DropReason::PolicyDenied as i32;
        assert_eq!(drop_reason(&f), "POLICY_DENIED");
        f.drop_reason_desc = 0;
        assert_eq!(drop_reason(&f), "DROP_REASON_UNKNOWN");
        assert_eq!(ip_family(&f), None);
    }
}
