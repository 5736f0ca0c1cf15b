//! The Hubble servers of the cluster, as `peer.Peer/Notify` tells Hubble
//! Relay about them (`pkg/hubble/peer` in Cilium).
//!
//! The set is replaced whole by whoever knows the nodes (the Kubernetes
//! Node watch, or `--hubble-peers`); each subscriber gets every peer as
//! `PEER_ADDED`, then the differences: a new name is `PEER_ADDED`, a name
//! gone is `PEER_DELETED`, a name whose address or TLS name changed is
//! `PEER_UPDATED` (so a renamed node is deleted and added, as in Cilium).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use flowlog_flow::proto::peer::{ChangeNotification, ChangeNotificationType, Tls};
use futures::Stream;
use tokio::sync::watch;

/// The port Hubble Relay adds to an address without one.
pub const DEFAULT_PORT: u16 = 4244;

/// One Hubble server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `<cluster>/<node>`, or `<node>` in the cluster `default`.
    pub name: String,
    /// Where its API is: `ip`, `ip:port`, `host:port` or `unix://path`.
    pub address: String,
    /// The name its certificate is checked against; `None` without TLS.
    pub tls_server_name: Option<String>,
}

/// How a node becomes a [`Peer`]: its cluster, and whether its API is TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNaming {
    /// The cluster's name (`--cluster-name`).
    pub cluster: String,
    /// The nodes' API port (this node's `--hubble-listen-address` port).
    pub port: u16,
    /// Whether the nodes' API is TLS (this node's is).
    pub tls: bool,
}

impl PeerNaming {
    /// The peer of node `node`, whose API is at `address`.
    pub fn peer(&self, node: &str, address: String) -> Peer {
        Peer { name: self.name(node), address, tls_server_name: self.tls.then(|| self.tls_server_name(node)) }
    }

    /// The peer of node `node` at the node's IP address: the bare address
    /// when the port is Hubble's, as Cilium sends it.
    pub fn node_peer(&self, node: &str, ip: IpAddr) -> Peer {
        let address = match self.port {
            DEFAULT_PORT => ip.to_string(),
            port => SocketAddr::new(ip, port).to_string(),
        };
        self.peer(node, address)
    }

    /// `<cluster>/<node>`, or `<node>` in the cluster `default`.
    pub fn name(&self, node: &str) -> String {
        match self.cluster.as_str() {
            "" | "default" => node.to_owned(),
            cluster => format!("{cluster}/{node}"),
        }
    }

    /// `<node>.<cluster>.hubble-grpc.cilium.io`, dots in either made dashes:
    /// what Cilium's node certificates are issued for (`*.<cluster>.hubble-grpc.cilium.io`).
    pub fn tls_server_name(&self, node: &str) -> String {
        let cluster = if self.cluster.is_empty() { "default" } else { &self.cluster };
        format!("{}.{}.hubble-grpc.cilium.io", node.replace('.', "-"), cluster.replace('.', "-"))
    }
}

/// The current peers. Cloning shares them.
#[derive(Debug, Clone)]
pub struct Peers(Arc<watch::Sender<BTreeMap<String, Peer>>>);

impl Default for Peers {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(BTreeMap::new())))
    }
}

impl Peers {
    /// Makes `peers` the set; subscribers hear of the differences.
    pub fn set(&self, peers: impl IntoIterator<Item = Peer>) {
        let peers: BTreeMap<String, Peer> = peers.into_iter().map(|peer| (peer.name.clone(), peer)).collect();
        self.0.send_if_modified(|current| {
            let changed = *current != peers;
            if changed {
                *current = peers;
            }
            changed
        });
    }

    /// Every peer as `PEER_ADDED`, then each change as it comes; ends when
    /// the set is dropped.
    pub fn notifications(&self) -> impl Stream<Item = ChangeNotification> + Send + 'static {
        let mut receiver = self.0.subscribe();
        let first = receiver.borrow_and_update().clone();
        let pending: VecDeque<_> =
            first.values().map(|peer| notification(peer, ChangeNotificationType::PeerAdded)).collect();
        futures::stream::unfold((receiver, first, pending), |(mut receiver, mut known, mut pending)| async move {
            loop {
                if let Some(next) = pending.pop_front() {
                    return Some((next, (receiver, known, pending)));
                }
                receiver.changed().await.ok()?;
                let now = receiver.borrow_and_update().clone();
                pending.extend(differences(&known, &now));
                known = now;
            }
        })
    }
}

/// What changed from `before` to `after`.
fn differences(before: &BTreeMap<String, Peer>, after: &BTreeMap<String, Peer>) -> Vec<ChangeNotification> {
    let deleted = before
        .values()
        .filter(|peer| !after.contains_key(&peer.name))
        .map(|peer| notification(peer, ChangeNotificationType::PeerDeleted));
    let added_or_updated = after.values().filter_map(|peer| match before.get(&peer.name) {
        None => Some(notification(peer, ChangeNotificationType::PeerAdded)),
        Some(old) if old != peer => Some(notification(peer, ChangeNotificationType::PeerUpdated)),
        Some(_) => None,
    });
    deleted.chain(added_or_updated).collect()
}

fn notification(peer: &Peer, kind: ChangeNotificationType) -> ChangeNotification {
    ChangeNotification {
        name: peer.name.clone(),
        address: peer.address.clone(),
        r#type: kind as i32,
        tls: peer.tls_server_name.clone().map(|server_name| Tls { server_name }),
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn naming(cluster: &str, tls: bool) -> PeerNaming {
        PeerNaming { cluster: cluster.into(), port: DEFAULT_PORT, tls }
    }

    #[test]
    fn names_and_addresses_are_cilium_s() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            naming("default", false).node_peer("node-1", ip),
            Peer { name: "node-1".into(), address: "10.0.0.1".into(), tls_server_name: None }
        );
        let peer = naming("prod.eu", true).node_peer("node.a", "fd00::1".parse().unwrap());
        assert_eq!(peer.name, "prod.eu/node.a");
        assert_eq!(peer.tls_server_name.as_deref(), Some("node-a.prod-eu.hubble-grpc.cilium.io"));
        let other_port = PeerNaming { port: 4245, ..naming("default", false) };
        assert_eq!(other_port.node_peer("n", "fd00::1".parse().unwrap()).address, "[fd00::1]:4245");
    }

    #[tokio::test]
    async fn subscribers_get_everything_then_the_differences() {
        let naming = naming("default", false);
        let peers = Peers::default();
        peers.set([naming.peer("a", "10.0.0.1".into()), naming.peer("b", "10.0.0.2".into())]);
        let mut notifications = Box::pin(peers.notifications());
        let mut next = async || {
            let n = notifications.next().await.unwrap();
            (ChangeNotificationType::try_from(n.r#type).unwrap(), n.name, n.address)
        };
        assert_eq!(next().await, (ChangeNotificationType::PeerAdded, "a".into(), "10.0.0.1".into()));
        assert_eq!(next().await, (ChangeNotificationType::PeerAdded, "b".into(), "10.0.0.2".into()));
        peers.set([naming.peer("b", "10.0.0.9".into()), naming.peer("c", "10.0.0.3".into())]);
        assert_eq!(next().await, (ChangeNotificationType::PeerDeleted, "a".into(), "10.0.0.1".into()));
        assert_eq!(next().await, (ChangeNotificationType::PeerUpdated, "b".into(), "10.0.0.9".into()));
        assert_eq!(next().await, (ChangeNotificationType::PeerAdded, "c".into(), "10.0.0.3".into()));
    }
}
