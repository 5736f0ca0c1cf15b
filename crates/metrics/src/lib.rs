//! Prometheus metrics and health checks for flowlog.
//!
//! ```text
//! events ─▶ FlowMetrics::observe ─▶ hubble_flows_processed_total, hubble_drop_total, …
//! SinkRegistry (the pipeline's sinks) ─┬▶ flowlog_exporter_*, hubble_lost_events_total   ─▶ GET /metrics
//! ReloadStats ─────────────────────────┼▶ hubble_dynamic_exporter_*
//!                                      └▶ Health (+ capture errors)                       ─▶ GET /healthz
//! ```
//!
//! - [`flows`]: Hubble's flow metrics, with label values spelled as Hubble's
//!   handlers spell them ([`hubble`], [`icmp`]);
//! - [`lost`]: `hubble_lost_events_total` by source;
//! - [`exporters`]: each sink's counters, and Cilium's dynamic exporter metrics;
//! - [`health`]: what `/healthz` reports; [`server`]: the HTTP endpoint (axum);
//! - `kubernetes`: the watches of the Kubernetes API (`flowlog_k8s_*`);
//! - `log`: the log lines the agent could not write.
//!
//! Everything read from the exporters is read at scrape time, so dynamic flow
//! logs appear and disappear with reloads and the hot path pays nothing for
//! them. Flow counting costs a few hash lookups per event, only when metrics
//! are served.

#![deny(missing_docs)]

pub mod dns;
pub mod exporters;
pub mod flows;
pub mod health;
pub mod hubble;
pub mod icmp;
mod kubernetes;
mod log;
pub mod lost;
pub mod server;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use flowlog_enrich::source::kubernetes::KubernetesStatus;
use flowlog_export::SinkRegistry;
use flowlog_export::dynamic::ReloadStats;
use prometheus_client::registry::Registry;

pub use flows::FlowMetrics;
pub use health::Health;
pub use server::Server;

/// Why metrics cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address cannot be listened on (in use, not local, no permission).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// What the system reported.
        source: std::io::Error,
    },
}

/// The text formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus' classic text format, version 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text, which Prometheus asks for.
    OpenMetrics,
}

impl Format {
    /// The format's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Every metric flowlog serves, and its health. Cloning shares them.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    flows: FlowMetrics,
    health: Health,
}

impl Metrics {
    /// The metrics of a pipeline whose sinks are listed in `sinks`, with
    /// Cilium's dynamic exporter metrics when there are dynamic flow logs
    /// (`reloads`), the Kubernetes watches' state when Kubernetes is on, and
    /// the count of log lines the logger could not write.
    pub fn new(
        sinks: &SinkRegistry,
        reloads: Option<Arc<ReloadStats>>,
        kubernetes: Option<Arc<KubernetesStatus>>,
        dropped_log_lines: &'static AtomicU64,
    ) -> Self {
        let flows = FlowMetrics::default();
        let mut registry = Registry::default();
        flows.register(&mut registry);
        registry
            .register_collector(Box::new(lost::LostEvents { observed: flows.observed_losses(), sinks: sinks.clone() }));
        registry.register_collector(Box::new(exporters::Sinks(sinks.clone())));
        registry.register_collector(Box::new(log::DroppedLogLines(dropped_log_lines)));
        if let Some(reloads) = reloads {
            registry.register_collector(Box::new(exporters::DynamicExporters { sinks: sinks.clone(), reloads }));
        }
        if let Some(status) = kubernetes {
            registry.register_collector(Box::new(kubernetes::Watches(status)));
        }
        Self { registry: Arc::new(registry), flows, health: Health::new(sinks.clone()) }
    }

    /// The flow counters, to count events with.
    pub fn flows(&self) -> &FlowMetrics {
        &self.flows
    }

    /// The health `/healthz` reports, to report capture failures to.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Every metric, as text in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut text = String::new();
        let encoded = match format {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry),
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &self.registry),
        };
        encoded.expect("writing to a String cannot fail");
        text
    }

    /// Serves `/metrics` and `/healthz` on `address`, from a task on the
    /// calling tokio runtime, until the returned server is stopped.
    pub fn serve(&self, address: SocketAddr) -> Result<Server, MetricsError> {
        Server::start(address, self.clone())
    }
}

/// Parses a listen address as Cilium's `hubble-metrics-server` takes it:
/// `host:port`, `[ipv6]:port`, or `:port` for every IPv4 address (`[::]:port`
/// for IPv6 too). An empty string means no endpoint, as in Cilium.
pub fn parse_listen_address(text: &str) -> Result<Option<SocketAddr>, AddressError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let resolvable = if text.starts_with(':') { format!("0.0.0.0{text}") } else { text.to_owned() };
    match resolvable.to_socket_addrs() {
        Ok(mut addresses) => addresses.next().map(Some).ok_or_else(|| AddressError::NoAddress(text.to_owned())),
        Err(error) => Err(AddressError::Invalid { text: text.to_owned(), error }),
    }
}

/// A listen address that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// Not `host:port`, `[ipv6]:port` or `:port`.
    #[error("{text:?} is not an address to listen on (host:port, [ipv6]:port or :port): {error}")]
    Invalid {
        /// The text.
        text: String,
        /// What resolving it said.
        error: std::io::Error,
    },
    /// A host name that resolves to nothing.
    #[error("{0:?} resolves to no address")]
    NoAddress(String),
}

#[cfg(test)]
mod tests;
