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
use flowlog_dns::CacheLimits;
use flowlog_enrich::source::kubernetes::Connection;
use flowlog_export::exporter::config::{ExportOption, OPTIONS};
use flowlog_export::option::{Flag, FlagKind};
use flowlog_serve::Capacity;

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
    /// Export lines to read: a file, a FIFO, a glob pattern (`'events*.log*'`),
    /// or `-` for standard input. Repeatable. Files are read in time order:
    /// rotated backups by the time in their names, then the others; gzipped
    /// files (as `--export-file-compress` writes them) are recognised and
    /// decompressed.
    #[arg(long, default_value = "-", value_name = "PATH")]
    pub input: Vec<String>,
    /// Keep reading a file as it grows, like `tail -f`, until SIGINT/SIGTERM.
    #[arg(long)]
    pub follow: bool,
    /// Replay only events from this time on: RFC 3339 (`2026-12-02T06:00:00Z`)
    /// or a duration before now (`1h30m`), as `hubble observe --since`.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Replay only events before this time: RFC 3339 or a duration before now.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
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

impl Command {
    /// The options of a command that exports.
    pub fn common(&self) -> Option<&CommonArgs> {
        match self {
            Command::Run(args) => Some(&args.common),
            Command::Replay(args) => Some(&args.common),
            Command::Check(_) | Command::Generate(_) | Command::Bench(_) => None,
        }
    }
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
    /// running; its entries win over Kubernetes' for the addresses they
    /// name. Addresses nothing names are `reserved:host` (this node's own)
    /// or `reserved:world`.
    #[arg(long, value_name = "PATH")]
    pub endpoints_file: Option<PathBuf>,
    #[command(flatten)]
    pub dns: DnsArgs,
    #[command(flatten)]
    pub kubernetes: KubernetesArgs,
}

/// DNS visibility: the messages on DNS ports as L7 flows, and the names
/// their answers give later flows.
#[derive(Debug, Args)]
#[command(next_help_heading = "DNS")]
pub struct DnsArgs {
    /// TCP and UDP ports whose packets are read as DNS: every query and
    /// response is an L7 flow (`dns-request`, `dns-response`), and answers
    /// name the addresses of later flows (`source_names`,
    /// `destination_names`). Comma-separated; empty turns DNS off.
    #[arg(long, default_value = "53", value_parser = parse_dns_ports, value_name = "PORTS")]
    pub dns_ports: DnsPorts,
    /// The most addresses the DNS cache names; 0 keeps no names.
    #[arg(long, default_value_t = CacheLimits::default().max_addresses, value_name = "ADDRESSES")]
    pub dns_cache_size: usize,
    /// The shortest time an answer names its addresses, whatever its TTL:
    /// connections outlive the few seconds of many load-balanced names.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub dns_cache_min_ttl: Duration,
    /// The longest time an answer names its addresses, whatever its TTL.
    #[arg(long, default_value = "24h", value_parser = parse_duration, value_name = "DURATION")]
    pub dns_cache_max_ttl: Duration,
}

impl DnsArgs {
    /// The cache's bounds.
    pub fn cache_limits(&self) -> CacheLimits {
        CacheLimits {
            max_addresses: self.dns_cache_size,
            min_ttl: self.dns_cache_min_ttl,
            max_ttl: self.dns_cache_max_ttl,
        }
    }
}

/// The `--dns-ports` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPorts(pub Vec<u16>);

/// A `--dns-ports` entry that is not a port.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not a port: give ports from 1 to 65535, comma-separated (empty: no DNS)")]
pub struct NotAPort {
    value: String,
}

fn parse_dns_ports(text: &str) -> Result<DnsPorts, NotAPort> {
    let ports = text.split(',').map(str::trim).filter(|port| !port.is_empty());
    let parse = |port: &str| port.parse::<u16>().ok().filter(|&port| port != 0);
    ports
        .map(|port| parse(port).ok_or_else(|| NotAPort { value: port.to_owned() }))
        .collect::<Result<_, _>>()
        .map(DnsPorts)
}

