//! Where the API server is, and how to authenticate to it, from Cilium's
//! options:
//!
//! | given | configuration |
//! |---|---|
//! | `--enable-k8s=false` | none: Kubernetes is off |
//! | `--k8s-kubeconfig-path` | that kubeconfig's current context, its server replaced by `--k8s-api-server` if given |
//! | `--k8s-api-server` alone | the pod's service account (in a pod) at that URL, else that URL without credentials |
//! | neither, in a pod | the service account's in-cluster configuration |
//! | neither, `--enable-k8s=true` | kube-rs's inference: `KUBECONFIG`, `~/.kube/config`, in-cluster |
//! | neither, not in a pod | none |

use std::path::PathBuf;

use kube::config::{InClusterError, InferConfigError, KubeConfigOptions, Kubeconfig, KubeconfigError};

/// The options that say whether and where to reach Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connection {
    /// `--enable-k8s`: `None` decides by the other options and the pod.
    pub enable: Option<bool>,
    /// `--k8s-kubeconfig-path`.
    pub kubeconfig: Option<PathBuf>,
    /// `--k8s-api-server`.
    pub api_server: Option<String>,
}

/// Why the Kubernetes API cannot be configured.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What kube-rs reported.
        source: KubeconfigError,
    },
    /// `--k8s-api-server` is not a URL.
    #[error("--k8s-api-server {url:?} is not a URL: {source}")]
    ApiServer {
        /// What was given.
        url: String,
        /// What parsing reported.
        source: http::uri::InvalidUri,
    },
    /// `--enable-k8s=true` found no configuration.
    #[error("--enable-k8s is true, but there is no Kubernetes configuration: {source}")]
    Infer {
        /// What kube-rs tried, and why each failed.
        source: InferConfigError,
    },
}

impl Connection {
    /// The client configuration, or `None` when Kubernetes is off.
    pub async fn config(&self) -> Result<Option<kube::Config>, ConnectError> {
        if self.enable == Some(false) {
            return Ok(None);
        }
        let api_server = match &self.api_server {
            Some(url) => {
                Some(url.parse::<http::Uri>().map_err(|source| ConnectError::ApiServer { url: url.clone(), source })?)
            }
            None => None,
        };
        let config = match (&self.kubeconfig, api_server) {
            (Some(path), api_server) => {
                let kubeconfig_error = |source| ConnectError::Kubeconfig { path: path.clone(), source };
                let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
                let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(kubeconfig_error)?;
                if let Some(url) = api_server {
                    config.cluster_url = url;
                }
                config
            }
            (None, Some(url)) => match in_cluster() {
                Some(mut config) => {
                    config.cluster_url = url;
                    config
                }
                None => kube::Config::new(url),
            },
            (None, None) if self.enable == Some(true) => {
                kube::Config::infer().await.map_err(|source| ConnectError::Infer { source })?
            }
            (None, None) => match in_cluster() {
                Some(config) => config,
                None => return Ok(None),
            },
        };
        Ok(Some(config))
    }
}

/// The pod's in-cluster configuration, if it runs in a pod with a service
/// account token.
fn in_cluster() -> Option<kube::Config> {
    kube::Config::incluster()
        .inspect_err(|error: &InClusterError| tracing::debug!(%error, "not in a Kubernetes pod"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn off_unless_asked_outside_a_pod() {
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            return;
        }
        assert!(Connection::default().config().await.unwrap().is_none());
        let off = Connection { enable: Some(false), api_server: Some("http://127.0.0.1:1".into()), kubeconfig: None };
        assert!(off.config().await.unwrap().is_none());
        let url = Connection { api_server: Some("http://127.0.0.1:6443".into()), ..Connection::default() };
        assert_eq!(url.config().await.unwrap().unwrap().cluster_url, "http://127.0.0.1:6443");
    }

    #[tokio::test]
    async fn bad_options_say_what_is_wrong() {
        let url = Connection { api_server: Some("not a url".into()), ..Connection::default() };
        let error = url.config().await.unwrap_err().to_string();
        assert!(error.starts_with(r#"--k8s-api-server "not a url" is not a URL"#), "{error}");
        let missing = Connection { kubeconfig: Some("/nonexistent/kubeconfig".into()), ..Connection::default() };
        let error = missing.config().await.unwrap_err().to_string();
        assert!(error.starts_with("kubeconfig /nonexistent/kubeconfig: "), "{error}");
    }
}
