//! Why a command failed, and how the process exits.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use flowlog_capture_ebpf::session::StartError;
use flowlog_enrich::EndpointsError;
use flowlog_enrich::source::kubernetes::ConnectError;
use flowlog_export::option::OptionError;
use flowlog_metrics::MetricsError;
use flowlog_serve::ServeError;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// Options that cannot work; nothing was started. Exit code 2.
    Config(Vec<ConfigError>),
    /// Something failed while running. Exit code 1.
    Runtime(RuntimeError),
    /// What was checked is invalid; the problems were printed. Exit code 1.
    Invalid {
        /// How many problems.
        problems: usize,
    },
}

/// A problem with the options, found before anything started.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A static exporter flag's value is refused.
    #[error("--{flag}: {error}", error = error.error)]
    StaticExporter {
        /// The flag, without `--`.
        flag: &'static str,
        /// What is wrong.
        error: OptionError,
    },
    /// Neither exporter is configured.
    #[error(
        "nothing to export to: set --export-file-path (a file, or stdout), --flowlogs-config-path, \
         or --enable-hubble to serve the Hubble API"
    )]
    NothingToExport,
    /// `run` without an interface pattern.
    #[error("nothing to capture on: set --interface (e.g. 'eth*' or 'lxc*:endpoint'), here or in the --config file")]
    NothingToCapture,
    /// A DNS cache whose shortest time is longer than its longest.
    #[error("--dns-cache-min-ttl {min:?} is longer than --dns-cache-max-ttl {max:?}")]
    DnsCacheTtls {
        /// `--dns-cache-min-ttl`.
        min: std::time::Duration,
        /// `--dns-cache-max-ttl`.
        max: std::time::Duration,
    },
    /// `--follow` with more than one input.
    #[error("--follow reads one file; {count} inputs were given")]
    FollowMany {
        /// How many inputs there are.
        count: usize,
    },
    /// `--follow` on a gzipped file, which is complete by definition.
    #[error("--follow: {path} is gzipped, and a gzipped file does not grow; replay it without --follow")]
    FollowGzip {
        /// The input.
        path: String,
    },
    /// `-` among other inputs.
    #[error("--input -: standard input cannot be read together with files")]
    StdinWithFiles,
    /// A glob pattern that is invalid or matches nothing.
    #[error("--input {pattern}: {reason}")]
    InputPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--since` or `--until` that is neither a time nor a duration.
    #[error("--{flag} {value:?}: not an RFC 3339 time (2026-12-02T06:00:00Z) or a duration before now (1h30m)")]
    ReplayWindow {
        /// `since` or `until`.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// `--follow` with standard input.
    #[error("--follow needs --input to name a file")]
    FollowStdin,
    /// The metrics endpoint cannot listen.
    #[error("--metrics-address: {0}")]
    Metrics(#[from] MetricsError),
    /// The endpoints file is missing or invalid.
    #[error(transparent)]
    Endpoints(#[from] EndpointsError),
    /// The Kubernetes options or kubeconfig cannot be used.
    #[error(transparent)]
    Kubernetes(#[from] ConnectError),
    /// A TCP listener for the Hubble API with neither TLS nor an explicit
    /// plaintext.
    #[error(
        "--hubble-listen-address {address} needs TLS: give --hubble-tls-cert-file and --hubble-tls-key-file, \
         or --hubble-disable-tls to serve the Hubble API in plaintext"
    )]
    HubbleTlsNeeded {
        /// The address, as given.
        address: std::net::SocketAddr,
    },
    /// One of the certificate and key without the other.
    #[error("--{given} needs --{missing}")]
    HubbleTlsHalf {
        /// The flag given.
        given: &'static str,
        /// The flag missing.
        missing: &'static str,
    },
    /// TLS options that nothing would use.
    #[error("--{flag} applies to the TCP listener: set --hubble-listen-address too")]
    HubbleTlsWithoutListener {
        /// The flag.
        flag: &'static str,
    },
    /// The Hubble API on, with nowhere to serve it.
    #[error("--enable-hubble: nothing to serve on: --hubble-socket-path is empty and --hubble-listen-address unset")]
    HubbleNowhere,
    /// The Hubble server cannot listen or read its certificates.
    #[error(transparent)]
    Hubble(#[from] ServeError),
}

/// Something that failed while running.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The programs could not be loaded or attached.
    #[error("cannot start capturing: {}", chain(.0))]
    Capture(StartError),
    /// Reading the ring buffer failed.
    #[error("reading captured flows failed: {0}")]
    CaptureRead(io::Error),
    /// The replay's input could not be opened.
    #[error("cannot open --input {path}: {error}")]
    OpenInput {
        /// The path.
        path: String,
        /// What the system said.
        error: io::Error,
    },
    /// A file to check could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// The process could not start something it needs: a thread, the
    /// runtime, the signal handlers, an exporter's writer.
    #[error("cannot start {what}: {error}")]
    Start {
        /// What.
        what: &'static str,
        /// What the system said.
        error: io::Error,
    },
    /// The replay's reader thread panicked (a bug: the panic is in the log).
    #[error("the replay's reader stopped unexpectedly")]
    ReaderPanicked,
    /// Writing the command's output failed.
    #[error("cannot write to stdout: {0}")]
    Stdout(io::Error),
    /// The stop ran out of time with lines not yet written.
    #[error("{lines} line(s) not written when the shutdown grace period ended")]
    Unwritten {
        /// How many, all exporters together.
        lines: u64,
    },
    /// A benchmark scenario failed.
    #[error("benchmark scenario {scenario} failed: {detail}")]
    Bench {
        /// The scenario.
        scenario: &'static str,
        /// What it printed.
        detail: String,
    },
}

impl From<RuntimeError> for Failure {
    fn from(error: RuntimeError) -> Self {
        Failure::Runtime(error)
    }
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        Failure::Config(vec![error])
    }
}

impl Failure {
    /// Reports the failure on standard error and gives the exit code.
    pub fn exit(self) -> ExitCode {
        match self {
            Failure::Config(errors) => {
                errors.iter().for_each(crate::logging::say);
                ExitCode::from(2)
            }
            Failure::Runtime(error) => {
                crate::logging::say(&error);
                ExitCode::FAILURE
            }
            Failure::Invalid { problems } => {
                crate::logging::say(format_args!("{problems} problem(s)"));
                ExitCode::FAILURE
            }
        }
    }
}

/// An error and its causes, `outer: inner: innermost`, so the kernel's own
/// words (and the verifier's) reach the operator.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
