//! The namespaces seen in flows in the last hour, for `GetNamespaces`.
//!
//! The pipeline's thread notes each flow's two namespaces in a map of its
//! own (a hash lookup per side, no allocation once a namespace is known)
//! and publishes a sorted list when the set changes, at most once a tick;
//! `GetNamespaces` reads the published list and never takes a lock the
//! pipeline waits on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use flowlog_flow::Flow;
use flowlog_flow::proto::observer::Namespace;
use foldhash::fast::RandomState;

/// How long a namespace stays listed after its last flow (Hubble's hour).
pub const RETENTION: Duration = Duration::from_secs(3600);

/// The list `GetNamespaces` answers with, sorted by cluster then namespace.
pub type Published = ArcSwap<Vec<Namespace>>;

/// When each namespace was last seen, by cluster; kept on the pipeline's
/// thread.
#[derive(Debug, Default)]
pub struct SeenNamespaces {
    /// Cluster → namespace → the second it was last seen.
    seen: HashMap<Box<str>, HashMap<Box<str>, u64, RandomState>, RandomState>,
    /// The current second, as of the last tick.
    now: u64,
    /// Whether the set changed since it was last published.
    changed: bool,
}

impl SeenNamespaces {
    /// Notes the namespaces of both sides of `flow`.
    pub fn note(&mut self, flow: &Flow) {
        for endpoint in [&flow.source, &flow.destination].into_iter().flatten() {
            if !endpoint.namespace.is_empty() {
                self.note_one(&endpoint.cluster_name, &endpoint.namespace);
            }
        }
    }

    fn note_one(&mut self, cluster: &str, namespace: &str) {
        let namespaces = match self.seen.get_mut(cluster) {
            Some(namespaces) => namespaces,
            None => self.seen.entry(cluster.into()).or_default(),
        };
        match namespaces.get_mut(namespace) {
            Some(seen) => *seen = self.now,
            None => {
                namespaces.insert(namespace.into(), self.now);
                self.changed = true;
            }
        }
    }

    /// Moves the clock to `now` (seconds since the epoch), forgets what was
    /// not seen for [`RETENTION`], and publishes the list if it changed.
    pub fn tick(&mut self, now: u64, published: &Published) {
        if now != self.now {
            self.now = now;
            let oldest = now.saturating_sub(RETENTION.as_secs());
            for namespaces in self.seen.values_mut() {
                let before = namespaces.len();
                namespaces.retain(|_, seen| *seen >= oldest);
                self.changed |= namespaces.len() != before;
            }
            self.seen.retain(|_, namespaces| !namespaces.is_empty());
        }
        if std::mem::take(&mut self.changed) {
            published.store(Arc::new(self.list()));
        }
    }

    fn list(&self) -> Vec<Namespace> {
        let mut list: Vec<Namespace> = self
            .seen
            .iter()
            .flat_map(|(cluster, namespaces)| {
                namespaces
                    .keys()
                    .map(|namespace| Namespace { cluster: cluster.to_string(), namespace: namespace.to_string() })
            })
            .collect();
        list.sort_by(|a, b| (&a.cluster, &a.namespace).cmp(&(&b.cluster, &b.namespace)));
        list
    }
}

#[cfg(test)]
mod tests {
    use flowlog_flow::Endpoint;

    use super::*;

    fn flow(source: (&str, &str), destination: (&str, &str)) -> Flow {
        let endpoint = |(cluster, namespace): (&str, &str)| Endpoint {
            cluster_name: cluster.into(),
            namespace: namespace.into(),
            ..Default::default()
        };
        Flow { source: Some(endpoint(source)), destination: Some(endpoint(destination)), ..Default::default() }
    }

    fn names(published: &Published) -> Vec<(String, String)> {
        published.load().iter().map(|n| (n.cluster.clone(), n.namespace.clone())).collect()
    }

    #[test]
    fn lists_both_sides_sorted_and_forgets_after_an_hour() {
        let published = Published::default();
        let mut seen = SeenNamespaces::default();
        seen.tick(1000, &published);
        seen.note(&flow(("b", "shop"), ("a", "kube-system")));
        seen.note(&flow(("a", "default"), ("", "")));
        seen.tick(1000, &published);
        let all = [("a", "default"), ("a", "kube-system"), ("b", "shop")].map(|(c, n)| (c.to_owned(), n.to_owned()));
        assert_eq!(names(&published), all);

        seen.tick(2000, &published);
        seen.note(&flow(("a", "default"), ("a", "default")));
        seen.tick(1000 + RETENTION.as_secs() + 1, &published);
        assert_eq!(names(&published), [("a".to_owned(), "default".to_owned())]);
    }
}
