//! What the watches have told: the slim records of every kind, the endpoint
//! each pod's addresses resolve to, and the [`Names`] published from them.
//!
//! # Replicas share their endpoint
//!
//! Pods with the same namespace, labels, service account and workload (the
//! replicas of a Deployment) differ only in their names: they share one
//! endpoint ([`Resolved::pod`]), so the table holds each label set once.
//!
//! # Addresses that change hands
//!
//! A pod's addresses are its own from the event that lists them until the
//! pod is deleted, finishes or drops them. Then each is kept, still naming
//! the pod, for the grace period ([`Settings::departed_grace`]), so flows
//! already in flight when a pod goes are still named. An address another
//! pod takes meanwhile names that pod at once.
//!
//! # Relists
//!
//! A relist (after a `410 Gone`, or when the watch restarts) applies each
//! object as it comes and, once the list is complete, deletes the records it
//! did not name: a pod deleted while the watch was down departs as if its
//! DELETED event had come, and nothing known is forgotten halfway. The
//! list is never held whole: 10,000 pods' records at once would be a few
//! megabytes the allocator keeps.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowlog_flow::{Endpoint, Service};

use super::identity::identity_of;
use super::labels::{PodLabels, with_namespace_labels};
use super::records::{Kind, NamespaceRecord, NodeRecord, PodRecord, ServiceRecord};
use crate::endpoints::{HOST, Names, REMOTE_NODE, Resolved};

/// What names are made with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `Endpoint.cluster_name`, and the `io.cilium.k8s.policy.cluster` label.
    pub cluster_name: String,
    /// This node's name: its Node's addresses are the host, every other
    /// node's are `reserved:remote-node`.
    pub node_name: String,
    /// How long a departed pod's addresses keep naming it.
    pub departed_grace: Duration,
}

/// One watch's news of one kind.
#[derive(Debug)]
pub enum Update<R> {
    /// A list begins: the objects it names come as [`Update::Applied`], and
    /// those it did not name when it ends ([`Update::Listed`]) are deleted.
    Listing,
    /// An object added, changed, or named by the list.
    Applied(R),
    /// The list is complete.
    Listed,
    /// An object deleted.
    Deleted(R),
}

/// An update of any kind.
#[derive(Debug)]
pub enum Change {
    /// Of pods.
    Pods(Update<PodRecord>),
    /// Of namespaces.
    Namespaces(Update<NamespaceRecord>),
    /// Of services.
    Services(Update<ServiceRecord>),
    /// Of nodes.
    Nodes(Update<NodeRecord>),
}

impl Change {
    /// The kind it is about.
    pub fn kind(&self) -> Kind {
        match self {
            Change::Pods(_) => Kind::Pods,
            Change::Namespaces(_) => Kind::Namespaces,
            Change::Services(_) => Kind::Services,
            Change::Nodes(_) => Kind::Nodes,
        }
    }
}

/// A namespace and a name.
type Key = (String, String);

/// A pod: its addresses and what they resolve to. Its record is not kept:
/// the endpoint holds all of it that names flows.
#[derive(Debug)]
struct Pod {
    addresses: Vec<IpAddr>,
    endpoint: Resolved,
}

/// A departed pod's address, naming it until `until`.
#[derive(Debug)]
struct Departed {
    until: Instant,
    endpoint: Resolved,
}

/// What replicas share: their labels and workload (the labels hold the
/// namespace, service account and cluster).
type Shared = (Vec<String>, Option<(String, String)>);

/// The cluster as the watches told it.
#[derive(Debug)]
pub struct Cluster {
    settings: Settings,
    pods: Kept<Key, Pod>,
    /// The endpoint of the pod each address is currently the address of.
    owners: HashMap<IpAddr, Resolved>,
    /// The endpoints pods share, by what they share.
    shared: HashMap<Shared, Arc<Endpoint>>,
    departed: HashMap<IpAddr, Departed>,
    /// When each departed address is due to be forgotten, soonest first (the
    /// grace period is the same for all). An address taken, or departed
    /// again, since leaves a stale entry, skipped when it comes due.
    expiries: VecDeque<(Instant, IpAddr)>,
    namespaces: Kept<String, NamespaceRecord>,
    services: Kept<Key, (ServiceRecord, Arc<Service>)>,
    nodes: Kept<String, NodeRecord>,
}

