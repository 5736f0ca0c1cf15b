//! Filter matching on the hot path: the cases of Cilium's
//! `filters_benchmark_test.go` (empty filter, basic L4, CEL equivalent), and
//! the allowlist/denylist pair of `hubble observe --verdict DROPPED --verdict
//! ERROR --not --namespace kube-system` over realistic synthetic traffic.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlog_filter::{Filters, parse_filters};
use flowlog_flow::ExportEvent;
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::layer4::Protocol;
use flowlog_flow::synthetic::FlowGenerator;

const L4: &str = r#"{"protocol":["tcp"],"destination_port":["80","443"]}"#;
const CEL_L4: &str = r#"{"experimental":{"cel_expression":[
    "has(_flow.l4.TCP) && (_flow.l4.TCP.destination_port == 80u || _flow.l4.TCP.destination_port == 443u)"
]}}"#;

fn filters(allow: &str, deny: &str) -> Filters {
    Filters::new(parse_filters(allow).unwrap(), parse_filters(deny).unwrap()).unwrap()
}

fn events(count: usize) -> Vec<ExportEvent> {
    let mut generator = FlowGenerator::new(42, "kind-kind/kind-worker");
    (0..count).map(|_| generator.next_event()).collect()
}

fn is_tcp_to(event: &ExportEvent, ports: &[u32]) -> bool {
    let Some(ResponseTypes::Flow(flow)) = &event.response_types else {
        return false;
    };
    matches!(flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()), Some(Protocol::Tcp(tcp)) if ports.contains(&tcp.destination_port))
}

fn single_event(c: &mut Criterion) {
    let all = events(10_000);
    let matching = all.iter().find(|e| is_tcp_to(e, &[80, 443])).expect("the generator makes HTTPS flows").clone();
    let non_matching = all.iter().find(|e| !is_tcp_to(e, &[80, 443])).unwrap().clone();

    let mut group = c.benchmark_group("single_event");
    let empty = filters("{}", "");
    group.bench_function("empty_filter", |b| b.iter(|| empty.apply(black_box(&matching))));
    let l4 = filters(L4, "");
    assert!(l4.apply(&matching) && !l4.apply(&non_matching));
    group.bench_function("basic_l4_matching", |b| b.iter(|| l4.apply(black_box(&matching))));
    group.bench_function("basic_l4_non_matching", |b| b.iter(|| l4.apply(black_box(&non_matching))));
    let cel = filters(CEL_L4, "");
    assert!(cel.apply(&matching) && !cel.apply(&non_matching));
    group.bench_function("cel_l4_matching", |b| b.iter(|| cel.apply(black_box(&matching))));
    group.bench_function("cel_l4_non_matching", |b| b.iter(|| cel.apply(black_box(&non_matching))));
    group.finish();
}

fn traffic_mix(c: &mut Criterion) {
    let events = events(1_000);
    let mut group = c.benchmark_group("traffic_mix_1000");
    group.throughput(Throughput::Elements(events.len() as u64));
    let cases = [
        ("empty_filter", filters("{}", "")),
        ("basic_l4", filters(L4, "")),
        (
            "dropped_not_kube_system",
            filters(r#"{"verdict":["DROPPED","ERROR"]}"#, r#"{"source_pod":["kube-system/"]}"#),
        ),
        (
            "labels_and_cidr",
            filters(r#"{"source_label":["k8s:app in (frontend, cart)"],"destination_ip":["10.244.0.0/16"]}"#, ""),
        ),
    ];
    for (name, filters) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| events.iter().filter(|event| filters.apply(black_box(event))).count())
        });
    }
    group.finish();
}

criterion_group!(benches, single_event, traffic_mix);
criterion_main!(benches);
