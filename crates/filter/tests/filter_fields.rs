//! Every FlowFilter field: a match, a non-match, and the build errors Hubble
//! reports; then composition, non-flow events, the filter string forms and
//! JSON key handling.

use flowlog_filter::{FilterError, Filters, filter_from_json, parse_filters};
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::layer4::Protocol;
use flowlog_flow::layer7::Record;
use flowlog_flow::{
    AgentEvent, AgentEventType, CiliumEventType, DebugEvent, DebugEventType, Dns, DropReason, Endpoint, ExportEvent,
    Flow, FlowFilter, Http, HttpHeader, IcmPv4, IcmPv6, Ip, IpTraceId, IpVersion, Layer4, Layer7, LostEvent,
    NetworkInterface, NodeStatusEvent, Sctp, Service, Tcp, TcpFlags, TraceContext, TraceParent, TrafficDirection, Udp,
    Verdict, Workload,
};

// ---------------------------------------------------------------------------
// Helpers

fn filter(json: &str) -> FlowFilter {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    filter_from_json(&value).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn compiled(json: &str) -> Filters {
    Filters::new(vec![filter(json)], Vec::new()).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn event(flow: Flow) -> ExportEvent {
    ExportEvent { response_types: Some(ResponseTypes::Flow(flow)), ..Default::default() }
}

fn build_error(json: &str) -> String {
    match Filters::new(vec![filter(json)], Vec::new()) {
        Ok(filters) => panic!("{json} compiled: {filters:?}"),
        Err(e) => e.to_string(),
    }
}

fn labels(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    labels(list)
}

/// A dropped TCP flow with most fields set, like Cilium's example flow.
fn tcp_flow() -> Flow {
    Flow {
        uuid: "3a6c6f5e-1f1c-4bd4-9b5c-6f1e2d3c4b5a".to_owned(),
        verdict: Verdict::Dropped as i32,
        drop_reason_desc: DropReason::PolicyDenied as i32,
        ip: Some(Ip {
            source: "10.244.1.60".to_owned(),
            source_xlated: "192.168.0.7".to_owned(),
            destination: "10.244.1.5".to_owned(),
            ip_version: IpVersion::IPv4 as i32,
            encrypted: false,
        }),
        l4: Some(Layer4 {
            protocol: Some(Protocol::Tcp(Tcp {
                source_port: 44916,
                destination_port: 80,
                flags: Some(TcpFlags { syn: true, ack: true, ..Default::default() }),
            })),
        }),
        source: Some(Endpoint {
            id: 1234,
            identity: 4321,
            cluster_name: "kind-kind".to_owned(),
            namespace: "default".to_owned(),
            labels: labels(&[
                "k8s:app=xwing",
                "k8s:class=xwing",
                "k8s:io.kubernetes.pod.namespace=default",
                "k8s:org=alliance",
            ]),
            pod_name: "xwing".to_owned(),
            workloads: vec![Workload { name: "xwing".to_owned(), kind: "Pod".to_owned() }],
        }),
        destination: Some(Endpoint {
            id: 2,
            identity: 5678,
            cluster_name: "other".to_owned(),
            namespace: "empire".to_owned(),
            labels: labels(&["k8s:app=deathstar", "k8s:org=empire"]),
            pod_name: "deathstar-7848d6c4d5-th9v2".to_owned(),
            workloads: vec![Workload { name: "deathstar".to_owned(), kind: "Deployment".to_owned() }],
        }),
        node_name: "kind-kind/kind-worker".to_owned(),
        node_labels: labels(&["kubernetes.io/hostname=kind-worker", "topology.kubernetes.io/zone=a"]),
        source_names: strings(&["xwing.alliance.example.com"]),
        destination_names: strings(&["deathstar.empire.example.com", "api.cilium.io"]),
        event_type: Some(CiliumEventType { r#type: 1, sub_type: 133 }),
        source_service: Some(Service { name: "xwing-svc".to_owned(), namespace: "default".to_owned() }),
        destination_service: Some(Service { name: "deathstar".to_owned(), namespace: "empire".to_owned() }),
        traffic_direction: TrafficDirection::Ingress as i32,
        ip_trace_id: Some(IpTraceId { trace_id: 12, ip_option_type: 136 }),
        is_reply: Some(false),
        interface: Some(NetworkInterface { index: 2, name: "eth0".to_owned() }),
        trace_context: Some(TraceContext { parent: Some(TraceParent { trace_id: "abc123".to_owned() }) }),
        ..Default::default()
    }
}

fn http_flow() -> Flow {
    Flow {
        verdict: Verdict::Forwarded as i32,
        event_type: Some(CiliumEventType { r#type: 129, sub_type: 0 }),
        l4: Some(Layer4 {
            protocol: Some(Protocol::Tcp(Tcp { source_port: 5555, destination_port: 8080, flags: None })),
        }),
        l7: Some(Layer7 {
            record: Some(Record::Http(Http {
                code: 404,
                method: "GET".to_owned(),
                url: "http://example.com/api/v1/users?id=7".to_owned(),
                protocol: "HTTP/1.1".to_owned(),
                headers: vec![HttpHeader { key: "X-Request-Id".to_owned(), value: "42".to_owned() }],
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn dns_flow() -> Flow {
    Flow {
        l4: Some(Layer4 { protocol: Some(Protocol::Udp(Udp { source_port: 40000, destination_port: 53 })) }),
        l7: Some(Layer7 {
            record: Some(Record::Dns(Dns { query: "api.cilium.io.".to_owned(), ..Default::default() })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn lost_event() -> ExportEvent {
    ExportEvent { response_types: Some(ResponseTypes::LostEvents(LostEvent::default())), ..Default::default() }
}

fn agent_event(kind: AgentEventType) -> ExportEvent {
    ExportEvent {
        response_types: Some(ResponseTypes::AgentEvent(AgentEvent { r#type: kind as i32, notification: None })),
        ..Default::default()
    }
}

fn debug_event(kind: DebugEventType) -> ExportEvent {
    ExportEvent {
        response_types: Some(ResponseTypes::DebugEvent(DebugEvent { r#type: kind as i32, ..Default::default() })),
        ..Default::default()
    }
}

fn node_status_event() -> ExportEvent {
    ExportEvent { response_types: Some(ResponseTypes::NodeStatus(NodeStatusEvent::default())), ..Default::default() }
}

/// Runs `(filter, flow, expected)` cases and reports every failure at once.
fn check(cases: &[(&str, Flow, bool)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter(|(json, flow, expected)| compiled(json).apply(&event(flow.clone())) != *expected)
        .map(|(json, _, expected)| format!("{json}: expected {expected}"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs `(filter, substrings of the error)` cases.
fn check_errors(cases: &[(&str, &[&str])]) {
    for (json, parts) in cases {
        let message = build_error(json);
        for part in *parts {
            assert!(message.contains(part), "{json}: error {message:?} lacks {part:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Fields

#[test]
fn uuid() {
    check(&[
        (r#"{"uuid":["3a6c6f5e-1f1c-4bd4-9b5c-6f1e2d3c4b5a"]}"#, tcp_flow(), true),
        (r#"{"uuid":["x","3a6c6f5e-1f1c-4bd4-9b5c-6f1e2d3c4b5a"]}"#, tcp_flow(), true),
        (r#"{"uuid":["3a6c6f5e"]}"#, tcp_flow(), false),
    ]);
}

#[test]
fn ip_addresses_and_prefixes() {
    let v6 = Flow {
        ip: Some(Ip {
            source: "2001:db8::1".to_owned(),
            destination: "::ffff:10.0.0.1".to_owned(),
            ip_version: 2,
            ..Default::default()
        }),
        ..Default::default()
    };
    let no_ip = Flow { ip: None, ..tcp_flow() };
    check(&[
        (r#"{"source_ip":["10.244.1.60"]}"#, tcp_flow(), true),
        (r#"{"source_ip":["10.244.1.61"]}"#, tcp_flow(), false),
        (r#"{"source_ip":["10.244.0.0/16"]}"#, tcp_flow(), true),
        (r#"{"source_ip":["10.244.1.1/24"]}"#, tcp_flow(), true),
        (r#"{"source_ip":["10.245.0.0/16"]}"#, tcp_flow(), false),
        (r#"{"source_ip":["10.0.0.1","10.244.1.60"]}"#, tcp_flow(), true),
        (r#"{"source_ip":["10.244.1.60"]}"#, no_ip, false),
        (r#"{"destination_ip":["10.244.1.5"]}"#, tcp_flow(), true),
        (r#"{"destination_ip":["10.244.1.60"]}"#, tcp_flow(), false),
        (r#"{"source_ip_xlated":["192.168.0.0/24"]}"#, tcp_flow(), true),
        (r#"{"source_ip_xlated":["192.168.0.8"]}"#, tcp_flow(), false),
        // Exact values compare as strings: no canonicalisation.
        (r#"{"source_ip":["2001:db8::1"]}"#, v6.clone(), true),
        (r#"{"source_ip":["2001:0db8::1"]}"#, v6.clone(), false),
        (r#"{"source_ip":["2001:db8::/32"]}"#, v6.clone(), true),
        // Families never mix.
        (r#"{"destination_ip":["10.0.0.0/8"]}"#, v6.clone(), false),
        (r#"{"source_ip":["0.0.0.0/0"]}"#, v6.clone(), false),
        (r#"{"source_ip":["::/0"]}"#, tcp_flow(), false),
        // An empty flow address never matches.
        (r#"{"source_ip_xlated":["0.0.0.0/0"]}"#, v6, false),
    ]);
    check_errors(&[
        (r#"{"source_ip":["320.320.320.320"]}"#, &["source_ip", "invalid address", "\"320.320.320.320\""]),
        (r#"{"destination_ip":["1.1.1.1/1234"]}"#, &["destination_ip", "invalid CIDR", "\"1.1.1.1/1234\""]),
        (r#"{"source_ip_xlated":[""]}"#, &["source_ip_xlated", "invalid address", "\"\""]),
    ]);
}

#[test]
fn pods_by_namespace_and_prefix() {
    let no_endpoint = Flow { source: Some(Endpoint { identity: 2, ..Default::default() }), ..tcp_flow() };
    check(&[
        (r#"{"source_pod":["xwing"]}"#, tcp_flow(), true),
        (r#"{"source_pod":["xw"]}"#, tcp_flow(), true),
        (r#"{"source_pod":["default/"]}"#, tcp_flow(), true),
        (r#"{"source_pod":["default/xw"]}"#, tcp_flow(), true),
        (r#"{"source_pod":["/xw"]}"#, tcp_flow(), true),
        (r#"{"source_pod":["/"]}"#, tcp_flow(), true),
        (r#"{"source_pod":["default/xwing/extra"]}"#, tcp_flow(), true),
        (r#"{"source_pod":["kube-system/"]}"#, tcp_flow(), false),
        (r#"{"source_pod":["tie"]}"#, tcp_flow(), false),
        (r#"{"source_pod":["/"]}"#, no_endpoint, false),
        (r#"{"destination_pod":["empire/deathstar"]}"#, tcp_flow(), true),
        // A bare name means namespace `default`.
        (r#"{"destination_pod":["deathstar"]}"#, tcp_flow(), false),
        (r#"{"destination_pod":["kube-system/","empire/"]}"#, tcp_flow(), true),
    ]);
    check_errors(&[
        (r#"{"source_pod":[""]}"#, &["source_pod", "empty"]),
        (r#"{"destination_pod":["x",""]}"#, &["destination_pod", "empty"]),
    ]);
}

#[test]
fn services() {
    let no_service = Flow { source_service: None, ..tcp_flow() };
    check(&[
        (r#"{"source_service":["xwing"]}"#, tcp_flow(), true),
        (r#"{"source_service":["default/xwing-svc"]}"#, tcp_flow(), true),
        (r#"{"source_service":["empire/"]}"#, tcp_flow(), false),
        (r#"{"source_service":["/"]}"#, no_service, false),
        (r#"{"destination_service":["empire/"]}"#, tcp_flow(), true),
        (r#"{"destination_service":["deathstar"]}"#, tcp_flow(), false),
    ]);
    check_errors(&[
        (r#"{"source_service":[""]}"#, &["source_service", "empty"]),
        (r#"{"destination_service":[""]}"#, &["destination_service", "empty"]),
    ]);
}

#[test]
fn fqdns() {
    let upper = Flow { destination_names: strings(&["API.cilium.io"]), ..tcp_flow() };
    check(&[
        (r#"{"destination_fqdn":["api.cilium.io"]}"#, tcp_flow(), true),
        (r#"{"destination_fqdn":["API.Cilium.IO."]}"#, tcp_flow(), true),
        (r#"{"destination_fqdn":[" api.cilium.io "]}"#, tcp_flow(), true),
        (r#"{"destination_fqdn":["*.cilium.io"]}"#, tcp_flow(), true),
        (r#"{"destination_fqdn":["*.example.com"]}"#, tcp_flow(), true),
        (r#"{"destination_fqdn":["*"]}"#, tcp_flow(), true),
        (r#"{"destination_fqdn":["cilium.io"]}"#, tcp_flow(), false),
        (r#"{"destination_fqdn":["api.cilium"]}"#, tcp_flow(), false),
        // Flow names are matched as they are.
        (r#"{"destination_fqdn":["api.cilium.io"]}"#, upper, false),
        (r#"{"source_fqdn":["xwing.*"]}"#, tcp_flow(), true),
        (r#"{"source_fqdn":["deathstar.*"]}"#, tcp_flow(), false),
        (r#"{"source_fqdn":["*"]}"#, dns_flow(), false),
    ]);
    check_errors(&[
        (r#"{"source_fqdn":[""]}"#, &["source_fqdn", "empty pattern"]),
        (r#"{"source_fqdn":["."]}"#, &["source_fqdn", "\".\""]),
        (r#"{"destination_fqdn":["cilium.io.."]}"#, &["destination_fqdn", "\"cilium.io..\"", "trailing dot"]),
        (r#"{"destination_fqdn":["cilium?.io"]}"#, &["destination_fqdn", "\"cilium?.io\"", "'?'"]),
    ]);
}

#[test]
fn dns_query() {
    check(&[
        (r#"{"dns_query":["cilium"]}"#, dns_flow(), true),
        (r#"{"dns_query":["^api\\.cilium\\.io\\.$"]}"#, dns_flow(), true),
        (r#"{"dns_query":["isovalent", "cilium"]}"#, dns_flow(), true),
        (r#"{"dns_query":["^cilium"]}"#, dns_flow(), false),
        (r#"{"dns_query":[".*"]}"#, tcp_flow(), false),
    ]);
    check_errors(&[(r#"{"dns_query":["*"]}"#, &["dns_query", "invalid regex", "\"*\""])]);
}

#[test]
fn label_selectors() {
    check(&[
        (r#"{"source_label":["app=xwing"]}"#, tcp_flow(), true),
        (r#"{"source_label":["k8s:app=xwing"]}"#, tcp_flow(), true),
        (r#"{"source_label":["k8s:app=xwing,k8s:org=alliance"]}"#, tcp_flow(), true),
        (r#"{"source_label":["k8s:app=xwing,k8s:org=empire"]}"#, tcp_flow(), false),
        (r#"{"source_label":["org in (alliance, rebels)"]}"#, tcp_flow(), true),
        (r#"{"source_label":["org notin (alliance)"]}"#, tcp_flow(), false),
        (r#"{"source_label":["reserved:app=xwing"]}"#, tcp_flow(), false),
        (r#"{"source_label":["app=tie", "app=xwing"]}"#, tcp_flow(), true),
        (r#"{"source_label":[""]}"#, tcp_flow(), true),
        (r#"{"source_label":["!missing"]}"#, tcp_flow(), true),
        (r#"{"source_label":["!app"]}"#, tcp_flow(), false),
        (r#"{"destination_label":["app==deathstar"]}"#, tcp_flow(), true),
        (r#"{"destination_label":["app!=deathstar"]}"#, tcp_flow(), false),
        (r#"{"destination_label":["k8s:io.kubernetes.pod.namespace"]}"#, tcp_flow(), false),
        (r#"{"node_labels":["kubernetes.io/hostname=kind-worker"]}"#, tcp_flow(), true),
        (r#"{"node_labels":["topology.kubernetes.io/zone in (b, c)"]}"#, tcp_flow(), false),
    ]);
    check_errors(&[
        (r#"{"source_label":["()"]}"#, &["source_label", "invalid label selector", "\"()\""]),
        (r#"{"destination_label":["="]}"#, &["destination_label", "\"=\""]),
        (r#"{"source_label":["!"]}"#, &["source_label", "\"!\""]),
        (r#"{"node_labels":["any:k8s:bla"]}"#, &["node_labels", "\"any:k8s:bla\""]),
    ]);
}

#[test]
fn workloads() {
    check(&[
        (r#"{"source_workload":[{"name":"xwing","kind":"Pod"}]}"#, tcp_flow(), true),
        (r#"{"source_workload":[{"name":"xwing"}]}"#, tcp_flow(), true),
        (r#"{"source_workload":[{"kind":"Pod"}]}"#, tcp_flow(), true),
        (r#"{"source_workload":[{}]}"#, tcp_flow(), true),
        (r#"{"source_workload":[{"name":"xwing","kind":"Deployment"}]}"#, tcp_flow(), false),
        (r#"{"destination_workload":[{"kind":"Pod"},{"name":"deathstar"}]}"#, tcp_flow(), true),
        (r#"{"destination_workload":[{"name":"xwing"}]}"#, tcp_flow(), false),
        (r#"{"destination_workload":[{}]}"#, http_flow(), false),
    ]);
}

#[test]
fn cluster_names() {
    check(&[
        (r#"{"source_cluster_name":["kind-kind"]}"#, tcp_flow(), true),
        (r#"{"source_cluster_name":["other"]}"#, tcp_flow(), false),
        (r#"{"destination_cluster_name":["a","other"]}"#, tcp_flow(), true),
        (r#"{"destination_cluster_name":["kind"]}"#, tcp_flow(), false),
    ]);
    check_errors(&[
        (r#"{"source_cluster_name":[""]}"#, &["source_cluster_name", "empty"]),
        (r#"{"destination_cluster_name":[""]}"#, &["destination_cluster_name", "empty"]),
    ]);
}

#[test]
fn enums() {
    let unknown_direction = Flow { traffic_direction: 0, ..tcp_flow() };
    let no_ip = Flow { ip: None, ..tcp_flow() };
    check(&[
        (r#"{"traffic_direction":["INGRESS"]}"#, tcp_flow(), true),
        (r#"{"traffic_direction":["EGRESS"]}"#, tcp_flow(), false),
        (r#"{"traffic_direction":["EGRESS"]}"#, unknown_direction.clone(), false),
        (r#"{"traffic_direction":["TRAFFIC_DIRECTION_UNKNOWN"]}"#, unknown_direction, true),
        (r#"{"verdict":["DROPPED"]}"#, tcp_flow(), true),
        (r#"{"verdict":["FORWARDED","ERROR"]}"#, tcp_flow(), false),
        (r#"{"verdict":[2]}"#, tcp_flow(), true),
        (r#"{"ip_version":["IPv4"]}"#, tcp_flow(), true),
        (r#"{"ip_version":["IPv6"]}"#, tcp_flow(), false),
        (r#"{"ip_version":["IP_NOT_USED"]}"#, no_ip, true),
    ]);
}

#[test]
fn drop_reason_desc() {
    let forwarded = Flow { verdict: Verdict::Forwarded as i32, ..tcp_flow() };
    check(&[
        (r#"{"drop_reason_desc":["POLICY_DENIED"]}"#, tcp_flow(), true),
        (r#"{"drop_reason_desc":["CT_MAP_INSERTION_FAILED","POLICY_DENIED"]}"#, tcp_flow(), true),
        (r#"{"drop_reason_desc":["CT_MAP_INSERTION_FAILED"]}"#, tcp_flow(), false),
        // Only for dropped flows.
        (r#"{"drop_reason_desc":["POLICY_DENIED"]}"#, forwarded, false),
    ]);
}

#[test]
fn interface() {
    let none = Flow { interface: None, ..tcp_flow() };
    check(&[
        (r#"{"interface":[{"index":2,"name":"eth0"}]}"#, tcp_flow(), true),
        (r#"{"interface":[{"index":2}]}"#, tcp_flow(), true),
        (r#"{"interface":[{"name":"eth0"}]}"#, tcp_flow(), true),
        (r#"{"interface":[{}]}"#, tcp_flow(), true),
        (r#"{"interface":[{"index":3,"name":"eth0"}]}"#, tcp_flow(), false),
        (r#"{"interface":[{"name":"eth1"}]}"#, tcp_flow(), false),
        (r#"{"interface":[{}]}"#, none, false),
    ]);
}

#[test]
fn event_type_on_flows() {
    let no_type = Flow { event_type: None, ..tcp_flow() };
    check(&[
        (r#"{"event_type":[{"type":1}]}"#, tcp_flow(), true),
        (r#"{"event_type":[{"type":1,"match_sub_type":true,"sub_type":133}]}"#, tcp_flow(), true),
        (r#"{"event_type":[{"type":1,"matchSubType":true,"subType":130}]}"#, tcp_flow(), false),
        (r#"{"event_type":[{"type":1,"sub_type":130}]}"#, tcp_flow(), true),
        (r#"{"event_type":[{"type":4}]}"#, tcp_flow(), false),
        (r#"{"event_type":[{"type":4},{"type":1}]}"#, tcp_flow(), true),
        (r#"{"event_type":[{}]}"#, tcp_flow(), true),
        (r#"{"event_type":[{}]}"#, no_type, false),
    ]);
}

#[test]
fn event_type_on_other_events() {
    let cases = [
        (r#"{"event_type":[{"type":1}]}"#, lost_event(), true),
        (r#"{"event_type":[{"type":130}]}"#, agent_event(AgentEventType::PolicyUpdated), true),
        (r#"{"event_type":[{}]}"#, agent_event(AgentEventType::PolicyUpdated), true),
        (r#"{"event_type":[{"type":2}]}"#, agent_event(AgentEventType::PolicyUpdated), false),
        (
            r#"{"event_type":[{"type":130,"match_sub_type":true,"sub_type":3}]}"#,
            agent_event(AgentEventType::PolicyUpdated),
            true,
        ),
        (
            r#"{"event_type":[{"type":130,"match_sub_type":true,"sub_type":4}]}"#,
            agent_event(AgentEventType::PolicyUpdated),
            false,
        ),
        (r#"{"event_type":[{"type":2}]}"#, debug_event(DebugEventType::DbgCtLookup), true),
        (
            r#"{"event_type":[{"type":0,"match_sub_type":true,"sub_type":6}]}"#,
            debug_event(DebugEventType::DbgCtLookup),
            true,
        ),
        (
            r#"{"event_type":[{"type":2,"match_sub_type":true,"sub_type":7}]}"#,
            debug_event(DebugEventType::DbgCtLookup),
            false,
        ),
        (r#"{"event_type":[{"type":130}]}"#, debug_event(DebugEventType::DbgCtLookup), false),
        (r#"{"event_type":[{}]}"#, node_status_event(), false),
    ];
    for (json, event, expected) in cases {
        assert_eq!(compiled(json).apply(&event), expected, "{json} on {event:?}");
    }
}

#[test]
fn http_status_code() {
    let no_code = Flow {
        l7: Some(Layer7 {
            record: Some(Record::Http(Http { method: "GET".to_owned(), ..Default::default() })),
            ..Default::default()
        }),
        ..Default::default()
    };
    check(&[
        (r#"{"http_status_code":["404"]}"#, http_flow(), true),
        (r#"{"http_status_code":["4+"]}"#, http_flow(), true),
        (r#"{"http_status_code":["40+"]}"#, http_flow(), true),
        (r#"{"http_status_code":["200","404"]}"#, http_flow(), true),
        (r#"{"http_status_code":["41+"]}"#, http_flow(), false),
        (r#"{"http_status_code":["5+"]}"#, http_flow(), false),
        (r#"{"http_status_code":["200"]}"#, http_flow(), false),
        (r#"{"http_status_code":["1+"]}"#, no_code, false),
        (r#"{"http_status_code":["4+"]}"#, tcp_flow(), false),
        (r#"{"http_status_code":["404"],"event_type":[{"type":129}]}"#, http_flow(), true),
        (r#"{"http_status_code":["404"],"event_type":[{"type":1},{"type":129}]}"#, http_flow(), true),
    ]);
    check_errors(&[
        (r#"{"http_status_code":[""]}"#, &["http_status_code", "\"\""]),
        (r#"{"http_status_code":["+"]}"#, &["http_status_code", "\"+\""]),
        (r#"{"http_status_code":["909"]}"#, &["http_status_code", "\"909\""]),
        (r#"{"http_status_code":["3++"]}"#, &["http_status_code", "\"3++\""]),
        (r#"{"http_status_code":["3+0"]}"#, &["http_status_code", "\"3+0\""]),
        (r#"{"http_status_code":["404"],"event_type":[{"type":1}]}"#, &["http_status_code", "event_type", "129"]),
        (r#"{"http_status_code":["404"],"event_type":[{}]}"#, &["http_status_code", "event_type"]),
    ]);
}

#[test]
fn other_http_fields_need_l7_event_types() {
    check_errors(&[
        (r#"{"http_method":["GET"],"event_type":[{"type":4}]}"#, &["http_method", "event_type"]),
        (r#"{"http_path":["/"],"event_type":[{"type":4}]}"#, &["http_path", "event_type"]),
        (r#"{"http_url":["x"],"event_type":[{"type":4}]}"#, &["http_url", "event_type"]),
        (r#"{"http_header":[{"key":"a","value":"b"}],"event_type":[{"type":4}]}"#, &["http_header", "event_type"]),
    ]);
}

#[test]
fn http_method() {
    check(&[
        (r#"{"http_method":["GET"]}"#, http_flow(), true),
        (r#"{"http_method":["get"]}"#, http_flow(), true),
        (r#"{"http_method":["POST","get"]}"#, http_flow(), true),
        (r#"{"http_method":["POST"]}"#, http_flow(), false),
        (r#"{"http_method":["GET"]}"#, tcp_flow(), false),
    ]);
}

#[test]
fn http_path() {
    let with_url = |url: &str| Flow {
        l7: Some(Layer7 {
            record: Some(Record::Http(Http { url: url.to_owned(), ..Default::default() })),
            ..Default::default()
        }),
        ..Default::default()
    };
    check(&[
        (r#"{"http_path":["^/api/v1/"]}"#, http_flow(), true),
        (r#"{"http_path":["users$"]}"#, http_flow(), true),
        (r#"{"http_path":["^/users"]}"#, http_flow(), false),
        // The query is not part of the path.
        (r#"{"http_path":["id=7"]}"#, http_flow(), false),
        (r#"{"http_path":["^/a b$"]}"#, with_url("/a%20b?x"), true),
        // Unparsable URLs never match.
        (r#"{"http_path":[".*"]}"#, with_url("api/v1"), false),
        (r#"{"http_path":[".*"]}"#, with_url("/a%zz"), false),
        (r#"{"http_path":[".*"]}"#, tcp_flow(), false),
    ]);
    check_errors(&[(r#"{"http_path":["("]}"#, &["http_path", "invalid regex", "\"(\""])]);
}

#[test]
fn http_url() {
    check(&[
        (r#"{"http_url":["example\\.com/api"]}"#, http_flow(), true),
        (r#"{"http_url":["id=7$"]}"#, http_flow(), true),
        (r#"{"http_url":["^/api"]}"#, http_flow(), false),
        (r#"{"http_url":[".*"]}"#, tcp_flow(), false),
    ]);
    check_errors(&[(r#"{"http_url":["[a"]}"#, &["http_url", "invalid regex", "\"[a\""])]);
}

#[test]
fn http_header() {
    check(&[
        (r#"{"http_header":[{"key":"X-Request-Id","value":"42"}]}"#, http_flow(), true),
        (r#"{"http_header":[{"key":"a","value":"b"},{"key":"X-Request-Id","value":"42"}]}"#, http_flow(), true),
        (r#"{"http_header":[{"key":"x-request-id","value":"42"}]}"#, http_flow(), false),
        (r#"{"http_header":[{"key":"X-Request-Id","value":"43"}]}"#, http_flow(), false),
        (r#"{"http_header":[{"key":"X-Request-Id","value":"42"}]}"#, tcp_flow(), false),
    ]);
}

#[test]
fn protocol() {
    let flow_with = |protocol: Protocol| Flow { l4: Some(Layer4 { protocol: Some(protocol) }), ..Default::default() };
    let icmp4 = flow_with(Protocol::IcmPv4(IcmPv4::default()));
    let icmp6 = flow_with(Protocol::IcmPv6(IcmPv6::default()));
    let sctp = flow_with(Protocol::Sctp(Sctp::default()));
    check(&[
        (r#"{"protocol":["tcp"]}"#, tcp_flow(), true),
        (r#"{"protocol":["TCP"]}"#, tcp_flow(), true),
        (r#"{"protocol":["udp"]}"#, tcp_flow(), false),
        (r#"{"protocol":["udp","tcp"]}"#, tcp_flow(), true),
        (r#"{"protocol":["icmp"]}"#, icmp4.clone(), true),
        (r#"{"protocol":["icmp"]}"#, icmp6.clone(), true),
        (r#"{"protocol":["icmpv4"]}"#, icmp6.clone(), false),
        (r#"{"protocol":["ICMPv6"]}"#, icmp6, true),
        (r#"{"protocol":["sctp"]}"#, sctp, true),
        (r#"{"protocol":["dns"]}"#, dns_flow(), true),
        (r#"{"protocol":["udp"]}"#, dns_flow(), true),
        (r#"{"protocol":["http"]}"#, dns_flow(), false),
        (r#"{"protocol":["http"]}"#, http_flow(), true),
        (r#"{"protocol":["vrrp","igmp","kafka"]}"#, tcp_flow(), false),
    ]);
    check_errors(&[(r#"{"protocol":["quic"]}"#, &["protocol", "unknown protocol", "\"quic\""])]);
}

#[test]
fn ports() {
    let icmp = Flow { l4: Some(Layer4 { protocol: Some(Protocol::IcmPv4(IcmPv4::default())) }), ..Default::default() };
    check(&[
        (r#"{"source_port":["44916"]}"#, tcp_flow(), true),
        (r#"{"source_port":["80"]}"#, tcp_flow(), false),
        (r#"{"destination_port":["80"]}"#, tcp_flow(), true),
        (r#"{"destination_port":["443","80"]}"#, tcp_flow(), true),
        (r#"{"destination_port":["053"]}"#, dns_flow(), true),
        (r#"{"destination_port":["0"]}"#, icmp, false),
    ]);
    check_errors(&[
        (r#"{"source_port":["http"]}"#, &["source_port", "invalid port", "\"http\""]),
        (r#"{"destination_port":["65536"]}"#, &["destination_port", "invalid port", "\"65536\""]),
        (r#"{"destination_port":["+80"]}"#, &["destination_port", "\"+80\""]),
    ]);
}

#[test]
fn reply() {
    let forwarded_unknown = Flow { verdict: Verdict::Forwarded as i32, is_reply: None, ..tcp_flow() };
    let dropped_unknown = Flow { is_reply: None, ..tcp_flow() };
    let reply = Flow { is_reply: Some(true), ..tcp_flow() };
    check(&[
        (r#"{"reply":[false]}"#, tcp_flow(), true),
        (r#"{"reply":[true]}"#, tcp_flow(), false),
        (r#"{"reply":[true]}"#, reply.clone(), true),
        (r#"{"reply":[true,false]}"#, reply, true),
        (r#"{"reply":[false]}"#, forwarded_unknown.clone(), false),
        (r#"{"reply":[true,false]}"#, forwarded_unknown, false),
        // Dropped flows without is_reply count as not replies.
        (r#"{"reply":[false]}"#, dropped_unknown.clone(), true),
        (r#"{"reply":[true]}"#, dropped_unknown, false),
    ]);
}

#[test]
fn identities() {
    let no_source = Flow { source: None, ..tcp_flow() };
    check(&[
        (r#"{"source_identity":[4321]}"#, tcp_flow(), true),
        (r#"{"source_identity":[1,4321]}"#, tcp_flow(), true),
        (r#"{"source_identity":[5678]}"#, tcp_flow(), false),
        (r#"{"source_identity":[0]}"#, no_source, false),
        (r#"{"destination_identity":[5678]}"#, tcp_flow(), true),
        (r#"{"destination_identity":[4321]}"#, tcp_flow(), false),
    ]);
}

#[test]
fn tcp_flags() {
    let no_flags = http_flow();
    check(&[
        (r#"{"tcp_flags":[{"SYN":true}]}"#, tcp_flow(), true),
        (r#"{"tcp_flags":[{"SYN":true,"ACK":true}]}"#, tcp_flow(), true),
        (r#"{"tcp_flags":[{"SYN":true,"FIN":true}]}"#, tcp_flow(), false),
        (r#"{"tcp_flags":[{"RST":true},{"ACK":true}]}"#, tcp_flow(), true),
        (r#"{"tcp_flags":[{"NS":true}]}"#, tcp_flow(), false),
        (r#"{"tcp_flags":[{}]}"#, tcp_flow(), true),
        (r#"{"tcp_flags":[{}]}"#, no_flags, false),
        (r#"{"tcp_flags":[{}]}"#, dns_flow(), false),
    ]);
}

#[test]
fn node_name() {
    let plain = Flow { node_name: "worker-1".to_owned(), ..Default::default() };
    let unnamed = Flow { node_name: String::new(), ..Default::default() };
    check(&[
        (r#"{"node_name":["kind-worker"]}"#, tcp_flow(), true),
        (r#"{"node_name":["kind-kind/kind-worker"]}"#, tcp_flow(), true),
        (r#"{"node_name":["kind-kind/"]}"#, tcp_flow(), true),
        (r#"{"node_name":["/kind-worker"]}"#, tcp_flow(), true),
        (r#"{"node_name":["kind-*"]}"#, tcp_flow(), true),
        (r#"{"node_name":["*/kind-*"]}"#, tcp_flow(), true),
        (r#"{"node_name":["kind-control-plane"]}"#, tcp_flow(), false),
        (r#"{"node_name":["other/kind-worker"]}"#, tcp_flow(), false),
        (r#"{"node_name":["default/worker-1"]}"#, plain.clone(), true),
        (r#"{"node_name":["worker-*"]}"#, plain.clone(), true),
        (r#"{"node_name":["kind-kind/worker-1"]}"#, plain, false),
        (r#"{"node_name":["/"]}"#, unnamed, false),
    ]);
    check_errors(&[
        (r#"{"node_name":[""]}"#, &["node_name", "empty pattern"]),
        (r#"{"node_name":["a/b/c"]}"#, &["node_name", "\"a/b/c\"", "more than one"]),
        (r#"{"node_name":["node?"]}"#, &["node_name", "\"node?\"", "'?'"]),
    ]);
}

#[test]
fn trace_ids() {
    let untraced = Flow { trace_context: None, ip_trace_id: None, ..tcp_flow() };
    check(&[
        (r#"{"trace_id":["abc123"]}"#, tcp_flow(), true),
        (r#"{"trace_id":["abc"]}"#, tcp_flow(), false),
        (r#"{"trace_id":[""]}"#, untraced.clone(), true),
        (r#"{"trace_id":["abc123"]}"#, untraced.clone(), false),
        (r#"{"ip_trace_id":[12]}"#, tcp_flow(), true),
        (r#"{"ip_trace_id":["12"]}"#, tcp_flow(), true),
        (r#"{"ip_trace_id":[13]}"#, tcp_flow(), false),
        (r#"{"ip_trace_id":[0]}"#, untraced, true),
    ]);
}

#[test]
fn encrypted() {
    let encrypted = Flow { ip: Some(Ip { encrypted: true, ..Default::default() }), ..Default::default() };
    let no_ip = Flow { ip: None, ..Default::default() };
    check(&[
        (r#"{"encrypted":[true]}"#, encrypted.clone(), true),
        (r#"{"encrypted":[false]}"#, encrypted, false),
        (r#"{"encrypted":[false]}"#, tcp_flow(), true),
        (r#"{"encrypted":[true]}"#, tcp_flow(), false),
        // An absent IP reads as not encrypted.
        (r#"{"encrypted":[false]}"#, no_ip.clone(), true),
        (r#"{"encrypted":[true]}"#, no_ip, false),
    ]);
}

#[test]
fn cel_expressions() {
    let cel =
        |expressions: &[&str]| serde_json::json!({ "experimental": { "cel_expression": expressions } }).to_string();
    check(&[
        (&cel(&["_flow.verdict == Verdict.DROPPED"]), tcp_flow(), true),
        (&cel(&["_flow.verdict == flow.Verdict.DROPPED"]), tcp_flow(), true),
        (&cel(&["_flow.verdict == 2"]), tcp_flow(), true),
        (&cel(&["_flow.verdict == Verdict.FORWARDED"]), tcp_flow(), false),
        (&cel(&["_flow.l4.TCP.destination_port == uint(80)"]), tcp_flow(), true),
        (&cel(&["_flow.l4.TCP.destination_port == 80u"]), tcp_flow(), true),
        (&cel(&["_flow.l4.TCP.destination_port == uint(443)"]), tcp_flow(), false),
        (&cel(&["_flow.l4.TCP.destination_port == uint(80)"]), dns_flow(), false),
        (&cel(&["_flow.source.namespace == \"default\""]), tcp_flow(), true),
        (&cel(&["_flow.source.namespace == 'kube-system'"]), tcp_flow(), false),
        (&cel(&["has(_flow.l7)"]), http_flow(), true),
        (&cel(&["has(_flow.l7)"]), tcp_flow(), false),
        (&cel(&["has(_flow.l4.TCP)"]), dns_flow(), false),
        (&cel(&["has(_flow.l7.dns)"]), dns_flow(), true),
        (&cel(&["_flow.l7.http.code >= 400u"]), http_flow(), true),
        (&cel(&["'k8s:app=xwing' in _flow.source.labels"]), tcp_flow(), true),
        (&cel(&["_flow.source.labels.exists(l, l.startsWith('k8s:org='))"]), tcp_flow(), true),
        (&cel(&["_flow.destination.pod_name.startsWith('deathstar')"]), tcp_flow(), true),
        (&cel(&["_flow.IP.source == '10.244.1.60' && _flow.IP.ipVersion == IPVersion.IPv4"]), tcp_flow(), true),
        (&cel(&["_flow.is_reply == false"]), tcp_flow(), true),
        (&cel(&["has(_flow.is_reply)"]), http_flow(), false),
        (&cel(&["_flow.ip_trace_id.trace_id == uint(12)"]), tcp_flow(), true),
        (&cel(&["_flow.traffic_direction == TrafficDirection.INGRESS"]), tcp_flow(), true),
        (
            &cel(&["_flow.time < timestamp('2000-01-01T00:00:00Z')"]),
            Flow { time: Some(prost_types_timestamp(1)), ..tcp_flow() },
            true,
        ),
        // Expressions are ORed.
        (&cel(&["_flow.verdict == Verdict.FORWARDED", "_flow.verdict == Verdict.DROPPED"]), tcp_flow(), true),
        // Evaluation errors do not match; `||` tolerates an error on one side.
        (&cel(&["_flow.l4.UDP.destination_port == 53u || _flow.l4.TCP.destination_port == 80u"]), tcp_flow(), true),
        (&cel(&["_flow.l4.UDP.destination_port == 53u"]), tcp_flow(), false),
        (&cel(&["1 / (_flow.drop_reason - _flow.drop_reason) == 1u"]), tcp_flow(), false),
    ]);
    check_errors(&[
        (&cel(&[""]), &["experimental.cel_expression", "empty expression"]),
        (&cel(&["_flow.verdict =="]), &["experimental.cel_expression", "\"_flow.verdict ==\""]),
        (&cel(&["_flow.verdict"]), &["experimental.cel_expression", "bool"]),
        (&cel(&["_flow.verdicts == 1"]), &["experimental.cel_expression", "verdicts"]),
        (&cel(&["_flow.source.namespace.x == 1"]), &["experimental.cel_expression", "not a message"]),
        (&cel(&["_flow.verdict == Verdict.DROPED"]), &["experimental.cel_expression", "DROPED"]),
        (&cel(&["flow.verdict == 1"]), &["experimental.cel_expression", "undeclared reference"]),
        (&cel(&["_flow.source.namespace"]), &["experimental.cel_expression", "must be a bool, not string"]),
        (&cel(&["_flow.l4.TCP.destination_port + 1u"]), &["experimental.cel_expression", "must be a bool"]),
        (&cel(&["'x'"]), &["experimental.cel_expression", "must be a bool, not string"]),
    ]);
}

fn prost_types_timestamp(seconds: i64) -> flowlog_flow::Timestamp {
    flowlog_flow::Timestamp { seconds, nanos: 0 }
}

#[test]
fn cel_never_matches_other_events() {
    let filters = compiled(r#"{"experimental":{"celExpression":["true"]}}"#);
    assert!(filters.apply(&event(Flow::default())));
    assert!(!filters.apply(&lost_event()));
    assert!(!filters.apply(&agent_event(AgentEventType::AgentStarted)));
}

// ---------------------------------------------------------------------------
// Composition

#[test]
fn fields_are_anded_values_ored() {
    check(&[
        (r#"{"verdict":["DROPPED"],"destination_port":["80"]}"#, tcp_flow(), true),
        (r#"{"verdict":["DROPPED"],"destination_port":["443"]}"#, tcp_flow(), false),
        (r#"{"verdict":["FORWARDED"],"destination_port":["80"]}"#, tcp_flow(), false),
        (r#"{"verdict":["FORWARDED","DROPPED"],"destination_port":["443","80"]}"#, tcp_flow(), true),
        (r#"{"protocol":["tcp"],"destination_port":["80","443"]}"#, tcp_flow(), true),
        (r#"{"protocol":["tcp"],"destination_port":["80","443"]}"#, dns_flow(), false),
    ]);
}

#[test]
fn filters_are_ored_and_deny_wins() {
    let allow = vec![filter(r#"{"verdict":["FORWARDED"]}"#), filter(r#"{"destination_port":["80"]}"#)];
    let filters = Filters::new(allow.clone(), Vec::new()).unwrap();
    assert!(filters.apply(&event(tcp_flow())));
    assert!(!filters.apply(&event(dns_flow())));

    let filters = Filters::new(allow, vec![filter(r#"{"source_pod":["default/"]}"#)]).unwrap();
    assert!(!filters.apply(&event(tcp_flow())));
    assert!(filters.apply(&event(http_flow())));

    // Denylist only: everything else passes, non-flow events included.
    let filters = Filters::new(Vec::new(), vec![filter(r#"{"source_pod":["kube-system/"]}"#)]).unwrap();
    assert!(filters.apply(&event(tcp_flow())));
    assert!(filters.apply(&lost_event()));
    let kube = Flow {
        source: Some(Endpoint {
            namespace: "kube-system".to_owned(),
            pod_name: "coredns".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(!filters.apply(&event(kube)));
}

#[test]
fn the_issue_scenario() {
    // hubble observe --verdict DROPPED --verdict ERROR --not --namespace kube-system
    let allow = parse_filters(r#"{"verdict":["DROPPED","ERROR"]}"#).unwrap();
    let deny = parse_filters(r#"{"source_pod":["kube-system/"]} {"destination_pod":["kube-system/"]}"#).unwrap();
    let filters = Filters::new(allow, deny).unwrap();
    assert!(filters.apply(&event(tcp_flow())));
    assert!(!filters.apply(&event(Flow { verdict: Verdict::Forwarded as i32, ..tcp_flow() })));
    let to_kube = Flow {
        destination: Some(Endpoint {
            namespace: "kube-system".to_owned(),
            pod_name: "x".to_owned(),
            ..Default::default()
        }),
        ..tcp_flow()
    };
    assert!(!filters.apply(&event(to_kube)));
    assert!(!filters.apply(&lost_event()));
}

#[test]
fn empty_filter_and_lists_match_everything() {
    let events = [
        event(tcp_flow()),
        event(Flow::default()),
        lost_event(),
        agent_event(AgentEventType::AgentStarted),
        debug_event(DebugEventType::DbgGeneric),
        node_status_event(),
        ExportEvent::default(),
    ];
    let empty_filter = compiled("{}");
    let empty_lists = Filters::new(Vec::new(), Vec::new()).unwrap();
    let empty_lists_json = compiled(r#"{"verdict":[],"source_pod":null}"#);
    for event in &events {
        assert!(empty_filter.apply(event), "{event:?}");
        assert!(empty_lists.apply(event), "{event:?}");
        assert!(empty_lists_json.apply(event), "{event:?}");
    }
    assert!(Filters::default().apply(&lost_event()));
    assert!(Filters::default().is_empty());
    // `{}` as a denylist drops everything.
    let deny_all = Filters::new(Vec::new(), vec![FlowFilter::default()]).unwrap();
    assert!(events.iter().all(|event| !deny_all.apply(event)));
}

#[test]
fn non_flow_events_match_only_the_documented_fields() {
    let others = [lost_event(), agent_event(AgentEventType::AgentStarted), debug_event(DebugEventType::DbgGeneric)];
    let matching = [
        r#"{"source_label":[""]}"#,
        r#"{"destination_label":["!app"]}"#,
        r#"{"node_labels":["zone!=a"]}"#,
        r#"{"trace_id":[""]}"#,
        r#"{"ip_trace_id":[0]}"#,
    ];
    let not_matching = [
        r#"{"uuid":[""]}"#,
        r#"{"verdict":["VERDICT_UNKNOWN"]}"#,
        r#"{"traffic_direction":["TRAFFIC_DIRECTION_UNKNOWN"]}"#,
        r#"{"ip_version":["IP_NOT_USED"]}"#,
        r#"{"reply":[false]}"#,
        r#"{"encrypted":[false]}"#,
        r#"{"source_pod":["/"]}"#,
        r#"{"source_ip":["0.0.0.0/0"]}"#,
        r#"{"source_identity":[0]}"#,
        r#"{"source_label":["app"]}"#,
        r#"{"protocol":["tcp"]}"#,
        r#"{"tcp_flags":[{}]}"#,
        r#"{"node_name":["*"]}"#,
        r#"{"interface":[{}]}"#,
        r#"{"source_workload":[{}]}"#,
    ];
    for event in &others {
        for json in matching {
            assert!(compiled(json).apply(event), "{json} on {event:?}");
        }
        for json in not_matching {
            assert!(!compiled(json).apply(event), "{json} on {event:?}");
        }
    }
    // Node status events are not flows either.
    assert!(!compiled(r#"{"verdict":["DROPPED"]}"#).apply(&node_status_event()));
}

// ---------------------------------------------------------------------------
// Filter strings and JSON

#[test]
fn the_three_string_forms() {
    let expected = vec![filter(r#"{"verdict":["DROPPED"]}"#), filter(r#"{"source_pod":["kube-system/"]}"#)];
    for text in [
        r#"{"verdict":["DROPPED"]} {"source_pod":["kube-system/"]}"#,
        r#"{"verdict":["DROPPED"]}{"source_pod":["kube-system/"]}"#,
        "{\"verdict\":[\"DROPPED\"]}\n{\n  \"source_pod\": [\"kube-system/\"]\n}\n",
        r#"{"verdict":["DROPPED"]},{"source_pod":["kube-system/"]}"#,
        r#" {"verdict":["DROPPED"]} , {"source_pod":["kube-system/"]} "#,
        r#"[{"verdict":["DROPPED"]},{"source_pod":["kube-system/"]}]"#,
        "[\n {\"verdict\":[\"DROPPED\"]},\n {\"source_pod\":[\"kube-system/\"]}\n]",
    ] {
        assert_eq!(parse_filters(text).unwrap_or_else(|e| panic!("{text}: {e}")), expected, "{text}");
    }
    assert_eq!(parse_filters("{}{}").unwrap(), vec![FlowFilter::default(), FlowFilter::default()]);
    assert_eq!(parse_filters("[]").unwrap(), Vec::<FlowFilter>::new());
    assert_eq!(parse_filters("").unwrap(), Vec::<FlowFilter>::new());
    assert_eq!(parse_filters(" \n\t ").unwrap(), Vec::<FlowFilter>::new());
}

#[test]
fn rejected_string_forms() {
    let cases: &[(&str, &[&str])] = &[
        (r#"'{}'"#, &["filter 1", "byte 0", "invalid JSON"]),
        (r#""{}""#, &["filter 1", "expected a JSON object, found a string", "remove the quotes"]),
        (r#"{"verdict":["DROPPED"]"#, &["filter 1", "invalid JSON", "EOF while parsing an object at byte"]),
        ("{}}", &["filter 2", "byte 2"]),
        ("{} x", &["filter 2", "byte 3"]),
        ("{},", &["filter 2", "after `,`"]),
        ("{},,{}", &["filter 2", "byte 3"]),
        (",{}", &["filter 1", "byte 0"]),
        ("1", &["filter 1", "found a number"]),
        ("{} [1]", &["filter 2", "found an array"]),
        ("[{}, 1]", &["filter 2", "found a number"]),
        ("[{}] {}", &["invalid JSON array", "trailing characters"]),
        ("[{}", &["invalid JSON array"]),
        (
            r#"{} {"verdict":["NOPE"]}"#,
            &["filter 2", "byte 3", "verdict: unknown value \"NOPE\": expected one of VERDICT_UNKNOWN, FORWARDED"],
        ),
    ];
    for (text, parts) in cases {
        let message = parse_filters(text).expect_err(text).to_string();
        for part in *parts {
            assert!(message.contains(part), "{text}: error {message:?} lacks {part:?}");
        }
    }
}

#[test]
fn json_keys_and_values() {
    // camelCase and proto names, enums by name or number, uint64 as string or number.
    let camel = filter(
        r#"{"sourcePod":["a/"],"destinationPort":["80"],"trafficDirection":["EGRESS"],"ipTraceId":["7"],
            "dropReasonDesc":[133],"sourceWorkload":[{"kind":"Pod"}],"httpHeader":[{"key":"k","value":"v"}],
            "experimental":{"celExpression":["true"]},"ipVersion":["IPv6"],"nodeLabels":["a"]}"#,
    );
    let snake = filter(
        r#"{"source_pod":["a/"],"destination_port":["80"],"traffic_direction":[2],"ip_trace_id":[7],
            "drop_reason_desc":["POLICY_DENIED"],"source_workload":[{"kind":"Pod"}],"http_header":[{"key":"k","value":"v"}],
            "experimental":{"cel_expression":["true"]},"ip_version":["IPv6"],"node_labels":["a"]}"#,
    );
    assert_eq!(camel, snake);
    assert_eq!(camel.source_pod, ["a/"]);
    assert_eq!(camel.traffic_direction, [TrafficDirection::Egress as i32]);
    assert_eq!(camel.ip_trace_id, [7]);
    assert_eq!(camel.drop_reason_desc, [DropReason::PolicyDenied as i32]);
}

#[test]
fn json_errors_name_the_key() {
    let error = |json: &str| -> FilterError { filter_from_json(&serde_json::from_str(json).unwrap()).expect_err(json) };
    let unknown = error(r#"{"source_pods":["a"]}"#);
    assert_eq!(unknown.to_string(), r#"unknown field "source_pods": did you mean `source_pod`?"#);
    assert!(error(r#"{"sourcePodz":["a"]}"#).to_string().contains("did you mean `source_pod`?"));
    assert_eq!(error(r#"{"includeFilters":[]}"#).to_string(), r#"unknown field "includeFilters""#);

    let wrong = error(r#"{"source_pod":"default/"}"#);
    assert_eq!(wrong.field_name(), Some("source_pod"));
    assert_eq!(wrong.value(), Some(r#""default/""#));
    assert_eq!(wrong.to_string(), r#"source_pod: expected a JSON array, found "default/""#);

    let wrong = error(r#"{"verdict":["dropped"]}"#);
    assert_eq!(wrong.field_name(), Some("verdict"));
    assert_eq!(wrong.to_string(), r#"verdict: unknown value "dropped": did you mean `DROPPED`?"#);

    let wrong = error(r#"{"drop_reason_desc":["NOT_A_REASON_AT_ALL"]}"#);
    assert!(wrong.to_string().contains("expected a flow.DropReason value name or number"), "{wrong}");

    let wrong = error(r#"{"sourceIdentity":["x"]}"#);
    assert_eq!(wrong.field_name(), Some("source_identity"));
    assert!(wrong.to_string().starts_with(r#"source_identity: invalid value ["x"]: "#), "{wrong}");

    let wrong = error(r#"{"tcp_flags":[{"syn":true}]}"#);
    assert!(wrong.to_string().contains("tcp_flags") && wrong.to_string().contains("syn"), "{wrong}");

    assert!(error(r#"{"source_pod":["a"],"sourcePod":["b"]}"#).to_string().contains("given twice"));
    assert!(error("[]").to_string().contains("expected a JSON object"));
}

#[test]
fn build_errors_name_list_and_position() {
    let allow = vec![FlowFilter::default(), filter(r#"{"source_ip":["320.320.320.320"]}"#)];
    let message = Filters::new(allow, Vec::new()).unwrap_err().to_string();
    assert!(message.starts_with("allowlist filter 2: source_ip: invalid address \"320.320.320.320\""), "{message}");
    let deny = vec![filter(r#"{"protocol":["nope"]}"#)];
    let error = Filters::new(Vec::new(), deny).unwrap_err();
    assert!(error.to_string().starts_with("denylist filter 1: protocol:"), "{error}");
    assert_eq!(error.filter_index(), Some(0));
}

#[test]
fn equality_is_set_equality_per_list() {
    let a = filter(r#"{"verdict":["DROPPED"]}"#);
    let b = filter(r#"{"source_pod":["kube-system/"]}"#);
    let build = |allow: &[&FlowFilter], deny: &[&FlowFilter]| {
        Filters::new(allow.iter().map(|f| (*f).clone()).collect(), deny.iter().map(|f| (*f).clone()).collect()).unwrap()
    };
    assert_eq!(build(&[&a, &b], &[]), build(&[&b, &a], &[]));
    assert_eq!(build(&[&a, &b, &a], &[&b]), build(&[&b, &a], &[&b, &b]));
    assert_ne!(build(&[&a], &[&b]), build(&[&b], &[&a]));
    assert_ne!(build(&[&a], &[]), build(&[&a, &b], &[]));
    assert_ne!(build(&[&a], &[]), build(&[], &[&a]));
    assert_eq!(Filters::default(), build(&[], &[]));
    let debug = format!("{:?}", build(&[&a], &[&b]));
    assert!(debug.contains("allow") && debug.contains("kube-system/"), "{debug}");
}

#[test]
fn filters_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Filters>();
    let filters =
        std::sync::Arc::new(compiled(r#"{"experimental":{"cel_expression":["_flow.verdict == Verdict.DROPPED"]}}"#));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let filters = std::sync::Arc::clone(&filters);
            std::thread::spawn(move || filters.apply(&event(tcp_flow())))
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap()));
}
