//! A pod's labels as Cilium writes them in a flow: its identity-relevant
//! labels in `k8s:` form, sorted.
//!
//! From Cilium's source:
//!
//! - `pkg/k8s/utils/utils.go` (`SanitizePodLabels`): a pod's own labels,
//!   less any starting with `io.cilium.k8s`; each namespace label as
//!   `io.cilium.k8s.namespace.labels.<key>`; `io.kubernetes.pod.namespace`;
//!   `io.cilium.k8s.policy.serviceaccount` when the pod names a service
//!   account; `io.cilium.k8s.policy.cluster` always. All of source `k8s`.
//! - `pkg/labelsfilter/filter.go`: which of those make the identity, by
//!   [`DEFAULT_PATTERNS`]. A pattern matches a key when its regex matches
//!   at the key's start; a label counts unless an exclusion (`!`) matches,
//!   or when a longer inclusion matches too. The flow's `labels` are these
//!   identity labels, so `pod-template-hash` and friends never show.
//! - `pkg/labels` (`Label.String`): `k8s:key=value`, or `k8s:key` for an
//!   empty value; Hubble sorts them (`SortAndFilterLabels`).

use std::sync::LazyLock;

use regex::Regex;

/// The labels source Cilium gives Kubernetes labels.
const SOURCE: &str = "k8s";
/// Where namespace labels go (`k8sconst.PodNamespaceMetaLabels`).
pub const NAMESPACE_LABELS: &str = "io.cilium.k8s.namespace.labels";
/// The pod's namespace (`k8sconst.PodNamespaceLabel`).
pub const NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// The pod's service account (`k8sconst.PolicyLabelServiceAccount`).
pub const SERVICE_ACCOUNT: &str = "io.cilium.k8s.policy.serviceaccount";
/// The cluster's name (`k8sconst.PolicyLabelCluster`).
pub const CLUSTER: &str = "io.cilium.k8s.policy.cluster";
/// Labels a pod may not set itself (`filterPodLabels`).
const CILIUM_PREFIX: &str = "io.cilium.k8s";

/// Cilium's default identity label filter (`pkg/labelsfilter/filter.go`,
/// `defaultLabelPrefixCfg`, as of v1.19), in its order. A leading `!`
/// excludes; every pattern here applies to any source.
pub const DEFAULT_PATTERNS: &[&str] = &[
    r"reserved:.*",
    r"io\.kubernetes\.pod\.namespace",
    r"io\.cilium\.k8s\.namespace\.labels",
    r"app\.kubernetes\.io",
    r"io\.cilium\.k8s\.policy\.cluster",
    r"io\.cilium\.k8s\.policy\.serviceaccount",
    r"!io\.kubernetes",
    r"!kubernetes\.io",
    r"!statefulset\.kubernetes\.io/pod-name",
    r"!apps\.kubernetes\.io/pod-index",
    r"!batch\.kubernetes\.io/job-completion-index",
    r"!batch\.kubernetes\.io/controller-uid",
    r"!.*beta\.kubernetes\.io",
    r"!k8s\.io",
    r"!pod-template-generation",
    r"!pod-template-hash",
    r"!controller-revision-hash",
    r"!controller-uid",
    r"!annotation.*",
    r"!etcd_node",
];

/// The compiled filter: (excludes, regex).
static FILTER: LazyLock<Vec<(bool, Regex)>> = LazyLock::new(|| {
    DEFAULT_PATTERNS
        .iter()
        .map(|pattern| {
            let (exclude, expression) = match pattern.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, *pattern),
            };
            (exclude, Regex::new(expression).expect("the default label patterns are valid"))
        })
        .collect()
});

/// True when the label `key` counts for a pod's identity, by Cilium's
/// default filter: the longest inclusion that matches must be longer than
/// the shortest exclusion that matches, if any does.
pub fn is_identity_label(key: &str) -> bool {
    let (mut included, mut ignored) = (0, 0);
    for (exclude, regex) in FILTER.iter() {
        // Go's FindStringIndex: the leftmost match, which must start the key.
        let Some(found) = regex.find(key).filter(|found| found.start() == 0) else { continue };
        if *exclude {
            if ignored == 0 || found.end() < ignored {
                ignored = found.end();
            }
        } else {
            included = included.max(found.end());
        }
    }
    ignored == 0 || included > ignored
}

/// What a pod's labels are made from.
#[derive(Debug)]
pub struct PodLabels<'a> {
    /// The pod's own labels.
    pub pod: &'a [(String, String)],
    /// Its namespace's labels.
    pub namespace: &'a [(String, String)],
    /// Its namespace's name.
    pub namespace_name: &'a str,
    /// Its service account, empty when it names none.
    pub service_account: &'a str,
    /// The cluster's name.
    pub cluster: &'a str,
}

