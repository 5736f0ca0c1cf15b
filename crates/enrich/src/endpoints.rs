//! The address → endpoint table a flow's `source` and `destination` are
//! named from, and the address and port → service table of its
//! `source_service` and `destination_service`.
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
//! Services are looked up by address and port, as Cilium's
//! `GetServiceByAddr(ip, port)` does: the destination's address and port
//! for `destination_service`, the source's for `source_service` (a reply
//! from a service's cluster IP, before it is translated back). A flow
//! without ports (ICMP) has no service.
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
//! [`Endpoints::enrich`] is a hash lookup per address and a copy of the
//! endpoint found (its strings and label list): it runs for every flow.
//! [`Endpoints::enrich_addrs`] skips parsing the addresses back from the
//! flow's strings.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use flowlog_flow::layer4::Protocol;
use flowlog_flow::{Endpoint, Flow, Service};

/// Cilium's reserved identity of the local node.
pub const HOST_IDENTITY: u32 = 1;
/// Cilium's reserved identity of everything outside the cluster.
pub const WORLD_IDENTITY: u32 = 2;
/// Cilium's reserved identity of the cluster's other nodes.
pub const REMOTE_NODE_IDENTITY: u32 = 6;
/// The label of [`HOST_IDENTITY`].
pub const HOST_LABEL: &str = "reserved:host";
/// The label of [`WORLD_IDENTITY`].
pub const WORLD_LABEL: &str = "reserved:world";
/// The label of [`REMOTE_NODE_IDENTITY`].
pub const REMOTE_NODE_LABEL: &str = "reserved:remote-node";

/// What one source knows: the endpoint behind each address it names.
pub type EndpointMap = HashMap<IpAddr, Resolved>;

/// What an address resolves to: an endpoint, shared by every address it
/// describes, and the pod's own name when the endpoint is shared by the
/// replicas of a workload too.
///
/// Replicas differ only in their names: sharing the rest (labels above all)
/// is what keeps a 10,000-pod table small. A flow gets its own copy of the
/// whole endpoint either way ([`Resolved::to_endpoint`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    shared: Arc<Endpoint>,
    pod_name: Option<Arc<str>>,
}

impl Resolved {
    /// The pod named `pod_name` whose endpoint is otherwise `shared`.
    pub fn pod(shared: Arc<Endpoint>, pod_name: Arc<str>) -> Self {
        Resolved { shared, pod_name: Some(pod_name) }
    }

    /// The endpoint, less its pod name when it is shared by replicas.
    pub fn shared(&self) -> &Arc<Endpoint> {
        &self.shared
    }

    /// The pod's name.
    pub fn pod_name(&self) -> &str {
        self.pod_name.as_deref().unwrap_or(&self.shared.pod_name)
    }

    /// The whole endpoint, for a flow.
    pub fn to_endpoint(&self) -> Endpoint {
        let mut endpoint = Endpoint::clone(&self.shared);
        if let Some(pod_name) = &self.pod_name {
            endpoint.pod_name = pod_name.to_string();
        }
        endpoint
    }
}

impl From<Arc<Endpoint>> for Resolved {
    fn from(shared: Arc<Endpoint>) -> Self {
        Resolved { shared, pod_name: None }
    }
}

/// The service behind each address and port a source names.
pub type ServiceMap = HashMap<(IpAddr, u16), Arc<Service>>;

/// Everything one source names: endpoints by address, services by address
/// and port.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Names {
    /// The endpoint behind each address.
    pub endpoints: EndpointMap,
    /// The service behind each address and port.
    pub services: ServiceMap,
}

impl From<EndpointMap> for Names {
    fn from(endpoints: EndpointMap) -> Self {
        Names { endpoints, services: ServiceMap::new() }
    }
}

/// Hubble's endpoint for the node itself, shared by all its addresses.
pub static HOST: LazyLock<Arc<Endpoint>> = LazyLock::new(|| Arc::new(reserved(HOST_IDENTITY, HOST_LABEL)));

/// Hubble's endpoint for another node of the cluster, shared by all their
/// addresses: `{"identity":6,"labels":["reserved:remote-node"]}`.
pub static REMOTE_NODE: LazyLock<Arc<Endpoint>> =
    LazyLock::new(|| Arc::new(reserved(REMOTE_NODE_IDENTITY, REMOTE_NODE_LABEL)));

fn reserved(identity: u32, label: &str) -> Endpoint {
    Endpoint { identity, labels: vec![label.to_owned()], ..Endpoint::default() }
}

