//! The node's own addresses: a source that names them Hubble's host
//! endpoint (`reserved:host`, identity 1).
//!
//! Addresses come and go (an interface comes up, DHCP renews), so they are
//! listed again every [`REFRESH`] and the layer is republished when the list
//! changed. An address that went away is the world again from then on.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::endpoints::{EndpointMap, HOST, Names};
use crate::shared::Layer;
use crate::source::EndpointSource;

/// How often the node's addresses are listed again.
pub const REFRESH: Duration = Duration::from_secs(30);

/// Every address on the interfaces of the process's network namespace,
/// loopback and link-local included, each once, in order.
pub fn node_addresses() -> io::Result<BTreeSet<IpAddr>> {
    Ok(if_addrs::get_if_addrs()?.into_iter().map(|interface| interface.ip()).collect())
}

/// The layer naming each of `addresses` the host.
pub fn host_layer<'a>(addresses: impl IntoIterator<Item = &'a IpAddr>) -> EndpointMap {
    addresses.into_iter().map(|address| (*address, Arc::clone(&HOST).into())).collect()
}

/// The node's addresses as a source of endpoints.
#[derive(Debug)]
pub struct NodeAddresses {
    addresses: BTreeSet<IpAddr>,
}

impl NodeAddresses {
    /// Lists the node's addresses now. A node whose addresses cannot be
    /// listed starts with none (logged): its flows show the world until the
    /// next listing works.
    pub fn list() -> Self {
        let addresses = node_addresses().unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot list this node's addresses; they will show as reserved:world");
            BTreeSet::new()
        });
        Self { addresses }
    }
}

impl EndpointSource for NodeAddresses {
    fn initial(&self) -> Names {
        host_layer(&self.addresses).into()
    }

    async fn run(mut self, layer: Layer) {
        let mut refresh = tokio::time::interval(REFRESH);
        refresh.tick().await;
        loop {
            refresh.tick().await;
            match node_addresses() {
                Ok(addresses) if addresses != self.addresses => {
                    tracing::info!(addresses = addresses.len(), "this node's addresses changed");
                    layer.publish(host_layer(&addresses));
                    self.addresses = addresses;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot list this node's addresses"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn node_addresses_are_listed_once() {
        let addresses = node_addresses().unwrap();
        // Loopback is up with 127.0.0.1 in any namespace a test runs in,
        // unless it is a fresh one.
        if !addresses.is_empty() {
            assert!(addresses.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{addresses:?}");
        }
        let layer = host_layer(&addresses);
        assert_eq!(layer.len(), addresses.len());
        assert!(layer.values().all(|endpoint| endpoint.shared().labels == ["reserved:host"]));
    }
}
