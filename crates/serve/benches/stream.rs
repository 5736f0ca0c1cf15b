//! The Hubble server under load, in one process with the real server on a
//! unix socket and gRPC clients of tonic:
//!
//! - **follow**: flows per second streamed to one `follow` client while
//!   the pipeline pushes flows as fast as it can (what the client did not
//!   keep up with arrives as lost events, counted);
//! - **slow followers**: the exporter's rate and output with 0 and with 10
//!   followers that read one response every millisecond.
//!
//! `cargo bench -p flowlog-serve --bench stream` (`FLOWLOG_BENCH_FLOWS`
//! flows a run, 1,000,000 by default). Prints Markdown rows for
//! docs/performance.md.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flowlog_export::{Consumer, ExportContext, Exporter, ExporterConfig, Origin, Pipeline, WhenFull};
use flowlog_flow::ExportEvent;
use flowlog_flow::proto::observer::GetFlowsRequest;
use flowlog_flow::proto::observer::get_flows_response::ResponseTypes;
use flowlog_flow::synthetic::FlowGenerator;
use flowlog_serve::api::observer::observer_client::ObserverClient;
use flowlog_serve::{Capacity, Observer, Peers, ServerSettings};
use tonic::transport::Channel;

// The agent's allocator (crates/flowlog/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let flows: u64 = std::env::var("FLOWLOG_BENCH_FLOWS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let pool: Vec<Arc<ExportEvent>> = {
        let mut generator = FlowGenerator::new(42, "kind-kind/kind-worker");
        (0..10_000).map(|_| Arc::new(generator.next_event())).collect()
    };
    println!("| measurement | flows pushed | result |");
    println!("|---|---:|---|");
    follow(dir.path(), &pool, flows);
    for followers in [0, 10] {
        slow_followers(dir.path(), &pool, flows, followers);
    }
}

/// Pushes `flows` from `pool` through `pipeline`, ticking as the pipeline
/// does after each batch; returns how long it took.
fn push(pipeline: &mut Pipeline, pool: &[Arc<ExportEvent>], flows: u64) -> Duration {
    let started = Instant::now();
    for (i, event) in pool.iter().cycle().take(flows as usize).enumerate() {
        pipeline.export(event);
        if i % 1024 == 1023 {
            pipeline.tick(Instant::now());
        }
    }
    pipeline.tick(Instant::now());
    started.elapsed()
}

fn serve(dir: &Path, name: &str) -> (Arc<Observer>, Box<dyn Consumer>, flowlog_serve::Running, std::path::PathBuf) {
    let socket = dir.join(format!("{name}.sock"));
    let (observer, recorder) = Observer::new(Capacity::new(65535).unwrap(), "kind-worker");
    let settings = ServerSettings { socket_path: Some(socket.clone()), ..Default::default() };
    let running = settings.bind().unwrap().start(Arc::clone(&observer), Peers::default()).unwrap();
    (observer, Box::new(recorder), running, socket)
}

async fn connect(socket: &Path) -> Channel {
    flowlog_serve::api::unix_channel(socket).await.unwrap()
}

/// A follower on its own thread; returns (flows, lost) once `total` events
/// are accounted for, and how long after `started.set` the last arrived.
fn follower(
    socket: &Path,
    total: u64,
    delay: Option<Duration>,
    ready: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, u64, Instant)> {
    let socket = socket.to_path_buf();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut client = ObserverClient::new(connect(&socket).await);
            let request = GetFlowsRequest { follow: true, ..Default::default() };
            let mut stream = client.get_flows(request).await.unwrap().into_inner();
            ready.store(true, Ordering::SeqCst);
            let (mut flows, mut lost) = (0, 0);
            while flows + lost < total {
                let Ok(Some(response)) = stream.message().await else { break };
                match response.response_types {
                    Some(ResponseTypes::Flow(_)) => flows += 1,
                    Some(ResponseTypes::LostEvents(event)) => lost += event.num_events_lost,
                    _ => {}
                }
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
            }
            (flows, lost, Instant::now())
        })
    })
}

fn follow(dir: &Path, pool: &[Arc<ExportEvent>], flows: u64) {
    let (observer, recorder, _running, socket) = serve(dir, "follow");
    let mut pipeline = Pipeline::new(vec![recorder]);

    // The whole ring, read as `hubble observe --all` reads it.
    push(&mut pipeline, pool, observer.ring().capacity());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (count, seconds) = runtime.block_on(async {
        let mut client = ObserverClient::new(connect(&socket).await);
        let started = Instant::now();
        let mut count = 0u64;
        for _ in 0..5 {
            let request = GetFlowsRequest { number: u64::MAX, ..Default::default() };
            let mut stream = client.get_flows(request).await.unwrap().into_inner();
            while let Ok(Some(_)) = stream.message().await {
                count += 1;
            }
        }
        (count, started.elapsed().as_secs_f64())
    });
    println!(
        "| the whole ring (65,535 flows) five times, unix socket | {count} | {:.0} flows/s |",
        count as f64 / seconds
    );

    // A follower while the pipeline pushes at a steady rate.
    for rate in [100_000u64, 200_000] {
        let ready = Arc::new(AtomicBool::new(false));
        let total = flows.min(rate * 5);
        let client = follower(&socket, total, None, Arc::clone(&ready));
        while !ready.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let started = Instant::now();
        for (i, event) in pool.iter().cycle().take(total as usize).enumerate() {
            pipeline.export(event);
            if i % 1024 == 1023 {
                pipeline.tick(Instant::now());
                // Paced: wait until this batch is due.
                let due = started + Duration::from_secs_f64((i + 1) as f64 / rate as f64);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        }
        pipeline.tick(Instant::now());
        let (received, lost, done) = client.join().unwrap();
        println!(
            "| one follower, unix socket, pipeline at {rate} flows/s | {total} | {:.0} flows/s received, {received} received, {lost} lost |",
            received as f64 / (done - started).as_secs_f64()
        );
    }
}

fn slow_followers(dir: &Path, pool: &[Arc<ExportEvent>], flows: u64, followers: usize) {
    let name = format!("slow-{followers}");
    let (_observer, recorder, _running, socket) = serve(dir, &name);
    let context = ExportContext::new("kind-worker", WhenFull::Wait);
    let mut config = ExporterConfig::new(&name, Origin::Dynamic);
    config.file_path = dir.join(format!("{name}.log")).display().to_string();
    let exporter = Exporter::start(config.validate().unwrap(), Origin::Dynamic, &context).unwrap();
    let counters = Arc::clone(exporter.counters());
    let mut pipeline = Pipeline::new(vec![Box::new(exporter), recorder]);
    let clients: Vec<_> = (0..followers)
        .map(|_| {
            let ready = Arc::new(AtomicBool::new(false));
            let client = follower(&socket, u64::MAX, Some(Duration::from_millis(1)), Arc::clone(&ready));
            while !ready.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            client
        })
        .collect();
    let took = push(&mut pipeline, pool, flows);
    let started = Instant::now();
    for writer in pipeline.stop() {
        writer.wait();
    }
    let seconds = (took + started.elapsed()).as_secs_f64();
    let written = counters.snapshot().events_written;
    println!(
        "| exporter with {followers} slow followers (1 ms a response) | {flows} | {:.0} flows/s exported, {written} lines written |",
        flows as f64 / seconds
    );
    drop(clients);
}
