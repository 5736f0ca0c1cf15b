//! The endpoints file's format: parsed and checked, every problem reported
//! at once with the entry, pod and key it is in.
//!
//! YAML or JSON (JSON is YAML). The top level is either a map with one key,
//! `endpoints`, holding a list, or the list itself:
//!
//! ```yaml
//! endpoints:
//!   - ips: [10.244.1.5, "fd00:10:244:1::5"]  # required, at least one address
//!     id: 1947                 # Cilium endpoint id, optional
//!     identity: 21223          # security identity, optional
//!     cluster: kind-kind       # cluster name, optional
//!     namespace: default
//!     pod_name: deathstar-7848d6c4d5-th9v2
//!     labels:                  # a map; every key gets the `k8s:` source
//!       app.kubernetes.io/name: deathstar
//!       org: empire
//!     workloads:
//!       - {name: deathstar, kind: Deployment}
//!   - ips: [10.244.1.60]
//!     namespace: default
//!     pod_name: xwing
//!     labels: ["k8s:class=xwing", "k8s:org=alliance"]  # or a list, sources spelled out
//! ```
//!
//! The same list as JSON: `[{"ips": ["10.244.1.60"], "namespace": "default",
//! "pod_name": "xwing"}]`.
//!
//! | key | `flow.v1` `Endpoint` field | |
//! |---|---|---|
//! | `ips` | (the lookup keys) | list of IPv4 or IPv6 addresses; an address may belong to one endpoint only |
//! | `id` | `ID` | u32; absent means 0, which Hubble omits |
//! | `identity` | `identity` | u32; absent means 0 |
//! | `cluster` | `cluster_name` | string |
//! | `namespace` | `namespace` | string |
//! | `pod_name` | `pod_name` | string |
//! | `labels` | `labels` | list of `source:key=value` strings, or a map of `key: value` |
//! | `workloads` | `workloads` | list of `{name, kind}`, both required |
//!
//! Labels given as a map become `k8s:key=value` (a key that already carries
//! a source, such as `container:x`, is kept as it is), and `k8s:key` when
//! the value is empty, as Cilium writes labels. Either way the labels are
//! sorted and duplicates dropped, because Hubble sorts them. Label values
//! must be strings: `version: 1.10` is the number 1.1, so it is an error
//! asking for quotes.
//!
//! Any other key is an error naming it, and so is an empty file (a
//! half-written file must not empty the table): write `[]` for no endpoints.
//!
//! # Resolution

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flowlog_config::value::Kind;
use flowlog_flow::{Endpoint, Workload};
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::endpoints::EndpointMap;

/// The source Cilium gives Kubernetes pod labels, used for labels given as a map.
const K8S_SOURCE: &str = "k8s:";

/// Parses an endpoints file's text.
///
/// Fails with [`EndpointsError::Invalid`] listing every problem found.
pub fn parse(text: &str) -> Result<EndpointMap, EndpointsError> {
    parse_problems(text).map_err(|problems| EndpointsError::Invalid { path: None, problems })
}

/// Reads and parses the endpoints file at `path`.
pub fn load(path: &Path) -> Result<EndpointMap, EndpointsError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| EndpointsError::Read { path: path.to_owned(), source })?;
    parse(&text).map_err(|error| error.in_file(path))
}

/// Why an endpoints file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// The file could not be read (or is not UTF-8).
    #[error("reading endpoints file {} failed", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The read error.
        #[source]
        source: io::Error,
    },
    /// The text is not a valid endpoints list.
    #[error("invalid endpoints{}: {}", InFile(path.as_deref()), Problems(problems))]
    Invalid {
        /// The file, when the text came from one.
        path: Option<PathBuf>,
        /// Every problem found, in file order; never empty.
        problems: Vec<Problem>,
    },
}

impl EndpointsError {
    /// The same error, saying it is about the file at `path`.
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            EndpointsError::Invalid { problems, .. } => {
                EndpointsError::Invalid { path: Some(path.to_owned()), problems }
            }
            read => read,
        }
    }
}

