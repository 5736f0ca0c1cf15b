//! `flowlog check`: validates a dynamic flow log file, for the CI of users' ConfigMaps.

use flowlog_export::dynamic::config;

use crate::Failure;
use crate::cli::CheckArgs;

pub fn run(args: &CheckArgs) -> Result<(), Failure> {
    let path = &args.flowlogs_config_path;
    let (_, config) =
        config::load(path, None).map_err(|e| Failure::Runtime(format!("cannot read {}: {e}", path.display())))?;
    let errors = config.errors();
    if errors.is_empty() {
        println!("{}: {} flow log(s), all valid", path.display(), config.entries.len());
        return Ok(());
    }
    for error in &errors {
        println!("{}: {error}", path.display());
    }
    Err(Failure::Invalid(format!("{}: {} problem(s)", path.display(), errors.len())))
}
