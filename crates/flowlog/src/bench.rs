//! `flowlog bench`: export throughput on synthetic flows.
//!
//! Pushes realistic synthetic flows (see `flowlog_flow::synthetic`) through
//! the same pipeline `replay` and the agent use (filters, field mask, encoding,
//! the sink's queue and writer thread, a rotating file) and reports flows/s,
//! MB/s, CPU time and peak memory. Each scenario runs in a child process of
//! its own, so its peak RSS is its own. The flows come from a pool generated
//! before timing starts, so generation is not measured.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use flowlog_enrich::SharedEndpoints;
use flowlog_enrich::source::kubernetes::Settings;
use flowlog_enrich::source::kubernetes::cluster::{Change, Cluster};
use flowlog_enrich::source::kubernetes::records::{NodeRecord, PodRecord, ServiceRecord};
use flowlog_export::{Consumer, ExportContext, Exporter, ExporterConfig, Origin, Pipeline, WhenFull};
use flowlog_filter::{parse_filters, split_paths};
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::synthetic::FlowGenerator;
use flowlog_flow::{ExportEvent, Workload};

use crate::error::{Failure, RuntimeError};

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
    /// Name every flow from a Kubernetes table of this many pods (a fifth
    /// as many services, a twentieth as many nodes, 100 namespaces) before
    /// it is exported, as the capture names what it captures. Without it,
    /// flows keep the names they were generated with.
    #[arg(long, value_name = "PODS")]
    pub kubernetes_pods: Option<usize>,
    /// Also write every flow into a Hubble ring buffer of this many events
    /// (what `--enable-hubble` adds to the pipeline), with no reader.
    #[arg(long, value_name = "EVENTS")]
    pub hubble_ring: Option<flowlog_serve::Capacity>,
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

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Unfiltered => "unfiltered",
            Scenario::Filtered => "filtered",
            Scenario::Masked => "masked",
            Scenario::Mixed => "mixed",
            Scenario::Reload => "reload",
        }
    }
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
    std::fs::create_dir_all(&dir).map_err(|error| RuntimeError::Start { what: "the benchmark's directory", error })?;

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
    let exe = std::env::current_exe().map_err(|error| RuntimeError::Start { what: "a benchmark scenario", error })?;
    let name = scenario.name();
    let output = Process::new(exe)
        .args([
            "bench",
            "--child",
            "--scenario",
            name,
            "--flows",
            &args.flows.to_string(),
            "--pool",
            &args.pool.to_string(),
        ])
        .args(["--sinks", &args.sinks.to_string()])
        .args(args.kubernetes_pods.map(|pods| format!("--kubernetes-pods={pods}")))
        .args(args.hubble_ring.map(|events| format!("--hubble-ring={}", events.get())))
        .arg("--dir")
        .arg(dir.join(name))
        .output()
        .map_err(|error| RuntimeError::Start { what: "a benchmark scenario", error })?;
    if !output.status.success() {
        let detail = String::from_utf8_lossy(&output.stderr).into_owned();
        return Err(RuntimeError::Bench { scenario: name, detail }.into());
    }
    print!("{}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}

fn run_scenario(scenario: Scenario, args: &BenchArgs, dir: &Path) -> Result<(), Failure> {
    let mut generator = FlowGenerator::new(42, "kind-kind/kind-worker");
    let pool: Vec<_> = (0..args.pool.max(1)).map(|_| Arc::new(generator.next_event())).collect();

    let context = ExportContext::new("kind-worker", WhenFull::Wait);
    let configs: Vec<ExporterConfig> = match scenario {
        Scenario::Mixed => (0..args.sinks.max(1)).map(|i| mixed_sink(i, dir)).collect(),
        _ => vec![config(scenario, dir, "events")],
    };
    let mut exporters: Vec<Box<dyn Consumer>> = Vec::new();
    let mut counters = Vec::new();
    for config in configs {
        let spec = config.validate().expect("benchmark exporters are valid");
        let exporter = Exporter::start(spec, Origin::Dynamic, &context)
            .map_err(|error| RuntimeError::Start { what: "an exporter", error })?;
        counters.push(Arc::clone(exporter.counters()));
        exporters.push(Box::new(exporter));
    }
    if let Some(capacity) = args.hubble_ring {
        exporters.push(Box::new(flowlog_serve::Observer::new(capacity, "kind-worker").1));
    }
    let mut pipeline = Pipeline::new(exporters);
    let table = args.kubernetes_pods.map(|pods| kubernetes_table(pods, &pool));

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    for (i, event) in pool.iter().cycle().take(args.flows as usize).enumerate() {
        match &table {
            Some(table) => pipeline.export(&named(event, table)),
            None => pipeline.export(event),
        }
        if i % 4096 == 0 {
            pipeline.tick(Instant::now());
        }
    }
    for writer in pipeline.stop() {
        writer.wait();
    }
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
        } + &args.kubernetes_pods.map(|pods| format!(", named from {pods} pods")).unwrap_or_default()
            + &args.hubble_ring.map(|events| format!(", + Hubble ring of {}", events.get())).unwrap_or_default(),
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

/// A Kubernetes endpoint table of `pods` pods, the first ones at the
/// addresses of `pool`'s flows, made by the Kubernetes source's own code.
fn kubernetes_table(pods: usize, pool: &[Arc<ExportEvent>]) -> SharedEndpoints {
    let settings = Settings {
        cluster_name: "kind-kind".into(),
        node_name: "kind-worker".into(),
        departed_grace: Duration::from_secs(30),
    };
    let mut cluster = Cluster::new(settings);
    let now = std::time::Instant::now();
    let in_pool =
        pool.iter().filter_map(|event| addresses(event)).flat_map(|(source, destination)| [source, destination]);
    let mut seen = std::collections::HashSet::new();
    let others = (0u32..).map(|i| IpAddr::V4(Ipv4Addr::from(0x0a80_0000 + i)));
    let addresses = in_pool.chain(others).filter(|address| seen.insert(*address)).take(pods);
    let records = addresses.enumerate().map(|(i, address)| PodRecord {
        namespace: format!("team-{}", i % 100),
        name: format!("app-{}-7d4b9c8f6d-{i:05}", i % 500),
        addresses: vec![address],
        labels: vec![("app".into(), format!("app-{}", i % 500)), ("tier".into(), "back".into())],
        service_account: format!("app-{}", i % 500),
        workload: Some(Workload { name: format!("app-{}", i % 500), kind: "Deployment".into() }),
    });
    cluster.apply_list(Change::Pods, records.collect(), now);
    let service = |i: usize| ServiceRecord {
        namespace: format!("team-{}", i % 100),
        name: format!("svc-{i}"),
        addresses: vec![IpAddr::V4(Ipv4Addr::from(0xac10_0000 + i as u32))],
        ports: vec![80, 443],
    };
    cluster.apply_list(Change::Services, (0..pods / 5).map(service).collect(), now);
    let node = |i: usize| NodeRecord {
        name: format!("node-{i}"),
        addresses: vec![IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 + i as u32))],
    };
    cluster.apply_list(Change::Nodes, (0..pods / 20).map(node).collect(), now);
    let table = SharedEndpoints::default();
    let _layer = table.add_layer(cluster.names());
    table
}

