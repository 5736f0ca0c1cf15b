//! Endpoints the tests of several modules compare against.

use std::net::IpAddr;

use flowlog_flow::{Endpoint, Workload};

/// An address, from its text.
pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The endpoint the example entry with every key describes.
pub(crate) fn deathstar() -> Endpoint {
    Endpoint {
        id: 1947,
        identity: 21223,
        cluster_name: "kind-kind".into(),
        namespace: "default".into(),
        labels: vec!["k8s:app.kubernetes.io/name=deathstar".into(), "k8s:org=empire".into()],
        pod_name: "deathstar-7848d6c4d5-th9v2".into(),
        workloads: vec![Workload { name: "deathstar".into(), kind: "Deployment".into() }],
    }
}

/// Hubble's host endpoint.
pub(crate) fn host() -> Endpoint {
    Endpoint { identity: 1, labels: vec!["reserved:host".into()], ..Endpoint::default() }
}

/// Hubble's world endpoint.
pub(crate) fn world() -> Endpoint {
    Endpoint { identity: 2, labels: vec!["reserved:world".into()], ..Endpoint::default() }
}

/// An API object as the watches decode it: `object` (a k8s-openapi type)
/// written as the API server's JSON, and read back as `T`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(object: &impl serde::Serialize) -> T {
    serde_json::from_value(serde_json::to_value(object).unwrap()).unwrap()
}