/// Naming flows from the Kubernetes API (Cilium's option names).
#[derive(Debug, Args)]
#[command(next_help_heading = "Kubernetes")]
pub struct KubernetesArgs {
    /// Name pods, services and nodes from the Kubernetes API. On by default
    /// inside a pod (its service account), or when --k8s-kubeconfig-path or
    /// --k8s-api-server is given; `false` turns it off.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub enable_k8s: Option<bool>,
    /// A kubeconfig to reach the API server with (its current context).
    #[arg(long, value_name = "PATH")]
    pub k8s_kubeconfig_path: Option<PathBuf>,
    /// The API server's URL (`https://10.0.0.1:6443`), replacing the
    /// kubeconfig's or the pod's.
    #[arg(long, value_name = "URL")]
    pub k8s_api_server: Option<String>,
    /// How long the addresses of a deleted (or finished) pod still name it,
    /// for flows in flight. An address another pod takes names that pod at
    /// once.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub k8s_deleted_pod_grace_period: Duration,
}

impl KubernetesArgs {
    /// Whether and where to reach the API server.
    pub fn connection(&self) -> Connection {
        Connection {
            enable: self.enable_k8s,
            kubeconfig: self.k8s_kubeconfig_path.clone(),
            api_server: self.k8s_api_server.clone().filter(|url| !url.is_empty()),
        }
    }
}

/// A value that is none of an option's choices.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not {what}: use {choices}")]
pub struct NotAChoice {
    value: String,
    what: &'static str,
    choices: &'static str,
}

fn parse_aggregation(text: &str) -> Result<Aggregation, NotAChoice> {
    match text.to_ascii_lowercase().as_str() {
        "none" | "disabled" => Ok(Aggregation::None),
        "medium" => Ok(Aggregation::Medium),
        "maximum" => Ok(Aggregation::Maximum),
        _ => {
            Err(NotAChoice { value: text.to_owned(), what: "an aggregation level", choices: "none, medium or maximum" })
        }
    }
}

fn parse_tc_mode(text: &str) -> Result<TcMode, NotAChoice> {
    match text.to_ascii_lowercase().as_str() {
        "auto" => Ok(TcMode::Auto),
        "netlink" => Ok(TcMode::Netlink),
        _ => Err(NotAChoice { value: text.to_owned(), what: "a tc mode", choices: "auto or netlink" }),
    }
}

/// Options shared by every command that exports.
#[derive(Debug, Args)]
// A heading of their own, not the capture's Kubernetes heading before them.
#[command(next_help_heading = "Export")]
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
    #[arg(long, alias = "hubble-metrics-server", value_parser = parse_listen_address, value_name = "ADDRESS")]
    pub metrics_address: Option<ListenAddress>,
    /// On SIGTERM or SIGINT, how long to keep writing what is pending before
    /// exiting anyway, naming each exporter and the lines it could not
    /// write. A second signal exits at once. Kubernetes waits 30 s by
    /// default before it kills a pod.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace_period: Duration,
    /// The cluster's name: each pod's `cluster_name` and its
    /// `k8s:io.cilium.k8s.policy.cluster` label, and the Hubble peers'
    /// names (`<cluster>/<node>` unless `default`).
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub cluster_name: String,
    #[command(flatten)]
    pub export: StaticExportArgs,
    // Last: its help heading applies to the flags after it too.
    #[command(flatten)]
    pub hubble: HubbleArgs,
}

/// The Hubble API (Cilium's option names): `hubble observe`, `hubble
/// status`, Hubble Relay and Hubble UI.
#[derive(Debug, Args)]
#[command(next_help_heading = "Hubble API")]
pub struct HubbleArgs {
    /// Serve the Hubble API (the observer and peer gRPC services). On when
    /// --hubble-socket-path or --hubble-listen-address is given; `false`
    /// turns it off.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub enable_hubble: Option<bool>,
    /// The unix socket to serve on, in plaintext (Hubble Relay's default
    /// target); only its owner and group may connect. Empty: no socket.
    /// [default: /var/run/cilium/hubble.sock]
    #[arg(long, value_parser = path_or_empty, value_name = "PATH")]
    pub hubble_socket_path: Option<PathBuf>,
    /// A TCP address to serve on as well (Cilium's `:4244`), for Hubble
    /// Relay on other nodes: with TLS (--hubble-tls-cert-file and
    /// --hubble-tls-key-file) or, explicitly, --hubble-disable-tls.
    /// Unset or empty: no TCP listener.
    #[arg(long, value_parser = parse_listen_address, value_name = "ADDRESS")]
    pub hubble_listen_address: Option<ListenAddress>,
    /// How many recent events the server keeps for `hubble observe`: one
    /// less than a power of two, up to 65535.
    #[arg(long, default_value = "4095", value_name = "EVENTS")]
    pub hubble_event_buffer_capacity: Capacity,
    /// The TCP listener's certificate (PEM), re-read when it changes.
    #[arg(long, value_name = "PATH")]
    pub hubble_tls_cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM), re-read when it changes.
    #[arg(long, value_name = "PATH")]
    pub hubble_tls_key_file: Option<PathBuf>,
    /// CAs that clients' certificates must chain to (PEM), making the TCP
    /// listener mutual TLS. Comma-separated or repeated.
    #[arg(long, value_delimiter = ',', value_name = "PATHS")]
    pub hubble_tls_client_ca_files: Vec<PathBuf>,
    /// Serve the TCP listener in plaintext, without TLS.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = false,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub hubble_disable_tls: bool,
    /// The other Hubble servers, for Hubble Relay, when Kubernetes does not
    /// list the nodes: `NAME=ADDRESS` (`worker-2=10.0.0.12`; without a
    /// port, Relay uses 4244), comma-separated or repeated. This node is
    /// always a peer.
    #[arg(long, value_delimiter = ',', value_parser = parse_peer, value_name = "NAME=ADDRESS")]
    pub hubble_peers: Vec<(String, String)>,
}

