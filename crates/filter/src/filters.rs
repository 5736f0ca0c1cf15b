//! FlowFilters: which events an exporter writes, with Hubble's semantics.
//!
//! A [`FlowFilter`] is compiled once into a list of predicates, one per
//! non-empty field, in Hubble's evaluation order. An event matches a filter
//! when every predicate holds (AND); a predicate holds when any of the field's
//! values matches (OR); a list of filters matches when any filter does (OR).
//! The empty filter `{}` has no predicates and matches every event, lost,
//! agent and debug events included. Most predicates only match flows; the
//! exceptions are `event_type` (lost events always match; agent and debug
//! events match by their types), label selectors that match an empty label
//! set, `trace_id: [""]` and `ip_trace_id: [0]`.
//!
//! [`Filters`] pairs an allowlist and a denylist: an event is exported when
//! the allowlist is empty or matches, and the denylist does not.
//!
//! Matching does not allocate, except for CEL expressions, a node name
//! without a cluster, and a percent-encoded HTTP path.

mod cel;
mod compile;
mod endpoint;
mod error;
mod event;
mod event_type;
mod ip;
mod l4;
mod l7;
mod labels;
mod names;
mod parse;
mod request_uri;
mod scalar;

use std::fmt;

use flowlog_flow::{ExportEvent, FlowFilter};
use prost::Message;

use compile::CompiledFilter;
pub use error::FilterError;
use event::Event;
pub use parse::{filter_from_json, parse_filters};

/// A compiled allowlist and denylist.
///
/// Built once (all filters are validated, the first error is returned) and
/// then shared between threads; [`Filters::apply`] does not allocate for
/// filters without CEL expressions. The default is two empty lists, which
/// export everything.
#[derive(Default)]
pub struct Filters {
    allow: Vec<CompiledFilter>,
    deny: Vec<CompiledFilter>,
    /// The source filters, for `Debug` and for [`PartialEq`].
    allow_source: Vec<FlowFilter>,
    deny_source: Vec<FlowFilter>,
    /// Encoded source filters, sorted and deduplicated: the identity of each list.
    allow_key: Vec<Vec<u8>>,
    deny_key: Vec<Vec<u8>>,
}

impl Filters {
    /// Compiles `allow` and `deny`. An error names the list (`allowlist` or
    /// `denylist`), the filter's position, the field and the value at fault.
    pub fn new(allow: Vec<FlowFilter>, deny: Vec<FlowFilter>) -> Result<Self, FilterError> {
        let compile = |filters: &[FlowFilter], list: &'static str| {
            filters
                .iter()
                .enumerate()
                .map(|(index, filter)| CompiledFilter::new(filter).map_err(|e| e.in_filter(index).in_list(list)))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            allow: compile(&allow, "allowlist")?,
            deny: compile(&deny, "denylist")?,
            allow_key: set_key(&allow),
            deny_key: set_key(&deny),
            allow_source: allow,
            deny_source: deny,
        })
    }

    /// Whether `event` is exported: the allowlist is empty or some allow
    /// filter matches, and no deny filter matches.
    pub fn apply(&self, event: &ExportEvent) -> bool {
        let event = Event::of(event);
        (self.allow.is_empty() || self.allow.iter().any(|filter| filter.matches(event)))
            && !self.deny.iter().any(|filter| filter.matches(event))
    }

    /// True when both lists are empty, so every event is exported.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// The allowlist as given.
    pub fn allowlist(&self) -> &[FlowFilter] {
        &self.allow_source
    }

    /// The denylist as given.
    pub fn denylist(&self) -> &[FlowFilter] {
        &self.deny_source
    }
}

/// The filters of a list as a set: order and duplicates do not matter.
fn set_key(filters: &[FlowFilter]) -> Vec<Vec<u8>> {
    let mut key: Vec<Vec<u8>> = filters.iter().map(Message::encode_to_vec).collect();
    key.sort_unstable();
    key.dedup();
    key
}

/// Equal when the allowlists hold the same filters and so do the denylists,
/// in any order and with any repetition: what decides whether a reloaded
/// configuration changed the filtering.
impl PartialEq for Filters {
    fn eq(&self, other: &Self) -> bool {
        self.allow_key == other.allow_key && self.deny_key == other.deny_key
    }
}

impl Eq for Filters {}

impl fmt::Debug for Filters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filters").field("allow", &self.allow_source).field("deny", &self.deny_source).finish()
    }
}