/// One problem in an endpoints file, located as precisely as known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The entry's index in the list, when the problem is inside one.
    pub entry: Option<usize>,
    /// The entry's pod as `namespace/pod_name`, when it names one.
    pub pod: Option<String>,
    /// Where in the entry, such as `ips[1]` or `labels.app`.
    pub key: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(entry) = self.entry {
            write!(f, "endpoints[{entry}]")?;
            if let Some(pod) = &self.pod {
                write!(f, " (pod {pod})")?;
            }
            f.write_str(": ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// ` file PATH`, or nothing without a path.
struct InFile<'a>(Option<&'a Path>);

impl fmt::Display for InFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, " file {}", path.display()),
            None => Ok(()),
        }
    }
}

/// Problems joined for one log line.
struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// The top level in its map form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    endpoints: Value,
}

/// One entry as written. Values are checked by hand so that every problem
/// names its key; serde only rejects unknown keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    ips: Option<Value>,
    id: Option<Value>,
    identity: Option<Value>,
    cluster: Option<Value>,
    namespace: Option<Value>,
    pod_name: Option<Value>,
    labels: Option<Value>,
    workloads: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: Value,
    kind: Value,
}

fn file_problem(reason: impl Into<String>) -> Vec<Problem> {
    vec![Problem { entry: None, pod: None, key: None, reason: reason.into() }]
}

fn parse_problems(text: &str) -> Result<EndpointMap, Vec<Problem>> {
    let entries = match serde_yaml_ng::from_str::<Value>(text) {
        Err(error) => return Err(file_problem(format!("not valid YAML or JSON: {error}"))),
        Ok(Value::Null) => return Err(file_problem("the file is empty; write `[]` for no endpoints")),
        Ok(Value::Sequence(entries)) => entries,
        Ok(map @ Value::Mapping(_)) => match serde_yaml_ng::from_value::<RawFile>(map) {
            Ok(RawFile { endpoints: Value::Sequence(entries) }) => entries,
            Ok(RawFile { endpoints: Value::Null }) => Vec::new(),
            Ok(RawFile { endpoints: other }) => {
                return Err(file_problem(format!("endpoints: must be a list, not {}", other.kind())));
            }
            Err(error) => return Err(file_problem(error.to_string())),
        },
        Ok(other) => {
            return Err(file_problem(format!(
                "the file must be a list of endpoints or a map with an `endpoints` list, not {}",
                other.kind()
            )));
        }
    };

    let mut problems = Vec::new();
    let mut endpoints = EndpointMap::new();
    // Which entry claimed each address, including entries with problems, so
    // that a duplicate is reported against both.
    let mut owners: HashMap<IpAddr, usize> = HashMap::new();
    let mut pods: Vec<Option<String>> = Vec::with_capacity(entries.len());
    for (index, value) in entries.into_iter().enumerate() {
        let pod = match &value {
            Value::Mapping(map) => pod_of(map),
            _ => None,
        };
        pods.push(pod.clone());
        let mut entry_problems = Vec::new();
        let (addresses, endpoint) = check_entry(value, &mut entry_problems);
        for (key, address) in addresses {
            match owners.get(&address) {
                Some(&first) if first == index => {
                    entry_problems.push((Some(key), format!("{address} is listed twice")));
                }
                Some(&first) => {
                    let owner = match &pods[first] {
                        Some(pod) => format!("endpoints[{first}] (pod {pod})"),
                        None => format!("endpoints[{first}]"),
                    };
                    entry_problems.push((Some(key), format!("{address} is already listed by {owner}")));
                }
                None => {
                    owners.insert(address, index);
                    if let Some(endpoint) = &endpoint {
                        endpoints.insert(address, Arc::clone(endpoint).into());
                    }
                }
            }
        }
        problems.extend(entry_problems.into_iter().map(|(key, reason)| Problem {
            entry: Some(index),
            pod: pod.clone(),
            key,
            reason,
        }));
    }
    if problems.is_empty() { Ok(endpoints) } else { Err(problems) }
}

/// `namespace/pod_name`, or `pod_name` alone, when the entry has one.
fn pod_of(map: &Mapping) -> Option<String> {
    let pod = map.get("pod_name").and_then(Value::as_str).filter(|pod| !pod.is_empty())?;
    Some(match map.get("namespace").and_then(Value::as_str).filter(|ns| !ns.is_empty()) {
        Some(namespace) => format!("{namespace}/{pod}"),
        None => pod.to_owned(),
    })
}