impl Cluster {
    /// Nothing known yet.
    pub fn new(settings: Settings) -> Self {
        Cluster {
            settings,
            pods: Kept::default(),
            owners: HashMap::new(),
            shared: HashMap::new(),
            departed: HashMap::new(),
            expiries: VecDeque::new(),
            namespaces: Kept::default(),
            services: Kept::default(),
            nodes: Kept::default(),
        }
    }

    /// Applies `change`, made at `now`.
    pub fn apply(&mut self, change: Change, now: Instant) {
        match change {
            Change::Pods(Update::Listing) => self.pods.begin_list(),
            Change::Pods(Update::Applied(pod)) => self.apply_pod(pod, now),
            Change::Pods(Update::Listed) => {
                for (_, pod) in self.pods.end_list() {
                    self.release(&pod.addresses, &pod.endpoint, now);
                }
            }
            Change::Pods(Update::Deleted(pod)) => self.delete_pod(&pod_key(&pod), now),
            Change::Namespaces(update) => {
                let changed = apply(&mut self.namespaces, update, |namespace| namespace.name.clone());
                changed.iter().for_each(|namespace| self.relabel(namespace));
            }
            Change::Services(update) => {
                let named = |record: ServiceRecord| {
                    let service = Service { name: record.name.clone(), namespace: record.namespace.clone() };
                    (record, Arc::new(service))
                };
                let update = match update {
                    Update::Listing => Update::Listing,
                    Update::Applied(record) => Update::Applied(named(record)),
                    Update::Listed => Update::Listed,
                    Update::Deleted(record) => Update::Deleted(named(record)),
                };
                apply(&mut self.services, update, |(record, _)| (record.namespace.clone(), record.name.clone()));
            }
            Change::Nodes(update) => {
                apply(&mut self.nodes, update, |node| node.name.clone());
            }
        }
    }

    /// Applies a whole list at once: [`Update::Listing`], each record,
    /// [`Update::Listed`].
    pub fn apply_list<R>(&mut self, change: fn(Update<R>) -> Change, records: Vec<R>, now: Instant) {
        self.apply(change(Update::Listing), now);
        records.into_iter().for_each(|record| self.apply(change(Update::Applied(record)), now));
        self.apply(change(Update::Listed), now);
    }

    /// Forgets the departed addresses whose grace period is over at `now`;
    /// true when there were any.
    pub fn expire(&mut self, now: Instant) -> bool {
        let mut forgotten = false;
        while let Some(&(until, address)) = self.expiries.front().filter(|(until, _)| *until <= now) {
            self.expiries.pop_front();
            if self.departed.get(&address).is_some_and(|departed| departed.until == until) {
                self.departed.remove(&address);
                forgotten = true;
            }
        }
        forgotten
    }

