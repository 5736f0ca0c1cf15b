//! A gRPC client of flowlog's Hubble API, as `hubble` and Hubble Relay
//! connect: on the unix socket, or on TCP with TLS.

use std::path::Path;
use std::time::Duration;

use flowlog_flow::proto::observer::{GetFlowsRequest, GetFlowsResponse};
use flowlog_serve::api::observer::observer_client::ObserverClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A channel to the server on the unix socket at `path`, once it accepts
/// connections (within 10 s).
pub async fn connect_unix(path: &Path) -> Channel {
    for _ in 0..100 {
        match flowlog_serve::api::unix_channel(path).await {
            Ok(channel) => return channel,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("nothing accepts connections on {}", path.display());
}

/// A channel to `address` over TLS, trusting `ca` for `server_name`,
/// showing `identity` (certificate, key) when given. Its requests give up
/// after 5 s: a channel whose handshake the server refused would
/// otherwise retry forever.
pub async fn connect_tls(
    address: std::net::SocketAddr,
    ca: &str,
    server_name: &str,
    identity: Option<(&str, &str)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name(server_name);
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let endpoint = Endpoint::from_shared(format!("https://{address}"))?.tls_config(tls)?;
    endpoint.timeout(Duration::from_secs(5)).connect_timeout(Duration::from_secs(5)).connect().await
}

/// The responses of a `GetFlows` that ends by itself.
pub async fn get_flows(channel: &Channel, request: GetFlowsRequest) -> Result<Vec<GetFlowsResponse>, tonic::Status> {
    let mut stream = ObserverClient::new(channel.clone()).get_flows(request).await?.into_inner();
    let mut responses = Vec::new();
    while let Some(response) = stream.message().await? {
        responses.push(response);
    }
    Ok(responses)
}
