//! flowlog's Hubble server: the ring buffer of recent events, and the gRPC
//! API that `hubble observe`, `hubble status`, Hubble Relay and Hubble UI
//! call, on a unix socket and on TCP with TLS.
//!
//! ```text
//! Pipeline ─▶ Recorder ─▶ Ring ◀─ Observer ◀─ observer.Observer (GetFlows, ServerStatus, GetNamespaces)
//!                                  Peers   ◀─ peer.Peer (Notify)        ◀─ Server: unix socket, TCP + TLS,
//!                                                                            health, reflection
//! ```
//!
//! - [`ring`]: the ring buffer: a writer that never waits, readers that
//!   know what they missed;
//! - [`observer`]: what the node knows, answering the API's questions with
//!   no gRPC in it; its [`Recorder`](observer::Recorder) is the pipeline's
//!   consumer;
//! - [`peers`]: the Hubble servers of the cluster, for Relay;
//! - [`service`]: the gRPC services, thin adapters over the two;
//! - [`tls`]: certificates, read again when their files change;
//! - [`server`]: the listeners and the thread that serves them;
//! - [`api`]: the generated service code, servers and clients.

#![deny(missing_docs)]

pub mod api;
pub mod observer;
pub mod peers;
pub mod ring;
pub mod server;
pub mod service;
pub mod tls;

pub use observer::{FlowQuery, Observer, Recorder};
pub use peers::{Peer, PeerNaming, Peers};
pub use ring::Capacity;
pub use server::{Bound, Running, ServeError, ServerSettings};
pub use tls::TlsFiles;
