//! Kubernetes enrichment end to end: the real `flowlog run`, capturing in
//! network namespaces as `tests/capture.rs` does, pointed by a kubeconfig at
//! the test API server (`support::api_server`), which serves pods,
//! namespaces, services and nodes made from k8s-openapi types.
//!
//! A node namespace holds one pod, `web`, behind `lxc-web`; its traffic is
//! UDP datagrams to addresses the API server names (pods, a service's
//! cluster IP, nodes), captured as they enter the node. Each step sends to
//! a port of its own, and the flows are read after the agent stops, by
//! that port and by their time against the time of the step's change.
//!
//! Without root the tests print `SKIPPED (needs root)` and pass; CI runs as
//! root, where they always run.

#[path = "../crates/capture-ebpf/tests/netns/mod.rs"]
mod netns;
mod support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    Namespace, Node, NodeAddress, NodeStatus, Pod, PodIP, PodSpec, PodStatus, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use netns::Netns;
use serde_json::Value;
use support::api_server::ApiServer;
use support::{Running, wait_for};

/// The agent's node and its one pod.
struct Topology {
    node: Netns,
    web: Netns,
    net: u8,
}

impl Topology {
    /// `web` at 10.`net`.1.2 behind `lxc-web` (10.`net`.1.1) in `node`.
    fn new(tag: &str, net: u8) -> Topology {
        let pid = std::process::id();
        let name = |role: &str| format!("fl-{role}-{tag}-{pid}");
        let topology = Topology { node: Netns::new(name("node")), web: Netns::new(name("web")), net };
        topology.node.add_pod(&topology.web, "lxc-web", &topology.address("1.1"), &topology.address("1.2"));
        topology
    }

    fn address(&self, host: &str) -> String {
        format!("10.{}.{host}", self.net)
    }

    /// A listener for the API server, in the node's namespace (where the
    /// agent runs), on `port` (0: any).
    fn listener(&self, port: u16) -> TcpListener {
        self.node.run(|| TcpListener::bind(("127.0.0.1", port)).unwrap())
    }

