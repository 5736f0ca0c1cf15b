//! Where endpoints come from: each source keeps one
//! [`Layer`](crate::shared::Layer) of the table current.
//!
//! - [`file`]: the `--endpoints-file`, reloaded when it changes;
//! - [`NodeAddresses`](crate::node::NodeAddresses): this node's own
//!   addresses, as the host;
//! - [`kubernetes`]: the API server's pods, namespaces, services and nodes.

pub mod file;
pub mod kubernetes;

use std::future::Future;

use crate::endpoints::Names;
use crate::shared::{Layer, SharedEndpoints};

/// A source of endpoints.
///
/// A source is asked once for what it knows at start-up, which is in the
/// table before any flow is named, then runs for as long as the agent does,
/// publishing its whole map whenever it changes. A source that cannot read
/// its input keeps its last map and says why in the log.
pub trait EndpointSource: Send + Sized + 'static {
    /// What the source knows now.
    fn initial(&self) -> Names;

    /// Keeps `layer` current until the agent stops.
    fn run(self, layer: Layer) -> impl Future<Output = ()> + Send;
}

impl SharedEndpoints {
    /// Adds `source` under the sources added before it: its map is in the
    /// table when this returns, and it is kept current by a task on the
    /// calling tokio runtime.
    pub fn add_source(&self, source: impl EndpointSource) {
        let layer = self.add_layer(source.initial());
        tokio::spawn(source.run(layer));
    }
}
