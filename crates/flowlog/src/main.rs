//! `flowlog`: Hubble-compatible network flow logs for any Linux node.
//!
//! The lifecycle, in order: read the command line (and the `--config` file
//! it names) without side effects; set up logging; for `run` and `replay`,
//! take over the signals, build everything (the exporters, the metrics
//! endpoint, the source of events), start the pipeline and the source, wait
//! for the input to end or a signal, and drain within the grace period.

mod bench;
mod bench_reload;
mod check;
mod cli;
mod config_file;
mod error;
mod exporters;
mod generate;
mod hubble;
mod logging;
mod metrics;
mod shutdown;
mod signals;
mod source;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use flowlog_enrich::Kubernetes;
use flowlog_export::{Input, Pipeline, input_channel};
use tokio::sync::{oneshot, watch};

use crate::cli::{Cli, Command, CommonArgs};
use crate::error::{Failure, RuntimeError};
use crate::shutdown::Shutdown;
use crate::source::SourceArgs;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match parse_command_line(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    logging::init(&cli.log.log_level, &cli.log.log_format);
    let result = match &cli.command {
        Command::Run(args) => agent(&args.common, SourceArgs::Capture(&args.capture)),
        Command::Replay(args) => agent(&args.common, SourceArgs::Replay(args)),
        Command::Check(args) => check::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.exit(),
    }
}

/// `run` and `replay`: the agent, on one tokio runtime for its async edges
/// (signals, the capture's file descriptors, watchers, the metrics
/// endpoint), with the pipeline and the file writers on threads of their own.
///
/// The runtime is single-threaded: its tasks wait on file descriptors and
/// timers, and on one thread the I/O driver wakes them where they run. With
/// a multi-threaded runtime every ring buffer wake-up was handed from a
/// worker to the capture and back, which cost 10 to 20 % more CPU per
/// captured flow (docs/performance.md).
fn agent(common: &CommonArgs, source: SourceArgs<'_>) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("flowlog-runtime")
        .build()
        .map_err(|error| RuntimeError::Start { what: "the tokio runtime", error })?;
    let result = runtime.block_on(lifecycle(common, source));
    // What still runs (a reader waiting for input that never comes, a writer
    // stuck on its file) has been reported, and ends with the process.
    runtime.shutdown_background();
    result
}

async fn lifecycle(common: &CommonArgs, wanted: SourceArgs<'_>) -> Result<(), Failure> {
    // Signals first: from here on none of them takes its default action.
    let (stops, hangups) = signals::install()?;
    let node_name = common.node_name();

    // Build everything before starting anything; a bad option or a busy
    // port fails here, before the source touches its input or the kernel.
    let hubble = hubble::build(common, &node_name)?;
    let exporters = exporters::build(common, &node_name, wanted.when_full(), hubble.is_some())?;
    let kubernetes = wanted.kubernetes(&node_name, &common.cluster_name).await?;
    let endpoint = metrics::serve(common, &exporters, kubernetes.as_ref().map(Kubernetes::status))?;
    let metrics = endpoint.as_ref().map(|endpoint| endpoint.metrics.clone());
    let nodes = kubernetes.as_ref().map(Kubernetes::nodes);
    let (source, mut reloads) = wanted.build(&node_name, metrics, kubernetes)?;

    // Start: the pipeline on its thread, the Hubble server on its own, the
    // config watchers, the source.
    let (input, received) = input_channel(wanted.queue());
    if let Some((reloader, watcher)) = exporters.reloader {
        reloads.push(watcher.requester());
        tokio::spawn(reloader.run(watcher, input.clone()));
    }
    hangups.forward(reloads);
    let sinks = exporters.context.sinks.clone();
    let mut consumers = exporters.consumers;
    let hubble = hubble.map(|(recorder, server)| {
        consumers.push(Box::new(recorder));
        server
    });
    let pipeline = start_pipeline(Pipeline::new(consumers), received)?;
    let hubble = hubble.map(|server| server.start(nodes)).transpose()?;
    let (stop_source, stopping) = watch::channel(false);
    tracing::info!("{}; SIGINT or SIGTERM stops", source.activity());

    // Wait for the input to end or a signal; then drain, within the grace
    // period once a signal has come.
    let mut shutdown = Shutdown::new(stops, common.shutdown_grace_period, stop_source);
    let ended = shutdown.wait(source.run(input.clone(), stopping)).await;
    let drained = match &ended {
        Some(_) => shutdown
            .wait(async {
                let _ = input.send_async(Input::Stop).await;
                let _ = pipeline.await;
            })
            .await
            .is_some(),
        None => false,
    };
    // A replay's events stay browsable with `hubble observe` until a signal.
    if hubble.is_some() && drained && matches!(ended, Some(Ok(()))) && wanted.ends() {
        tracing::info!("replayed: serving the Hubble API until SIGINT or SIGTERM");
        shutdown.until_signal().await;
    }
    // The metrics endpoint answers until the process exits.
    shutdown::report_unwritten(&sinks, drained)?;
    drop((hubble, endpoint));
    ended.unwrap_or(Ok(()))
}

/// Runs `pipeline` on a thread of its own until its input stops and its
/// writers are done, which the returned receiver tells.
fn start_pipeline(pipeline: Pipeline, input: flume::Receiver<Input>) -> Result<oneshot::Receiver<()>, Failure> {
    let (done, finished) = oneshot::channel();
    std::thread::Builder::new()
        .name("pipeline".into())
        .spawn(move || {
            pipeline.run(&input);
            let _ = done.send(());
        })
        .map_err(|error| RuntimeError::Start { what: "the pipeline thread", error })?;
    Ok(finished)
}

/// Parses the command line; options from a `--config` file go before the
/// command line's own, so flags win.
fn parse_command_line(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    let command = Cli::command();
    let first = Cli::from_arg_matches(&command.clone().try_get_matches_from(&args)?)?;
    let (Some(config), Some(name)) = (first.command.common().and_then(|c| c.config.as_ref()), subcommand_name(&args))
    else {
        return Ok(first);
    };
    let from_file = config_file::arguments(config, &command, &name)
        .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{e}\n")))?;
    let position = args.iter().position(|a| a.to_str() == Some(name.as_str())).map_or(args.len(), |p| p + 1);
    let mut merged = args[..position].to_vec();
    merged.extend(from_file);
    merged.extend_from_slice(&args[position..]);
    Cli::from_arg_matches(&command.try_get_matches_from(merged)?)
}

fn subcommand_name(args: &[OsString]) -> Option<String> {
    let command = Cli::command();
    args.iter().skip(1).filter_map(|a| a.to_str()).find(|a| command.find_subcommand(a).is_some()).map(str::to_owned)
}