    /// `flowlog run` in the node's namespace, once it is capturing.
    fn start_flowlog(&self, kubeconfig: &Path, output: &Path) -> Running {
        let mut command = Command::new("nsenter");
        command.arg(self.node.nsenter_arg()).arg(env!("CARGO_BIN_EXE_flowlog")).arg("run");
        command.args(["--interface", "lxc*:endpoint", "--monitor-aggregation", "none"]);
        command.args(["--node-name", "test-node", "--cluster-name", "test-cluster"]);
        command.args(["--k8s-deleted-pod-grace-period", "2s", "--metrics-address", "127.0.0.1:0"]);
        command.arg("--k8s-kubeconfig-path").arg(kubeconfig);
        command.arg("--export-file-path").arg(output);
        command.args(["--export-allowlist", &format!(r#"{{"source_ip":["10.{}.1.2"]}}"#, self.net)]);
        command.env_remove("RUST_LOG").env_remove("K8S_NODE_NAME").env_remove("KUBERNETES_SERVICE_HOST");
        let flowlog = Running::spawn(command);
        let ready = wait_for(Duration::from_secs(10), || flowlog.stderr().contains("capturing;"));
        assert!(ready.is_some(), "flowlog did not start:\n{}", flowlog.stderr());
        flowlog
    }

    /// One datagram from web to `to`:`port`, from a fresh socket (a new
    /// flow each time).
    fn send(&self, to: &str, port: u16) {
        let socket = self.web.run(|| UdpSocket::bind(("0.0.0.0", 0)).unwrap());
        socket.send_to(b"hello", (to, port)).unwrap();
    }

    /// A datagram to `to`:`port` every 50 ms for `duration`.
    fn send_for(&self, to: &str, port: u16, duration: Duration) {
        let started = std::time::Instant::now();
        while started.elapsed() < duration {
            self.send(to, port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The agent's metrics, fetched in its namespace.
    fn metrics(&self, address: SocketAddr) -> String {
        self.node.run(|| support::get(address, "/metrics").1)
    }

    /// Waits until `metric{kind="<kind>"}` is at least `at_least` for every kind.
    fn wait_for_metric(&self, flowlog: &Running, address: SocketAddr, metric: &str, at_least: u64) {
        let reached = wait_for(Duration::from_secs(40), || {
            let text = self.metrics(address);
            ["pods", "namespaces", "services", "nodes"]
                .iter()
                .all(|kind| support::sum(&text, metric, &[&format!(r#"kind="{kind}""#)]) >= at_least)
        });
        assert!(reached.is_some(), "{metric} < {at_least}:\n{}\n{}", self.metrics(address), flowlog.stderr());
        // The layer is published a batch (100 ms) after the change.
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn meta(namespace: &str, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
        name: Some(name.to_owned()),
        labels: Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
        ..ObjectMeta::default()
    }
}

/// A running pod at `ip`, owned by `owner` (kind, name) when given.
fn pod(name: &str, ip: &str, labels: &[(&str, &str)], owner: Option<(&str, &str)>) -> Pod {
    let mut metadata = meta("shop", name, labels);
    if let Some((kind, owner_name)) = owner {
        metadata.generate_name = Some(format!("{owner_name}-"));
        metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: owner_name.into(),
            uid: format!("uid-{owner_name}"),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
    }
    Pod {
        metadata,
        spec: Some(PodSpec {
            service_account_name: Some("shop-sa".into()),
            node_name: Some("test-node".into()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some(ip.into()),
            pod_ips: Some(vec![PodIP { ip: ip.into() }]),
            ..PodStatus::default()
        }),
    }
}

fn node(name: &str, ip: &str) -> Node {
    Node {
        metadata: meta("", name, &[]),
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress { type_: "InternalIP".into(), address: ip.into() }]),
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

fn namespace() -> Namespace {
    Namespace {
        metadata: meta("", "shop", &[("kubernetes.io/metadata.name", "shop"), ("team", "payments")]),
        ..Namespace::default()
    }
}

fn service(cluster_ip: &str) -> Service {
    Service {
        metadata: meta("shop", "db", &[]),
        spec: Some(ServiceSpec {
            cluster_ip: Some(cluster_ip.into()),
            cluster_ips: Some(vec![cluster_ip.into()]),
            ports: Some(vec![ServicePort { port: 5432, ..ServicePort::default() }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn web_pod(topology: &Topology, labels: &[(&str, &str)]) -> Pod {
    pod("web-7d4b9c8f6d-x2x9k", &topology.address("1.2"), labels, Some(("ReplicaSet", "web-7d4b9c8f6d")))
}

/// The flows exported, by destination port, each with its time.
fn flows_by_port(output: &Path) -> BTreeMap<u64, Vec<(DateTime<Utc>, Value)>> {
    let mut by_port: BTreeMap<u64, Vec<(DateTime<Utc>, Value)>> = BTreeMap::new();
    for line in support::lines_of(output) {
        let flow = serde_json::from_str::<Value>(&line).unwrap()["flow"].clone();
        let Some(port) = flow["l4"]["UDP"]["destination_port"].as_u64() else { continue };
        let time: DateTime<Utc> = flow["time"].as_str().unwrap().parse().unwrap();
        by_port.entry(port).or_default().push((time, flow));
    }
    by_port
}

fn pod_name(endpoint: &Value) -> &str {
    endpoint["pod_name"].as_str().unwrap_or("")
}

fn labels(endpoint: &Value) -> Vec<&str> {
    endpoint["labels"].as_array().unwrap().iter().map(|label| label.as_str().unwrap()).collect()
}

const WEB_LABELS: [&str; 7] = [
    "k8s:app=web",
    "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop",
    "k8s:io.cilium.k8s.namespace.labels.team=payments",
    "k8s:io.cilium.k8s.policy.cluster=test-cluster",
    "k8s:io.cilium.k8s.policy.serviceaccount=shop-sa",
    "k8s:io.kubernetes.pod.namespace=shop",
    "k8s:tier=front",
];

/// Ports, one per step of the first test.
const TO_DB: u16 = 7001;
const TO_SERVICE: u16 = 5432;
const TO_NODES: u16 = 7003;
const TO_NEW_POD: u16 = 7004;
const RELABELLED: u16 = 7005;
const DELETED: u16 = 7006;
const TAKEN_OVER: u16 = 7007;
const RELISTED: u16 = 7008;

#[test]
fn names_pods_services_and_nodes_from_the_api_server_as_they_change() {
    if netns::skip_unless_root("names_pods_services_and_nodes_from_the_api_server_as_they_change") {
        return;
    }
    let topology = Topology::new("k8s", 215);
    let (db, new_pod) = (topology.address("2.2"), topology.address("2.9"));
    let (this_node, other_node, cluster_ip) =
        (topology.address("1.1"), topology.address("50.1"), topology.address("100.10"));
    let server = ApiServer::start(topology.listener(0), 100);
    server.apply(&namespace());
    server.apply(&node("test-node", &this_node));
    server.apply(&node("other-node", &other_node));
    server.apply(&web_pod(&topology, &[("app", "web"), ("tier", "front"), ("pod-template-hash", "7d4b9c8f6d")]));
    let db_labels =
        [("app", "db"), ("controller-revision-hash", "db-5f8d"), ("statefulset.kubernetes.io/pod-name", "db-0")];
    server.apply(&pod("db-0", &db, &db_labels, Some(("StatefulSet", "db"))));
    server.apply(&service(&cluster_ip));

    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("flows.log");
    let flowlog = topology.start_flowlog(&server.kubeconfig(dir.path()), &output);
    let metrics = support::metrics_address(&flowlog);
    topology.wait_for_metric(&flowlog, metrics, "flowlog_k8s_synced", 1);

    // Both sides named; a service's cluster IP; this node and another.
    topology.send(&db, TO_DB);
    topology.send(&cluster_ip, TO_SERVICE);
    topology.send(&this_node, TO_NODES);
    topology.send(&other_node, TO_NODES);

    // A pod added while running is named within a second of its ADDED event.
    let added = Utc::now();
    server.apply(&pod("api-0", &new_pod, &[("app", "api")], None));
    topology.send_for(&new_pod, TO_NEW_POD, Duration::from_millis(1500));

    // Changed labels show on the next flows.
    let relabelled = Utc::now();
    server.apply(&web_pod(&topology, &[("app", "web"), ("tier", "back"), ("pod-template-hash", "7d4b9c8f6d")]));
    topology.send_for(&db, RELABELLED, Duration::from_millis(1500));

    // A deleted pod is named for the grace period (2 s), then is the world.
    let deleted = Utc::now();
    server.delete::<Pod>("shop", "api-0");
    topology.send_for(&new_pod, DELETED, Duration::from_millis(3500));

    // An address taken over by a new pod names the new pod at once.
    let taken_over = Utc::now();
    server.delete::<Pod>("shop", "db-0");
    server.apply(&pod("db-1", &db, &db_labels, Some(("StatefulSet", "db"))));
    topology.send_for(&db, TAKEN_OVER, Duration::from_millis(1000));

    // A 410 Gone mid-watch: every kind lists again, and no name is lost.
    server.expire_watches();
    topology.send_for(&db, RELISTED, Duration::from_millis(500));
    topology.wait_for_metric(&flowlog, metrics, "flowlog_k8s_relists_total", 1);
    topology.send_for(&db, RELISTED, Duration::from_millis(500));
    let text = topology.metrics(metrics);

    let finished = flowlog.terminate();
    let flows = flows_by_port(&output);
    let everything = || format!("flowlog logged:\n{}\nexported:\n{:#?}", finished.stderr, flows);
    let first =
        |port: u16| &flows.get(&u64::from(port)).unwrap_or_else(|| panic!("no flow to {port}: {}", everything()))[0].1;

    // Names, labels (Cilium's identity labels only), workloads, identities.
    let flow = first(TO_DB);
    let (source, destination) = (&flow["source"], &flow["destination"]);
    assert_eq!(pod_name(source), "web-7d4b9c8f6d-x2x9k", "{}", everything());
    assert_eq!((source["namespace"].as_str(), source["cluster_name"].as_str()), (Some("shop"), Some("test-cluster")));
    assert_eq!(labels(source), WEB_LABELS);
    assert_eq!(source["workloads"], serde_json::json!([{"name": "web", "kind": "Deployment"}]));
    assert_eq!(pod_name(destination), "db-0");
    assert_eq!(destination["workloads"], serde_json::json!([{"name": "db", "kind": "StatefulSet"}]));
    assert!(
        !labels(destination)
            .iter()
            .any(|label| label.contains("controller-revision-hash") || label.contains("pod-name"))
    );
    let (web_identity, db_identity) = (source["identity"].as_u64().unwrap(), destination["identity"].as_u64().unwrap());
    assert!(web_identity >= 3 << 24 && db_identity >= 3 << 24 && web_identity != db_identity, "{}", everything());

    let flow = first(TO_SERVICE);
    assert_eq!(flow["destination_service"], serde_json::json!({"name": "db", "namespace": "shop"}), "{}", everything());
    assert_eq!(flow["destination"]["labels"], serde_json::json!(["reserved:world"]));
    let to_nodes = &flows[&u64::from(TO_NODES)];
    let to = |address: &str| &to_nodes.iter().find(|(_, flow)| flow["IP"]["destination"] == address).unwrap().1["destination"];
    assert_eq!(to(&this_node), &serde_json::json!({"identity": 1, "labels": ["reserved:host"]}));
    assert_eq!(to(&other_node), &serde_json::json!({"identity": 6, "labels": ["reserved:remote-node"]}));

    // Added: named from within a second of the event on.
    let to_new = &flows[&u64::from(TO_NEW_POD)];
    let named = to_new
        .iter()
        .find(|(_, flow)| pod_name(&flow["destination"]) == "api-0")
        .unwrap_or_else(|| panic!("{}", everything()));
    assert!(named.0 - added < chrono::TimeDelta::milliseconds(1000), "named {} after ADDED", named.0 - added);
    assert!(
        to_new.iter().filter(|(time, _)| *time > named.0).all(|(_, flow)| pod_name(&flow["destination"]) == "api-0")
    );

    // Relabelled: the next flows carry the new labels and identity.
    let later = |port: u16, after: DateTime<Utc>| -> Vec<&Value> {
        flows[&u64::from(port)].iter().filter(|(time, _)| *time > after).map(|(_, flow)| flow).collect()
    };
    let relabelled_flows = later(RELABELLED, relabelled + chrono::TimeDelta::milliseconds(500));
    assert!(!relabelled_flows.is_empty());
    for flow in relabelled_flows {
        assert!(labels(&flow["source"]).contains(&"k8s:tier=back"), "{flow}");
        assert_ne!(flow["source"]["identity"].as_u64(), Some(web_identity));
    }

    // Deleted: the pod's name for the grace period, then the world.
    for (time, flow) in &flows[&u64::from(DELETED)] {
        let since = *time - deleted;
        if since < chrono::TimeDelta::milliseconds(1800) {
            assert_eq!(pod_name(&flow["destination"]), "api-0", "{since} after DELETED: {flow}");
        } else if since > chrono::TimeDelta::milliseconds(2500) {
            assert_eq!(
                flow["destination"],
                serde_json::json!({"identity": 2, "labels": ["reserved:world"]}),
                "{since} after DELETED"
            );
        }
    }
    assert!(flows[&u64::from(DELETED)].iter().any(|(time, _)| *time - deleted > chrono::TimeDelta::milliseconds(2500)));

    // Taken over: the new pod from the first flows on (well within the grace period).
    for flow in later(TAKEN_OVER, taken_over + chrono::TimeDelta::milliseconds(300)) {
        assert_eq!(pod_name(&flow["destination"]), "db-1", "{flow}");
    }

    // Relisted: every flow named, during the relist and after it.
    let relisted = &flows[&u64::from(RELISTED)];
    assert!(relisted.len() >= 10, "{}", everything());
    for (_, flow) in relisted {
        assert_eq!(pod_name(&flow["destination"]), "db-1", "{flow}");
    }
    assert!(support::sum(&text, "flowlog_k8s_relists_total", &[r#"kind="pods""#]) >= 1, "{text}");
    assert_eq!(support::sum(&text, "flowlog_k8s_objects", &[r#"kind="pods""#]), 2, "{text}");
    assert_eq!(support::sum(&text, "flowlog_k8s_objects", &[r#"kind="nodes""#]), 2, "{text}");

    // What the agent asked: lists in pages, watches with bookmarks from a
    // version, no selectors (the server refuses them).
    let requests = server.requests();
    for request in &requests {
        let list = request.ends_with("?&limit=100");
        let watch = request.contains("watch=true")
            && request.contains("allowWatchBookmarks=true")
            && request.contains("resourceVersion=");
        assert!(list || watch, "unexpected request {request}");
    }
    for kind in ["pods", "namespaces", "services", "nodes"] {
        let lists = requests.iter().filter(|r| r.starts_with(&format!("/api/v1/{kind}?&limit"))).count();
        assert!(lists >= 2, "{kind}: listed {lists} times, relisted after the 410");
    }
}

#[test]
fn catches_up_with_an_api_server_that_is_down_at_start_and_restarts() {
    if netns::skip_unless_root("catches_up_with_an_api_server_that_is_down_at_start_and_restarts") {
        return;
    }
    let topology = Topology::new("k8s-down", 216);
    let db = topology.address("2.2");
    // A fixed port of the node's own namespace, below the ephemeral range:
    // while the server is down, the agent's connection attempts to an
    // ephemeral port could connect to themselves (TCP's simultaneous open)
    // and take the port the server is started on again.
    let port = 6443;
    let objects = |server: &ApiServer, db_name: &str| {
        server.apply(&namespace());
        server.apply(&node("test-node", &topology.address("1.1")));
        server.apply(&web_pod(&topology, &[("app", "web")]));
        server.apply(&pod(db_name, &db, &[("app", "db")], None));
    };

    // Down at start: the agent starts, exports, says so once per kind.
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("flows.log");
    let kubeconfig = dir.path().join("kubeconfig");
    let unused = ApiServer::start(topology.listener(port), 1);
    std::fs::rename(unused.kubeconfig(dir.path()), &kubeconfig).unwrap();
    drop(unused);
    let flowlog = topology.start_flowlog(&kubeconfig, &output);
    let metrics = support::metrics_address(&flowlog);
    topology.send_for(&db, 7101, Duration::from_secs(3));
    let said = flowlog.stderr().matches("cannot watch the Kubernetes API server").count();
    assert_eq!(said, 4, "once per kind:\n{}", flowlog.stderr());
    let (code, _) = topology.node.run(|| support::get(metrics, "/healthz"));
    assert_eq!(code, 200, "exporting is what matters");

    // Up: caught up with.
    let server = ApiServer::start(topology.listener(port), 100);
    objects(&server, "db-0");
    topology.wait_for_metric(&flowlog, metrics, "flowlog_k8s_synced", 1);
    topology.send_for(&db, 7102, Duration::from_millis(500));

    // Stopped for 5 s: names kept meanwhile.
    drop(server);
    topology.send_for(&db, 7103, Duration::from_secs(5));

    // Started again, knowing none of the old versions (they are far older
    // than its first): the watches list again, and follow what changed.
    let server = ApiServer::start(topology.listener(port), 100_000);
    objects(&server, "db-1");
    topology.wait_for_metric(&flowlog, metrics, "flowlog_k8s_relists_total", 1);
    topology.send_for(&db, 7104, Duration::from_millis(500));
    drop(server);

    let finished = flowlog.terminate();
    let flows = flows_by_port(&output);
    let everything = || format!("flowlog logged:\n{}\nexported:\n{:#?}", finished.stderr, flows);
    let names =
        |port: u64| -> Vec<&str> { flows[&port].iter().map(|(_, flow)| pod_name(&flow["destination"])).collect() };
    assert!(names(7101).iter().all(|name| name.is_empty()), "{}", everything());
    assert!(
        flows[&7101].iter().all(|(_, flow)| flow["destination"]["labels"] == serde_json::json!(["reserved:world"]))
    );
    assert!(names(7102).iter().all(|name| *name == "db-0"), "{}", everything());
    assert!(names(7103).len() >= 50 && names(7103).iter().all(|name| *name == "db-0"), "{}", everything());
    assert!(names(7104).iter().all(|name| *name == "db-1"), "{}", everything());
    assert!(finished.stderr.contains("watching the Kubernetes API server again"), "{}", finished.stderr);
}
