//! `--metrics-address`: the Prometheus endpoint of `run` and `replay`.

use std::sync::Arc;

use flowlog_enrich::source::kubernetes::KubernetesStatus;
use flowlog_metrics::{Metrics, Server};

use crate::cli::CommonArgs;
use crate::error::{ConfigError, Failure};
use crate::exporters::Exporters;

/// The endpoint while it runs.
#[derive(Debug)]
pub struct Endpoint {
    /// What the source counts flows and reports failures to.
    pub metrics: Metrics,
    /// The HTTP server: it serves until this is dropped.
    _server: Server,
}

/// Serves `/metrics` and `/healthz` when `--metrics-address` is set, reading
/// the exporters' sinks, with dynamic flow logs their reloads, and with
/// Kubernetes its watches. An address that cannot be listened on is a
/// configuration error.
pub fn serve(
    common: &CommonArgs,
    exporters: &Exporters,
    kubernetes: Option<Arc<KubernetesStatus>>,
) -> Result<Option<Endpoint>, Failure> {
    let Some(address) = common.metrics_address.and_then(|address| address.0) else { return Ok(None) };
    let dropped_log_lines = &crate::logging::DROPPED_LINES;
    let metrics = Metrics::new(&exporters.context.sinks, exporters.reloads.clone(), kubernetes, dropped_log_lines);
    let server = metrics.serve(address).map_err(ConfigError::Metrics)?;
    Ok(Some(Endpoint { metrics, _server: server }))
}
