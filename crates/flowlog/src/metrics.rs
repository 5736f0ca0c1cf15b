//! `--metrics-address`: the Prometheus endpoint of `run` and `replay`.

use std::sync::Arc;

use flowlog_export::SinkRegistry;
use flowlog_export::dynamic::ReloadStats;
use flowlog_metrics::{Metrics, Server};

use crate::Failure;
use crate::cli::CommonArgs;

/// The endpoint while it runs; dropping it stops the server.
#[derive(Debug)]
pub struct Endpoint {
    /// What the command counts flows and reports failures to.
    pub metrics: Metrics,
    _server: Server,
}

/// Serves `/metrics` and `/healthz` when `--metrics-address` is set, reading
/// the pipeline's `sinks` and, with dynamic flow logs, their `reloads`. An
/// address that cannot be listened on is a configuration error.
pub fn serve(
    common: &CommonArgs,
    sinks: &SinkRegistry,
    reloads: Option<&Arc<ReloadStats>>,
) -> Result<Option<Endpoint>, Failure> {
    let Some(address) = common.metrics_address.and_then(|address| address.0) else { return Ok(None) };
    let metrics = Metrics::new(sinks, reloads.cloned());
    let server = metrics.serve(address).map_err(|e| Failure::Config(vec![format!("--metrics-address: {e}")]))?;
    Ok(Some(Endpoint { metrics, _server: server }))
}
