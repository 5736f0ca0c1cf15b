//! The event a predicate looks at, with the flow parts most predicates need.

use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::layer7::Record;
use flowlog_flow::{AgentEvent, DebugEvent, Endpoint, ExportEvent, Flow, Http};

/// An [`ExportEvent`] by kind, resolved once per event rather than once per predicate.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event<'a> {
    Flow(&'a Flow),
    Lost,
    Agent(&'a AgentEvent),
    Debug(&'a DebugEvent),
    /// Node status events, and events without a payload.
    Other,
}

impl<'a> Event<'a> {
    pub(crate) fn of(event: &'a ExportEvent) -> Self {
        match &event.response_types {
            Some(ResponseTypes::Flow(flow)) => Event::Flow(flow),
            Some(ResponseTypes::LostEvents(_)) => Event::Lost,
            Some(ResponseTypes::AgentEvent(agent)) => Event::Agent(agent),
            Some(ResponseTypes::DebugEvent(debug)) => Event::Debug(debug),
            Some(ResponseTypes::NodeStatus(_)) | None => Event::Other,
        }
    }

    pub(crate) fn flow(self) -> Option<&'a Flow> {
        match self {
            Event::Flow(flow) => Some(flow),
            _ => None,
        }
    }
}

/// Which endpoint of a flow a field is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Source,
    Destination,
}

impl Side {
    pub(crate) fn endpoint(self, flow: &Flow) -> Option<&Endpoint> {
        match self {
            Side::Source => flow.source.as_ref(),
            Side::Destination => flow.destination.as_ref(),
        }
    }
}

/// The HTTP record of an L7 flow.
pub(crate) fn http(flow: &Flow) -> Option<&Http> {
    match flow.l7.as_ref()?.record.as_ref()? {
        Record::Http(http) => Some(http),
        _ => None,
    }
}
