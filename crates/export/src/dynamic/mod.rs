//! The dynamic exporter: any number of named flow logs, defined in a YAML file
//! that is watched and applied while the agent runs (Cilium's
//! `hubble-flowlogs-config-path`, usually a mounted ConfigMap).
//!
//! ```text
//! file change ─▶ watch (debounce) ─▶ reload (read, validate) ─▶ pipeline (reconcile between events)
//! ```
//!
//! - [`config`]: the file's schema and validation.
//! - [`watch`]: noticing changes; [`reload`]: reading them; [`reconcile`]:
//!   applying them to the running exporters; [`stats`]: counting reloads.

pub mod config;
pub mod reconcile;
pub mod reload;
pub mod stats;
pub mod watch;

pub use config::{DynamicConfig, Entry};
pub use reconcile::Outcome;
pub use reload::Reloader;
pub use stats::{ReloadSnapshot, ReloadStats};
pub use watch::{Requester, Trigger, Watcher};
