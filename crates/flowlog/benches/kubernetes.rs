//! The agent with a large cluster behind it: the real `flowlog run`, named
//! from the test API server (`tests/support/api_server.rs`) serving 10,000
//! pods, 2,000 services, 500 nodes and 100 namespaces, each object as large
//! as a real cluster's (containers, resources, annotations, managed fields;
//! nodes with their conditions and images).
//!
//! Prints, for the agent without Kubernetes and with it:
//!
//! - resident memory once settled (VmRSS), and the peak (VmHWM);
//! - with Kubernetes, the time from the watches starting to flows being
//!   named (the agent's own log timestamps: "naming flows from the
//!   Kubernetes API" to "naming flows from Kubernetes").
//!
//! `cargo bench -p flowlog --bench kubernetes` as root (the agent loads its
//! eBPF programs); prints SKIPPED otherwise. FLOWLOG_BENCH_PODS overrides
//! the pod count (services a fifth of it, nodes a twentieth).

#[path = "../../../tests/support/api_server.rs"]
#[allow(dead_code, reason = "the benchmark only serves; the tests change, expire and inspect")]
mod api_server;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_server::ApiServer;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    Container, ContainerImage, ContainerPort, EnvVar, Namespace, Node, NodeAddress, NodeCondition, NodeStatus, Pod,
    PodIP, PodSpec, PodStatus, ResourceRequirements, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference};

fn labels(pairs: &[(&str, String)]) -> Option<BTreeMap<String, String>> {
    Some(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
}

/// Managed fields as a real API server writes them: about half an object.
fn managed_fields(manager: &str) -> Option<Vec<ManagedFieldsEntry>> {
    let fields = serde_json::json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}}, "f:ownerReferences": {}},
        "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:ports": {}, "f:resources": {}}}},
        "f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}});
    Some(vec![ManagedFieldsEntry {
        manager: Some(manager.into()),
        operation: Some("Update".into()),
        api_version: Some("v1".into()),
        fields_type: Some("FieldsV1".into()),
        fields_v1: Some(FieldsV1(fields)),
        ..ManagedFieldsEntry::default()
    }])
}

fn container(name: &str, image: String) -> Container {
    let quantity = |text: &str| Quantity(text.into());
    Container {
        name: name.into(),
        image: Some(image),
        ports: Some(vec![ContainerPort {
            container_port: 8080,
            name: Some("http".into()),
            ..ContainerPort::default()
        }]),
        env: Some(
            (0..6)
                .map(|i| EnvVar {
                    name: format!("SETTING_{i}"),
                    value: Some(format!("value-{i}")),
                    ..EnvVar::default()
                })
                .collect(),
        ),
        resources: Some(ResourceRequirements {
            requests: Some([("cpu".to_owned(), quantity("100m")), ("memory".to_owned(), quantity("128Mi"))].into()),
            limits: Some([("memory".to_owned(), quantity("256Mi"))].into()),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    }
}

fn pod(index: usize, nodes: usize) -> Pod {
    let app = format!("app-{}", index % 500);
    let hash = format!("{:010x}", index % 500);
    let [_, a, b, c] = u32::try_from(index).unwrap().to_be_bytes();
    let ip = format!("10.{a}.{b}.{c}");
    let node = index % nodes;
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("{app}-{hash}-{index:05}")),
            generate_name: Some(format!("{app}-{hash}-")),
            namespace: Some(format!("team-{}", index % 100)),
            uid: Some(format!("00000000-0000-0000-0000-{index:012}")),
            labels: labels(&[
                ("app", app.clone()),
                ("pod-template-hash", hash.clone()),
                ("tier", "back".into()),
                ("version", "v1".into()),
            ]),
            annotations: labels(&[
                ("kubectl.kubernetes.io/restartedAt", "2026-11-30T10:00:00Z".into()),
                ("prometheus.io/scrape", "true".into()),
            ]),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: format!("{app}-{hash}"),
                uid: format!("11111111-0000-0000-0000-{index:012}"),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            managed_fields: managed_fields("kube-controller-manager"),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![
                container("app", format!("registry.example.com/{app}:1.2.3")),
                container("sidecar", "registry.example.com/proxy:2.0".into()),
            ],
            node_name: Some(format!("node-{node}")),
            service_account_name: Some(app),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            host_ip: Some(format!("192.168.{}.{}", node / 256, node % 256)),
            pod_ip: Some(ip.clone()),
            pod_ips: Some(vec![PodIP { ip }]),
            ..PodStatus::default()
        }),
    }
}