/// A problem inside an entry: the key (when known) and the reason.
type EntryProblem = (Option<String>, String);

/// Checks one entry. Returns the addresses that parsed, with their keys, and
/// the endpoint when nothing else is wrong with it.
fn check_entry(value: Value, problems: &mut Vec<EntryProblem>) -> (Vec<(String, IpAddr)>, Option<Arc<Endpoint>>) {
    let map = match value {
        Value::Mapping(map) => map,
        other => {
            problems.push((None, format!("an endpoint must be a map, not {}", other.kind())));
            return (Vec::new(), None);
        }
    };
    let raw = match serde_yaml_ng::from_value::<RawEndpoint>(Value::Mapping(map)) {
        Ok(raw) => raw,
        Err(error) => {
            problems.push((None, error.to_string()));
            return (Vec::new(), None);
        }
    };
    let before = problems.len();
    let mut problem = |key: String, reason: String| problems.push((Some(key), reason));

    let mut addresses = Vec::new();
    match raw.ips {
        None | Some(Value::Null) => problem("ips".into(), "required: list at least one address".into()),
        Some(Value::Sequence(items)) if items.is_empty() => {
            problem("ips".into(), "empty: list at least one address".into())
        }
        Some(Value::Sequence(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let key = format!("ips[{i}]");
                match &item {
                    Value::String(text) => match text.parse::<IpAddr>() {
                        Ok(address) => addresses.push((key, address)),
                        Err(_) => problem(key, format!("{text:?} is not an IPv4 or IPv6 address")),
                    },
                    other => problem(key, format!("an address must be a string, not {}", other.kind())),
                }
            }
        }
        Some(other) => problem("ips".into(), format!("must be a list of addresses, not {}", other.kind())),
    }

    let mut endpoint = Endpoint {
        id: number(raw.id, "id", &mut problem),
        identity: number(raw.identity, "identity", &mut problem),
        cluster_name: string(raw.cluster, "cluster".into(), &mut problem),
        namespace: string(raw.namespace, "namespace".into(), &mut problem),
        pod_name: string(raw.pod_name, "pod_name".into(), &mut problem),
        labels: labels(raw.labels, &mut problem),
        workloads: workloads(raw.workloads, &mut problem),
    };
    endpoint.labels.sort_unstable();
    endpoint.labels.dedup();
    let endpoint = (problems.len() == before).then(|| Arc::new(endpoint));
    (addresses, endpoint)
}

fn number(value: Option<Value>, key: &str, problem: &mut impl FnMut(String, String)) -> u32 {
    match value {
        None | Some(Value::Null) => 0,
        Some(other) => match other.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => n,
            None => {
                problem(
                    key.to_owned(),
                    format!("must be a whole number from 0 to {}, not {}", u32::MAX, other.describe()),
                );
                0
            }
        },
    }
}

fn string(value: Option<Value>, key: String, problem: &mut impl FnMut(String, String)) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text,
        Some(other) => {
            let hint = if is_scalar(&other) { "; quote it" } else { "" };
            problem(key, format!("must be a string, not {}{hint}", other.describe()));
            String::new()
        }
    }
}

/// Hubble label strings from the list or map form, unsorted.
fn labels(value: Option<Value>, problem: &mut impl FnMut(String, String)) -> Vec<String> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(items)) => {
            let mut labels = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let key = format!("labels[{i}]");
                match item {
                    Value::String(label) if is_hubble_label(&label) => labels.push(label),
                    Value::String(label) => {
                        problem(key, format!("{label:?} is not `source:key=value`, e.g. `k8s:app=web`"))
                    }
                    other => problem(key, format!("a label must be a string, not {}", other.describe())),
                }
            }
            labels
        }
        Some(Value::Mapping(map)) => {
            let mut labels = Vec::with_capacity(map.len());
            for (key, value) in map {
                let Value::String(key) = key else {
                    problem("labels".into(), format!("label keys must be strings, not {}", key.describe()));
                    continue;
                };
                if key.is_empty() {
                    problem("labels".into(), "a label key is empty".into());
                    continue;
                }
                let value = string(Some(value), format!("labels.{key}"), problem);
                let source = if key.contains(':') { "" } else { K8S_SOURCE };
                labels.push(if value.is_empty() { format!("{source}{key}") } else { format!("{source}{key}={value}") });
            }
            labels
        }
        Some(other) => {
            problem(
                "labels".into(),
                format!("must be a list of `source:key=value` strings or a map of key: value, not {}", other.kind()),
            );
            Vec::new()
        }
    }
}

