//! DNS visibility from the packets the capture sees: the stage between
//! the capture and the endpoints' names.
//!
//! ```text
//! capture (DNS ports: flow + payload) ─▶ DnsObserver::observe ─▶ Message::parse ─▶ L7 DNS flow ─▶ enrich, filters, exporters
//!                                              │ (TCP: stream.rs puts messages together)
//!                                              └─▶ DnsCache::learn
//! every flow ─▶ DnsObserver::name (source_names, destination_names from the DnsCache)
//! ```
//!
//! Cilium shows DNS from its DNS proxy, which must be in the path of every
//! query; flowlog reads the messages from the packets its tc programs
//! already see, for the ports the capture is given (`--dns-ports`).
//!
//! - [`message`]: one message, parsed (with simple-dns), and why not;
//! - [`l7`]: the message as Hubble's `l7.dns` record and L7 flow;
//! - [`names`]: the names Hubble gives types and response codes;
//! - [`cache`]: which names each address was given, for later flows;
//! - [`observer`]: duplicates across interfaces, query-response latency,
//!   the TCP streams, and the cache, behind one call.

#![deny(missing_docs)]

pub mod cache;
pub mod l7;
pub mod message;
pub mod names;
pub mod observer;
mod recent;
mod stream;

pub use cache::{CacheLimits, DnsCache};
pub use message::{Message, ParseError};
pub use observer::{DnsObserver, DnsPacket, Skipped, Transport};
