//! `flowlog check`: validates a dynamic flow log file and an endpoints file,
//! for the CI of users' ConfigMaps.

use std::path::Path;

use flowlog_capture_ebpf::endpoints::{Endpoints, EndpointsError};
use flowlog_export::dynamic::config;

use crate::Failure;
use crate::cli::CheckArgs;

pub fn run(args: &CheckArgs) -> Result<(), Failure> {
    let mut problems = 0;
    if let Some(path) = &args.flowlogs_config_path {
        problems += check_flowlogs(path)?;
    }
    if let Some(path) = &args.endpoints_file {
        problems += check_endpoints(path)?;
    }
    match problems {
        0 => Ok(()),
        n => Err(Failure::Invalid(format!("{n} problem(s)"))),
    }
}

fn check_flowlogs(path: &Path) -> Result<usize, Failure> {
    let (_, config) =
        config::load(path, None).map_err(|e| Failure::Runtime(format!("cannot read {}: {e}", path.display())))?;
    let errors = config.errors();
    if errors.is_empty() {
        println!("{}: {} flow log(s), all valid", path.display(), config.entries.len());
    }
    for error in &errors {
        println!("{}: {error}", path.display());
    }
    Ok(errors.len())
}

fn check_endpoints(path: &Path) -> Result<usize, Failure> {
    match Endpoints::load(path) {
        Ok(endpoints) => {
            println!("{}: {} address(es) named, all valid", path.display(), endpoints.len());
            Ok(0)
        }
        Err(EndpointsError::Invalid { problems, .. }) => {
            for problem in &problems {
                println!("{}: {problem}", path.display());
            }
            Ok(problems.len())
        }
        Err(error) => Err(Failure::Runtime(error.to_string())),
    }
}
