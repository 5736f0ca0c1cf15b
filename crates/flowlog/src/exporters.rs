//! What every exporting command starts before it reads anything: the static
//! exporter, the pipeline and its input queue, the metrics endpoint, and the
//! dynamic flow logs with their watcher. Any bad option or busy port fails
//! here, before the command touches its input (or the kernel).

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use flowlog_export::dynamic::{ReloadStats, Reloader, Watcher};
use flowlog_export::{Exporter, Input, Origin, Pipeline, SinkSettings, WhenFull};

use crate::Failure;
use crate::cli::CommonArgs;
use crate::metrics::Endpoint;

/// The running exporters and the ends of their input queue.
#[derive(Debug)]
pub struct Exporters {
    /// Run it on the calling thread: it returns after [`Input::Stop`].
    pub pipeline: Pipeline,
    /// Where events go in; clone it for each producer.
    pub sender: Sender<Input>,
    /// What [`Pipeline::run`] reads.
    pub receiver: Receiver<Input>,
    /// The `--metrics-address` endpoint, when set.
    pub metrics: Option<Endpoint>,
    /// Watches `--flowlogs-config-path`, when set.
    pub flowlogs: Option<Watcher>,
}

/// Starts the exporters `common` asks for, reporting losses as `node_name`;
/// `queue` events may wait for the pipeline, and `when_full` says what a
/// sink that cannot keep up does.
pub fn start(common: &CommonArgs, node_name: &str, when_full: WhenFull, queue: usize) -> Result<Exporters, Failure> {
    let static_spec = crate::static_exporter::spec(&common.export).map_err(Failure::Config)?;
    if static_spec.is_none() && common.flowlogs_config_path.is_none() {
        return Err(Failure::Config(vec![
            "nothing to export to: set --export-file-path (a file, or stdout), --flowlogs-config-path, or both".into(),
        ]));
    }
    let settings = SinkSettings::new(node_name, when_full);
    let reserved_path = static_spec.as_ref().map(|spec| spec.target.describe());
    let static_exporter = static_spec
        .map(|spec| Exporter::start(spec, Origin::Static, &settings))
        .transpose()
        .map_err(|e| Failure::Runtime(format!("cannot start the static exporter: {e}")))?;
    let sinks = settings.sinks.clone();
    let mut pipeline = Pipeline::new(static_exporter.into_iter().collect(), settings);
    let (sender, receiver) = crossbeam_channel::bounded(queue);
    let reload_stats = common.flowlogs_config_path.as_ref().map(|_| Arc::new(ReloadStats::default()));
    let metrics = crate::metrics::serve(common, &sinks, reload_stats.as_ref())?;

    let flowlogs = match (&common.flowlogs_config_path, reload_stats) {
        (Some(path), Some(stats)) => {
            let mut reloader = Reloader::new(path.clone(), reserved_path, Arc::clone(&stats));
            let (hash, entries) = reloader.initial_entries();
            stats.applied(hash, &pipeline.reconfigure(entries));
            let updates = sender.clone();
            let watcher = Watcher::start(path, crate::CONFIG_POLL, move |trigger| reloader.reload(trigger, &updates))
                .map_err(|e| Failure::Runtime(format!("cannot watch {}: {e}", path.display())))?;
            // A change made between the first read and the start of watching
            // raised no event: read once more now that changes are seen.
            watcher.request();
            Some(watcher)
        }
        _ => None,
    };
    Ok(Exporters { pipeline, sender, receiver, metrics, flowlogs })
}