impl CommonArgs {
    /// The node name from the options, else the host name.
    pub fn node_name(&self) -> String {
        self.node_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(host_name)
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// Where `--metrics-address` or `--hubble-listen-address` listens; `None`
/// when it was given empty, which is how Cilium's ConfigMap turns a
/// listener off.
#[derive(Debug, Clone, Copy)]
pub struct ListenAddress(pub Option<SocketAddr>);

fn parse_listen_address(text: &str) -> Result<ListenAddress, flowlog_metrics::AddressError> {
    flowlog_metrics::parse_listen_address(text).map(ListenAddress)
}

/// A path, or nothing (which clap's own path parser refuses): how Cilium's
/// ConfigMap turns a listener off.
fn path_or_empty(text: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(text))
}

/// `NAME=ADDRESS`.
fn parse_peer(text: &str) -> Result<(String, String), String> {
    match text.trim().split_once('=') {
        Some((name, address)) if !name.trim().is_empty() && !address.trim().is_empty() => {
            Ok((name.trim().to_owned(), address.trim().to_owned()))
        }
        _ => {
            Err(format!("{text:?} is not a peer: use NAME=ADDRESS, e.g. worker-2=10.0.0.12 or worker-2=10.0.0.12:4244"))
        }
    }
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

/// The static exporter's flags: one for each exporter setting that has one
/// (`flowlog_export::exporter::config::OPTIONS`), named after Cilium's
/// `hubble-export-*` options and taking those names as aliases. They are
/// generated from the settings' table, so a setting added there is a flag,
/// a `--config` key and a dynamic flow log key at once.
#[derive(Debug, Default)]
pub struct StaticExportArgs {
    /// Each flag the command line (or its default) gave, with its value.
    pub values: Vec<(&'static dyn ExportOption, String)>,
}

/// The exporter settings that are flags.
fn static_flags() -> impl Iterator<Item = (&'static dyn ExportOption, &'static Flag)> {
    OPTIONS.iter().filter_map(|option| option.flag().map(|flag| (*option, flag)))
}

impl clap::Args for StaticExportArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        static_flags().fold(command, |command, (_, flag)| {
            let mut arg = clap::Arg::new(flag.long)
                .long(flag.long)
                .alias(flag.cilium)
                .help(flag.help)
                .value_name(flag.value_name);
            if let Some(default) = flag.default {
                arg = arg.default_value(default);
            }
            arg = match flag.kind {
                FlagKind::Text => arg,
                FlagKind::Count => arg.value_parser(clap::value_parser!(u64)),
                FlagKind::Bool => arg
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true")
                    .value_parser(clap::builder::BoolValueParser::new()),
                FlagKind::Duration => arg.value_parser(|text: &str| parse_duration(text).map(|_| text.to_owned())),
            };
            command.arg(arg)
        })
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl clap::FromArgMatches for StaticExportArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.values = static_flags()
            .filter_map(|(option, flag)| {
                // The checked value of a typed flag, as text again: the
                // settings' own readers take it from there.
                let value = match flag.kind {
                    FlagKind::Count => matches.get_one::<u64>(flag.long).map(u64::to_string),
                    FlagKind::Bool => matches.get_one::<bool>(flag.long).map(bool::to_string),
                    FlagKind::Text | FlagKind::Duration => matches.get_one::<String>(flag.long).cloned(),
                };
                value.map(|value| (option, value))
            })
            .collect();
        Ok(())
    }
}

fn parse_duration(text: &str) -> Result<Duration, flowlog_config::DurationError> {
    flowlog_config::parse_go_duration(text)
}
