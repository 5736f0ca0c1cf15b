//! Reading users' configuration: what every stage that takes a config file
//! shares.
//!
//! - [`watch`]: noticing that a config file may have changed (inotify on its
//!   directory, so editor renames and the kubelet's `..data` swaps count),
//!   debounced, with a slow poll as a safety net. It only signals; whoever
//!   owns the file reads it.
//! - [`suggest`]: the "did you mean" for a misspelt key or value.
//! - [`value`]: what kind of YAML or JSON value a user wrote, for messages.
//! - [`duration`]: durations as Cilium's options write them (`30s`, `1m30s`).
//!
//! It sits at the bottom of the workspace beside `flow`: the stages above
//! (enrich, filter, export) and the binary use it; it uses none of them.

#![deny(missing_docs)]

pub mod duration;
pub mod suggest;
pub mod value;
pub mod watch;

pub use duration::{DurationError, parse_go_duration};
pub use suggest::closest;
pub use watch::{POLL, Requester, Trigger, Watcher};