fn node(index: usize) -> Node {
    let condition = |type_: &str| NodeCondition {
        type_: type_.into(),
        status: "False".into(),
        reason: Some(format!("Kubelet{type_}")),
        message: Some(format!("kubelet reports {type_}")),
        ..NodeCondition::default()
    };
    let image = |i: usize| ContainerImage {
        names: Some(vec![
            format!("registry.example.com/image-{i}@sha256:{i:064x}"),
            format!("registry.example.com/image-{i}:1.{i}"),
        ]),
        size_bytes: Some(50_000_000),
    };
    Node {
        metadata: ObjectMeta {
            name: Some(format!("node-{index}")),
            labels: labels(&[
                ("kubernetes.io/hostname", format!("node-{index}")),
                ("topology.kubernetes.io/zone", format!("zone-{}", index % 3)),
                ("node.kubernetes.io/instance-type", "m6i.2xlarge".into()),
            ]),
            managed_fields: managed_fields("kubelet"),
            ..ObjectMeta::default()
        },
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress { type_: "InternalIP".into(), address: format!("192.168.{}.{}", index / 256, index % 256) },
                NodeAddress { type_: "Hostname".into(), address: format!("node-{index}") },
            ]),
            conditions: Some(["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"].map(condition).into()),
            images: Some((0..30).map(image).collect()),
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

fn service(index: usize) -> Service {
    let ip = format!("172.16.{}.{}", index / 256, index % 256);
    let port = |name: &str, port| ServicePort { name: Some(name.into()), port, ..ServicePort::default() };
    Service {
        metadata: ObjectMeta {
            name: Some(format!("svc-{index}")),
            namespace: Some(format!("team-{}", index % 100)),
            managed_fields: managed_fields("kubectl"),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some(ip.clone()),
            cluster_ips: Some(vec![ip]),
            ports: Some(vec![port("http", 80), port("https", 443)]),
            selector: labels(&[("app", format!("app-{}", index % 500))]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// A running agent and the lines it has logged.
struct Agent {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    fn start(extra: &[&str]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flowlog"))
            .args(["run", "--interface", "flowlog-bench-none*", "--capture-drops=false"])
            .args(["--export-file-path", "/dev/null"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            BufReader::new(stderr).lines().map_while(Result::ok).for_each(|line| lines.lock().unwrap().push(line));
        });
        Agent { child, log }
    }

    /// The timestamp of the first line containing `text`, waiting up to a minute.
    fn logged(&self, text: &str) -> DateTime<Utc> {
        for _ in 0..6000 {
            if let Some(line) = self.log.lock().unwrap().iter().find(|line| line.contains(text)) {
                return line.split_whitespace().next().unwrap().parse().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the agent never logged {text:?}:\n{}", self.log.lock().unwrap().join("\n"));
    }

    /// VmRSS and VmHWM, in MiB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let mib = |field: &str| -> f64 {
            let line = status.lines().find(|line| line.starts_with(field)).unwrap();
            line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
        };
        (mib("VmRSS:"), mib("VmHWM:"))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED (needs root): the agent loads its eBPF programs");
        return;
    }
    let pods: usize = std::env::var("FLOWLOG_BENCH_PODS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let (services, nodes) = (pods / 5, (pods / 20).max(1));
    let server = ApiServer::start(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), 1);
    for index in 0..100 {
        let name = format!("team-{index}");
        let metadata = ObjectMeta {
            name: Some(name.clone()),
            labels: labels(&[("kubernetes.io/metadata.name", name)]),
            ..ObjectMeta::default()
        };
        server.apply(&Namespace { metadata, ..Namespace::default() });
    }
    (0..nodes).for_each(|index| server.apply(&node(index)));
    (0..services).for_each(|index| server.apply(&service(index)));
    (0..pods).for_each(|index| server.apply(&pod(index, nodes)));
    let pod_bytes = serde_json::to_vec(&pod(1, nodes)).unwrap().len();
    let node_bytes = serde_json::to_vec(&node(1)).unwrap().len();
    println!(
        "cluster: {pods} pods ({pod_bytes} bytes of JSON each), {services} services, {nodes} nodes ({node_bytes} bytes each), 100 namespaces"
    );

    let settle = Duration::from_secs(3);
    let without = Agent::start(&["--enable-k8s=false"]);
    without.logged("capturing;");
    std::thread::sleep(settle);
    let (rss, peak) = without.memory();
    println!("without Kubernetes: {rss:.1} MiB resident, {peak:.1} MiB peak");
    drop(without);

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.kubeconfig(dir.path());
    let with = Agent::start(&["--k8s-kubeconfig-path", kubeconfig.to_str().unwrap(), "--node-name", "node-0"]);
    let started = with.logged("naming flows from the Kubernetes API");
    let named = with.logged("naming flows from Kubernetes ");
    std::thread::sleep(settle);
    let (rss_k8s, peak_k8s) = with.memory();
    let ms = (named - started).num_milliseconds();
    println!(
        "with Kubernetes: {rss_k8s:.1} MiB resident (+{:.1}), {peak_k8s:.1} MiB peak (+{:.1}); watches started to flows named: {ms} ms",
        rss_k8s - rss,
        peak_k8s - peak
    );
    for line in
        with.log.lock().unwrap().iter().filter(|line| line.contains("from Kubernetes ") || line.contains("listed from"))
    {
        println!("  {line}");
    }
}
