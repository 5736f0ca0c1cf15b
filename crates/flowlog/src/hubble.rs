//! The Hubble server, from the options: checked and bound before the agent
//! starts anything, then served with the cluster's peers.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use flowlog_enrich::source::kubernetes::NodeRecord;
use flowlog_serve::peers::DEFAULT_PORT;
use flowlog_serve::{Bound, Observer, Peer, PeerNaming, Peers, Recorder, Running, ServerSettings, TlsFiles};
use tokio::sync::watch;

use crate::cli::{CommonArgs, HubbleArgs};
use crate::error::{ConfigError, Failure};

/// Cilium's socket, Hubble Relay's default target.
pub const DEFAULT_SOCKET: &str = "/var/run/cilium/hubble.sock";

/// The server, bound and not yet serving.
#[derive(Debug)]
pub struct HubbleServer {
    bound: Bound,
    observer: Arc<Observer>,
    naming: PeerNaming,
    node_name: String,
    static_peers: Vec<(String, String)>,
}

/// The server `common` asks for, bound, and the pipeline's consumer that
/// feeds it; `None` when the Hubble API is off.
pub fn build(common: &CommonArgs, node_name: &str) -> Result<Option<(Recorder, HubbleServer)>, Failure> {
    let args = &common.hubble;
    let Some(settings) = settings(args)? else { return Ok(None) };
    let bound = settings.bind().map_err(ConfigError::from)?;
    let naming = PeerNaming {
        cluster: common.cluster_name.clone(),
        port: bound.tcp_address().map_or(DEFAULT_PORT, |address| address.port()),
        tls: settings.tls.is_some(),
    };
    let (observer, recorder) = Observer::new(args.hubble_event_buffer_capacity, node_name);
    let server = HubbleServer {
        bound,
        observer,
        naming,
        node_name: node_name.to_owned(),
        static_peers: args.hubble_peers.clone(),
    };
    Ok(Some((recorder, server)))
}

/// Where to serve, checked: `None` when the API is off.
fn settings(args: &HubbleArgs) -> Result<Option<ServerSettings>, ConfigError> {
    // Given empty (as a ConfigMap turns them off), they ask for nothing.
    let asked = args.hubble_socket_path.as_ref().is_some_and(|path| !path.as_os_str().is_empty())
        || args.hubble_listen_address.is_some_and(|address| address.0.is_some());
    if !args.enable_hubble.unwrap_or(asked) {
        return Ok(None);
    }
    let socket_path = match &args.hubble_socket_path {
        Some(path) if path.as_os_str().is_empty() => None,
        Some(path) => Some(path.clone()),
        None => Some(PathBuf::from(DEFAULT_SOCKET)),
    };
    let listen_address = args.hubble_listen_address.and_then(|address| address.0);
    let tls = match (&args.hubble_tls_cert_file, &args.hubble_tls_key_file) {
        (Some(cert), Some(key)) => {
            Some(TlsFiles { cert: cert.clone(), key: key.clone(), client_cas: args.hubble_tls_client_ca_files.clone() })
        }
        (Some(_), None) => {
            return Err(ConfigError::HubbleTlsHalf { given: "hubble-tls-cert-file", missing: "hubble-tls-key-file" });
        }
        (None, Some(_)) => {
            return Err(ConfigError::HubbleTlsHalf { given: "hubble-tls-key-file", missing: "hubble-tls-cert-file" });
        }
        (None, None) if !args.hubble_tls_client_ca_files.is_empty() => {
            return Err(ConfigError::HubbleTlsHalf {
                given: "hubble-tls-client-ca-files",
                missing: "hubble-tls-cert-file",
            });
        }
        (None, None) => None,
    };
    let tls = match listen_address {
        None if tls.is_some() => return Err(ConfigError::HubbleTlsWithoutListener { flag: "hubble-tls-cert-file" }),
        None if socket_path.is_none() => return Err(ConfigError::HubbleNowhere),
        Some(_) if args.hubble_disable_tls => {
            if tls.is_some() {
                tracing::warn!("--hubble-disable-tls is set: the TLS certificate files are not used");
            }
            None
        }
        Some(address) if tls.is_none() => return Err(ConfigError::HubbleTlsNeeded { address }),
        _ => tls,
    };
    Ok(Some(ServerSettings { socket_path, listen_address, tls }))
}