/// A flow's source and destination addresses.
fn addresses(event: &ExportEvent) -> Option<(IpAddr, IpAddr)> {
    let Some(ResponseTypes::Flow(flow)) = &event.response_types else { return None };
    let ip = flow.ip.as_ref()?;
    Some((ip.source.parse().ok()?, ip.destination.parse().ok()?))
}

/// `event` with its endpoints named from `table`, as the capture names them.
fn named(event: &ExportEvent, table: &SharedEndpoints) -> Arc<ExportEvent> {
    let mut event = event.clone();
    if let Some((source, destination)) = addresses(&event)
        && let Some(ResponseTypes::Flow(flow)) = &mut event.response_types
    {
        table.enrich_addrs(flow, source, destination);
    }
    Arc::new(event)
}

/// Sink `i` of the mixed scenario: what operators add as dynamic flow logs.
/// Every tenth sink keeps everything (like a static exporter), the next keeps
/// drops, the next masks everything; the others each follow one namespace,
/// half of them masked.
fn mixed_sink(i: usize, dir: &Path) -> ExporterConfig {
    const NAMESPACES: [&str; 5] = ["default", "shop", "payments", "monitoring", "kube-system"];
    let name = format!("sink{i:02}");
    match i % 10 {
        0 => config(Scenario::Unfiltered, dir, &name),
        1 => config(Scenario::Filtered, dir, &name),
        2 => config(Scenario::Masked, dir, &name),
        n => {
            let namespace = NAMESPACES[(i + n) % NAMESPACES.len()];
            let base = if n % 2 == 0 { Scenario::Masked } else { Scenario::Unfiltered };
            ExporterConfig {
                allow: parse_filters(&format!(r#"{{"source_pod":["{namespace}/"]}}"#))
                    .expect("benchmark filters are valid"),
                ..config(base, dir, &name)
            }
        }
    }
}

fn config(scenario: Scenario, dir: &Path, name: &str) -> ExporterConfig {
    let filters = |text| parse_filters(text).expect("benchmark filters are valid");
    let (allow, deny, mask) = match scenario {
        Scenario::Unfiltered => (Vec::new(), Vec::new(), Vec::new()),
        Scenario::Filtered => {
            (filters(r#"{"verdict":["DROPPED","ERROR"]}"#), filters(r#"{"source_pod":["kube-system/"]}"#), Vec::new())
        }
        Scenario::Masked | Scenario::Mixed | Scenario::Reload => (Vec::new(), Vec::new(), split_paths(MASK)),
    };
    let mut config = ExporterConfig::new(name, Origin::Dynamic);
    config.file_path = dir.join(format!("{name}.log")).display().to_string();
    // 10 MiB files, 5 backups: the dynamic defaults.
    config.allow = allow;
    config.deny = deny;
    config.field_mask = mask;
    config
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