/// Whether `label` reads `source:key` or `source:key=value`, both parts non-empty.
fn is_hubble_label(label: &str) -> bool {
    let name = label.split_once('=').map_or(label, |(name, _)| name);
    name.split_once(':').is_some_and(|(source, key)| !source.is_empty() && !key.is_empty())
}

fn workloads(value: Option<Value>, problem: &mut impl FnMut(String, String)) -> Vec<Workload> {
    let items = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Sequence(items)) => items,
        Some(other) => {
            problem("workloads".into(), format!("must be a list of {{name, kind}}, not {}", other.kind()));
            return Vec::new();
        }
    };
    let mut workloads = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("workloads[{i}]");
        if !matches!(item, Value::Mapping(_)) {
            problem(at, format!("a workload must be a map with name and kind, not {}", item.kind()));
            continue;
        }
        let raw = match serde_yaml_ng::from_value::<RawWorkload>(item) {
            Ok(raw) => raw,
            Err(error) => {
                problem(at, error.to_string());
                continue;
            }
        };
        let name = string(Some(raw.name), format!("{at}.name"), problem);
        let kind = string(Some(raw.kind), format!("{at}.kind"), problem);
        if name.is_empty() {
            problem(format!("{at}.name"), "must not be empty".into());
        }
        if kind.is_empty() {
            problem(format!("{at}.kind"), "must not be empty".into());
        }
        workloads.push(Workload { name, kind });
    }
    workloads
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::Bool(_) | Value::Number(_))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::endpoints::Endpoints;
    use crate::fixtures::{deathstar, ip};

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/endpoints.yaml");

    /// The table an endpoints file's `text` names.
    fn table(text: &str) -> Endpoints {
        Endpoints::merge([&parse(text).unwrap().into()])
    }

    fn problems(text: &str) -> Vec<Problem> {
        match parse(text) {
            Err(EndpointsError::Invalid { path: None, problems }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    /// The one problem of `text`, displayed.
    fn problem(text: &str) -> String {
        let problems = problems(text);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        problems[0].to_string()
    }

    #[test]
    fn yaml_list_form() {
        let endpoints = table(
            "- ips: [10.244.1.5, 'fd00:10:244:1::5']
  id: 1947
  identity: 21223
  cluster: kind-kind
  namespace: default
  pod_name: deathstar-7848d6c4d5-th9v2
  labels: {org: empire, app.kubernetes.io/name: deathstar}
  workloads: [{name: deathstar, kind: Deployment}]
- ips: [10.244.1.60]
",
        );
        assert_eq!(endpoints.len(), 3);
        assert_eq!(endpoints.lookup(ip("10.244.1.5")), deathstar());
        assert_eq!(endpoints.lookup(ip("fd00:10:244:1::5")), deathstar());
        // Listed with nothing but its address: every field left at its default.
        assert_eq!(endpoints.lookup(ip("10.244.1.60")), Endpoint::default());
    }

    #[test]
    fn json_form() {
        let json = r#"{"endpoints": [{"ips": ["10.244.1.5", "fd00:10:244:1::5"], "id": 1947, "identity": 21223,
            "cluster": "kind-kind", "namespace": "default", "pod_name": "deathstar-7848d6c4d5-th9v2",
            "labels": ["k8s:org=empire", "k8s:app.kubernetes.io/name=deathstar"],
            "workloads": [{"name": "deathstar", "kind": "Deployment"}]}]}"#;
        let endpoints = table(json);
        assert_eq!(endpoints.lookup(ip("fd00:10:244:1::5")), deathstar());
        assert_eq!(table("[]"), Endpoints::default());
    }

    #[test]
    fn endpoints_map_form() {
        let listed = table("- {ips: [10.0.0.1], pod_name: a}");
        let mapped = table("endpoints:\n  - {ips: [10.0.0.1], pod_name: a}");
        assert_eq!(listed, mapped);
        assert_eq!(mapped.lookup(ip("10.0.0.1")).pod_name, "a");
        assert!(table("endpoints:").is_empty());
        assert!(table("endpoints: []").is_empty());
    }

    #[test]
    fn labels_as_map_and_as_list() {
        let from_map = table(
            "- ips: [10.0.0.1]
  labels: {org: empire, tier: '', 'container:x': y, version: '1.10', class: deathstar}",
        );
        let expected = ["container:x=y", "k8s:class=deathstar", "k8s:org=empire", "k8s:tier", "k8s:version=1.10"];
        assert_eq!(from_map.lookup(ip("10.0.0.1")).labels, expected);

        // Lists are sorted byte-wise (as Go's sort.Strings) and deduplicated.
        let from_list = table(
            "- ips: [10.0.0.1]
  labels: [k8s:version=1.10, k8s:tier, k8s:org=empire, container:x=y, k8s:class=deathstar, k8s:org=empire]",
        );
        assert_eq!(from_list, from_map);
        let sorted = table("- {ips: [10.0.0.1], labels: [k8s:b=1, k8s:B=1, k8s:a.b=1, k8s:a=1]}");
        assert_eq!(sorted.lookup(ip("10.0.0.1")).labels, ["k8s:B=1", "k8s:a.b=1", "k8s:a=1", "k8s:b=1"]);
    }

    #[test]
    fn unknown_keys_are_named() {
        assert_eq!(
            problem("- ips: [10.0.0.1]\n- {ips: [10.0.0.2], namespace: shop, pod_name: web-1, podname: web-1}"),
            "endpoints[1] (pod shop/web-1): unknown field `podname`, expected one of `ips`, `id`, `identity`, \
             `cluster`, `namespace`, `pod_name`, `labels`, `workloads`"
        );
        assert_eq!(problem("endpoint: []"), "unknown field `endpoint`, expected `endpoints`");
        assert_eq!(problem("endpoints: []\nextra: 1"), "unknown field `extra`, expected `endpoints`");
        assert_eq!(
            problem("- {ips: [10.0.0.1], workloads: [{name: w, knd: Deployment}]}"),
            "endpoints[0]: workloads[0]: unknown field `knd`, expected `name` or `kind`"
        );
    }

    #[test]
    fn bad_and_missing_addresses() {
        assert_eq!(
            problem("- {ips: [10.0.0.1, 10.0.0.300], pod_name: web-1}"),
            r#"endpoints[0] (pod web-1): ips[1]: "10.0.0.300" is not an IPv4 or IPv6 address"#
        );
        assert_eq!(
            problem("- {pod_name: web-1}"),
            "endpoints[0] (pod web-1): ips: required: list at least one address"
        );
        assert_eq!(problem("- {ips: []}"), "endpoints[0]: ips: empty: list at least one address");
        assert_eq!(problem("- {ips: 10.0.0.1}"), "endpoints[0]: ips: must be a list of addresses, not a string");
        assert_eq!(problem("- {ips: [1]}"), "endpoints[0]: ips[0]: an address must be a string, not a number");
        assert_eq!(
            problem("- {ips: ['10.0.0.0/24']}"),
            r#"endpoints[0]: ips[0]: "10.0.0.0/24" is not an IPv4 or IPv6 address"#
        );
    }

    #[test]
    fn duplicate_addresses_name_both_entries() {
        let text = "- {ips: [10.0.0.1], namespace: a, pod_name: one}
- {ips: ['fd00::1', 10.0.0.1], namespace: b, pod_name: two}
- {ips: ['fd00::2', 'fd00::2']}";
        let problems: Vec<String> = problems(text).iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "endpoints[1] (pod b/two): ips[1]: 10.0.0.1 is already listed by endpoints[0] (pod a/one)",
                "endpoints[2]: ips[1]: fd00::2 is listed twice",
            ]
        );
    }

    #[test]
    fn values_are_checked_by_key() {
        assert_eq!(
            problem("- {ips: [10.0.0.1], id: -1}"),
            "endpoints[0]: id: must be a whole number from 0 to 4294967295, not the number -1"
        );
        assert_eq!(
            problem("- {ips: [10.0.0.1], identity: 4294967296}"),
            "endpoints[0]: identity: must be a whole number from 0 to 4294967295, not the number 4294967296"
        );
        assert_eq!(
            problem("- {ips: [10.0.0.1], identity: '5'}"),
            r#"endpoints[0]: identity: must be a whole number from 0 to 4294967295, not the string "5""#
        );
        assert_eq!(
            problem("- {ips: [10.0.0.1], namespace: 123}"),
            "endpoints[0]: namespace: must be a string, not the number 123; quote it"
        );
        assert_eq!(
            problem("- {ips: [10.0.0.1], labels: {version: 1.10}}"),
            "endpoints[0]: labels.version: must be a string, not the number 1.1; quote it"
        );
        assert_eq!(
            problem("- {ips: [10.0.0.1], labels: [app=web]}"),
            r#"endpoints[0]: labels[0]: "app=web" is not `source:key=value`, e.g. `k8s:app=web`"#
        );
        assert_eq!(
            problem("- {ips: [10.0.0.1], labels: web}"),
            "endpoints[0]: labels: must be a list of `source:key=value` strings or a map of key: value, not a string"
        );
        assert_eq!(
            problem("- {ips: [10.0.0.1], workloads: [{name: web}]}"),
            "endpoints[0]: workloads[0]: missing field `kind`"
        );
        assert_eq!(
            problem("- {ips: [10.0.0.1], workloads: [{name: web, kind: ''}]}"),
            "endpoints[0]: workloads[0].kind: must not be empty"
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let text = "endpoints:
  - {ips: [10.0.0.1, bad], id: x, labels: [nosource]}
  - just a string
  - {ips: [10.0.0.1], pod_name: p, colour: blue}";
        let problems: Vec<String> = problems(text).iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].starts_with("endpoints[0]: ips[1]: \"bad\""), "{}", problems[0]);
        assert!(problems[1].starts_with("endpoints[0]: id: "), "{}", problems[1]);
        assert!(problems[2].starts_with("endpoints[0]: labels[0]: "), "{}", problems[2]);
        assert_eq!(problems[3], "endpoints[1]: an endpoint must be a map, not a string");
        assert!(problems[4].starts_with("endpoints[2] (pod p): unknown field `colour`"), "{}", problems[4]);

        let error = parse(text).unwrap_err().to_string();
        assert!(error.starts_with("invalid endpoints: endpoints[0]: ips[1]"), "{error}");
        assert!(error.contains("; endpoints[1]: an endpoint must be a map"), "{error}");
    }

    #[test]
    fn whole_file_problems() {
        assert_eq!(problem(""), "the file is empty; write `[]` for no endpoints");
        assert_eq!(problem("# only a comment\n"), "the file is empty; write `[]` for no endpoints");
        assert_eq!(
            problem("42"),
            "the file must be a list of endpoints or a map with an `endpoints` list, not a number"
        );
        assert_eq!(problem("endpoints: {ips: [10.0.0.1]}"), "endpoints: must be a list, not a map");
        assert!(problem("- {ips: [10.0.0.1]").starts_with("not valid YAML or JSON: "));
        assert!(problem(r#"[{"ips": ["10.0.0.1"]},]]"#).starts_with("not valid YAML or JSON: "));
    }

    #[test]
    fn load_names_the_file() {
        let missing = Path::new("/nonexistent/endpoints.yaml");
        let error = load(missing).unwrap_err();
        assert!(matches!(&error, EndpointsError::Read { path, .. } if path == missing), "{error:?}");
        assert_eq!(error.to_string(), "reading endpoints file /nonexistent/endpoints.yaml failed");

        let path = std::env::temp_dir().join(format!("flowlog-endpoints-test-{}.yaml", std::process::id()));
        std::fs::write(&path, "- {ips: [nope]}").unwrap();
        let error = load(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            error,
            format!(
                "invalid endpoints file {}: endpoints[0]: ips[0]: \"nope\" is not an IPv4 or IPv6 address",
                path.display()
            )
        );
    }

    #[test]
    fn the_example_file_parses() {
        let endpoints = load(Path::new(EXAMPLE)).unwrap();
        assert!(endpoints.len() >= 3, "{endpoints:?}");
        let pods: HashSet<&str> = endpoints.values().map(|e| e.shared().namespace.as_str()).collect();
        assert!(pods.len() >= 2, "two namespaces: {pods:?}");
        assert!(endpoints.values().all(|e| !e.shared().labels.is_empty() && !e.shared().workloads.is_empty()));
    }
}