impl PodLabels<'_> {
    /// The identity labels, as `k8s:key=value`, sorted.
    pub fn identity_labels(&self) -> Vec<String> {
        let pod = self.pod.iter().filter(|(key, _)| !key.starts_with(CILIUM_PREFIX)).map(|(k, v)| label(k, v));
        let namespace = self.namespace.iter().map(|(key, value)| label(&format!("{NAMESPACE_LABELS}.{key}"), value));
        let mut labels: Vec<String> = pod
            .chain(namespace)
            .chain([label(NAMESPACE, self.namespace_name)])
            .chain((!self.service_account.is_empty()).then(|| label(SERVICE_ACCOUNT, self.service_account)))
            .chain([label(CLUSTER, self.cluster)])
            .filter(|text| is_identity_label(&text[SOURCE.len() + 1..]))
            .collect();
        labels.sort_unstable();
        labels.dedup();
        labels
    }
}

/// A pod's identity `labels` with its namespace's labels replaced by
/// `namespace` (identity-relevant ones, as a namespace record keeps them),
/// sorted. A pod cannot set `io.cilium.k8s` labels itself, so every
/// namespace label in `labels` came from its namespace.
pub fn with_namespace_labels(labels: &[String], namespace: &[(String, String)]) -> Vec<String> {
    let prefix = format!("{SOURCE}:{NAMESPACE_LABELS}.");
    let own = labels.iter().filter(|label| !label.starts_with(&prefix)).cloned();
    let mut labels: Vec<String> =
        own.chain(namespace.iter().map(|(key, value)| label(&format!("{NAMESPACE_LABELS}.{key}"), value))).collect();
    labels.sort_unstable();
    labels
}

/// `k8s:key=value`, or `k8s:key` when the value is empty.
fn label(key: &str, value: &str) -> String {
    if value.is_empty() { format!("{SOURCE}:{key}") } else { format!("{SOURCE}:{key}={value}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// Cilium's `TestDefaultFilterLabels` (`pkg/labelsfilter/filter_test.go`):
    /// the same keys, kept or dropped as that test expects.
    #[test]
    fn cilium_default_filter() {
        let kept = [
            "io.kubernetes.pod.namespace",
            "app.kubernetes.io",
            "ioXkubernetes",
            "ignore",
            "ignorE",
            "io.cilium.k8s.policy.cluster",
            "io.cilium.k8s.policy.serviceaccount",
            "id.lizards",
            "id.lizards.k8s",
        ];
        let dropped = [
            "io.kubernetes.container.hash",
            "io.kubernetes.container.name",
            "io.kubernetes.pod.name",
            "kubernetes.io.foo",
            "beta.kubernetes.io.foo",
            "annotation.hello",
            "annotation.kubernetes.io/config.seen",
            "io.kubernetes.pod.uid",
            "io.kubernetes.pod.terminationGracePeriod",
            "controller-revision-hash",
            "statefulset.kubernetes.io/pod-name",
            "batch.kubernetes.io/job-completion-index",
            "apps.kubernetes.io/pod-index",
        ];
        for key in kept {
            assert!(is_identity_label(key), "{key} counts");
        }
        for key in dropped {
            assert!(!is_identity_label(key), "{key} does not count");
        }
        // Matches start the key: these end in an excluded pattern, but are kept.
        assert!(is_identity_label("app.kubernetes.io/name"));
        assert!(is_identity_label("batch.kubernetes.io/job-name"));
        assert!(is_identity_label("job-name"));
        assert!(!is_identity_label("pod-template-hash"));
        assert!(!is_identity_label("controller-uid"));
        assert!(is_identity_label("io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name"));
    }

    /// CoreDNS as `cilium endpoint get` shows it (its `security-relevant`
    /// labels; `pod-template-hash` is only `derived`), from Cilium's
    /// troubleshooting docs: the same pod and namespace give the same list.
    #[test]
    fn a_pod_labelled_as_cilium_labels_it() {
        let pod = pairs(&[
            ("k8s-app", "kube-dns"),
            ("pod-template-hash", "54558b56c7"),
            ("io.cilium.k8s.policy.cluster", "a pod cannot set this"),
        ]);
        let namespace = pairs(&[("kubernetes.io/metadata.name", "kube-system")]);
        let labels = PodLabels {
            pod: &pod,
            namespace: &namespace,
            namespace_name: "kube-system",
            service_account: "coredns",
            cluster: "default",
        };
        assert_eq!(
            labels.identity_labels(),
            [
                "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=kube-system",
                "k8s:io.cilium.k8s.policy.cluster=default",
                "k8s:io.cilium.k8s.policy.serviceaccount=coredns",
                "k8s:io.kubernetes.pod.namespace=kube-system",
                "k8s:k8s-app=kube-dns",
            ]
        );
    }

    #[test]
    fn empty_values_and_no_service_account() {
        let pod = pairs(&[("canary", "")]);
        let labels =
            PodLabels { pod: &pod, namespace: &[], namespace_name: "shop", service_account: "", cluster: "default" };
        assert_eq!(
            labels.identity_labels(),
            ["k8s:canary", "k8s:io.cilium.k8s.policy.cluster=default", "k8s:io.kubernetes.pod.namespace=shop"]
        );
    }
}
