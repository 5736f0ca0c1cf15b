//! Endpoint fields: pods and services by `namespace/prefix`, workloads,
//! identities and cluster names.

use flowlog_flow::{Flow, Workload};

use super::FilterError;
use super::event::{Event, Side};

/// The namespace a bare pod or service name refers to.
const DEFAULT_NAMESPACE: &str = "default";

/// What a [`NameFilter`] looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NameField {
    /// The endpoint's namespace and pod name.
    Pod(Side),
    /// The source or destination service's namespace and name.
    Service(Side),
}

impl NameField {
    /// (namespace, name) of the flow's endpoint or service; empty when absent.
    fn get(self, flow: &Flow) -> (&str, &str) {
        match self {
            NameField::Pod(side) => side.endpoint(flow).map_or(("", ""), |e| (&e.namespace, &e.pod_name)),
            NameField::Service(side) => {
                let service = match side {
                    Side::Source => flow.source_service.as_ref(),
                    Side::Destination => flow.destination_service.as_ref(),
                };
                service.map_or(("", ""), |s| (&s.namespace, &s.name))
            }
        }
    }
}

/// `ns/prefix` entries: `name` means namespace `default`, `ns/` any name in
/// `ns`, `/prefix` any namespace.
#[derive(Debug)]
pub(crate) struct NameFilter {
    field: NameField,
    /// (namespace or "" for any, name prefix or "" for any)
    entries: Vec<(String, String)>,
}

impl NameFilter {
    pub(crate) fn new(field: NameField, name: &str, values: &[String]) -> Result<Self, FilterError> {
        let entries = values
            .iter()
            .map(|value| {
                if value.is_empty() {
                    return Err(FilterError::field(name, "empty value").with_detail("write `namespace/name-prefix`"));
                }
                let mut parts = value.split('/');
                let first = parts.next().unwrap_or_default();
                Ok(match parts.next() {
                    None => (DEFAULT_NAMESPACE.to_owned(), first.to_owned()),
                    Some(prefix) => (first.to_owned(), prefix.to_owned()),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { field, entries })
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(flow) = event.flow() else {
            return false;
        };
        let (namespace, name) = self.field.get(flow);
        if namespace.is_empty() && name.is_empty() {
            return false;
        }
        self.entries.iter().any(|(ns, prefix)| (ns.is_empty() || ns == namespace) && name.starts_with(prefix.as_str()))
    }
}

/// Some workload of the endpoint matches some entry; an empty name or kind matches any.
#[derive(Debug)]
pub(crate) struct WorkloadFilter {
    pub(crate) side: Side,
    pub(crate) entries: Vec<Workload>,
}

impl WorkloadFilter {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(endpoint) = event.flow().and_then(|flow| self.side.endpoint(flow)) else {
            return false;
        };
        endpoint.workloads.iter().any(|workload| {
            self.entries.iter().any(|entry| {
                (entry.name.is_empty() || entry.name == workload.name)
                    && (entry.kind.is_empty() || entry.kind == workload.kind)
            })
        })
    }
}

/// The endpoint's security identity is one of the listed numbers.
#[derive(Debug)]
pub(crate) struct IdentityFilter {
    pub(crate) side: Side,
    pub(crate) identities: Vec<u32>,
}

impl IdentityFilter {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        event
            .flow()
            .and_then(|flow| self.side.endpoint(flow))
            .is_some_and(|endpoint| self.identities.contains(&endpoint.identity))
    }
}

/// The endpoint's cluster is one of the listed names.
#[derive(Debug)]
pub(crate) struct ClusterFilter {
    side: Side,
    names: Vec<String>,
}

impl ClusterFilter {
    pub(crate) fn new(side: Side, name: &str, values: &[String]) -> Result<Self, FilterError> {
        if values.iter().any(String::is_empty) {
            return Err(FilterError::field(name, "empty cluster name"));
        }
        Ok(Self { side, names: values.to_vec() })
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        event
            .flow()
            .and_then(|flow| self.side.endpoint(flow))
            .is_some_and(|endpoint| self.names.contains(&endpoint.cluster_name))
    }
}
