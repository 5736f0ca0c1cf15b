//! `flowlog bench`: export throughput on synthetic flows.
//!
//! Pushes realistic synthetic flows (see `flowlog_flow::synthetic`) through
//! the same pipeline `replay` and the agent use (filters, field mask, encoding,
//! the sink's queue and writer thread, a rotating file) and reports flows/s,
//! MB/s, CPU time and peak memory. Each scenario runs in a child process of
//! its own, so its peak RSS is its own. The flows come from a pool generated
//! before timing starts, so generation is not measured.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Instant;

use clap::{Args, ValueEnum};
use flowlog_export::writer::RotationPolicy;
use flowlog_export::{Exporter, ExporterOptions, ExporterSpec, Origin, Pipeline, SinkSettings, WhenFull};
use flowlog_filter::{parse_filters, split_paths};
use flowlog_flow::synthetic::FlowGenerator;

use crate::Failure;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Flows to push through each scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub flows: u64,
    /// Scenarios to run (default: all three).
    #[arg(long, value_enum)]
    pub scenario: Vec<Scenario>,
    /// Directory for the rotating files [default: a new temporary directory, removed afterwards].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Distinct synthetic flows, cycled through.
    #[arg(long, default_value_t = 10_000)]
    pub pool: usize,
    /// Exporters the `mixed` scenario fans out to.
    #[arg(long, default_value_t = 10)]
    pub sinks: usize,
    /// Run one scenario in this process and print its result as one line (used by the parent).
    #[arg(long, hide = true)]
    pub child: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// (a) No filters, no field mask.
    Unfiltered,
    /// (b) Allowlist `{"verdict":["DROPPED","ERROR"]}`, denylist `{"source_pod":["kube-system/"]}`.
    Filtered,
    /// (c) The minimal mask Hubble's docs recommend.
    Masked,
    /// `--sinks` exporters at once, as dynamic flow logs: one in ten keeps
    /// everything, one drops, one masks; the rest follow one namespace each.
    Mixed,
    /// How long a dynamic flow log change takes to apply while flows stream
    /// (see [`crate::bench_reload`]).
    Reload,
}

const MASK: &str =
    "time source.namespace source.pod_name destination.namespace destination.pod_name l4 IP node_name is_reply verdict";

