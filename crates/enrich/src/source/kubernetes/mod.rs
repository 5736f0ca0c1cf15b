//! The Kubernetes API as a source: pods cluster-wide (so both sides of a
//! flow are named), their namespaces' labels, services' cluster IPs and
//! ports, and nodes' addresses, kept current by watches.
//!
//! ```text
//! API server ─ list + watch ─▶ records (slim) ─▶ Cluster ─▶ Names ─▶ Layer (arc-swap) ─▶ flows
//! ```
//!
//! - [`connect`]: whether Kubernetes is on, and where the API server is;
//! - [`objects`]: what is decoded of each object;
//! - [`records`]: what is kept of it;
//! - [`labels`], [`workload`], [`identity`]: how an endpoint is made from a
//!   pod, as Cilium makes it;
//! - [`cluster`]: the records, and the addresses that change hands;
//! - [`watch`]: the watches, and when the layer is published;
//! - [`status`]: how the watches are doing, for the metrics.
//!
//! The watches run on a thread and runtime of their own: a list of 10,000
//! pods takes a while to decode, and the capture, on the agent's runtime,
//! is never held up by it. An API server that cannot be reached leaves the
//! addresses unnamed (the other sources still name theirs) until it can.

pub mod cluster;
pub mod connect;
pub mod identity;
pub mod labels;
pub mod objects;
pub mod records;
pub mod status;
pub mod watch;
pub mod workload;

use std::sync::Arc;

use kube::Client;
use tokio::sync::watch as channel;

pub use self::cluster::Settings;
pub use self::connect::{ConnectError, Connection};
pub use self::records::{Kind, NodeRecord};
pub use self::status::KubernetesStatus;
use crate::endpoints::Names;
use crate::shared::Layer;
use crate::source::EndpointSource;

/// The Kubernetes API, configured but not yet watched.
#[derive(Debug)]
pub struct Kubernetes {
    config: kube::Config,
    settings: Settings,
    status: Arc<KubernetesStatus>,
    nodes: channel::Sender<Vec<NodeRecord>>,
}

impl Kubernetes {
    /// The source `connection` describes, or `None` when Kubernetes is off.
    /// Reads the kubeconfig, if any; does not reach the API server.
    pub async fn configure(connection: &Connection, settings: Settings) -> Result<Option<Self>, ConnectError> {
        let config = connection.config().await?;
        let nodes = channel::Sender::new(Vec::new());
        Ok(config.map(|config| Kubernetes { config, settings, status: Arc::default(), nodes }))
    }

    /// How the watches are doing, for the metrics.
    pub fn status(&self) -> Arc<KubernetesStatus> {
        Arc::clone(&self.status)
    }

    /// The cluster's nodes, sorted by name, as they are listed and change
    /// (the Hubble server's peers); empty until they are first listed.
    pub fn nodes(&self) -> channel::Receiver<Vec<NodeRecord>> {
        self.nodes.subscribe()
    }

    /// The API server's URL.
    pub fn server(&self) -> String {
        self.config.cluster_url.to_string()
    }
}

impl EndpointSource for Kubernetes {
    /// Nothing: the first list is published when it comes.
    fn initial(&self) -> Names {
        Names::default()
    }

    async fn run(self, layer: Layer) {
        let Kubernetes { config, settings, status, nodes } = self;
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new().name("kubernetes".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            match runtime {
                Ok(runtime) => runtime.block_on(async {
                    match Client::try_from(config) {
                        Ok(client) => watch::run(client, cluster::Cluster::new(settings), layer, nodes, status).await,
                        Err(error) => tracing::error!(%error, "cannot make a Kubernetes client; flows are not named from Kubernetes"),
                    }
                }),
                Err(error) => tracing::error!(%error, "cannot start the Kubernetes runtime; flows are not named from Kubernetes"),
            }
            drop(done);
        });
        match spawned {
            Ok(_) => {
                let _ = finished.await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot start the Kubernetes thread; flows are not named from Kubernetes")
            }
        }
    }
}
