//! The address → endpoint table a flow's `source` and `destination` are
//! named from.
//!
//! # Resolution
//!
//! [`Endpoints::lookup`] gives, for an address:
//!
//! 1. the endpoint of the first [layer](crate::shared::Layer) that names it:
//!    sources are layered in the order they were added, so the endpoints
//!    file wins over the node's own addresses;
//! 2. else Hubble's world endpoint: identity 2, labels `["reserved:world"]`.
//!
//! The node's own addresses are a layer too ([`crate::node`]), which names
//! them Hubble's host endpoint: identity 1, labels `["reserved:host"]`. So a
//! node address listed in the endpoints file is that endpoint, not the host.
//!
//! # How this mirrors Hubble
//!
//! From Cilium's source (`pkg/hubble/parser/common/endpoint.go`,
//! `pkg/hubble/parser/common/labels.go`, `pkg/identity/numericidentity.go`):
//!
//! - A local endpoint gets `ID`, `identity`, `namespace`, `pod_name`,
//!   `labels` (through `SortAndFilterLabels`, a plain `sort.Strings`) and
//!   one workload when the pod has an owner. An address that is not a local
//!   endpoint gets only `identity`, the labels of that identity, and the
//!   namespace and pod name the IP cache knows, which are empty for host and
//!   world. Hubble 1.19 prints the node as `{"identity":1,"labels":["reserved:host"]}`
//!   and the outside as `{"identity":2,"labels":["reserved:world"]}`: no `ID`,
//!   no namespace, no pod name, no cluster name. Those are the two reserved
//!   endpoints here.
//! - `cluster_name` is the value of the identity's
//!   `k8s:io.cilium.k8s.policy.cluster` label (cilium/cilium#32313 and
//!   #35415); reserved identities have no such label. Here it is the
//!   endpoints file's `cluster` key, independent of the labels.
//! - Reserved identities are numbered 0 unknown, 1 host, 2 world,
//!   3 unmanaged, 4 health, 5 init, 6 remote-node, 7 kube-apiserver,
//!   8 ingress, 9 world-ipv4, 10 world-ipv6. A dual-stack Cilium gives the
//!   outside 9 (`reserved:world-ipv4`) or 10 (`reserved:world-ipv6`) and
//!   keeps 2 for single-stack clusters; flowlog always uses 2, whatever the
//!   address family.
//! - With the host firewall or as a kube-apiserver backend, Cilium's host
//!   identity carries more labels (`reserved:kube-apiserver`, node labels);
//!   flowlog's has `reserved:host` only.
//!
//! # Cost
//!
//! [`Endpoints::enrich`] is a hash lookup per address and a clone of the
//! endpoint found (its strings and label list): it runs for every flow.
//! [`Endpoints::enrich_addrs`] skips parsing the addresses back from the
//! flow's strings.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use flowlog_flow::{Endpoint, Flow};

/// Cilium's reserved identity of the local node.
pub const HOST_IDENTITY: u32 = 1;
/// Cilium's reserved identity of everything outside the cluster.
pub const WORLD_IDENTITY: u32 = 2;
/// The label of [`HOST_IDENTITY`].
pub const HOST_LABEL: &str = "reserved:host";
/// The label of [`WORLD_IDENTITY`].
pub const WORLD_LABEL: &str = "reserved:world";

/// What one source knows: the endpoint behind each address it names.
pub type EndpointMap = HashMap<IpAddr, Arc<Endpoint>>;

/// Hubble's endpoint for the node itself, shared by all its addresses.
pub static HOST: LazyLock<Arc<Endpoint>> = LazyLock::new(|| Arc::new(reserved(HOST_IDENTITY, HOST_LABEL)));

fn reserved(identity: u32, label: &str) -> Endpoint {
    Endpoint { identity, labels: vec![label.to_owned()], ..Endpoint::default() }
}

/// The address → endpoint table: the sources' maps merged, the first to
/// name an address winning, and the world for every other address.
///
/// Immutable once built; [`SharedEndpoints`](crate::SharedEndpoints)
/// swaps in a new one when a source changes. Equality compares what every
/// address resolves to.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoints {
    by_addr: EndpointMap,
    world: Endpoint,
}

impl Default for Endpoints {
    /// No endpoints: every address is the world.
    fn default() -> Self {
        Endpoints { by_addr: HashMap::new(), world: reserved(WORLD_IDENTITY, WORLD_LABEL) }
    }
}

