//! The ring's own work on the pipeline's thread: one event through a
//! pipeline whose only consumer is the Hubble `Recorder` (slot swap,
//! reference count, namespaces, hand-over of what is overwritten), against
//! the same pipeline with no consumer. Events are shared from a pool of 64,
//! in the cache as an event is when the exporters before the recorder have
//! just encoded it, and neither side allocates or frees one; what keeping
//! fresh events alive costs is measured on the real agent instead
//! (`scripts/agent-cpu`, docs/performance.md).

use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlog_export::Pipeline;
use flowlog_flow::synthetic::FlowGenerator;
use flowlog_serve::{Capacity, Observer};

// The agent's allocator (crates/flowlog/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn recording(c: &mut Criterion) {
    let mut generator = FlowGenerator::new(7, "kind-kind/kind-worker");
    let events: Vec<_> = (0..64).map(|_| Arc::new(generator.next_event())).collect();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1024));
    for (name, consumers) in [("no consumer", false), ("hubble recorder, ring of 4095", true)] {
        let consumers: Vec<Box<dyn flowlog_export::Consumer>> =
            if consumers { vec![Box::new(Observer::new(Capacity::DEFAULT, "kind-worker").1)] } else { Vec::new() };
        let mut pipeline = Pipeline::new(consumers);
        let mut next = events.iter().cycle();
        group.bench_function(name, |b| {
            b.iter(|| {
                for event in next.by_ref().take(1024) {
                    pipeline.export(event);
                }
                // As the pipeline ticks after every batch.
                pipeline.tick(Instant::now());
            });
        });
    }
    group.finish();
}

criterion_group!(benches, recording);
criterion_main!(benches);
