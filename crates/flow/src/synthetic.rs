//! Realistic, deterministic synthetic flows for benchmarks, tests and samples.
//!
//! The traffic looks like a small Kubernetes cluster: pods of a few
//! deployments in several namespaces talking TCP (with handshake flags and
//! replies), DNS over UDP to kube-dns, ICMP pings, some traffic to and from
//! the world, and policy drops. Every endpoint carries a namespace, pod name,
//! Cilium-style labels, a workload and a security identity. The same seed
//! always gives the same sequence.

use prost_types::Timestamp;

use crate::export_event::ResponseTypes;
use crate::layer4::Protocol;
use crate::{
    CiliumEventType, DropReason, Endpoint, Ethernet, ExportEvent, Flow, FlowType, IcmPv4, Ip, IpVersion, Layer4,
    NetworkInterface, Tcp, TcpFlags, TraceObservationPoint, TrafficDirection, Udp, Verdict, Workload,
};

/// Monitor event types used by Hubble's `event_type.type`.
const EVENT_DROP: i32 = 1;
const EVENT_TRACE: i32 = 4;

/// Generates an endless, reproducible stream of flows.
#[derive(Debug, Clone)]
pub struct FlowGenerator {
    rng: SplitMix64,
    pods: Vec<Endpoint>,
    world: Endpoint,
    node_name: String,
    nanos_since_epoch: i64,
}

/// (namespace, deployment, container port) of the simulated workloads.
const DEPLOYMENTS: &[(&str, &str, u32)] = &[
    ("default", "frontend", 8080),
    ("default", "cart", 7070),
    ("shop", "checkout", 5050),
    ("shop", "catalog", 3550),
    ("shop", "redis", 6379),
    ("payments", "api", 443),
    ("payments", "ledger", 5432),
    ("monitoring", "prometheus", 9090),
    ("kube-system", "coredns", 53),
    ("kube-system", "metrics-server", 4443),
];

const REPLICAS: usize = 4;

impl FlowGenerator {
    /// A generator whose flows are observed on `node_name` (e.g. `kind-kind/kind-worker`).
    pub fn new(seed: u64, node_name: &str) -> Self {
        let mut rng = SplitMix64(seed);
        let mut pods = Vec::new();
        for (index, &(namespace, app, _)) in DEPLOYMENTS.iter().enumerate() {
            let identity = 10_000 + 97 * index as u32;
            let replica_set = format!("{:x}", rng.next() % 0xff_ffff_ffff);
            for replica in 0..REPLICAS {
                pods.push(Endpoint {
                    id: 100 + pods.len() as u32,
                    identity,
                    cluster_name: String::new(),
                    namespace: namespace.to_owned(),
                    labels: vec![
                        format!("k8s:app={app}"),
                        format!("k8s:app.kubernetes.io/name={app}"),
                        format!("k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={namespace}"),
                        format!("k8s:io.cilium.k8s.policy.cluster=kind-kind"),
                        format!("k8s:io.cilium.k8s.policy.serviceaccount={app}"),
                        format!("k8s:io.kubernetes.pod.namespace={namespace}"),
                    ],
                    pod_name: format!("{app}-{replica_set}-{}", pod_suffix(&mut rng, replica)),
                    workloads: vec![Workload { name: app.to_owned(), kind: "Deployment".to_owned() }],
                });
            }
        }
        let world = Endpoint { identity: 2, labels: vec!["reserved:world".to_owned()], ..Default::default() };
        Self {
            rng,
            pods,
            world,
            node_name: node_name.to_owned(),
            // 2024-05-01T10:00:00Z
            nanos_since_epoch: 1_714_557_600_000_000_000,
        }
    }

