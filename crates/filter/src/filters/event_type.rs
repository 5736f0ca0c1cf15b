//! `event_type`: Cilium monitor event types and sub-types.

use flowlog_flow::EventTypeFilter;

use super::event::Event;

/// Monitor message type of debug events (`pkg/monitor/api`).
const MESSAGE_TYPE_DEBUG: i32 = 2;
/// Monitor message type of L7 access-log events.
pub(crate) const MESSAGE_TYPE_ACCESS_LOG: i32 = 129;
/// Monitor message type of agent events.
const MESSAGE_TYPE_AGENT: i32 = 130;

/// The event's type, and sub-type when asked for, matches an entry.
#[derive(Debug)]
pub(crate) struct EventTypeIn(pub(crate) Vec<EventTypeFilter>);

impl EventTypeIn {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        match event {
            Event::Flow(flow) => {
                let Some(actual) = flow.event_type.as_ref() else {
                    return false;
                };
                self.any_entry(|entry| {
                    (entry.r#type == 0 || entry.r#type == actual.r#type)
                        && (!entry.match_sub_type || entry.sub_type == actual.sub_type)
                })
            }
            Event::Agent(agent) => self.any_entry(|entry| {
                (entry.r#type == 0 || entry.r#type == MESSAGE_TYPE_AGENT)
                    && (!entry.match_sub_type || entry.sub_type == agent.r#type)
            }),
            Event::Debug(debug) => self.any_entry(|entry| {
                (entry.r#type == 0 || entry.r#type == MESSAGE_TYPE_DEBUG)
                    && (!entry.match_sub_type || entry.sub_type == debug.r#type)
            }),
            // Lost events cannot be filtered out by type; upstream always keeps them.
            Event::Lost => true,
            Event::Other => false,
        }
    }

    fn any_entry(&self, matches: impl FnMut(&EventTypeFilter) -> bool) -> bool {
        self.0.iter().any(matches)
    }
}

/// Whether HTTP filters can match at all under these event type entries:
/// only L7 (access-log) events carry HTTP, so with `event_type` set, one entry
/// must be of that type.
pub(crate) fn allows_l7(entries: &[EventTypeFilter]) -> bool {
    entries.is_empty() || entries.iter().any(|entry| entry.r#type == MESSAGE_TYPE_ACCESS_LOG)
}
