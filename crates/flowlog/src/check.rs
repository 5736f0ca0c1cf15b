//! `flowlog check`: validates a dynamic flow log file and an endpoints file,
//! for the CI of users' ConfigMaps.

use std::io::Write;
use std::path::Path;

use flowlog_enrich::EndpointsError;
use flowlog_enrich::source::file::load;
use flowlog_export::dynamic::config;

use crate::cli::CheckArgs;
use crate::error::{Failure, RuntimeError};

pub fn run(args: &CheckArgs) -> Result<(), Failure> {
    let mut report = Vec::new();
    let mut problems = 0;
    if let Some(path) = &args.flowlogs_config_path {
        problems += check_flowlogs(path, &mut report)?;
    }
    if let Some(path) = &args.endpoints_file {
        problems += check_endpoints(path, &mut report)?;
    }
    std::io::stdout().lock().write_all(&report).map_err(RuntimeError::Stdout)?;
    match problems {
        0 => Ok(()),
        problems => Err(Failure::Invalid { problems }),
    }
}

fn check_flowlogs(path: &Path, report: &mut Vec<u8>) -> Result<usize, Failure> {
    let (_, config) = config::load(path, None).map_err(|error| RuntimeError::Read { path: path.to_owned(), error })?;
    let errors = config.errors();
    if errors.is_empty() {
        let _ = writeln!(report, "{}: {} flow log(s), all valid", path.display(), config.entries.len());
    }
    for error in &errors {
        let _ = writeln!(report, "{}: {error}", path.display());
    }
    Ok(errors.len())
}

fn check_endpoints(path: &Path, report: &mut Vec<u8>) -> Result<usize, Failure> {
    match load(path) {
        Ok(endpoints) => {
            let _ = writeln!(report, "{}: {} address(es) named, all valid", path.display(), endpoints.len());
            Ok(0)
        }
        Err(EndpointsError::Invalid { problems, .. }) => {
            for problem in &problems {
                let _ = writeln!(report, "{}: {problem}", path.display());
            }
            Ok(problems.len())
        }
        Err(EndpointsError::Read { path, source }) => Err(RuntimeError::Read { path, error: source }.into()),
    }
}
