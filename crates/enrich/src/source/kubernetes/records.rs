//! What flowlog keeps of each watched object: a slim record with what flows
//! are named from, made as soon as the object arrives so the object itself
//! is dropped at once. Whole pods (managed fields, specs, statuses) would
//! take tens of kilobytes each; a record takes a few hundred bytes.

use std::net::IpAddr;

use flowlog_flow::Workload;
use kube::Resource;
use serde::de::DeserializeOwned;

use super::labels::{NAMESPACE_LABELS, is_identity_label};
use super::objects::{Namespace, Node, Pod, Service};
use super::workload::workload_of;

/// A kind of watched object, as the metrics and the log name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Pods, cluster-wide.
    Pods,
    /// Namespaces, for their labels.
    Namespaces,
    /// Services, for their cluster IPs and ports.
    Services,
    /// Nodes, for their addresses.
    Nodes,
}

impl Kind {
    /// Every kind, in the order of [`Kind::index`].
    pub const ALL: [Kind; 4] = [Kind::Pods, Kind::Namespaces, Kind::Services, Kind::Nodes];

    /// The resource's plural name, as in RBAC rules and API paths.
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Pods => "pods",
            Kind::Namespaces => "namespaces",
            Kind::Services => "services",
            Kind::Nodes => "nodes",
        }
    }

    /// The kind's place in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A record made from one kind of object.
pub trait Record: Sized + Send + 'static {
    /// The API object it is made from, as much of it as is decoded.
    type Object: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static;
    /// Its kind.
    const KIND: Kind;
    /// The record of `object`.
    fn from_object(object: &Self::Object) -> Self;
}

/// A pod: its addresses and what its endpoint is made of. A pod on the
/// host's network, or one that has finished (`Succeeded`, `Failed`: its
/// addresses are free for other pods), has no addresses here.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodRecord {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `status.podIPs` (or `status.podIP`), IPv4 and IPv6.
    pub addresses: Vec<IpAddr>,
    /// Its identity-relevant labels, sorted by key.
    pub labels: Vec<(String, String)>,
    /// `spec.serviceAccountName`.
    pub service_account: String,
    /// Its workload, from its controller.
    pub workload: Option<Workload>,
}

impl Record for PodRecord {
    type Object = Pod;
    const KIND: Kind = Kind::Pods;

    fn from_object(pod: &Pod) -> Self {
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let host_network = spec.and_then(|spec| spec.host_network).unwrap_or(false);
        let finished = matches!(status.and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
        let addresses = match status {
            Some(status) if !host_network && !finished => {
                let listed = status.pod_ips.iter().flatten().map(|ip| ip.ip.as_str());
                let listed: Vec<&str> = listed.collect();
                let texts = if listed.is_empty() { status.pod_ip.as_deref().into_iter().collect() } else { listed };
                texts.into_iter().filter_map(|text| text.parse().ok()).collect()
            }
            _ => Vec::new(),
        };
        PodRecord {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            addresses,
            labels: identity_labels(pod.metadata.labels.iter().flatten(), |key| key.to_owned()),
            service_account: spec.and_then(|spec| spec.service_account_name.clone()).unwrap_or_default(),
            workload: workload_of(pod),
        }
    }
}

/// A namespace: its identity-relevant labels, which its pods carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespaceRecord {
    /// Its name.
    pub name: String,
    /// Its labels that count once prefixed with `io.cilium.k8s.namespace.labels.`.
    pub labels: Vec<(String, String)>,
}

impl Record for NamespaceRecord {
    type Object = Namespace;
    const KIND: Kind = Kind::Namespaces;

    fn from_object(namespace: &Namespace) -> Self {
        NamespaceRecord {
            name: namespace.metadata.name.clone().unwrap_or_default(),
            labels: identity_labels(namespace.metadata.labels.iter().flatten(), |key| {
                format!("{NAMESPACE_LABELS}.{key}")
            }),
        }
    }
}

/// A service: the addresses and ports it is reached at. Headless and
/// `ExternalName` services have none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceRecord {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `spec.clusterIPs` (or `spec.clusterIP`) and `spec.externalIPs`.
    pub addresses: Vec<IpAddr>,
    /// `spec.ports[].port`.
    pub ports: Vec<u16>,
}

impl Record for ServiceRecord {
    type Object = Service;
    const KIND: Kind = Kind::Services;

    fn from_object(service: &Service) -> Self {
        let spec = service.spec.as_ref();
        let (addresses, ports) = match spec {
            Some(spec) => {
                let cluster_ips: Vec<&String> = spec.cluster_ips.iter().flatten().collect();
                let cluster_ips = if cluster_ips.is_empty() { spec.cluster_ip.iter().collect() } else { cluster_ips };
                // "None" (headless) does not parse, and is left out with the rest.
                let addresses = cluster_ips.into_iter().chain(spec.external_ips.iter().flatten());
                let ports = spec.ports.iter().flatten().filter_map(|port| u16::try_from(port.port).ok());
                (addresses.filter_map(|text| text.parse().ok()).collect(), ports.collect())
            }
            None => (Vec::new(), Vec::new()),
        };
        ServiceRecord {
            namespace: service.metadata.namespace.clone().unwrap_or_default(),
            name: service.metadata.name.clone().unwrap_or_default(),
            addresses,
            ports,
        }
    }
}

