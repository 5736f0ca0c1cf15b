//! Where an exporting command's events come from: the only part in which
//! `run` and `replay` differ.
//!
//! - [`capture`]: `flowlog run`'s eBPF capture, its DNS packets read as L7
//!   flows by the DNS stage ([`dns`]), its flows named by the enrichment
//!   stage;
//! - [`replay`]: `flowlog replay`'s export lines, read from files (gzipped
//!   or not, in time order: [`inputs`]), a FIFO or standard input.
//!
//! A source feeds the pipeline's input until its input ends or it is told
//! to stop, counting every event in the flow metrics as it goes (before the
//! exporters' filters, as Hubble counts the flows it processes).

pub mod capture;
mod dns;
mod follow;
mod inputs;
pub mod replay;

use flowlog_config::Requester;
use flowlog_enrich::Kubernetes;
use flowlog_enrich::source::kubernetes::Settings;
use flowlog_export::{InputSender, WhenFull};
use flowlog_metrics::Metrics;
use tokio::sync::watch;

use crate::error::{ConfigError, Failure};

/// An exporting command's source of events.
#[derive(Debug)]
pub enum Source {
    /// The agent's capture.
    Capture(Box<capture::CaptureSource>),
    /// A replay of export lines.
    Replay(Box<replay::ReplaySource>),
}

impl Source {
    /// What the source does, for the log: `capturing`, `replaying`.
    pub fn activity(&self) -> &'static str {
        match self {
            Source::Capture(_) => "capturing",
            Source::Replay(_) => "replaying",
        }
    }

    /// Feeds `input` until the input ends or `stop` turns true. A capture
    /// then detaches and hands out what the kernel still holds; a replay
    /// stops reading at once.
    pub async fn run(self, input: InputSender, stop: watch::Receiver<bool>) -> Result<(), Failure> {
        match self {
            Source::Capture(capture) => capture.run(input, stop).await,
            Source::Replay(replay) => replay.run(input, stop).await,
        }
    }
}

/// Returns once `stop` is true (or its sender is gone, which only happens
/// when the agent is going away anyway).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held across the
    // caller's next await.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// What a command asks its source to be, before it is built.
#[derive(Debug, Clone, Copy)]
pub enum SourceArgs<'a> {
    /// `flowlog run`.
    Capture(&'a crate::cli::CaptureArgs),
    /// `flowlog replay`.
    Replay(&'a crate::cli::ReplayArgs),
}

/// Flows decoded ahead of the pipeline in `run`. Beyond this the capture
/// waits and the kernel's ring buffer absorbs the burst; what overflows it
/// is counted and reported as `lost_events`.
const CAPTURE_QUEUE: usize = 16 * 1024;
/// Events decoded ahead of the pipeline in `replay`.
const REPLAY_QUEUE: usize = 4096;

impl SourceArgs<'_> {
    /// What a full sink does: live capture must never wait for one slow
    /// disk, so it drops and reports; a replay must not lose lines, so it
    /// waits.
    pub fn when_full(self) -> WhenFull {
        match self {
            SourceArgs::Capture(_) => WhenFull::Drop,
            SourceArgs::Replay(_) => WhenFull::Wait,
        }
    }

    /// Whether the input ends by itself: a replay of a file that is not
    /// followed.
    pub fn ends(self) -> bool {
        matches!(self, SourceArgs::Replay(args) if !args.follow)
    }

    /// How many inputs may wait for the pipeline.
    pub fn queue(self) -> usize {
        match self {
            SourceArgs::Capture(_) => CAPTURE_QUEUE,
            SourceArgs::Replay(_) => REPLAY_QUEUE,
        }
    }

    /// The Kubernetes API a capture names flows from (`cluster_name` being
    /// its cluster's name), configured (its
    /// kubeconfig read) but not yet reached; `None` when it is off, and for
    /// a replay, whose lines carry their names.
    pub async fn kubernetes(self, node_name: &str, cluster_name: &str) -> Result<Option<Kubernetes>, Failure> {
        let SourceArgs::Capture(args) = self else { return Ok(None) };
        let args = &args.kubernetes;
        let settings = Settings {
            cluster_name: cluster_name.to_owned(),
            node_name: node_name.to_owned(),
            departed_grace: args.k8s_deleted_pod_grace_period,
        };
        Ok(Kubernetes::configure(&args.connection(), settings).await.map_err(ConfigError::from)?)
    }

    /// Builds the source, counting into `metrics` when they are served, its
    /// flows named from `kubernetes` too when it is on; returns it with what
    /// makes its config files be read again (SIGHUP).
    pub fn build(
        self,
        node_name: &str,
        metrics: Option<Metrics>,
        kubernetes: Option<Kubernetes>,
    ) -> Result<(Source, Vec<Requester>), Failure> {
        match self {
            SourceArgs::Capture(args) => {
                let (capture, reloads) = capture::CaptureSource::start(args, node_name, metrics, kubernetes)?;
                Ok((Source::Capture(Box::new(capture)), reloads))
            }
            SourceArgs::Replay(args) => {
                let flows = metrics.map(|metrics| metrics.flows().clone());
                Ok((Source::Replay(Box::new(replay::ReplaySource::new(args, node_name, flows)?)), Vec::new()))
            }
        }
    }
}
