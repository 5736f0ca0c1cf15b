//! Hubble FlowFilters (allowlist/denylist) and field masks, with Cilium's semantics.
//!
//! - [`parse_filters`] / [`filter_from_json`] read FlowFilters as users write
//!   them; [`Filters`] compiles an allowlist and a denylist and decides, per
//!   event, whether it is exported.
//! - [`FieldMask`] validates field paths against the schema and compiles them
//!   into the selection the line encoder writes.

#![deny(missing_docs)]

mod filters;
mod mask;
mod mask_copy;

pub use filters::{FilterError, Filters, filter_from_json, parse_filters};
pub use mask::{FieldMask, MaskError, split_paths};
