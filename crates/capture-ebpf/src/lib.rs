//! The kernel side of flowlog's capture: eBPF programs written in C
//! (`bpf/flowlog.bpf.c`) and loaded with [aya](https://aya-rs.dev).
//!
//! ```text
//! veth/eth ─ tc ingress/egress (flowlog_ingress, flowlog_egress) ─┐
//!                                        conntrack (LRU hash) ◀──┤
//! skb:kfree_skb (flowlog_kfree_skb) ─────────────────────────────┴▶ ring buffer `events` ─▶ FlowRecord::parse
//! ```
//!
//! - [`Capture`]: load with [`CaptureOptions`], [`Capture::attach`] to
//!   interfaces, [`Capture::enable_drops`], take the ring buffer.
//! - [`interfaces::Interfaces`]: attach to the interfaces whose names match
//!   [`interfaces::InterfacePattern`]s, and follow them as they come and go
//!   ([`interfaces::LinkMonitor`]).
//! - [`FlowRecord`]: one record, decoded; the layout is shared with the C code
//!   through `bpf/record.h`.
//! - [`Aggregation`]: how many records a connection produces.
//!
//! The compiled object `bpf/flowlog.bpf.o` is committed, so building this
//! crate needs no clang. When clang is on `PATH`, `build.rs` recompiles it
//! and refreshes the committed file if it differs; `bpf/check-object.sh`
//! fails when the committed object is stale.
//!
//! Everything here needs root (or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)
//! and Linux 5.8+ (ring buffers); tcx needs 6.6+, older kernels get clsact.

#![deny(missing_docs)]

mod config;
pub mod decode;
mod drops;
mod error;
pub mod interfaces;
mod loader;
pub mod record;
pub mod session;
mod tc;

pub use config::{Aggregation, CaptureOptions, DEFAULT_RING_BUFFER_BYTES, TcMode};
pub use drops::DROP_PROGRAM;
pub use error::CaptureError;
pub use loader::{Capture, OBJECT};
pub use record::{Direction, DnsPayload, FlowRecord, Kind, Reply};
pub use tc::{AttachedVia, EGRESS_PROGRAM, INGRESS_PROGRAM};

/// Re-exported so users can name the ring buffer type without depending on aya.
pub use aya::maps::{MapData, RingBuf};
