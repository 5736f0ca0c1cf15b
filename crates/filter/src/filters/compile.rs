//! A FlowFilter compiled into predicates, all of which must hold.

use flowlog_flow::FlowFilter;
use flowlog_flow::flow_filter::Experimental;

use super::FilterError;
use super::cel::CelFilter;
use super::endpoint::{ClusterFilter, IdentityFilter, NameField, NameFilter, WorkloadFilter};
use super::event::{Event, Side};
use super::event_type::{EventTypeIn, allows_l7};
use super::ip::{IpField, IpFilter};
use super::l4::{PortFilter, ProtocolFilter, TcpFlagsFilter};
use super::l7::{DnsQueryFilter, HttpHeaderFilter, HttpMethodFilter, HttpPathFilter, HttpStatusFilter, HttpUrlFilter};
use super::labels::{LabelField, LabelFilter};
use super::names::{FqdnFilter, NodeNameFilter};
use super::scalar::{
    BoolSet, DropReasonIn, EncryptedIn, EnumField, EnumIn, InterfaceIn, IpTraceIdIn, ReplyIn, TraceIdIn, UuidIn,
};

/// One non-empty field of a FlowFilter; its values are ORed.
#[derive(Debug)]
enum Predicate {
    Uuid(UuidIn),
    EventType(EventTypeIn),
    Enum(EnumIn),
    DropReason(DropReasonIn),
    Reply(ReplyIn),
    Encrypted(EncryptedIn),
    Identity(IdentityFilter),
    Protocol(ProtocolFilter),
    Ip(IpFilter),
    Name(NameFilter),
    Workload(WorkloadFilter),
    Fqdn(FqdnFilter),
    Labels(LabelFilter),
    Port(PortFilter),
    DnsQuery(DnsQueryFilter),
    HttpStatus(HttpStatusFilter),
    HttpMethod(HttpMethodFilter),
    HttpPath(HttpPathFilter),
    HttpUrl(HttpUrlFilter),
    HttpHeader(HttpHeaderFilter),
    TcpFlags(TcpFlagsFilter),
    NodeName(NodeNameFilter),
    Cluster(ClusterFilter),
    TraceId(TraceIdIn),
    Cel(CelFilter),
    Interface(InterfaceIn),
    IpTraceId(IpTraceIdIn),
}

impl Predicate {
    fn matches(&self, event: Event<'_>) -> bool {
        match self {
            Predicate::Uuid(p) => p.matches(event),
            Predicate::EventType(p) => p.matches(event),
            Predicate::Enum(p) => p.matches(event),
            Predicate::DropReason(p) => p.matches(event),
            Predicate::Reply(p) => p.matches(event),
            Predicate::Encrypted(p) => p.matches(event),
            Predicate::Identity(p) => p.matches(event),
            Predicate::Protocol(p) => p.matches(event),
            Predicate::Ip(p) => p.matches(event),
            Predicate::Name(p) => p.matches(event),
            Predicate::Workload(p) => p.matches(event),
            Predicate::Fqdn(p) => p.matches(event),
            Predicate::Labels(p) => p.matches(event),
            Predicate::Port(p) => p.matches(event),
            Predicate::DnsQuery(p) => p.matches(event),
            Predicate::HttpStatus(p) => p.matches(event),
            Predicate::HttpMethod(p) => p.matches(event),
            Predicate::HttpPath(p) => p.matches(event),
            Predicate::HttpUrl(p) => p.matches(event),
            Predicate::HttpHeader(p) => p.matches(event),
            Predicate::TcpFlags(p) => p.matches(event),
            Predicate::NodeName(p) => p.matches(event),
            Predicate::Cluster(p) => p.matches(event),
            Predicate::TraceId(p) => p.matches(event),
            Predicate::Cel(p) => p.matches(event),
            Predicate::Interface(p) => p.matches(event),
            Predicate::IpTraceId(p) => p.matches(event),
        }
    }
}

/// A compiled FlowFilter: matches when every predicate does; with none, it
/// matches every event.
#[derive(Debug)]
pub(crate) struct CompiledFilter {
    predicates: Vec<Predicate>,
}