    /// When the next departed address is forgotten, or earlier: a stale
    /// entry wakes the caller for nothing. Without a scan of every departed
    /// address, which a namespace's deletion makes thousands of, at every
    /// change the watches bring.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.expiries.front().map(|(until, _)| *until)
    }

    /// How many objects of `kind` are held.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Pods => self.pods.map.len(),
            Kind::Namespaces => self.namespaces.map.len(),
            Kind::Services => self.services.map.len(),
            Kind::Nodes => self.nodes.map.len(),
        }
    }

    /// The nodes, sorted by name (the Hubble server's peers).
    pub fn nodes(&self) -> Vec<NodeRecord> {
        let mut nodes: Vec<NodeRecord> = self.nodes.map.values().cloned().collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes
    }

    /// Every address and service frontend known, as the source's layer:
    /// pods (current, then departed), then nodes. Forgets the shared
    /// endpoints no pod uses any more.
    pub fn names(&mut self) -> Names {
        self.shared.retain(|_, endpoint| Arc::strong_count(endpoint) > 1);
        let mut names = Names::default();
        let endpoints = &mut names.endpoints;
        for (address, owner) in &self.owners {
            endpoints.insert(*address, owner.clone());
        }
        for (address, departed) in &self.departed {
            endpoints.entry(*address).or_insert_with(|| departed.endpoint.clone());
        }
        for node in self.nodes.map.values() {
            let endpoint = if node.name == self.settings.node_name { &HOST } else { &REMOTE_NODE };
            for address in &node.addresses {
                endpoints.entry(*address).or_insert_with(|| Arc::clone(endpoint).into());
            }
        }
        for (record, service) in self.services.map.values() {
            for address in &record.addresses {
                for port in &record.ports {
                    names.services.insert((*address, *port), Arc::clone(service));
                }
            }
        }
        names
    }

    fn apply_pod(&mut self, record: PodRecord, now: Instant) {
        let key = pod_key(&record);
        let endpoint = Resolved::pod(self.endpoint_of(&record), Arc::from(record.name.as_str()));
        let previous = self.pods.insert(key, Pod { addresses: record.addresses, endpoint: endpoint.clone() });
        let addresses = &self.pods.map[&(record.namespace, record.name)].addresses;
        for address in addresses {
            self.departed.remove(address);
            self.owners.insert(*address, endpoint.clone());
        }
        if let Some(previous) = previous {
            let dropped = previous.addresses.iter().filter(|address| !addresses.contains(address));
            let dropped: Vec<IpAddr> = dropped.copied().collect();
            self.release(&dropped, &previous.endpoint, now);
        }
    }

    fn delete_pod(&mut self, key: &Key, now: Instant) {
        if let Some(pod) = self.pods.map.remove(key) {
            self.release(&pod.addresses, &pod.endpoint, now);
        }
    }

    /// `addresses` are no longer the pod's whose endpoint is `endpoint`:
    /// those no other pod took meanwhile depart, naming it for the grace
    /// period.
    fn release(&mut self, addresses: &[IpAddr], endpoint: &Resolved, now: Instant) {
        for address in addresses {
            if self.owners.get(address).is_some_and(|owner| same_pod(owner, endpoint)) {
                self.owners.remove(address);
                let until = now + self.settings.departed_grace;
                self.departed.insert(*address, Departed { until, endpoint: endpoint.clone() });
                self.expiries.push_back((until, *address));
            }
        }
    }

    /// Makes the endpoints of `namespace`'s pods again, with its labels now.
    fn relabel(&mut self, namespace: &str) {
        let labels = self.namespaces.map.get(namespace).map(|namespace| namespace.labels.clone()).unwrap_or_default();
        let in_namespace = |(pod_namespace, _): &&Key| pod_namespace == namespace;
        let keys: Vec<Key> = self.pods.map.keys().filter(in_namespace).cloned().collect();
        for key in keys {
            let previous = self.pods.map[&key].endpoint.clone();
            let mut endpoint = Endpoint::clone(previous.shared());
            endpoint.labels = with_namespace_labels(&endpoint.labels, &labels);
            endpoint.identity = identity_of(&endpoint.labels);
            let endpoint = Resolved::pod(self.share(endpoint), Arc::from(previous.pod_name()));
            let pod = self.pods.map.get_mut(&key).expect("listed above");
            for address in &pod.addresses {
                if let Some(owner) = self.owners.get_mut(address).filter(|owner| same_pod(owner, &endpoint)) {
                    *owner = endpoint.clone();
                }
            }
            pod.endpoint = endpoint;
        }
    }

    /// The endpoint equal to `endpoint` that pods already share, or
    /// `endpoint`, shared from now on.
    fn share(&mut self, endpoint: Endpoint) -> Arc<Endpoint> {
        let workload = endpoint.workloads.first().map(|workload| (workload.kind.clone(), workload.name.clone()));
        let key = (endpoint.labels.clone(), workload);
        Arc::clone(self.shared.entry(key).or_insert_with(|| Arc::new(endpoint)))
    }

    /// The endpoint a pod's addresses resolve to, as Cilium fills it, less
    /// the pod's name: shared with its replicas.
    fn endpoint_of(&mut self, pod: &PodRecord) -> Arc<Endpoint> {
        let namespace = self.namespaces.map.get(&pod.namespace).map_or(&[][..], |namespace| &namespace.labels);
        let labels = PodLabels {
            pod: &pod.labels,
            namespace,
            namespace_name: &pod.namespace,
            service_account: &pod.service_account,
            cluster: &self.settings.cluster_name,
        }
        .identity_labels();
        let endpoint = Endpoint {
            id: 0,
            identity: identity_of(&labels),
            cluster_name: self.settings.cluster_name.clone(),
            namespace: pod.namespace.clone(),
            labels,
            pod_name: String::new(),
            workloads: pod.workload.iter().cloned().collect(),
        };
        self.share(endpoint)
    }
}

fn pod_key(pod: &PodRecord) -> Key {
    (pod.namespace.clone(), pod.name.clone())
}