impl HubbleServer {
    /// Starts serving, with the peers that `nodes` lists as they change
    /// (the Kubernetes Node watch), else those of `--hubble-peers`; this
    /// node is always one of them. Must be called on the agent's runtime,
    /// which follows the nodes.
    pub fn start(self, nodes: Option<watch::Receiver<Vec<NodeRecord>>>) -> Result<Running, Failure> {
        let HubbleServer { bound, observer, naming, node_name, static_peers } = self;
        let this_node = this_node(&bound, &naming, &node_name, &static_peers);
        let peers = Peers::default();
        match nodes {
            Some(nodes) => {
                tokio::spawn(follow_nodes(peers.clone(), naming, this_node, nodes));
            }
            None => {
                let others = static_peers.iter().filter(|(name, _)| *name != node_name);
                let others = others.map(|(name, address)| naming.peer(name, address.clone()));
                peers.set(others.chain([this_node]));
            }
        }
        let socket = bound.socket_path().map_or_else(|| "none".to_owned(), |path| path.display().to_string());
        match (bound.tcp_address(), bound.tcp_security()) {
            (Some(address), Some(security)) => {
                if security == "plaintext" {
                    tracing::warn!(%address, "the Hubble API is served without TLS on TCP");
                }
                tracing::info!(socket, %address, security, "serving the Hubble API");
            }
            _ => tracing::info!(socket, "serving the Hubble API"),
        }
        Ok(bound.start(observer, peers).map_err(ConfigError::from)?)
    }
}

/// This node as a peer: as `--hubble-peers` names it, else at the TCP
/// listener's address (the host's first address when it listens on all),
/// else at the unix socket (for a Relay on this host).
fn this_node(bound: &Bound, naming: &PeerNaming, node_name: &str, static_peers: &[(String, String)]) -> Peer {
    if let Some((_, address)) = static_peers.iter().find(|(name, _)| name == node_name) {
        return naming.peer(node_name, address.clone());
    }
    match bound.tcp_address() {
        Some(address) if !address.ip().is_unspecified() => naming.node_peer(node_name, address.ip()),
        Some(address) => match host_address() {
            Some(ip) => naming.node_peer(node_name, ip),
            None => naming.peer(node_name, address.to_string()),
        },
        None => naming.peer(
            node_name,
            format!("unix://{}", bound.socket_path().map(|p| p.display().to_string()).unwrap_or_default()),
        ),
    }
}

/// The host's first address that is not a loopback, IPv4 first.
fn host_address() -> Option<IpAddr> {
    let addresses: Vec<IpAddr> =
        if_addrs::get_if_addrs().ok()?.into_iter().map(|i| i.ip()).filter(|ip| !ip.is_loopback()).collect();
    preferred(&addresses)
}

/// The first IPv4 address of `addresses`, else the first: Cilium's
/// preference (without `hubble-prefer-ipv6`).
fn preferred(addresses: &[IpAddr]) -> Option<IpAddr> {
    addresses.iter().find(|ip| ip.is_ipv4()).or(addresses.first()).copied()
}

/// Keeps `peers` to the nodes Kubernetes lists (and this node), at each
/// node's first IPv4 address (else its first), as Cilium prefers.
async fn follow_nodes(peers: Peers, naming: PeerNaming, this_node: Peer, mut nodes: watch::Receiver<Vec<NodeRecord>>) {
    loop {
        let listed: Vec<Peer> = nodes
            .borrow_and_update()
            .iter()
            .filter_map(|node| Some(naming.node_peer(&node.name, preferred(&node.addresses)?)))
            .collect();
        let this_listed = listed.iter().any(|peer| peer.name == this_node.name);
        peers.set(listed.into_iter().chain((!this_listed).then(|| this_node.clone())));
        if nodes.changed().await.is_err() {
            return;
        }
    }
}