pub fn run(args: &BenchArgs) -> Result<(), Failure> {
    let scenarios = if args.scenario.is_empty() {
        vec![Scenario::Unfiltered, Scenario::Filtered, Scenario::Masked]
    } else {
        args.scenario.clone()
    };
    let temporary = args.dir.is_none();
    let dir =
        args.dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("flowlog-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir).map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", dir.display())))?;

    let result = match scenarios.as_slice() {
        [Scenario::Reload] => crate::bench_reload::run(&dir),
        [scenario] if args.child => run_scenario(*scenario, args, &dir),
        _ => {
            println!(
                "| scenario | flows | lines written | seconds | flows/s | flows per CPU-second | MB/s written | peak RSS (MiB) |"
            );
            println!("|---|---:|---:|---:|---:|---:|---:|---:|");
            scenarios.iter().try_for_each(|&scenario| run_child(scenario, args, &dir))
        }
    };
    if temporary && !args.child {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Runs `scenario` in a child process and prints its table row.
fn run_child(scenario: Scenario, args: &BenchArgs, dir: &Path) -> Result<(), Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure::Runtime(e.to_string()))?;
    let name = scenario.to_possible_value().expect("scenarios have names").get_name().to_owned();
    let output = Process::new(exe)
        .args([
            "bench",
            "--child",
            "--scenario",
            &name,
            "--flows",
            &args.flows.to_string(),
            "--pool",
            &args.pool.to_string(),
        ])
        .args(["--sinks", &args.sinks.to_string()])
        .arg("--dir")
        .arg(dir.join(&name))
        .output()
        .map_err(|e| Failure::Runtime(format!("cannot run the {name} scenario: {e}")))?;
    if !output.status.success() {
        return Err(Failure::Runtime(format!("scenario {name} failed: {}", String::from_utf8_lossy(&output.stderr))));
    }
    print!("{}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}

fn run_scenario(scenario: Scenario, args: &BenchArgs, dir: &Path) -> Result<(), Failure> {
    let mut generator = FlowGenerator::new(42, "kind-kind/kind-worker");
    let pool: Vec<_> = (0..args.pool.max(1)).map(|_| generator.next_event()).collect();

    let settings = SinkSettings::new("kind-worker", WhenFull::Wait);
    let sink_options: Vec<ExporterOptions> = match scenario {
        Scenario::Mixed => (0..args.sinks.max(1)).map(|i| mixed_sink(i, dir)).collect(),
        _ => vec![options(scenario, dir, "events")],
    };
    let mut exporters = Vec::new();
    for options in sink_options {
        let spec = ExporterSpec::new(options)
            .map_err(|errors| Failure::Config(errors.iter().map(ToString::to_string).collect()))?;
        exporters.push(Exporter::start(spec, Origin::Dynamic, &settings).map_err(|e| Failure::Runtime(e.to_string()))?);
    }
    let counters: Vec<_> = exporters.iter().map(|e| std::sync::Arc::clone(e.counters())).collect();
    let mut pipeline = Pipeline::new(exporters, settings);

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    for (i, event) in pool.iter().cycle().take(args.flows as usize).enumerate() {
        pipeline.export(event);
        if i % 4096 == 0 {
            pipeline.tick(Instant::now());
        }
    }
    pipeline.stop();
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;

    let (lines, bytes) = counters
        .iter()
        .map(|c| c.snapshot())
        .fold((0, 0), |(lines, bytes), stats| (lines + stats.events_written, bytes + stats.bytes_written));
    let flows = args.flows as f64;
    println!(
        "| {} | {} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {:.1} |",
        match scenario {
            Scenario::Unfiltered => "(a) no filters, no mask".to_owned(),
            Scenario::Filtered => "(b) allowlist + denylist".to_owned(),
            Scenario::Masked => "(c) field mask".to_owned(),
            Scenario::Mixed | Scenario::Reload => format!("mixed, {} sinks", args.sinks.max(1)),
        },
        args.flows,
        lines,
        seconds,
        flows / seconds,
        flows / cpu,
        bytes as f64 / seconds / 1e6,
        peak_rss_mib(),
    );
    Ok(())
}

/// Sink `i` of the mixed scenario: what operators add as dynamic flow logs.
/// Every tenth sink keeps everything (like a static exporter), the next keeps
/// drops, the next masks everything; the others each follow one namespace,
/// half of them masked.
fn mixed_sink(i: usize, dir: &Path) -> ExporterOptions {
    const NAMESPACES: [&str; 5] = ["default", "shop", "payments", "monitoring", "kube-system"];
    let name = format!("sink{i:02}");
    match i % 10 {
        0 => options(Scenario::Unfiltered, dir, &name),
        1 => options(Scenario::Filtered, dir, &name),
        2 => options(Scenario::Masked, dir, &name),
        n => {
            let namespace = NAMESPACES[(i + n) % NAMESPACES.len()];
            let base = if n % 2 == 0 { Scenario::Masked } else { Scenario::Unfiltered };
            ExporterOptions {
                allow: parse_filters(&format!(r#"{{"source_pod":["{namespace}/"]}}"#))
                    .expect("benchmark filters are valid"),
                ..options(base, dir, &name)
            }
        }
    }
}

fn options(scenario: Scenario, dir: &Path, name: &str) -> ExporterOptions {
    let filters = |text| parse_filters(text).expect("benchmark filters are valid");
    let (allow, deny, mask) = match scenario {
        Scenario::Unfiltered => (Vec::new(), Vec::new(), Vec::new()),
        Scenario::Filtered => {
            (filters(r#"{"verdict":["DROPPED","ERROR"]}"#), filters(r#"{"source_pod":["kube-system/"]}"#), Vec::new())
        }
        Scenario::Masked | Scenario::Mixed | Scenario::Reload => (Vec::new(), Vec::new(), split_paths(MASK)),
    };
    ExporterOptions {
        name: name.to_owned(),
        file_path: dir.join(format!("{name}.log")).display().to_string(),
        rotation: RotationPolicy { max_size_bytes: 10 << 20, max_backups: 5, ..RotationPolicy::default() },
        allow,
        deny,
        field_mask: mask,
        ..ExporterOptions::default()
    }
}

/// User plus system CPU time of this process, all threads.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The process's peak resident set size (VmHWM).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}
