//! The listeners and the thread that serves them: the unix socket (always
//! plaintext, as Cilium's; Relay's default target) and the TCP listener
//! (TLS, mutual with client CAs, or plaintext only when asked for), both
//! with the same services:
//!
//! - `observer.Observer` and `peer.Peer`;
//! - `grpc.health.v1.Health`, `SERVING` for `hubble.server.Observer`;
//! - `grpc.reflection.v1` and `v1alpha` (`grpcurl`, `hubble reflect`);
//! - the `hubble-server-version` header on every response.
//!
//! Binding happens in [`ServerSettings::bind`], before the agent starts
//! anything, so a busy port or a bad certificate stops it at once; serving
//! runs on a thread and tokio runtime of its own, so streaming to clients
//! never delays the capture on the agent's runtime.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::transport::Server;
use tonic::transport::server::{Connected, TcpIncoming};
use tonic_health::ServingStatus;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api::observer::observer_server::ObserverServer;
use crate::api::peer::peer_server::PeerServer;
use crate::observer::{Observer, VERSION};
use crate::peers::Peers;
use crate::service::{OBSERVER_HEALTH_NAME, ObserverService, PeerService};
use crate::tls::{ServerTls, TlsError, TlsFiles};

/// The longest a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to serve.
#[derive(Debug, Clone, Default)]
pub struct ServerSettings {
    /// The unix socket's path; `None`: no socket.
    pub socket_path: Option<PathBuf>,
    /// The TCP listener's address; `None`: no TCP listener.
    pub listen_address: Option<std::net::SocketAddr>,
    /// The TCP listener's TLS; `None` serves it in plaintext (the caller
    /// has checked that this was asked for).
    pub tls: Option<TlsFiles>,
}

/// What stops the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The unix socket cannot be made.
    #[error("cannot listen on the Hubble socket {}: {error}", path.display())]
    Socket {
        /// Its path.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The TCP address cannot be listened on.
    #[error("cannot listen for the Hubble API on {address}: {error}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        error: io::Error,
    },
    /// The TLS files do not make a configuration.
    #[error("the Hubble API's TLS: {0}")]
    Tls(#[from] TlsError),
    /// The server's thread or runtime cannot start.
    #[error("cannot start the Hubble server: {0}")]
    Start(io::Error),
}

/// The listeners, bound and not yet served.
#[derive(Debug)]
pub struct Bound {
    socket: Option<(std::os::unix::net::UnixListener, PathBuf)>,
    tcp: Option<(std::net::TcpListener, Option<Arc<ServerTls>>)>,
}

impl ServerSettings {
    /// Binds the listeners and reads the TLS files.
    pub fn bind(&self) -> Result<Bound, ServeError> {
        let tls = self.tls.clone().map(ServerTls::load).transpose()?.map(Arc::new);
        let tcp = match self.listen_address {
            Some(address) => {
                let listener = std::net::TcpListener::bind(address)
                    .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
                    .map_err(|error| ServeError::Listen { address, error })?;
                Some((listener, tls))
            }
            None => None,
        };
        let socket = match &self.socket_path {
            Some(path) => Some((
                bind_socket(path).map_err(|error| ServeError::Socket { path: path.clone(), error })?,
                path.clone(),
            )),
            None => None,
        };
        Ok(Bound { socket, tcp })
    }
}

