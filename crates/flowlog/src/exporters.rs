//! What every exporting command feeds its events to: the static exporter
//! and the dynamic flow logs. Any bad option fails here, before the
//! command touches its input or the kernel.

use std::sync::Arc;

use flowlog_config::Watcher;
use flowlog_export::dynamic::{ReloadStats, Reloader};
use flowlog_export::option::OptionError;
use flowlog_export::{
    Consumer, DynamicFlowLogs, ExportContext, Exporter, ExporterConfig, ExporterSpec, Origin, WhenFull,
};
use serde_yaml_ng::Value;

use crate::cli::{CommonArgs, StaticExportArgs};
use crate::error::{ConfigError, Failure, RuntimeError};

/// The pipeline's consumers, built, and what keeps the dynamic ones current.
#[derive(Debug)]
pub struct Exporters {
    /// The static exporter and the dynamic flow logs, in that order.
    pub consumers: Vec<Box<dyn Consumer>>,
    /// What they share: their sinks are listed in `context.sinks`.
    pub context: ExportContext,
    /// What the dynamic flow logs' reloads did, when there are any.
    pub reloads: Option<Arc<ReloadStats>>,
    /// The dynamic flow log file's reader and watcher, to run once the
    /// pipeline's input exists.
    pub reloader: Option<(Reloader, Watcher)>,
}

/// Builds the exporters `common` asks for, reporting losses as
/// `node_name`; `when_full` says what a sink that cannot keep up does.
/// None at all is an error unless the Hubble API is `serving`.
/// The dynamic flow log file is read here, and watched from now on.
pub fn build(common: &CommonArgs, node_name: &str, when_full: WhenFull, serving: bool) -> Result<Exporters, Failure> {
    let static_spec = static_spec(&common.export).map_err(Failure::Config)?;
    if static_spec.is_none() && common.flowlogs_config_path.is_none() && !serving {
        return Err(ConfigError::NothingToExport.into());
    }
    let context = ExportContext::new(node_name, when_full);
    let reserved_path = static_spec.as_ref().map(|spec| spec.sink.describe());
    let mut consumers: Vec<Box<dyn Consumer>> = Vec::new();
    if let Some(spec) = static_spec {
        let exporter = Exporter::start(spec, Origin::Static, &context)
            .map_err(|error| RuntimeError::Start { what: "the static exporter", error })?;
        consumers.push(Box::new(exporter));
    }
    let (reloads, reloader) = match &common.flowlogs_config_path {
        Some(path) => {
            let stats = Arc::new(ReloadStats::default());
            let (flow_logs, updates) = DynamicFlowLogs::new(&context, Arc::clone(&stats));
            consumers.push(Box::new(flow_logs));
            // Watching first, so a change made while the file is read
            // for the first time is seen.
            let watcher = Watcher::start(path, flowlog_config::POLL);
            let reloader = Reloader::new(path.clone(), reserved_path, Arc::clone(&stats), updates);
            (Some(stats), Some((reloader, watcher)))
        }
        None => (None, None),
    };
    Ok(Exporters { consumers, context, reloads, reloader })
}

/// The static exporter's spec, or `None` when no file path is set. Every
/// problem is reported at once, each naming its flag.
pub fn static_spec(args: &StaticExportArgs) -> Result<Option<ExporterSpec>, Vec<ConfigError>> {
    let mut config = ExporterConfig::new("static", Origin::Static);
    let mut errors: Vec<ConfigError> = Vec::new();
    for (option, value) in &args.values {
        if let Err(error) = option.set(&mut config, &Value::String(value.clone())) {
            errors.push(flag_error(error));
        }
    }
    if config.file_path.trim().is_empty() {
        return Ok(None);
    }
    match config.validate() {
        Ok(spec) if errors.is_empty() => Ok(Some(spec)),
        Ok(_) => Err(errors),
        Err(spec_errors) => {
            errors.extend(spec_errors.into_iter().map(flag_error));
            Err(errors)
        }
    }
}

/// A setting's error, naming its flag.
fn flag_error(error: OptionError) -> ConfigError {
    ConfigError::StaticExporter { flag: error.flag.unwrap_or(error.key), error }
}
