//! The Hubble JSON line format, byte for byte as Cilium's exporter writes it.
//!
//! # The format
//!
//! Every event is one line: a compact JSON object followed by `\n`, the
//! protojson rendering of an `observer.ExportEvent` with proto field names.
//!
//! ```text
//! {"flow":{"time":"2023-08-21T12:12:18.510175415Z","verdict":"DROPPED",…},"node_name":"kind-kind/kind-worker","time":"2023-08-21T12:12:18.510175415Z"}
//! {"lost_events":{"source":"PERF_EVENT_RING_BUFFER","num_events_lost":"3"},"node_name":"kind-worker","time":"…"}
//! ```
//!
//! - The top-level key is the event kind: `flow`, `lost_events`, `agent_event`,
//!   `debug_event` or `node_status`, then `node_name` and `time`. For a flow
//!   both are copied from the flow itself (after the field mask, so a mask
//!   without `time` or `node_name` drops them from the top level too).
//! - Keys are the `.proto` field names (`IP`, `Type`, `l4`, `TCP`, `SYN`,
//!   `ipVersion`, `pod_name`, `Summary`) in declaration order, not number order.
//! - Fields holding their zero value (`0`, `false`, `""`, enum 0, an empty list,
//!   an unset message) are left out. A message that is set but empty is `{}`.
//! - Enums are written by name (`"verdict":"FORWARDED"`); a number this schema
//!   does not know is written as a bare number.
//! - 32-bit integers are numbers; 64-bit integers are strings (`"socket_cookie":"42"`).
//! - Timestamps are RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits.
//! - Wrapper values (`is_reply`, `cpu`, `hash`) are written bare whenever they
//!   are set, even when false or zero: `"is_reply":false`.
//! - `Any` is `{"@type":"type.googleapis.com/<name>",<payload fields>}`.
//! - Strings escape `"` `\` and control characters (`\n`, `\t`, `\u0001`), and
//!   also `<` `>` `&` U+2028 U+2029 as `\u003c` `\u003e` `\u0026` `\u2028` `\u2029`,
//!   because Cilium passes protojson through Go's HTML-safe `json.Encoder`.
//!   Everything else, `/` and non-ASCII letters included, is written raw.
//!
//! A field mask ([`Selection`]) restricts a flow to some fields. A selected
//! field is written as above; a field selected through a sub-path
//! (`source.namespace`) is always written, as `{}` when the flow lacks it,
//! except a `oneof` member (`l4.TCP`) that is not the active one.

mod encode;
pub mod read;
mod selection;
pub mod write;

pub use encode::{EncodeError, HubbleJson, encode_line, write_selection};
pub(crate) use encode::{select_timestamp, write_any, write_any_payload};
pub use selection::{SelectedField, Selection};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/hubble_json.rs"));
}
