//! The HTTP endpoint: `GET /metrics` and `GET /healthz`, served by axum on
//! the agent's tokio runtime.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Format, Metrics, MetricsError};

/// The running endpoint. [`Server::stop`] stops it; dropping it stops it too,
/// without waiting.
#[derive(Debug)]
pub struct Server {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Listens on `address` and serves `metrics` from a task on the calling
    /// tokio runtime.
    pub(crate) fn start(address: SocketAddr, metrics: Metrics) -> Result<Self, MetricsError> {
        let bind_error = |source| MetricsError::Bind { address, source };
        // Bound here, not in the task, so a busy port fails the start.
        let listener = std::net::TcpListener::bind(address).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let router = Router::new()
            .route("/metrics", get(serve_metrics))
            .route("/healthz", get(serve_health))
            .fallback(|| async {
                text(StatusCode::NOT_FOUND, PLAIN, "not found: try /metrics or /healthz\n".to_owned())
            })
            .with_state(metrics);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = served.await {
                tracing::warn!(%error, "the metrics endpoint stopped");
            }
        });
        tracing::info!(%address, "serving metrics on /metrics and health on /healthz");
        Ok(Self { address, stop: Some(stop), task })
    }

    /// The address listened on (with the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops listening, lets requests in progress finish, and returns once
    /// the endpoint is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every metric: OpenMetrics when the scraper asks for it (Prometheus does),
/// the classic text format for everyone else (curl, older scrapers).
async fn serve_metrics(State(metrics): State<Metrics>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()).unwrap_or("");
    let format = if accept.contains("application/openmetrics-text") { Format::OpenMetrics } else { Format::Prometheus };
    text(StatusCode::OK, format.content_type(), metrics.encode(format))
}

/// `ok`, or what is broken, one line each, with 503.
async fn serve_health(State(metrics): State<Metrics>) -> Response {
    match metrics.health().problems() {
        problems if problems.is_empty() => text(StatusCode::OK, PLAIN, "ok\n".to_owned()),
        problems => text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, problems.join("\n") + "\n"),
    }
}

const PLAIN: &str = "text/plain; charset=utf-8";

/// A response that no cache keeps (every scrape must see the counts of
/// now), on a connection that closes after it: a scraper comes back every
/// few seconds, and an idle connection held open for it is worth nothing.
fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