/// Whether two endpoints are of the same pod.
fn same_pod(a: &Resolved, b: &Resolved) -> bool {
    a.pod_name() == b.pod_name() && a.shared().namespace == b.shared().namespace
}

/// One kind's records by key, and the keys its current list has named.
#[derive(Debug)]
struct Kept<K, V> {
    map: HashMap<K, V>,
    /// While a list goes on: the keys it has named so far.
    listed: Option<HashSet<K>>,
}

impl<K, V> Default for Kept<K, V> {
    fn default() -> Self {
        Kept { map: HashMap::new(), listed: None }
    }
}

impl<K: Hash + Eq + Clone, V> Kept<K, V> {
    fn begin_list(&mut self) {
        self.listed = Some(HashSet::new());
    }

    /// Keeps `value` under `key`, named by the list if one goes on;
    /// returns what was there.
    fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(listed) = &mut self.listed {
            listed.insert(key.clone());
        }
        self.map.insert(key, value)
    }

    /// Ends the list: removes and returns what it did not name.
    fn end_list(&mut self) -> Vec<(K, V)> {
        let Some(listed) = self.listed.take() else { return Vec::new() };
        let gone: Vec<K> = self.map.keys().filter(|key| !listed.contains(*key)).cloned().collect();
        gone.into_iter().filter_map(|key| self.map.remove_entry(&key)).collect()
    }
}