impl Endpoints {
    /// The table of `layers`, the first to name an address winning.
    pub fn merge<'a>(layers: impl IntoIterator<Item = &'a EndpointMap>) -> Endpoints {
        let mut endpoints = Endpoints::default();
        for layer in layers {
            for (address, endpoint) in layer {
                endpoints.by_addr.entry(*address).or_insert_with(|| Arc::clone(endpoint));
            }
        }
        endpoints
    }

    /// The endpoint of `address`: named by a source, or the world.
    pub fn lookup(&self, address: IpAddr) -> &Endpoint {
        self.by_addr.get(&address).map_or(&self.world, |endpoint| endpoint)
    }

    /// How many addresses resolve to something other than the world.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// True when every address resolves to the world.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    /// Fills `flow.source` and `flow.destination` from the addresses in
    /// `flow.IP`, replacing what was there. Does nothing without `flow.IP`;
    /// a side whose address does not parse is left as it is.
    pub fn enrich(&self, flow: &mut Flow) {
        let Some(ip) = &flow.ip else {
            return;
        };
        let (source, destination) = (ip.source.parse().ok(), ip.destination.parse().ok());
        if let Some(source) = source {
            flow.source = Some(self.lookup(source).clone());
        }
        if let Some(destination) = destination {
            flow.destination = Some(self.lookup(destination).clone());
        }
    }

    /// Fills `flow.source` and `flow.destination` from addresses the caller
    /// already has (the kernel record's), without looking at `flow.IP`.
    pub fn enrich_addrs(&self, flow: &mut Flow, source: IpAddr, destination: IpAddr) {
        flow.source = Some(self.lookup(source).clone());
        flow.destination = Some(self.lookup(destination).clone());
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use flowlog_flow::Ip;

    use super::*;
    use crate::fixtures::{deathstar, host, ip, world};
    use crate::node::host_layer;
    use crate::source::file::format::parse;

    /// The table of an endpoints file's `text` and the node's `addresses`.
    fn table(text: &str, addresses: &[IpAddr]) -> Endpoints {
        Endpoints::merge([&parse(text).unwrap(), &host_layer(addresses)])
    }

    #[test]
    fn host_and_world() {
        let node = [ip("192.168.1.10"), ip("fe80::1"), ip("127.0.0.1")];
        let endpoints = table("- {ips: [10.0.0.1], pod_name: a}", &node);
        assert_eq!(endpoints.len(), 4);
        for address in node {
            assert_eq!(endpoints.lookup(address), &host(), "{address}");
        }
        assert_eq!(endpoints.lookup(ip("1.1.1.1")), &world());
        assert_eq!(endpoints.lookup(ip("2606:4700::1111")), &world());
        assert_eq!(endpoints.lookup(ip("10.0.0.1")).pod_name, "a");
        assert_eq!(Endpoints::default().lookup(ip("192.168.1.10")), &world());
    }

    #[test]
    fn a_listed_node_address_is_not_the_host() {
        let endpoints = table("- {ips: [192.168.1.10], pod_name: hostnet}", &[ip("192.168.1.10"), ip("192.168.1.11")]);
        assert_eq!(endpoints.lookup(ip("192.168.1.10")).pod_name, "hostnet");
        assert_eq!(endpoints.lookup(ip("192.168.1.11")), &host());
    }

    #[test]
    fn enrich_fills_both_sides() {
        let text = "- ips: [10.244.1.5]
  id: 1947
  identity: 21223
  cluster: kind-kind
  namespace: default
  pod_name: deathstar-7848d6c4d5-th9v2
  labels: {app.kubernetes.io/name: deathstar, org: empire}
  workloads: [{name: deathstar, kind: Deployment}]";
        let endpoints = table(text, &[ip("10.0.0.2")]);
        let mut flow = Flow {
            ip: Some(Ip { source: "10.0.0.2".into(), destination: "10.244.1.5".into(), ..Ip::default() }),
            ..Flow::default()
        };
        endpoints.enrich(&mut flow);
        assert_eq!(flow.source, Some(host()));
        assert_eq!(flow.destination, Some(deathstar()));

        // Replaces what was there; the world for unknown addresses.
        flow.ip = Some(Ip { source: "10.244.1.5".into(), destination: "8.8.8.8".into(), ..Ip::default() });
        endpoints.enrich(&mut flow);
        assert_eq!((flow.source, flow.destination), (Some(deathstar()), Some(world())));

        let mut bare = Flow::default();
        endpoints.enrich(&mut bare);
        assert_eq!(bare, Flow::default(), "no IP, nothing to fill");

        let mut flow = Flow::default();
        endpoints.enrich_addrs(&mut flow, IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)), ip("10.244.1.5"));
        assert_eq!((flow.source, flow.destination), (Some(world()), Some(deathstar())));
    }

    #[test]
    fn ipv6() {
        let endpoints = table("- {ips: ['fd00::5', '2001:db8::1'], pod_name: v6}", &[IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        // Any spelling of the address finds it.
        assert_eq!(endpoints.lookup(ip("2001:0db8:0000::0001")).pod_name, "v6");
        let mut flow = Flow {
            ip: Some(Ip { source: "fd00::5".into(), destination: "::1".into(), ..Ip::default() }),
            ..Flow::default()
        };
        endpoints.enrich(&mut flow);
        assert_eq!(flow.source.unwrap().pod_name, "v6");
        assert_eq!(flow.destination, Some(host()));
        assert_eq!(endpoints.lookup(ip("fd00::6")), &world());
    }
}
