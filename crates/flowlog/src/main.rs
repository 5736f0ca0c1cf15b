//! `flowlog`: Hubble-compatible network flow logs for any Linux node.
//!
//! The lifecycle, in order: read the command line (and the `--config` file it
//! names) without side effects, set up logging, then run the command, which
//! builds its exporters, runs until its input ends or a signal arrives, and
//! drains and closes everything before returning.

mod bench;
mod bench_reload;
mod check;
mod cli;
mod config_file;
mod exporters;
mod follow;
mod generate;
mod metrics;
mod replay;
mod run;
mod signals;
mod static_exporter;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, CommonArgs};

/// How often the dynamic flow log file is read even when no change was seen:
/// the safety net for filesystems without inotify.
pub const CONFIG_POLL: Duration = Duration::from_secs(30);

/// Why a command failed, and how the process exits.
#[derive(Debug)]
pub enum Failure {
    /// Options that cannot work; nothing was started. Exit code 2.
    Config(Vec<String>),
    /// Something failed while running. Exit code 1.
    Runtime(String),
    /// What was checked is invalid; the problems were printed. Exit code 1.
    Invalid(String),
}

fn main() -> ExitCode {
    let cli = match parse_command_line(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    init_logging(&cli.log);

    let result = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Check(args) => check::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(errors)) => {
            for error in errors {
                eprintln!("flowlog: {error}");
            }
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error) | Failure::Invalid(error)) => {
            eprintln!("flowlog: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the command line; options from a `--config` file go before the
/// command line's own, so flags win.
fn parse_command_line(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    let command = Cli::command();
    let first = Cli::from_arg_matches(&command.clone().try_get_matches_from(&args)?)?;
    let (Some(config), Some(name)) = (common_args(&first).and_then(|c| c.config.as_ref()), subcommand_name(&args))
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

fn common_args(cli: &Cli) -> Option<&CommonArgs> {
    match &cli.command {
        Command::Run(args) => Some(&args.common),
        Command::Replay(args) => Some(&args.common),
        Command::Check(_) | Command::Generate(_) | Command::Bench(_) => None,
    }
}

fn init_logging(log: &cli::LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.log_level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if log.log_format == "json" {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
}

/// The node name from the options, else the host name.
pub fn node_name(common: &CommonArgs) -> String {
    common.node_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(host_name)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}
