//! The command line. Flags are named after Cilium's `hubble-export-*` options
//! and also accept those names as aliases, so a Cilium user's flags and
//! ConfigMap keys work unchanged. Every flag can also be set in the `--config`
//! YAML file under its Cilium name (see [`crate::config_file`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    /// Read Hubble export lines and export them again through flowlog's
    /// filters, field masks, aggregation and rotating files.
    Replay(ReplayArgs),
    /// Validate a dynamic flow log file and print every problem (exit 1 if any).
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
    #[command(flatten)]
    pub export: StaticExportArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The dynamic flow log file to check.
    #[arg(long, alias = "hubble-flowlogs-config-path", value_name = "PATH")]
    pub flowlogs_config_path: PathBuf,
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
