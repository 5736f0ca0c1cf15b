//! Who is behind a flow's addresses: the enrichment stage between capture
//! and the filters.
//!
//! ```text
//! EndpointsFile ─┐ (sources, first wins)
//! NodeAddresses ─┼─▶ SharedEndpoints (arc-swap) ─▶ Endpoints::enrich_addrs(flow) ─▶ filters, exporters
//! Kubernetes ────┘
//! ```
//!
//! Captured flows know their addresses only. Cilium learns pods from its
//! endpoint manager and IP cache; flowlog learns them from its
//! [sources](source): the endpoints file, the node's own addresses and the
//! Kubernetes API. Each source keeps one layer of the table current;
//! flows are named from a snapshot of the merged table that readers take
//! without waiting ([`SharedEndpoints`]).
//!
//! - [`endpoints`]: the table and how an address resolves;
//! - [`shared`]: the snapshot and the sources' layers;
//! - [`source`]: the source trait, the endpoints file and Kubernetes;
//! - [`node`]: the node's own addresses.

#![deny(missing_docs)]

pub mod endpoints;
#[cfg(test)]
mod fixtures;
pub mod node;
pub mod shared;
pub mod source;

pub use endpoints::{EndpointMap, Endpoints, Names, ServiceMap};
pub use node::NodeAddresses;
pub use shared::{Layer, SharedEndpoints};
pub use source::EndpointSource;
pub use source::file::{EndpointsError, EndpointsFile};
pub use source::kubernetes::Kubernetes;
