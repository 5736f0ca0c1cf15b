//! The command line. Flags are named after Cilium's `hubble-export-*` options
//! and also accept those names as aliases, so a Cilium user's flags and
//! ConfigMap keys work unchanged. Every flag can also be set in the `--config`
//! YAML file under its Cilium name (see [`crate::config_file`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use flowlog_capture_ebpf::interfaces::InterfacePattern;
use flowlog_capture_ebpf::{Aggregation, DEFAULT_RING_BUFFER_BYTES, TcMode};

/// Hubble-compatible network flow logs, without Cilium.
#[derive(Debug, Parser)]
#[command(name = "flowlog", version, args_override_self = true, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The agent: capture this node's network flows with eBPF and export
    /// them (needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON).
    Run(RunArgs),
    /// Read Hubble export lines and export them again through flowlog's
    /// filters, field masks, aggregation and rotating files.
    Replay(ReplayArgs),
    /// Validate a dynamic flow log file and/or an endpoints file and print
    /// every problem (exit 1 if any).
    Check(CheckArgs),
    /// Write realistic synthetic export lines to standard output.
    Generate(crate::generate::GenerateArgs),
    /// Measure export throughput on synthetic flows (see docs/performance.md).
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log level: error, warn, info, debug or trace (or a tracing filter such
    /// as `flowlog_export=debug`). The RUST_LOG environment variable overrides it.
    #[arg(long, global = true, default_value = "info", value_name = "LEVEL")]
    pub log_level: String,
    /// Log format: `text` (for people) or `json` (one object per line, for
    /// log collectors).
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"], value_name = "FORMAT")]
    pub log_format: String,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Export lines to read: a file, a FIFO, or `-` for standard input.
    #[arg(long, default_value = "-", value_name = "PATH")]
    pub input: String,
    /// Keep reading a file as it grows, like `tail -f`, until SIGINT/SIGTERM.
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What to capture, and how much of it.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Interfaces to capture on: a glob pattern, optionally with the
    /// interface's role after a colon: `endpoint` for the host side of a
    /// pod's veth, `network` (the default) for an uplink. Repeatable, or
    /// comma-separated: `--interface 'eth*,lxc*:endpoint'`. Interfaces that
    /// appear later are captured when they match; the first matching pattern
    /// gives the role.
    #[arg(long = "interface", value_delimiter = ',', value_name = "PATTERN[:ROLE]")]
    pub interfaces: Vec<InterfacePattern>,
    /// How many flows a connection produces, as Cilium's option of the same
    /// name: `none` (every packet), `medium` (new connections, new TCP flags,
    /// and at most one flow per connection per interval) or `maximum`
    /// (new connections and SYN/FIN/RST only).
    #[arg(long, default_value = "medium", value_parser = parse_aggregation, value_name = "LEVEL")]
    pub monitor_aggregation: Aggregation,
    /// With `medium` aggregation, the longest a busy connection goes unreported.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub monitor_aggregation_interval: Duration,
    /// Report packets the kernel drops (the `skb:kfree_skb` tracepoint), with the kernel's reason.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub capture_drops: bool,
    /// Also report drops without a reason (`NOT_SPECIFIED`): every kfree_skb()
    /// call that did not give one, mostly noise.
    #[arg(long)]
    pub report_unspecified_drops: bool,
    /// Size of the kernel-to-agent ring buffer, in KiB: a power of two, at
    /// least the page size. Each flow record takes 88 bytes.
    #[arg(long, default_value_t = DEFAULT_RING_BUFFER_BYTES / 1024, value_name = "KIB")]
    pub ring_buffer_size_kb: u32,
    /// How the tc programs are attached: `auto` (tcx, or a clsact qdisc on
    /// kernels without tcx) or `netlink` (always clsact).
    #[arg(long, default_value = "auto", value_parser = parse_tc_mode, value_name = "MODE")]
    pub tc_mode: TcMode,
    /// A YAML or JSON list of the endpoints (pods) on this node, which names
    /// the source and destination of flows; watched and reloaded while
    /// running. Without it, addresses are `reserved:host` (this node's own)
    /// or `reserved:world`.
    #[arg(long, value_name = "PATH")]
    pub endpoints_file: Option<PathBuf>,
}

fn parse_aggregation(text: &str) -> Result<Aggregation, String> {
    match text.to_ascii_lowercase().as_str() {
        "none" | "disabled" => Ok(Aggregation::None),
        "medium" => Ok(Aggregation::Medium),
        "maximum" => Ok(Aggregation::Maximum),
        _ => Err(format!("{text:?} is not an aggregation level: use none, medium or maximum")),
    }
}

