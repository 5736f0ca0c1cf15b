//! Predicates on single scalar fields of a flow: uuid, enums, booleans, trace IDs, interface.

use flowlog_flow::{NetworkInterface, Verdict};

use super::event::Event;

/// Which enum field of a flow [`EnumIn`] looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EnumField {
    Verdict,
    TrafficDirection,
    IpVersion,
}

/// The enum field is one of the listed numbers.
#[derive(Debug)]
pub(crate) struct EnumIn {
    pub(crate) field: EnumField,
    pub(crate) values: Vec<i32>,
}

impl EnumIn {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(flow) = event.flow() else {
            return false;
        };
        let value = match self.field {
            EnumField::Verdict => flow.verdict,
            EnumField::TrafficDirection => flow.traffic_direction,
            // An absent IP reads as IP_NOT_USED (0).
            EnumField::IpVersion => flow.ip.as_ref().map_or(0, |ip| ip.ip_version),
        };
        self.values.contains(&value)
    }
}

/// The flow was dropped for one of the listed reasons.
#[derive(Debug)]
pub(crate) struct DropReasonIn(pub(crate) Vec<i32>);

impl DropReasonIn {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        event
            .flow()
            .is_some_and(|flow| flow.verdict == Verdict::Dropped as i32 && self.0.contains(&flow.drop_reason_desc))
    }
}

/// Which of `true` and `false` a boolean filter accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BoolSet {
    accepts_true: bool,
    accepts_false: bool,
}

impl BoolSet {
    pub(crate) fn new(values: &[bool]) -> Self {
        Self { accepts_true: values.contains(&true), accepts_false: values.contains(&false) }
    }

    fn contains(self, value: bool) -> bool {
        if value { self.accepts_true } else { self.accepts_false }
    }
}

/// `is_reply` is one of the listed values.
#[derive(Debug)]
pub(crate) struct ReplyIn(pub(crate) BoolSet);

impl ReplyIn {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(flow) = event.flow() else {
            return false;
        };
        match flow.is_reply {
            Some(reply) => self.0.contains(reply),
            // Dropped flows are never marked as replies: absent means "not a reply".
            None if flow.verdict == Verdict::Dropped as i32 => self.0.contains(false),
            None => false,
        }
    }
}

/// `IP.encrypted` is one of the listed values; a flow without IP reads as not encrypted.
#[derive(Debug)]
pub(crate) struct EncryptedIn(pub(crate) BoolSet);

impl EncryptedIn {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        event.flow().is_some_and(|flow| self.0.contains(flow.ip.as_ref().is_some_and(|ip| ip.encrypted)))
    }
}

/// The flow's UUID is one of the listed strings.
#[derive(Debug)]
pub(crate) struct UuidIn(pub(crate) Vec<String>);

impl UuidIn {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        event.flow().is_some_and(|flow| self.0.contains(&flow.uuid))
    }
}

/// The trace ID of the flow's trace context is one of the listed strings.
///
/// Any event without one, non-flow events included, reads as `""`.
#[derive(Debug)]
pub(crate) struct TraceIdIn(pub(crate) Vec<String>);

impl TraceIdIn {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let trace_id = event
            .flow()
            .and_then(|flow| flow.trace_context.as_ref())
            .and_then(|context| context.parent.as_ref())
            .map_or("", |parent| parent.trace_id.as_str());
        self.0.iter().any(|id| id == trace_id)
    }
}

/// The flow's IP option trace ID is one of the listed numbers.
///
/// Any event without one, non-flow events included, reads as 0.
#[derive(Debug)]
pub(crate) struct IpTraceIdIn(pub(crate) Vec<u64>);

impl IpTraceIdIn {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let trace_id = event.flow().and_then(|flow| flow.ip_trace_id.as_ref()).map_or(0, |id| id.trace_id);
        self.0.contains(&trace_id)
    }
}

/// The flow was observed on an interface matching an entry (index 0 and an
/// empty name match any).
#[derive(Debug)]
pub(crate) struct InterfaceIn(pub(crate) Vec<NetworkInterface>);

impl InterfaceIn {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(interface) = event.flow().and_then(|flow| flow.interface.as_ref()) else {
            return false;
        };
        self.0.iter().any(|entry| {
            (entry.index == 0 || entry.index == interface.index)
                && (entry.name.is_empty() || entry.name == interface.name)
        })
    }
}
