//! The watched objects as flowlog decodes them: only the fields its records
//! are made of. Everything else in the API server's JSON (containers,
//! managed fields, annotations, conditions, images) is skipped by the
//! decoder, never allocated: a list page of 500 real pods decoded whole
//! takes tens of megabytes for a moment, and the allocator keeps them.
//!
//! The field names are the API's (`status.podIPs`, `spec.clusterIPs`); the
//! tests decode JSON written from the k8s-openapi types, so a misspelt name
//! fails there. kube-rs's watcher needs each object's `ObjectMeta` for its
//! resource version; it gets one with only the fields below set.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use serde::{Deserialize, Deserializer};

/// The metadata fields the records use, and the resource version.
fn metadata<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Metadata {
        name: Option<String>,
        namespace: Option<String>,
        generate_name: Option<String>,
        resource_version: Option<String>,
        labels: Option<BTreeMap<String, String>>,
        owner_references: Option<Vec<OwnerReference>>,
    }
    let Metadata { name, namespace, generate_name, resource_version, labels, owner_references } =
        Metadata::deserialize(deserializer)?;
    Ok(ObjectMeta {
        name,
        namespace,
        generate_name,
        resource_version,
        labels,
        owner_references,
        ..ObjectMeta::default()
    })
}

/// `kube::Resource` for a slim object of the core API group, `v1`.
macro_rules! core_v1 {
    ($object:ty, $kind:literal, $plural:literal, $scope:ty) => {
        impl kube::Resource for $object {
            type DynamicType = ();
            type Scope = $scope;

            fn kind((): &()) -> Cow<'_, str> {
                $kind.into()
            }

            fn group((): &()) -> Cow<'_, str> {
                "".into()
            }

            fn version((): &()) -> Cow<'_, str> {
                "v1".into()
            }

            fn plural((): &()) -> Cow<'_, str> {
                $plural.into()
            }

            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// A Pod: `spec.hostNetwork`, `spec.serviceAccountName`, `status.phase`,
/// `status.podIP`, `status.podIPs`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Pod {
    /// Name, namespace, labels, owners.
    #[serde(deserialize_with = "metadata", default)]
    pub metadata: ObjectMeta,
    /// What the records read of the spec.
    pub spec: Option<PodSpec>,
    /// What the records read of the status.
    pub status: Option<PodStatus>,
}

/// What the records read of a pod's spec.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// `hostNetwork`.
    pub host_network: Option<bool>,
    /// `serviceAccountName`.
    pub service_account_name: Option<String>,
}

/// What the records read of a pod's status.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodStatus {
    /// `phase`.
    pub phase: Option<String>,
    /// `podIP`.
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    /// `podIPs`.
    #[serde(rename = "podIPs")]
    pub pod_ips: Option<Vec<Address>>,
}

/// `{"ip": …}`, as in `podIPs`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Address {
    /// The address.
    pub ip: String,
}

core_v1!(Pod, "Pod", "pods", NamespaceResourceScope);

/// A Namespace: its metadata only.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Namespace {
    /// Name and labels.
    #[serde(deserialize_with = "metadata", default)]
    pub metadata: ObjectMeta,
}

core_v1!(Namespace, "Namespace", "namespaces", ClusterResourceScope);

/// A Service: `spec.clusterIP`, `spec.clusterIPs`, `spec.externalIPs`,
/// `spec.ports[].port`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Service {
    /// Name and namespace.
    #[serde(deserialize_with = "metadata", default)]
    pub metadata: ObjectMeta,
    /// What the records read of the spec.
    pub spec: Option<ServiceSpec>,
}

/// What the records read of a service's spec.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ServiceSpec {
    /// `clusterIP`.
    #[serde(rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    /// `clusterIPs`.
    #[serde(rename = "clusterIPs")]
    pub cluster_ips: Option<Vec<String>>,
    /// `externalIPs`.
    #[serde(rename = "externalIPs")]
    pub external_ips: Option<Vec<String>>,
    /// `ports`.
    pub ports: Option<Vec<ServicePort>>,
}

/// What the records read of a service port.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ServicePort {
    /// `port`.
    pub port: i32,
}

core_v1!(Service, "Service", "services", NamespaceResourceScope);

/// A Node: `status.addresses`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Node {
    /// Its name.
    #[serde(deserialize_with = "metadata", default)]
    pub metadata: ObjectMeta,
    /// What the records read of the status.
    pub status: Option<NodeStatus>,
}

/// What the records read of a node's status.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeStatus {
    /// `addresses`.
    pub addresses: Option<Vec<NodeAddress>>,
}

/// `{"type": "InternalIP", "address": …}`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP`, `Hostname`, ….
    #[serde(rename = "type")]
    pub type_: String,
    /// The address.
    pub address: String,
}

core_v1!(Node, "Node", "nodes", ClusterResourceScope);