/// A node: its name and the addresses other nodes reach it at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeRecord {
    /// Its name.
    pub name: String,
    /// `status.addresses` of type `InternalIP` and `ExternalIP`.
    pub addresses: Vec<IpAddr>,
}

impl Record for NodeRecord {
    type Object = Node;
    const KIND: Kind = Kind::Nodes;

    fn from_object(node: &Node) -> Self {
        let listed = node.status.iter().flat_map(|status| status.addresses.iter().flatten());
        let addresses = listed
            .filter(|address| matches!(address.type_.as_str(), "InternalIP" | "ExternalIP"))
            .filter_map(|address| address.address.parse().ok());
        NodeRecord { name: node.metadata.name.clone().unwrap_or_default(), addresses: addresses.collect() }
    }
}

/// The `labels` whose key, as `full_key` makes it, counts for identities,
/// sorted by key.
fn identity_labels<'a>(
    labels: impl Iterator<Item = (&'a String, &'a String)>,
    full_key: impl Fn(&str) -> String,
) -> Vec<(String, String)> {
    // A BTreeMap's order: sorted already.
    labels.filter(|(key, _)| is_identity_label(&full_key(key))).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        Namespace, Node, NodeAddress, NodeStatus, Pod, PodIP, PodSpec, PodStatus, Service, ServicePort, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::fixtures::decode;

    fn meta(namespace: &str, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(namespace.into()).filter(|n: &String| !n.is_empty()),
            name: Some(name.into()),
            labels: Some(labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
            ..Default::default()
        }
    }

    fn pod(phase: &str, host_network: bool, ips: &[&str]) -> Pod {
        Pod {
            metadata: meta("shop", "web-0", &[("app", "web"), ("controller-revision-hash", "web-5d8f")]),
            spec: Some(PodSpec {
                host_network: Some(host_network),
                service_account_name: Some("web".into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                pod_ip: ips.first().map(|ip| (*ip).into()),
                pod_ips: Some(ips.iter().map(|ip| PodIP { ip: (*ip).into() }).collect()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_pod_keeps_its_addresses_and_identity_labels() {
        let record = PodRecord::from_object(&decode(&pod("Running", false, &["10.0.0.5", "fd00::5"])));
        assert_eq!(record.addresses, ["10.0.0.5".parse::<IpAddr>().unwrap(), "fd00::5".parse().unwrap()]);
        assert_eq!(record.labels, [("app".to_owned(), "web".to_owned())]);
        assert_eq!(
            (record.namespace.as_str(), record.name.as_str(), record.service_account.as_str()),
            ("shop", "web-0", "web")
        );
        assert!(PodRecord::from_object(&decode(&pod("Running", true, &["192.168.1.10"]))).addresses.is_empty());
        assert!(PodRecord::from_object(&decode(&pod("Succeeded", false, &["10.0.0.5"]))).addresses.is_empty());
        assert!(PodRecord::from_object(&decode(&pod("Pending", false, &[]))).addresses.is_empty());
    }

    #[test]
    fn services_and_nodes() {
        let service = |cluster_ip: &str| Service {
            metadata: meta("shop", "db", &[]),
            spec: Some(ServiceSpec {
                cluster_ip: Some(cluster_ip.into()),
                cluster_ips: Some(vec![cluster_ip.into()]),
                ports: Some(vec![ServicePort { port: 5432, ..Default::default() }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let record = ServiceRecord::from_object(&decode(&service("10.96.0.10")));
        assert_eq!((record.addresses, record.ports), (vec!["10.96.0.10".parse::<IpAddr>().unwrap()], vec![5432]));
        assert!(ServiceRecord::from_object(&decode(&service("None"))).addresses.is_empty(), "headless");

        let address = |type_: &str, address: &str| NodeAddress { type_: type_.into(), address: address.into() };
        let node = Node {
            metadata: meta("", "worker-1", &[]),
            status: Some(NodeStatus {
                addresses: Some(vec![address("Hostname", "worker-1"), address("InternalIP", "192.168.1.11")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(NodeRecord::from_object(&decode(&node)).addresses, ["192.168.1.11".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn namespace_labels_are_filtered_by_their_full_key() {
        let namespace = Namespace {
            metadata: meta("", "shop", &[("kubernetes.io/metadata.name", "shop"), ("team", "payments")]),
            ..Default::default()
        };
        // io.cilium.k8s.namespace.labels.kubernetes.io/… counts: the inclusion is longer.
        assert_eq!(NamespaceRecord::from_object(&decode(&namespace)).labels.len(), 2);
    }
}
