//! The observer: what a node's Hubble server knows, with no gRPC in it.
//!
//! [`Observer`] holds the ring of recent events and answers the API's
//! questions ([`flows`](Observer::flows), [`status`](Observer::status),
//! [`namespaces`](Observer::namespaces)); its [`Recorder`] is the
//! pipeline's consumer that fills the ring.
//!
//! - [`recorder`]: the consumer, on the pipeline's thread, and `reclaim`,
//!   which frees what the ring lets go of elsewhere;
//! - [`flows`]: `GetFlows`: which events a request selects, read from the ring;
//! - [`namespaces`]: the namespaces seen in the last hour;
//! - [`status`]: the flow rate of `ServerStatus`.

pub mod flows;
pub mod namespaces;
mod reclaim;
pub mod recorder;
pub mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::proto::observer::{Namespace, ServerStatusResponse};
use flowlog_flow::{ExportEvent, Timestamp};

pub use self::flows::{FlowQuery, QueryError};
pub use self::recorder::Recorder;
use crate::ring::{Capacity, Ring};

/// The version every answer carries (`ServerStatus.version` and the
/// `hubble-server-version` header).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A node's Hubble observer. Shared by the pipeline's recorder and the
/// server's requests.
#[derive(Debug)]
pub struct Observer {
    ring: Ring,
    node_name: String,
    seen_flows: AtomicU64,
    namespaces: namespaces::Published,
    started: Instant,
}

impl Observer {
    /// An observer of `node_name` keeping the last `capacity` events, and
    /// the consumer that feeds it.
    pub fn new(capacity: Capacity, node_name: &str) -> (Arc<Self>, Recorder) {
        let observer = Arc::new(Observer {
            ring: Ring::new(capacity),
            node_name: node_name.to_owned(),
            seen_flows: AtomicU64::new(0),
            namespaces: namespaces::Published::default(),
            started: Instant::now(),
        });
        let recorder = Recorder::new(Arc::clone(&observer));
        (observer, recorder)
    }

    /// The ring of recent events.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// `ServerStatus` as of `now`. The node and relay fields stay unset, as
    /// on a Cilium node (`hubble status` then shows no node counts).
    pub fn status(&self, now: SystemTime) -> ServerStatusResponse {
        ServerStatusResponse {
            num_flows: self.ring.len(),
            max_flows: self.ring.capacity(),
            seen_flows: self.seen_flows.load(Ordering::Relaxed),
            uptime_ns: u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            version: VERSION.to_owned(),
            flows_rate: status::flow_rate(&self.ring, now),
            ..Default::default()
        }
    }

    /// The namespaces seen in flows in the last hour, sorted by cluster,
    /// then namespace.
    pub fn namespaces(&self) -> Vec<Namespace> {
        self.namespaces.load().as_ref().clone()
    }
}

/// Whether `event` is a flow (not a lost, agent, debug or node event).
pub(crate) fn is_flow(event: &ExportEvent) -> bool {
    matches!(event.response_types, Some(ResponseTypes::Flow(_)))
}

/// When `event` happened: its own time, else its flow's.
pub(crate) fn event_time(event: &ExportEvent) -> Option<SystemTime> {
    let time = event.time.as_ref().or(match &event.response_types {
        Some(ResponseTypes::Flow(flow)) => flow.time.as_ref(),
        _ => None,
    })?;
    SystemTime::try_from(*time).ok()
}

/// `time` as a protobuf timestamp.
pub(crate) fn timestamp(time: SystemTime) -> Timestamp {
    Timestamp::from(time)
}
