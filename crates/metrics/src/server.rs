//! The HTTP endpoint: `GET /metrics` and `GET /healthz`, on a thread of its own.
//!
//! A minimal HTTP/1.1 responder over `std::net`, not an HTTP crate: the
//! endpoint answers two GET routes for a scraper every few seconds and a
//! liveness probe, and closes each connection after one response. hyper or
//! axum would bring an async runtime and dozens of crates into the agent for
//! that; this is a hundred lines that read one request head (at most 8 KiB,
//! with timeouts, so a stalled client cannot hold the thread for long) and
//! write one response.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{Format, Metrics, MetricsError};

/// The longest a client may take to send its request or read the response.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read; a longer one is refused.
const MAX_HEAD: usize = 8 * 1024;

/// The running endpoint. Dropping it stops the server.
#[derive(Debug)]
pub struct Server {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `address` and serves `metrics` until dropped.
    pub(crate) fn start(address: SocketAddr, metrics: Metrics) -> Result<Self, MetricsError> {
        let bind_error = |source| MetricsError::Bind { address, source };
        let listener = TcpListener::bind(address).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(&listener, &metrics, &stopping))
            .map_err(bind_error)?;
        tracing::info!(%address, "serving metrics on /metrics and health on /healthz");
        Ok(Self { address, stop, thread: Some(thread) })
    }

    /// The address listened on (with the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop with a connection of our own.
        let mut wake = self.address;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
        }
        if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, metrics: &Metrics, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match stream {
            Ok(stream) => {
                if let Err(error) = respond(stream, metrics) {
                    tracing::debug!(%error, "metrics request failed");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot accept a metrics connection");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Reads one request from `stream` and answers it.
fn respond(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let response = match Request::parse(&head) {
        Some(request) => route(&request, metrics),
        None => Response::text(400, "Bad Request", "malformed request\n".into()),
    };
    let head_only = head.starts_with(b"HEAD ");
    stream.write_all(&response.to_bytes(head_only))?;
    stream.flush()
}

/// The request line and headers, up to the blank line that ends them.
fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match stream.read(&mut buffer)? {
            0 => break,
            n => head.extend_from_slice(&buffer[..n]),
        }
    }
    Ok(head)
}

/// What a request asked for.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    /// The `Accept` header, or "".
    accept: &'a str,
}

impl<'a> Request<'a> {
    fn parse(head: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(head).ok()?;
        let mut lines = text.split("\r\n");
        let mut request_line = lines.next()?.split(' ');
        let (method, target) = (request_line.next()?, request_line.next()?);
        request_line.next().filter(|version| version.starts_with("HTTP/"))?;
        let path = target.split('?').next().unwrap_or(target);
        let accept = lines
            .take_while(|line| !line.is_empty())
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("accept"))
            .map_or("", |(_, value)| value.trim());
        Some(Self { method, path, accept })
    }
}

fn route(request: &Request, metrics: &Metrics) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        let mut response = Response::text(405, "Method Not Allowed", "only GET and HEAD\n".into());
        response.extra = "Allow: GET, HEAD\r\n";
        return response;
    }
    match request.path {
        "/metrics" => {
            // OpenMetrics when the scraper asks for it (Prometheus does), the
            // classic text format for everyone else (curl, older scrapers).
            let format = if request.accept.contains("application/openmetrics-text") {
                Format::OpenMetrics
            } else {
                Format::Prometheus
            };
            Response {
                code: 200,
                reason: "OK",
                content_type: format.content_type(),
                body: metrics.encode(format),
                extra: "",
            }
        }
        "/healthz" => match metrics.health().problems() {
            problems if problems.is_empty() => Response::text(200, "OK", "ok\n".into()),
            problems => Response::text(503, "Service Unavailable", problems.join("\n") + "\n"),
        },
        _ => Response::text(404, "Not Found", "not found: try /metrics or /healthz\n".into()),
    }
}

struct Response {
    code: u16,
    reason: &'static str,
    content_type: &'static str,
    body: String,
    /// More header lines, each ending in CRLF.
    extra: &'static str,
}

impl Response {
    fn text(code: u16, reason: &'static str, body: String) -> Self {
        Self { code, reason, content_type: "text/plain; charset=utf-8", body, extra: "" }
    }

    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let Self { code, reason, content_type, body, extra } = self;
        let mut bytes = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        )
        .into_bytes();
        if !head_only {
            bytes.extend_from_slice(body.as_bytes());
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_from_their_head() {
        let head =
            b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\naccept: application/openmetrics-text;version=1.0.0\r\n\r\n";
        let request = Request::parse(head).unwrap();
        assert_eq!((request.method, request.path), ("GET", "/metrics"));
        assert!(request.accept.starts_with("application/openmetrics-text"));
        assert!(Request::parse(b"GET /metrics\r\n\r\n").is_none());
        assert!(Request::parse(b"\xff\xfe").is_none());
    }
}