/// Binds the unix socket at `path`: its directory made if missing, a stale
/// socket of an earlier run replaced (a live one is an error), and only
/// its owner and group allowed to connect.
fn bind_socket(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, "another server is listening on it"));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => return Err(io::Error::new(io::ErrorKind::AlreadyExists, "a file that is not a socket is in the way")),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl Bound {
    /// The unix socket's path, if there is one.
    pub fn socket_path(&self) -> Option<&Path> {
        self.socket.as_ref().map(|(_, path)| path.as_path())
    }

    /// The TCP listener's address (with the port chosen for port 0).
    pub fn tcp_address(&self) -> Option<std::net::SocketAddr> {
        self.tcp.as_ref().and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// How the TCP listener is secured, for the log: `mutual TLS`, `TLS`
    /// or `plaintext`; `None` without one.
    pub fn tcp_security(&self) -> Option<&'static str> {
        self.tcp.as_ref().map(|(_, tls)| match tls {
            Some(tls) if tls.is_mutual() => "mutual TLS",
            Some(_) => "TLS",
            None => "plaintext",
        })
    }

    /// Serves `observer` and `peers` on a thread of its own until the
    /// returned handle is dropped.
    pub fn start(self, observer: Arc<Observer>, peers: Peers) -> Result<Running, ServeError> {
        let (stop, stopped) = watch::channel(false);
        let socket_path = self.socket_path().map(Path::to_path_buf);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServeError::Start)?;
        std::thread::Builder::new()
            .name("hubble".into())
            .spawn(move || runtime.block_on(self.serve(observer, peers, stopped)))
            .map_err(ServeError::Start)?;
        Ok(Running { stop, socket_path })
    }

    async fn serve(self, observer: Arc<Observer>, peers: Peers, stopped: watch::Receiver<bool>) {
        let services = Services { observer: ObserverService(observer), peers: PeerService(peers) };
        let unix = self.socket.map(|(listener, path)| {
            let services = services.clone();
            let stopped = stopped.clone();
            async move {
                let served = UnixListener::from_std(listener).map(UnixListenerStream::new);
                match served {
                    Ok(incoming) => services.serve(incoming, stopped).await,
                    Err(error) => tracing::error!(path = %path.display(), %error, "cannot serve the Hubble socket"),
                }
            }
        });
        let tcp = self.tcp.map(|(listener, tls)| async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(error) => return tracing::error!(%error, "cannot serve the Hubble API on TCP"),
            };
            match tls {
                Some(tls) => {
                    tokio::spawn(Arc::clone(&tls).watch());
                    services.serve(tls_incoming(listener, tls), stopped).await;
                }
                None => services.serve(TcpIncoming::from(listener).with_nodelay(Some(true)), stopped).await,
            }
        });
        futures::join!(optional(unix), optional(tcp));
    }
}

async fn optional(task: Option<impl Future<Output = ()>>) {
    if let Some(task) = task {
        task.await;
    }
}

/// The services every listener serves.
#[derive(Debug, Clone)]
struct Services {
    observer: ObserverService,
    peers: PeerService,
}

impl Services {
    async fn serve<I, IO, IE>(self, incoming: I, mut stopped: watch::Receiver<bool>)
    where
        I: Stream<Item = Result<IO, IE>>,
        IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
        IO::ConnectInfo: Clone + Send + Sync + 'static,
        IE: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status(OBSERVER_HEALTH_NAME, ServingStatus::Serving).await;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(flowlog_flow::descriptors::ENCODED)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let (Ok(reflection_v1), Ok(reflection_v1alpha)) = (reflection().build_v1(), reflection().build_v1alpha())
        else {
            return tracing::error!("the schema does not make a reflection service");
        };
        let version = http::HeaderValue::from_static(VERSION);
        let served = Server::builder()
            .layer(SetResponseHeaderLayer::overriding(http::HeaderName::from_static("hubble-server-version"), version))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(ObserverServer::new(self.observer))
            .add_service(PeerServer::new(self.peers))
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stopped.wait_for(|stopped| *stopped).await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the Hubble server failed");
        }
    }
}

/// The TLS connections `listener` accepts, each handshake on a task of its
/// own so that a slow client holds up no other.
fn tls_incoming(
    listener: TcpListener,
    tls: Arc<ServerTls>,
) -> impl Stream<Item = io::Result<tokio_rustls::server::TlsStream<TcpStream>>> {
    let (connections, incoming) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: try again shortly.
                    tracing::warn!(%error, "cannot accept a Hubble API connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = tls.acceptor();
            let connections = connections.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let _ = connections.send(Ok(stream)).await;
                    }
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "Hubble API TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "Hubble API TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(incoming)
}

/// The running server: dropping it stops listening and removes the socket.
#[derive(Debug)]
pub struct Running {
    stop: watch::Sender<bool>,
    socket_path: Option<PathBuf>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}