impl CompiledFilter {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        self.predicates.iter().all(|predicate| predicate.matches(event))
    }

    /// Compiles `filter`, in Hubble's evaluation order (uuid, event_type,
    /// verdict, …), which does not change results but puts cheap tests first.
    pub(crate) fn new(filter: &FlowFilter) -> Result<Self, FilterError> {
        // Exhaustive, so that a field added to the schema fails to compile
        // here instead of being silently ignored.
        let FlowFilter {
            uuid,
            source_ip,
            source_ip_xlated,
            source_pod,
            source_fqdn,
            source_label,
            source_service,
            source_workload,
            source_cluster_name,
            destination_ip,
            destination_pod,
            destination_fqdn,
            destination_label,
            destination_service,
            destination_workload,
            destination_cluster_name,
            traffic_direction,
            verdict,
            drop_reason_desc,
            interface,
            event_type,
            http_status_code,
            protocol,
            source_port,
            destination_port,
            reply,
            dns_query,
            source_identity,
            destination_identity,
            http_method,
            http_path,
            http_url,
            http_header,
            tcp_flags,
            node_name,
            node_labels,
            ip_version,
            trace_id,
            ip_trace_id,
            encrypted,
            experimental,
        } = filter;
        let cel_expression = experimental.as_ref().map_or(&[][..], |Experimental { cel_expression }| cel_expression);

        let http_fields = [
            ("http_status_code", !http_status_code.is_empty()),
            ("http_method", !http_method.is_empty()),
            ("http_path", !http_path.is_empty()),
            ("http_url", !http_url.is_empty()),
            ("http_header", !http_header.is_empty()),
        ];
        if let Some((name, _)) = http_fields.iter().find(|(_, set)| *set).filter(|_| !allows_l7(event_type)) {
            return Err(FilterError::field(name, "cannot match with this event_type").with_detail(
                "HTTP fields only match L7 events: event_type must include an entry of type 129 (access log)",
            ));
        }

        let mut p = Vec::new();
        let mut add = |predicate: Result<Predicate, FilterError>| predicate.map(|predicate| p.push(predicate));

        if !uuid.is_empty() {
            add(Ok(Predicate::Uuid(UuidIn(uuid.clone()))))?;
        }
        if !event_type.is_empty() {
            add(Ok(Predicate::EventType(EventTypeIn(event_type.clone()))))?;
        }
        if !verdict.is_empty() {
            add(Ok(Predicate::Enum(EnumIn { field: EnumField::Verdict, values: verdict.clone() })))?;
        }
        if !drop_reason_desc.is_empty() {
            add(Ok(Predicate::DropReason(DropReasonIn(drop_reason_desc.clone()))))?;
        }
        if !reply.is_empty() {
            add(Ok(Predicate::Reply(ReplyIn(BoolSet::new(reply)))))?;
        }
        if !encrypted.is_empty() {
            add(Ok(Predicate::Encrypted(EncryptedIn(BoolSet::new(encrypted)))))?;
        }
        for (side, identities) in [(Side::Source, source_identity), (Side::Destination, destination_identity)] {
            if !identities.is_empty() {
                add(Ok(Predicate::Identity(IdentityFilter { side, identities: identities.clone() })))?;
            }
        }
        if !protocol.is_empty() {
            add(ProtocolFilter::new("protocol", protocol).map(Predicate::Protocol))?;
        }
        for (field, name, values) in [
            (IpField::Source, "source_ip", source_ip),
            (IpField::Destination, "destination_ip", destination_ip),
            (IpField::SourceXlated, "source_ip_xlated", source_ip_xlated),
        ] {
            if !values.is_empty() {
                add(IpFilter::new(field, name, values).map(Predicate::Ip))?;
            }
        }
        for (side, name, values) in
            [(Side::Source, "source_pod", source_pod), (Side::Destination, "destination_pod", destination_pod)]
        {
            if !values.is_empty() {
                add(NameFilter::new(NameField::Pod(side), name, values).map(Predicate::Name))?;
            }
        }
        for (side, entries) in [(Side::Source, source_workload), (Side::Destination, destination_workload)] {
            if !entries.is_empty() {
                add(Ok(Predicate::Workload(WorkloadFilter { side, entries: entries.clone() })))?;
            }
        }
        for (side, name, values) in [
            (Side::Source, "source_service", source_service),
            (Side::Destination, "destination_service", destination_service),
        ] {
            if !values.is_empty() {
                add(NameFilter::new(NameField::Service(side), name, values).map(Predicate::Name))?;
            }
        }
        for (side, name, values) in
            [(Side::Source, "source_fqdn", source_fqdn), (Side::Destination, "destination_fqdn", destination_fqdn)]
        {
            if !values.is_empty() {
                add(FqdnFilter::new(side, name, values).map(Predicate::Fqdn))?;
            }
        }
        for (field, name, values) in [
            (LabelField::Endpoint(Side::Source), "source_label", source_label),
            (LabelField::Endpoint(Side::Destination), "destination_label", destination_label),
            (LabelField::Node, "node_labels", node_labels),
        ] {
            if !values.is_empty() {
                add(LabelFilter::new(field, name, values).map(Predicate::Labels))?;
            }
        }
        for (side, name, values) in
            [(Side::Source, "source_port", source_port), (Side::Destination, "destination_port", destination_port)]
        {
            if !values.is_empty() {
                add(PortFilter::new(side, name, values).map(Predicate::Port))?;
            }
        }
        if !dns_query.is_empty() {
            add(DnsQueryFilter::new("dns_query", dns_query).map(Predicate::DnsQuery))?;
        }
        if !http_status_code.is_empty() {
            add(HttpStatusFilter::new("http_status_code", http_status_code).map(Predicate::HttpStatus))?;
        }
        if !http_method.is_empty() {
            add(Ok(Predicate::HttpMethod(HttpMethodFilter(http_method.clone()))))?;
        }
        if !http_path.is_empty() {
            add(HttpPathFilter::new("http_path", http_path).map(Predicate::HttpPath))?;
        }
        if !http_url.is_empty() {
            add(HttpUrlFilter::new("http_url", http_url).map(Predicate::HttpUrl))?;
        }
        if !http_header.is_empty() {
            add(Ok(Predicate::HttpHeader(HttpHeaderFilter(http_header.clone()))))?;
        }
        if !tcp_flags.is_empty() {
            add(Ok(Predicate::TcpFlags(TcpFlagsFilter::new(tcp_flags))))?;
        }
        if !node_name.is_empty() {
            add(NodeNameFilter::new("node_name", node_name).map(Predicate::NodeName))?;
        }
        for (side, name, values) in [
            (Side::Source, "source_cluster_name", source_cluster_name),
            (Side::Destination, "destination_cluster_name", destination_cluster_name),
        ] {
            if !values.is_empty() {
                add(ClusterFilter::new(side, name, values).map(Predicate::Cluster))?;
            }
        }
        if !ip_version.is_empty() {
            add(Ok(Predicate::Enum(EnumIn { field: EnumField::IpVersion, values: ip_version.clone() })))?;
        }
        if !trace_id.is_empty() {
            add(Ok(Predicate::TraceId(TraceIdIn(trace_id.clone()))))?;
        }
        if !traffic_direction.is_empty() {
            add(Ok(Predicate::Enum(EnumIn { field: EnumField::TrafficDirection, values: traffic_direction.clone() })))?;
        }
        if !cel_expression.is_empty() {
            add(CelFilter::new("experimental.cel_expression", cel_expression).map(Predicate::Cel))?;
        }
        if !interface.is_empty() {
            add(Ok(Predicate::Interface(InterfaceIn(interface.clone()))))?;
        }
        if !ip_trace_id.is_empty() {
            add(Ok(Predicate::IpTraceId(IpTraceIdIn(ip_trace_id.clone()))))?;
        }
        Ok(Self { predicates: p })
    }
}
