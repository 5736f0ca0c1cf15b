//! `flowlog bench --scenario reload`: how long after a write to the dynamic
//! flow log file its change is applied, measured as a user would see it:
//! from the rename that replaces the file to the new flow log running, while
//! 100,000 flows/s stream through ten flow logs.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flowlog_config::Watcher;
use flowlog_export::dynamic::{ReloadStats, Reloader};
use flowlog_export::{DynamicFlowLogs, ExportContext, Input, Pipeline, WhenFull, input_channel};
use flowlog_flow::synthetic::FlowGenerator;

use crate::error::{Failure, RuntimeError};

/// Changes measured.
const ROUNDS: usize = 50;
/// A change that takes longer than this counts as never applied.
const GIVE_UP: Duration = Duration::from_secs(5);
/// Flow logs that keep running while one more is swapped in each round.
const STEADY_LOGS: usize = 9;
/// Flows sent every 10 ms: 100,000 flows/s.
const FLOWS_PER_TICK: usize = 1000;

pub fn run(dir: &Path) -> Result<(), Failure> {
    let failed = |error| RuntimeError::Start { what: "the reload benchmark", error };
    let out = dir.join("out");
    std::fs::create_dir_all(&out).map_err(failed)?;
    let config = dir.join("flowlogs.yaml");
    write_config(&config, &out, 1).map_err(failed)?;

    // As the agent runs it: the watcher and the reloader on a tokio runtime,
    // the pipeline on a thread of its own.
    let runtime = tokio::runtime::Runtime::new().map_err(failed)?;
    let _on_runtime = runtime.enter();
    let stats = Arc::new(ReloadStats::default());
    let context = ExportContext::new("kind-worker", WhenFull::Drop);
    let (flow_logs, updates) = DynamicFlowLogs::new(&context, Arc::clone(&stats));
    let watcher = Watcher::start(&config, flowlog_config::POLL);
    let reloader = Reloader::new(config.clone(), None, Arc::clone(&stats), updates);
    let pipeline = Pipeline::new(vec![Box::new(flow_logs)]);
    let (sender, receiver) = input_channel(4096);
    runtime.spawn(reloader.run(watcher, sender.clone()));
    let running = Arc::new(AtomicBool::new(true));
    let feeder = {
        let running = Arc::clone(&running);
        std::thread::spawn(move || {
            let pool: Vec<_> = FlowGenerator::new(42, "kind-kind/kind-worker").take(10_000).collect();
            let mut events = pool.iter().cycle();
            'feeding: while running.load(Ordering::Relaxed) {
                for event in events.by_ref().take(FLOWS_PER_TICK) {
                    if sender.send(Input::Event(Arc::new(event.clone()))).is_err() {
                        break 'feeding;
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = sender.send(Input::Stop);
        })
    };
    let exporter = std::thread::spawn(move || pipeline.run(&receiver));

    let mut latencies = Vec::with_capacity(ROUNDS);
    for round in 2..ROUNDS + 2 {
        std::thread::sleep(Duration::from_millis(200));
        let before = stats.snapshot().added;
        let written = Instant::now();
        write_config(&config, &out, round).map_err(failed)?;
        while stats.snapshot().added == before && written.elapsed() < GIVE_UP {
            std::thread::sleep(Duration::from_micros(200));
        }
        latencies.push(written.elapsed());
    }
    running.store(false, Ordering::Relaxed);
    let _ = feeder.join();
    let _ = exporter.join();

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("| changes | min (ms) | median (ms) | p95 (ms) | max (ms) |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {ROUNDS} | {:.1} | {:.1} | {:.1} | {:.1} |",
        ms(latencies[0]),
        ms(latencies[ROUNDS / 2]),
        ms(latencies[ROUNDS * 95 / 100]),
        ms(latencies[ROUNDS - 1]),
    );
    Ok(())
}

/// Replaces the file, as an editor or the kubelet does: the steady flow logs
/// plus one named after `round`, which is therefore new each time.
fn write_config(config: &Path, out: &Path, round: usize) -> std::io::Result<()> {
    let names = (0..STEADY_LOGS).map(|i| format!("log{i}")).chain([format!("probe{round}")]);
    let entries: String = names
        .map(|name| {
            format!(
                "  - name: {name}\n    filePath: {}\n    includeFilters: [{{source_pod: [\"shop/\"]}}]\n    fieldMask: [time, verdict, source, destination]\n",
                out.join(format!("{name}.log")).display()
            )
        })
        .collect();
    let temporary = config.with_extension("tmp");
    std::fs::write(&temporary, format!("flowLogs:\n{entries}"))?;
    std::fs::rename(&temporary, config)
}
