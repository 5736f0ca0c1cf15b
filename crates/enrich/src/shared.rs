//! The current [`Endpoints`], read by every flow and replaced whole when a
//! source changes.
//!
//! ```text
//! source 0 (endpoints file) ─ Layer::publish ─┐
//! source 1 (node addresses) ─ Layer::publish ─┼─▶ merge ─▶ ArcSwap<Endpoints> ─▶ SharedEndpoints::current (every flow)
//! source n …                ─ Layer::publish ─┘
//! ```
//!
//! Readers never wait: taking the snapshot is an atomic load (`arc-swap`),
//! and a reader keeps the table it took for as long as it holds it, however
//! many times it is replaced meanwhile. Writers (the sources, a few times a
//! minute at most) merge the layers under a lock no reader takes.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use flowlog_flow::Flow;

use crate::endpoints::{Endpoints, Names};

/// The table flows are named from, and the sources' layers it is merged
/// from. Clones share them.
#[derive(Clone, Debug, Default)]
pub struct SharedEndpoints {
    current: Arc<ArcSwap<Endpoints>>,
    layers: Arc<Mutex<Vec<Names>>>,
}

/// One source's part of the table: what it publishes replaces what it
/// published before, and names its addresses unless an earlier layer does.
#[derive(Debug)]
pub struct Layer {
    shared: SharedEndpoints,
    index: usize,
}

impl SharedEndpoints {
    /// A snapshot of the current table, to name flows with.
    pub fn current(&self) -> Arc<Endpoints> {
        self.current.load_full()
    }

    /// Names `flow`'s endpoints from the current table, by the addresses
    /// the caller already has (see [`Endpoints::enrich_addrs`]). For every
    /// flow: the table is borrowed, not shared, so no count is touched.
    pub fn enrich_addrs(&self, flow: &mut Flow, source: IpAddr, destination: IpAddr) {
        self.current.load().enrich_addrs(flow, source, destination);
    }

    /// A new layer under every existing one, holding `initial` from now on.
    pub fn add_layer(&self, initial: impl Into<Names>) -> Layer {
        let index = {
            let mut layers = self.layers.lock().unwrap_or_else(PoisonError::into_inner);
            layers.push(Names::default());
            layers.len() - 1
        };
        let layer = Layer { shared: self.clone(), index };
        layer.publish(initial);
        layer
    }
}

impl Layer {
    /// Replaces this layer's map and makes the merged table current.
    ///
    /// Snapshots already taken keep the previous table until they are
    /// dropped; it is freed by the last of them, never under the lock.
    pub fn publish(&self, names: impl Into<Names>) {
        let mut layers = self.shared.layers.lock().unwrap_or_else(PoisonError::into_inner);
        layers[self.index] = names.into();
        // Merged under the lock, so two sources publishing at once cannot
        // store their merges in the wrong order.
        self.shared.current.store(Arc::new(Endpoints::merge(layers.iter())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::EndpointMap;
    use crate::fixtures::{ip, world};
    use crate::source::file::format::parse;

    #[test]
    fn shared_endpoints_swap() {
        let shared = SharedEndpoints::default();
        let reader = shared.clone();
        let before = reader.current();
        assert_eq!(before.lookup(ip("10.0.0.1")), world());

        let layer = shared.add_layer(EndpointMap::new());
        layer.publish(parse("- {ips: [10.0.0.1], pod_name: a}").unwrap());
        assert_eq!(reader.current().lookup(ip("10.0.0.1")).pod_name, "a");
        // A snapshot taken before the swap stays as it was.
        assert_eq!(before.lookup(ip("10.0.0.1")), world());
    }

    #[test]
    fn earlier_layers_win_and_a_layer_replaces_only_itself() {
        let shared = SharedEndpoints::default();
        let file = shared.add_layer(parse("- {ips: [10.0.0.1], pod_name: from-file}").unwrap());
        let other = shared.add_layer(parse("- {ips: [10.0.0.1, 10.0.0.2], pod_name: other}").unwrap());
        assert_eq!(shared.current().lookup(ip("10.0.0.1")).pod_name, "from-file");
        assert_eq!(shared.current().lookup(ip("10.0.0.2")).pod_name, "other");

        file.publish(EndpointMap::new());
        assert_eq!(shared.current().lookup(ip("10.0.0.1")).pod_name, "other", "the file no longer names it");
        other.publish(EndpointMap::new());
        assert!(shared.current().is_empty());
    }
}
