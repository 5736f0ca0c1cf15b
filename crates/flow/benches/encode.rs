//! Line encoding and decoding: the cost of turning one event into one Hubble
//! export line, whole and under the minimal field mask Cilium's docs recommend.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlog_flow::decode::LineDecoder;
use flowlog_flow::json::{SelectedField, Selection, encode_line};
use flowlog_flow::synthetic::FlowGenerator;

/// `time source.namespace source.pod_name destination.namespace
/// destination.pod_name l4 IP node_name is_reply verdict`, compiled by hand
/// (field numbers of flow.proto) because the mask compiler lives downstream.
fn minimal_mask() -> Selection {
    let whole = |number| SelectedField { number, sub: None };
    let namespace_and_pod = || Some(Selection::new(vec![whole(3), whole(5)]));
    Selection::new(vec![
        whole(1),
        whole(2),
        whole(5),
        whole(6),
        SelectedField { number: 8, sub: namespace_and_pod() },
        SelectedField { number: 9, sub: namespace_and_pod() },
        whole(11),
        whole(26),
    ])
}

fn encoding(c: &mut Criterion) {
    let mut generator = FlowGenerator::new(7, "kind-kind/kind-worker");
    let events: Vec<_> = (0..1024).map(|_| generator.next_event()).collect();
    let mask = minimal_mask();
    let mut line = Vec::with_capacity(4096);

    let mut group = c.benchmark_group("encode_line");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("whole_flow", |b| {
        b.iter(|| {
            for event in &events {
                line.clear();
                encode_line(black_box(event), None, &mut line).unwrap();
            }
            black_box(line.len())
        })
    });
    group.bench_function("minimal_mask", |b| {
        b.iter(|| {
            for event in &events {
                line.clear();
                encode_line(black_box(event), Some(&mask), &mut line).unwrap();
            }
            black_box(line.len())
        })
    });
    group.finish();

    let lines: Vec<String> = events
        .iter()
        .map(|event| {
            let mut line = Vec::new();
            encode_line(event, None, &mut line).unwrap();
            String::from_utf8(line).unwrap().trim_end().to_owned()
        })
        .collect();
    let decoder = LineDecoder;
    let mut group = c.benchmark_group("decode_line");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("whole_flow", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(decoder.decode(black_box(line)).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, encoding);
criterion_main!(benches);