fn parse_tc_mode(text: &str) -> Result<TcMode, String> {
    match text.to_ascii_lowercase().as_str() {
        "auto" => Ok(TcMode::Auto),
        "netlink" => Ok(TcMode::Netlink),
        _ => Err(format!("{text:?} is not a tc mode: use auto or netlink")),
    }
}

/// Options shared by every command that exports.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// A YAML file of options, keyed by their Cilium names
    /// (`hubble-export-file-path: /var/log/flows.log`). Flags given on the
    /// command line win over the file.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The node name written in lost/agent/debug events that have none.
    /// [default: the host name]
    #[arg(long, env = "K8S_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,
    /// A YAML file of dynamic flow logs (Cilium's dynamic exporter format),
    /// watched and applied while running. Usable with or without the static
    /// exporter.
    #[arg(long, alias = "hubble-flowlogs-config-path", value_name = "PATH")]
    pub flowlogs_config_path: Option<PathBuf>,
    /// Serve Prometheus metrics on /metrics and a health check on /healthz
    /// at this address: `host:port`, `[ipv6]:port`, or `:port` for every
    /// IPv4 address (Cilium's `hubble-metrics-server`, usually `:9965`). Port
    /// 0 picks a free port, which is logged. Unset or empty: no endpoint.
    #[arg(long, alias = "hubble-metrics-server", value_parser = parse_metrics_address, value_name = "ADDRESS")]
    pub metrics_address: Option<MetricsAddress>,
    #[command(flatten)]
    pub export: StaticExportArgs,
}

/// Where `--metrics-address` serves; `None` when it was given empty, which
/// is how Cilium's ConfigMap turns the endpoint off.
#[derive(Debug, Clone, Copy)]
pub struct MetricsAddress(pub Option<SocketAddr>);

fn parse_metrics_address(text: &str) -> Result<MetricsAddress, String> {
    flowlog_metrics::parse_listen_address(text).map(MetricsAddress)
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A dynamic flow log file to check.
    #[arg(
        long,
        alias = "hubble-flowlogs-config-path",
        value_name = "PATH",
        required_unless_present = "endpoints_file"
    )]
    pub flowlogs_config_path: Option<PathBuf>,
    /// An endpoints file to check.
    #[arg(long, value_name = "PATH")]
    pub endpoints_file: Option<PathBuf>,
}

/// The static exporter, configured as Cilium's agent configures its own.
#[derive(Debug, Args)]
pub struct StaticExportArgs {
    /// Where the static exporter writes: a file, or `stdout`. Unset: no static exporter.
    #[arg(long, alias = "hubble-export-file-path", value_name = "PATH")]
    pub export_file_path: Option<String>,
    /// Rotate the file when it would grow past this many MiB; 0 means 100.
    #[arg(long, alias = "hubble-export-file-max-size-mb", default_value_t = 10, value_name = "MB")]
    pub export_file_max_size_mb: u64,
    /// Rotated files to keep; 0 keeps them all.
    #[arg(long, alias = "hubble-export-file-max-backups", default_value_t = 5, value_name = "N")]
    pub export_file_max_backups: usize,
    /// Gzip rotated files.
    #[arg(
        long,
        alias = "hubble-export-file-compress",
        num_args = 0..=1,
        require_equals = true,
        default_value_t = false,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub export_file_compress: bool,
    /// Export only events matching one of these FlowFilters: JSON objects
    /// separated by spaces (Cilium's form), by commas, or in a JSON array.
    #[arg(long, alias = "hubble-export-allowlist", default_value = "", value_name = "FILTERS")]
    pub export_allowlist: String,
    /// Leave out events matching any of these FlowFilters (same forms as the allowlist).
    #[arg(long, alias = "hubble-export-denylist", default_value = "", value_name = "FILTERS")]
    pub export_denylist: String,
    /// Keep only these flow fields: proto field paths separated by spaces or
    /// commas (`time source.namespace l4`). Empty keeps whole flows.
    #[arg(long, alias = "hubble-export-fieldmask", default_value = "", value_name = "PATHS")]
    pub export_fieldmask: String,
    /// Aggregate flows on these fields (same syntax as the field mask).
    #[arg(long, alias = "hubble-export-fieldaggregate", default_value = "", value_name = "PATHS")]
    pub export_fieldaggregate: String,
    /// The aggregation window, e.g. `30s`; 0 disables aggregation.
    #[arg(
        long,
        alias = "hubble-export-aggregation-interval",
        default_value = "0s",
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub export_aggregation_interval: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    flowlog_export::duration::parse_go_duration(text)
}
