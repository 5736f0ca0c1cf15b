//! The cost of naming a flow from a Kubernetes-sized table, while the table
//! changes: 10,000 pods in 100 namespaces, 2,000 services, 500 nodes, and a
//! thread applying 1,000 pod changes a second (relabelling pods, published
//! in batches of 100 ms, as the watch does).
//!
//! - `lookup`: one address to what it resolves to, in a snapshot;
//! - `enrich_addrs`: a whole flow's naming, as the capture does it: two
//!   lookups, the endpoints copied into the flow, and the services by
//!   address and port.
//!
//! `cargo bench -p flowlog-enrich --bench lookup`

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use flowlog_enrich::SharedEndpoints;
use flowlog_enrich::source::kubernetes::Settings;
use flowlog_enrich::source::kubernetes::cluster::{Change, Cluster, Update};
use flowlog_enrich::source::kubernetes::records::{NamespaceRecord, NodeRecord, PodRecord, ServiceRecord};
use flowlog_flow::layer4::Protocol;
use flowlog_flow::{Flow, Layer4, Tcp, Workload};

const PODS: u32 = 10_000;
const SERVICES: u32 = 2_000;
const NODES: u32 = 500;
const CHANGES_PER_SECOND: u32 = 1_000;

fn address(first: u8, index: u32) -> IpAddr {
    let [_, a, b, c] = index.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(first, a, b, c))
}

fn pod(index: u32, version: u32) -> PodRecord {
    let app = format!("app-{}", index % 500);
    PodRecord {
        namespace: format!("team-{}", index % 100),
        name: format!("{app}-7d4b9c8f6d-{index:05}"),
        addresses: vec![address(10, index)],
        labels: vec![
            ("app".into(), app.clone()),
            ("app.kubernetes.io/part-of".into(), format!("system-{}", index % 20)),
            ("tier".into(), ["front", "back", "data"][(index % 3) as usize].into()),
            ("version".into(), format!("v{version}")),
        ],
        service_account: app.clone(),
        workload: Some(Workload { name: app, kind: "Deployment".into() }),
    }
}

/// The cluster, as the watches would have listed it.
fn cluster() -> Cluster {
    let settings =
        Settings { cluster_name: "bench".into(), node_name: "node-0".into(), departed_grace: Duration::from_secs(30) };
    let mut cluster = Cluster::new(settings);
    let now = std::time::Instant::now();
    let namespaces = (0..100)
        .map(|i| NamespaceRecord {
            name: format!("team-{i}"),
            labels: vec![
                ("kubernetes.io/metadata.name".into(), format!("team-{i}")),
                ("owner".into(), "platform".into()),
            ],
        })
        .collect();
    cluster.apply_list(Change::Namespaces, namespaces, now);
    cluster.apply_list(Change::Pods, (0..PODS).map(|i| pod(i, 1)).collect(), now);
    let services = (0..SERVICES)
        .map(|i| ServiceRecord {
            namespace: format!("team-{}", i % 100),
            name: format!("svc-{i}"),
            addresses: vec![address(172, i)],
            ports: vec![80, 443],
        })
        .collect();
    cluster.apply_list(Change::Services, services, now);
    let nodes =
        (0..NODES).map(|i| NodeRecord { name: format!("node-{i}"), addresses: vec![address(192, i)] }).collect();
    cluster.apply_list(Change::Nodes, nodes, now);
    cluster
}

/// Applies [`CHANGES_PER_SECOND`] pod changes until `stop`, publishing
/// them to `layer` every 100 ms.
fn churn(mut cluster: Cluster, layer: flowlog_enrich::Layer, stop: Arc<AtomicBool>) {
    let mut published = Instant::now();
    let mut next = Instant::now();
    let mut change: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        cluster.apply(Change::Pods(Update::Applied(pod(change % PODS, 2 + change / PODS))), std::time::Instant::now());
        change += 1;
        if published.elapsed() >= Duration::from_millis(100) {
            layer.publish(cluster.names());
            published = Instant::now();
        }
        next += Duration::from_secs(1) / CHANGES_PER_SECOND;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

fn a_flow() -> Flow {
    let tcp = Tcp { source_port: 40_000, destination_port: 443, ..Tcp::default() };
    Flow { l4: Some(Layer4 { protocol: Some(Protocol::Tcp(tcp)) }), ..Flow::default() }
}

fn lookup(c: &mut Criterion) {
    let mut cluster = cluster();
    let shared = SharedEndpoints::default();
    let layer = shared.add_layer(cluster.names());
    let stop = Arc::new(AtomicBool::new(false));
    let churning = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || churn(cluster, layer, stop))
    };

    let mut group = c.benchmark_group("kubernetes table, 1,000 pod changes/s");
    let (pod_address, service_address) = (address(10, 4242), address(172, 42));
    group.bench_function("lookup", |b| {
        let snapshot = shared.current();
        b.iter(|| std::hint::black_box(snapshot.resolve(std::hint::black_box(pod_address))).shared().identity);
    });
    let mut flow = a_flow();
    group.bench_function("enrich_addrs", |b| {
        b.iter(|| {
            shared.enrich_addrs(&mut flow, std::hint::black_box(pod_address), service_address);
            std::hint::black_box(&flow);
        });
    });
    group.finish();
    assert!(flow.destination_service.is_some() && !flow.source.unwrap().pod_name.is_empty());
    stop.store(true, Ordering::Relaxed);
    churning.join().unwrap();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
