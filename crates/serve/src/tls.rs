//! The TCP listener's TLS: a certificate and key, and for mutual TLS the
//! CAs client certificates must chain to, read again whenever one of the
//! files changes (cert-manager renews certificates by swapping a Secret's
//! files while the agent runs).
//!
//! Every connection takes the configuration current when it arrives; a
//! connection already open keeps the one it was accepted with. A reload
//! that fails (a half-written file, a key that does not match) is logged
//! and the last good configuration stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use flowlog_config::Watcher;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

/// The files the TLS configuration is read from (Cilium's
/// `hubble-tls-cert-file`, `hubble-tls-key-file`, `hubble-tls-client-ca-files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
    /// CAs for client certificates, PEM; none: clients need no certificate.
    pub client_cas: Vec<PathBuf>,
}

/// A TLS configuration that cannot be made, naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A file holds no PEM block of the kind it should.
    #[error("{} holds no {what} in PEM form", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// `certificate`, `private key`.
        what: &'static str,
    },
    /// rustls refuses the certificates or key.
    #[error("{what}: {error}")]
    Rejected {
        /// What was being set up.
        what: &'static str,
        /// rustls's reason.
        error: rustls::Error,
    },
    /// The client CAs cannot verify client certificates.
    #[error("the client CAs cannot verify clients: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

/// The current TLS configuration, and the files it was made of.
#[derive(Debug)]
pub struct ServerTls {
    files: TlsFiles,
    current: ArcSwap<ServerConfig>,
    /// The files' contents the current configuration was made from.
    loaded: Mutex<Vec<Vec<u8>>>,
}

impl ServerTls {
    /// Reads `files` and makes the configuration.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let contents = read_all(&files)?;
        let config = build(&files, &contents)?;
        Ok(Self { files, current: ArcSwap::from_pointee(config), loaded: Mutex::new(contents) })
    }

    /// What accepts a connection with the configuration current now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }

    /// Whether clients must show a certificate.
    pub fn is_mutual(&self) -> bool {
        !self.files.client_cas.is_empty()
    }

    /// Reads the files again; makes a new configuration if they changed.
    /// Returns whether they did.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let contents = read_all(&self.files)?;
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if *loaded == contents {
            return Ok(false);
        }
        let config = build(&self.files, &contents)?;
        self.current.store(Arc::new(config));
        *loaded = contents;
        Ok(true)
    }

    /// Reloads whenever a file changes, until the future is dropped. Must
    /// run on a tokio runtime (the watchers' debouncing runs there).
    pub async fn watch(self: Arc<Self>) {
        let paths = [&self.files.cert, &self.files.key].into_iter().chain(&self.files.client_cas);
        let mut watchers: Vec<Watcher> = paths.map(|path| Watcher::start(path, flowlog_config::POLL)).collect();
        loop {
            futures::future::select_all(watchers.iter_mut().map(|watcher| Box::pin(watcher.next()))).await;
            match self.reload() {
                Ok(true) => tracing::info!(cert = %self.files.cert.display(), "Hubble TLS certificates reloaded"),
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(%error, "cannot reload the Hubble TLS certificates; the previous ones stay in use")
                }
            }
        }
    }
}

/// The contents of the certificate, the key and each CA file, in that order.
fn read_all(files: &TlsFiles) -> Result<Vec<Vec<u8>>, TlsError> {
    let paths = [&files.cert, &files.key].into_iter().chain(&files.client_cas);
    paths.map(|path| std::fs::read(path).map_err(|error| TlsError::Read { path: path.clone(), error })).collect()
}

fn build(files: &TlsFiles, contents: &[Vec<u8>]) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&files.cert, &contents[0])?;
    let key = PrivateKeyDer::from_pem_slice(&contents[1])
        .map_err(|_| TlsError::Missing { path: files.key.clone(), what: "private key" })?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Rejected { what: "TLS versions", error })?;
    let builder = if files.client_cas.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_verifier(client_verifier(files, &contents[2..], provider)?)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|error| TlsError::Rejected { what: "the certificate and key", error })?;
    // gRPC is HTTP/2, and grpc-go clients (hubble, Relay) insist on ALPN.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

fn client_verifier(
    files: &TlsFiles,
    contents: &[Vec<u8>],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for (path, pem) in files.client_cas.iter().zip(contents) {
        for certificate in certificates(path, pem)? {
            roots.add(certificate).map_err(|error| TlsError::Rejected { what: "a client CA", error })?;
        }
    }
    Ok(WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?)
}

fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(pem).filter_map(Result::ok).collect();
    if certificates.is_empty() {
        return Err(TlsError::Missing { path: path.to_owned(), what: "certificate" });
    }
    Ok(certificates)
}