/// The address → endpoint table: the sources' maps merged, the first to
/// name an address winning, and the world for every other address; and the
/// services, merged the same way.
///
/// Immutable once built; [`SharedEndpoints`](crate::SharedEndpoints)
/// swaps in a new one when a source changes. Equality compares what every
/// address resolves to.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoints {
    by_addr: EndpointMap,
    services: ServiceMap,
    world: Resolved,
}

impl Default for Endpoints {
    /// No endpoints: every address is the world.
    fn default() -> Self {
        Endpoints {
            by_addr: HashMap::new(),
            services: HashMap::new(),
            world: Arc::new(reserved(WORLD_IDENTITY, WORLD_LABEL)).into(),
        }
    }
}

impl Endpoints {
    /// The table of `layers`, the first to name an address winning.
    pub fn merge<'a>(layers: impl IntoIterator<Item = &'a Names>) -> Endpoints {
        let mut endpoints = Endpoints::default();
        for layer in layers {
            for (address, endpoint) in &layer.endpoints {
                endpoints.by_addr.entry(*address).or_insert_with(|| endpoint.clone());
            }
            for (frontend, service) in &layer.services {
                endpoints.services.entry(*frontend).or_insert_with(|| Arc::clone(service));
            }
        }
        endpoints
    }

    /// What `address` resolves to: named by a source, or the world.
    pub fn resolve(&self, address: IpAddr) -> &Resolved {
        self.by_addr.get(&address).unwrap_or(&self.world)
    }

    /// The endpoint of `address`, whole.
    pub fn lookup(&self, address: IpAddr) -> Endpoint {
        self.resolve(address).to_endpoint()
    }

    /// The service at `address` and `port`, if a source names one.
    pub fn service(&self, address: IpAddr, port: u16) -> Option<&Service> {
        self.services.get(&(address, port)).map(|service| &**service)
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
            flow.source = Some(self.lookup(source));
        }
        if let Some(destination) = destination {
            flow.destination = Some(self.lookup(destination));
        }
    }

    /// Fills `flow.source` and `flow.destination` from addresses the caller
    /// already has (the kernel record's), without looking at `flow.IP`, and
    /// the services from those addresses and the ports in `flow.l4`.
    pub fn enrich_addrs(&self, flow: &mut Flow, source: IpAddr, destination: IpAddr) {
        flow.source = Some(self.lookup(source));
        flow.destination = Some(self.lookup(destination));
        if self.services.is_empty() {
            return;
        }
        if let Some((source_port, destination_port)) = ports(flow) {
            flow.source_service = self.service(source, source_port).cloned();
            flow.destination_service = self.service(destination, destination_port).cloned();
        }
    }
}

/// The flow's source and destination ports, for protocols that have them.
fn ports(flow: &Flow) -> Option<(u16, u16)> {
    let (source, destination) = match flow.l4.as_ref()?.protocol.as_ref()? {
        Protocol::Tcp(tcp) => (tcp.source_port, tcp.destination_port),
        Protocol::Udp(udp) => (udp.source_port, udp.destination_port),
        Protocol::Sctp(sctp) => (sctp.source_port, sctp.destination_port),
        _ => return None,
    };
    Some((u16::try_from(source).ok()?, u16::try_from(destination).ok()?))
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
        Endpoints::merge([&parse(text).unwrap().into(), &host_layer(addresses).into()])
    }

    #[test]
    fn host_and_world() {
        let node = [ip("192.168.1.10"), ip("fe80::1"), ip("127.0.0.1")];
        let endpoints = table("- {ips: [10.0.0.1], pod_name: a}", &node);
        assert_eq!(endpoints.len(), 4);
        for address in node {
            assert_eq!(endpoints.lookup(address), host(), "{address}");
        }
        assert_eq!(endpoints.lookup(ip("1.1.1.1")), world());
        assert_eq!(endpoints.lookup(ip("2606:4700::1111")), world());
        assert_eq!(endpoints.lookup(ip("10.0.0.1")).pod_name, "a");
        assert_eq!(Endpoints::default().lookup(ip("192.168.1.10")), world());
    }

    #[test]
    fn a_listed_node_address_is_not_the_host() {
        let endpoints = table("- {ips: [192.168.1.10], pod_name: hostnet}", &[ip("192.168.1.10"), ip("192.168.1.11")]);
        assert_eq!(endpoints.lookup(ip("192.168.1.10")).pod_name, "hostnet");
        assert_eq!(endpoints.lookup(ip("192.168.1.11")), host());
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
        assert_eq!(endpoints.lookup(ip("fd00::6")), world());
    }
}