/// Applies `update` to `kept`, keyed by `key`; returns the keys whose value
/// changed.
fn apply<K, V>(kept: &mut Kept<K, V>, update: Update<V>, key: impl Fn(&V) -> K) -> Vec<K>
where
    K: Hash + Eq + Clone,
    V: PartialEq,
{
    match update {
        Update::Listing => {
            kept.begin_list();
            Vec::new()
        }
        Update::Applied(value) => {
            let k = key(&value);
            let unchanged = kept.map.get(&k) == Some(&value);
            kept.insert(k.clone(), value);
            if unchanged { Vec::new() } else { vec![k] }
        }
        Update::Listed => kept.end_list().into_iter().map(|(k, _)| k).collect(),
        Update::Deleted(value) => {
            let k = key(&value);
            kept.map.remove(&k).map(|_| vec![k]).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::Endpoints;
    use crate::fixtures::{host, ip, world};

    const GRACE: Duration = Duration::from_secs(30);

    fn cluster() -> Cluster {
        Cluster::new(Settings { cluster_name: "test".into(), node_name: "node-1".into(), departed_grace: GRACE })
    }

    fn pod(name: &str, addresses: &[&str], app: &str) -> PodRecord {
        PodRecord {
            namespace: "shop".into(),
            name: name.into(),
            addresses: addresses.iter().map(|address| ip(address)).collect(),
            labels: vec![("app".into(), app.into())],
            service_account: "default".into(),
            workload: None,
        }
    }

    fn table(cluster: &mut Cluster) -> Endpoints {
        Endpoints::merge([&cluster.names()])
    }

    #[test]
    fn pods_are_named_with_their_namespace_labels() {
        let (mut cluster, now) = (cluster(), Instant::now());
        cluster.apply(Change::Pods(Update::Applied(pod("web-0", &["10.0.0.5", "fd00::5"], "web"))), now);
        let endpoint = table(&mut cluster).lookup(ip("fd00::5")).clone();
        assert_eq!((endpoint.namespace.as_str(), endpoint.pod_name.as_str()), ("shop", "web-0"));
        assert_eq!(endpoint.cluster_name, "test");
        assert!(!endpoint.labels.iter().any(|label| label.contains("namespace.labels")));
        let before = endpoint.identity;

        let namespace = NamespaceRecord { name: "shop".into(), labels: vec![("team".into(), "payments".into())] };
        cluster.apply_list(Change::Namespaces, vec![namespace], now);
        let endpoint = table(&mut cluster).lookup(ip("10.0.0.5")).clone();
        assert!(endpoint.labels.contains(&"k8s:io.cilium.k8s.namespace.labels.team=payments".to_owned()));
        assert_ne!(endpoint.identity, before, "the namespace's labels are identity labels");
    }

    #[test]
    fn a_departed_pod_is_named_for_the_grace_period_unless_its_address_is_taken() {
        let (mut cluster, now) = (cluster(), Instant::now());
        cluster.apply(Change::Pods(Update::Applied(pod("web-0", &["10.0.0.5"], "web"))), now);
        cluster.apply(Change::Pods(Update::Applied(pod("db-0", &["10.0.0.6"], "db"))), now);
        cluster.apply(Change::Pods(Update::Deleted(pod("web-0", &["10.0.0.5"], "web"))), now);
        cluster.apply(Change::Pods(Update::Applied(pod("db-0", &[], "db"))), now);
        assert_eq!(table(&mut cluster).lookup(ip("10.0.0.5")).pod_name, "web-0");
        assert_eq!(table(&mut cluster).lookup(ip("10.0.0.6")).pod_name, "db-0", "finished: departed too");
        assert_eq!(cluster.next_expiry(), Some(now + GRACE));

        cluster.apply(Change::Pods(Update::Applied(pod("api-0", &["10.0.0.6"], "api"))), now);
        assert_eq!(table(&mut cluster).lookup(ip("10.0.0.6")).pod_name, "api-0", "taken over at once");

        assert!(!cluster.expire(now + GRACE / 2));
        assert!(cluster.expire(now + GRACE));
        assert_eq!(table(&mut cluster).lookup(ip("10.0.0.5")), world());
        assert_eq!(table(&mut cluster).lookup(ip("10.0.0.6")).pod_name, "api-0");
        assert_eq!(cluster.next_expiry(), None);
    }

    #[test]
    fn a_pod_that_gave_up_an_address_does_not_take_it_from_its_new_owner() {
        let (mut cluster, now) = (cluster(), Instant::now());
        cluster.apply(Change::Pods(Update::Applied(pod("old", &["10.0.0.5"], "web"))), now);
        cluster.apply(Change::Pods(Update::Applied(pod("new", &["10.0.0.5"], "web"))), now);
        cluster.apply(Change::Pods(Update::Deleted(pod("old", &["10.0.0.5"], "web"))), now);
        assert_eq!(table(&mut cluster).lookup(ip("10.0.0.5")).pod_name, "new");
        assert_eq!(cluster.next_expiry(), None);
    }

    #[test]
    fn a_relist_replaces_and_departs_what_is_gone() {
        let (mut cluster, now) = (cluster(), Instant::now());
        let listed = vec![pod("web-0", &["10.0.0.5"], "web"), pod("db-0", &["10.0.0.6"], "db")];
        cluster.apply_list(Change::Pods, listed, now);
        cluster.apply_list(Change::Pods, vec![pod("db-0", &["10.0.0.6"], "db")], now);
        assert_eq!(cluster.count(Kind::Pods), 1);
        assert_eq!(table(&mut cluster).lookup(ip("10.0.0.5")).pod_name, "web-0", "departed, in its grace period");
        cluster.expire(now + GRACE);
        assert_eq!(table(&mut cluster).lookup(ip("10.0.0.5")), world());
    }

    #[test]
    fn nodes_and_services() {
        let (mut cluster, now) = (cluster(), Instant::now());
        let node = |name: &str, address: &str| NodeRecord { name: name.into(), addresses: vec![ip(address)] };
        cluster.apply_list(Change::Nodes, vec![node("node-1", "192.168.1.10"), node("node-2", "192.168.1.11")], now);
        let service = ServiceRecord {
            namespace: "shop".into(),
            name: "db".into(),
            addresses: vec![ip("10.96.0.20")],
            ports: vec![5432, 9187],
        };
        cluster.apply(Change::Services(Update::Applied(service.clone())), now);
        let endpoints = table(&mut cluster);
        assert_eq!(endpoints.lookup(ip("192.168.1.10")), host());
        assert_eq!(endpoints.lookup(ip("192.168.1.11")).labels, ["reserved:remote-node"]);
        assert_eq!(endpoints.lookup(ip("192.168.1.11")).identity, 6);
        let db = Service { name: "db".into(), namespace: "shop".into() };
        assert_eq!(endpoints.service(ip("10.96.0.20"), 5432), Some(&db));
        assert_eq!(endpoints.service(ip("10.96.0.20"), 9187), Some(&db));
        assert_eq!(endpoints.service(ip("10.96.0.20"), 80), None);

        cluster.apply(Change::Services(Update::Deleted(service)), now);
        assert_eq!(table(&mut cluster).service(ip("10.96.0.20"), 5432), None);
    }
}