    /// The next flow. Time advances by a few microseconds per flow.
    pub fn next_flow(&mut self) -> Flow {
        self.nanos_since_epoch += 1_000 + (self.rng.next() % 9_000) as i64;
        let roll = self.rng.next() % 100;
        let source_index = self.rng.below(self.pods.len());
        let destination_index = self.rng.below(DEPLOYMENTS.len()) * REPLICAS + self.rng.below(REPLICAS);
        let (source, destination) = match roll {
            0..=4 => (self.world.clone(), self.pods[destination_index].clone()),
            5..=9 => (self.pods[source_index].clone(), self.world.clone()),
            _ => (self.pods[source_index].clone(), self.pods[destination_index].clone()),
        };
        let source_ip = self.address_of(&source, source_index);
        let destination_ip = self.address_of(&destination, destination_index);
        let service_port = DEPLOYMENTS[destination_index / REPLICAS].2;
        let ephemeral_port = 32_768 + (self.rng.next() % 28_000) as u32;
        let is_reply = self.rng.next().is_multiple_of(3);

        let (l4, summary) = match self.rng.next() % 10 {
            0 => (
                Protocol::IcmPv4(IcmPv4 { r#type: if is_reply { 0 } else { 8 }, code: 0 }),
                if is_reply { "ICMPv4 EchoReply" } else { "ICMPv4 EchoRequest" }.to_owned(),
            ),
            1 | 2 => {
                let (s, d) = if is_reply { (53, ephemeral_port) } else { (ephemeral_port, 53) };
                (Protocol::Udp(Udp { source_port: s, destination_port: d }), "UDP".to_owned())
            }
            _ => {
                let flags = self.tcp_flags(is_reply);
                let summary = format!("TCP Flags: {}", flag_names(&flags));
                let (s, d) = if is_reply { (service_port, ephemeral_port) } else { (ephemeral_port, service_port) };
                (Protocol::Tcp(Tcp { source_port: s, destination_port: d, flags: Some(flags) }), summary)
            }
        };

        let dropped = self.rng.next() % 100 < 7;
        // Traffic from the world arrives at a pod; traffic to it leaves one.
        let ingress = match roll {
            0..=4 => true,
            5..=9 => false,
            _ => self.rng.next().is_multiple_of(2),
        };
        let (verdict, event_type, observation_point) = if dropped {
            (Verdict::Dropped, CiliumEventType { r#type: EVENT_DROP, sub_type: DropReason::PolicyDenied as i32 }, None)
        } else {
            let point = if ingress { TraceObservationPoint::ToEndpoint } else { TraceObservationPoint::FromEndpoint };
            let sub_type = if ingress { 0 } else { point as i32 };
            (Verdict::Forwarded, CiliumEventType { r#type: EVENT_TRACE, sub_type }, Some(point))
        };

        #[allow(deprecated, reason = "Hubble still fills drop_reason and Summary")]
        Flow {
            time: Some(Timestamp {
                seconds: self.nanos_since_epoch.div_euclid(1_000_000_000),
                nanos: self.nanos_since_epoch.rem_euclid(1_000_000_000) as i32,
            }),
            uuid: self.uuid(),
            verdict: verdict as i32,
            drop_reason: if dropped { DropReason::PolicyDenied as u32 } else { 0 },
            ethernet: Some(Ethernet { source: self.mac(), destination: self.mac() }),
            ip: Some(Ip {
                source: source_ip,
                destination: destination_ip,
                ip_version: IpVersion::IPv4 as i32,
                ..Default::default()
            }),
            l4: Some(Layer4 { protocol: Some(l4) }),
            source: Some(source),
            destination: Some(destination),
            r#type: FlowType::L3L4 as i32,
            node_name: self.node_name.clone(),
            event_type: Some(event_type),
            traffic_direction: if ingress { TrafficDirection::Ingress } else { TrafficDirection::Egress } as i32,
            trace_observation_point: observation_point.map_or(0, |p| p as i32),
            drop_reason_desc: if dropped { DropReason::PolicyDenied as i32 } else { 0 },
            is_reply: Some(is_reply),
            interface: Some(NetworkInterface {
                index: 7 + source_index as u32,
                name: format!("lxc{:08x}", source_index * 7919),
            }),
            summary,
            ..Default::default()
        }
    }

    /// The next flow wrapped as an export event, as the exporter receives it.
    pub fn next_event(&mut self) -> ExportEvent {
        let flow = self.next_flow();
        ExportEvent {
            node_name: flow.node_name.clone(),
            time: flow.time,
            response_types: Some(ResponseTypes::Flow(flow)),
        }
    }

    fn address_of(&mut self, endpoint: &Endpoint, pod_index: usize) -> String {
        if endpoint.identity == 2 {
            let n = self.rng.next();
            format!("{}.{}.{}.{}", 23 + n % 180, (n >> 8) % 256, (n >> 16) % 256, 1 + (n >> 24) % 254)
        } else {
            format!("10.244.{}.{}", pod_index / 200, 10 + pod_index % 200)
        }
    }

    fn tcp_flags(&mut self, is_reply: bool) -> TcpFlags {
        match (self.rng.next() % 6, is_reply) {
            (0, false) => TcpFlags { syn: true, ..Default::default() },
            (0, true) => TcpFlags { syn: true, ack: true, ..Default::default() },
            (1, _) => TcpFlags { fin: true, ack: true, ..Default::default() },
            (2, _) => TcpFlags { rst: true, ..Default::default() },
            (3 | 4, _) => TcpFlags { psh: true, ack: true, ..Default::default() },
            _ => TcpFlags { ack: true, ..Default::default() },
        }
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.rng.next(), self.rng.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    fn mac(&mut self) -> String {
        let n = self.rng.next();
        let b = |i: u32| (n >> (8 * i)) as u8;
        format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b(0) & 0xfe | 0x02, b(1), b(2), b(3), b(4), b(5))
    }
}

impl Iterator for FlowGenerator {
    type Item = ExportEvent;

    fn next(&mut self) -> Option<ExportEvent> {
        Some(self.next_event())
    }
}

fn pod_suffix(rng: &mut SplitMix64, replica: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = rng.next() ^ replica as u64;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Flag names in Hubble's summary order.
fn flag_names(flags: &TcpFlags) -> String {
    [(flags.syn, "SYN"), (flags.ack, "ACK"), (flags.fin, "FIN"), (flags.rst, "RST"), (flags.psh, "PSH")]
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A tiny, fast, well-distributed PRNG; statistical quality is all that matters here.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::encode_line;

    #[test]
    fn same_seed_gives_same_flows() {
        let a: Vec<_> = FlowGenerator::new(7, "n").take(50).collect();
        let b: Vec<_> = FlowGenerator::new(7, "n").take(50).collect();
        assert_eq!(a, b);
        let c: Vec<_> = FlowGenerator::new(8, "n").take(50).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn flows_cover_protocols_verdicts_and_directions() {
        let flows: Vec<Flow> = {
            let mut generator = FlowGenerator::new(1, "kind-kind/kind-worker");
            (0..2_000).map(|_| generator.next_flow()).collect()
        };
        let has = |predicate: &dyn Fn(&Flow) -> bool| flows.iter().any(predicate);
        let l4 = |f: &Flow| f.l4.as_ref().and_then(|l| l.protocol.clone());
        assert!(has(&|f| matches!(l4(f), Some(Protocol::Tcp(_)))));
        assert!(has(&|f| matches!(l4(f), Some(Protocol::Udp(_)))));
        assert!(has(&|f| matches!(l4(f), Some(Protocol::IcmPv4(_)))));
        assert!(has(&|f| f.verdict == Verdict::Dropped as i32));
        assert!(has(&|f| f.verdict == Verdict::Forwarded as i32));
        assert!(has(&|f| f.traffic_direction == TrafficDirection::Egress as i32));
        assert!(has(&|f| f.source.as_ref().is_some_and(|s| s.namespace == "kube-system")));
        assert!(has(&|f| f.destination.as_ref().is_some_and(|d| d.identity == 2)));
        let nanos = |f: &Flow| f.time.map(|t| i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos));
        assert!(flows.windows(2).all(|w| nanos(&w[0]) < nanos(&w[1])), "time moves forward");
    }

    #[test]
    fn flows_encode_as_realistic_lines() {
        let mut generator = FlowGenerator::new(3, "kind-kind/kind-worker");
        let mut out = Vec::new();
        for _ in 0..1_000 {
            encode_line(&generator.next_event(), None, &mut out).unwrap();
        }
        let average = out.len() / 1_000;
        // Cilium's own sample flow (hubble-contract §11.7) is 1.3 KB.
        assert!((800..2_000).contains(&average), "average line is {average} bytes");
    }
}
