//! The gRPC services: thin adapters from tonic's requests to the
//! [`Observer`] and the [`Peers`], which know nothing of gRPC.

use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use flowlog_flow::proto::observer::{
    GetAgentEventsRequest, GetAgentEventsResponse, GetDebugEventsRequest, GetDebugEventsResponse, GetFlowsRequest,
    GetFlowsResponse, GetNamespacesRequest, GetNamespacesResponse, GetNodesRequest, GetNodesResponse,
    ServerStatusRequest, ServerStatusResponse,
};
use flowlog_flow::proto::peer::{ChangeNotification, NotifyRequest};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::api::observer::observer_server;
use crate::api::peer::peer_server;
use crate::observer::{FlowQuery, Observer};
use crate::peers::Peers;

/// The name `hubble status` checks with the standard health service
/// (Cilium's `ObserverServiceName`).
pub const OBSERVER_HEALTH_NAME: &str = "hubble.server.Observer";

type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// `observer.Observer` over an [`Observer`].
#[derive(Debug, Clone)]
pub struct ObserverService(pub Arc<Observer>);

#[tonic::async_trait]
impl observer_server::Observer for ObserverService {
    type GetFlowsStream = Streamed<GetFlowsResponse>;
    type GetAgentEventsStream = Streamed<GetAgentEventsResponse>;
    type GetDebugEventsStream = Streamed<GetDebugEventsResponse>;

    async fn get_flows(&self, request: Request<GetFlowsRequest>) -> Result<Response<Self::GetFlowsStream>, Status> {
        let query =
            FlowQuery::new(request.into_inner()).map_err(|error| Status::invalid_argument(error.to_string()))?;
        Ok(Response::new(Box::pin(self.0.flows(query).map(Ok))))
    }

    /// A node without a Cilium agent has no agent events: the stream ends.
    async fn get_agent_events(
        &self,
        _: Request<GetAgentEventsRequest>,
    ) -> Result<Response<Self::GetAgentEventsStream>, Status> {
        Ok(Response::new(Box::pin(futures::stream::empty())))
    }

    /// Nor datapath debug events.
    async fn get_debug_events(
        &self,
        _: Request<GetDebugEventsRequest>,
    ) -> Result<Response<Self::GetDebugEventsStream>, Status> {
        Ok(Response::new(Box::pin(futures::stream::empty())))
    }

    /// Only Hubble Relay lists nodes; a node answers as a Cilium node does.
    async fn get_nodes(&self, _: Request<GetNodesRequest>) -> Result<Response<GetNodesResponse>, Status> {
        Err(Status::unimplemented("GetNodes not implemented"))
    }

    async fn get_namespaces(
        &self,
        _: Request<GetNamespacesRequest>,
    ) -> Result<Response<GetNamespacesResponse>, Status> {
        Ok(Response::new(GetNamespacesResponse { namespaces: self.0.namespaces() }))
    }

    async fn server_status(&self, _: Request<ServerStatusRequest>) -> Result<Response<ServerStatusResponse>, Status> {
        Ok(Response::new(self.0.status(SystemTime::now())))
    }
}

/// `peer.Peer` over the [`Peers`].
#[derive(Debug, Clone)]
pub struct PeerService(pub Peers);

#[tonic::async_trait]
impl peer_server::Peer for PeerService {
    type NotifyStream = Streamed<ChangeNotification>;

    async fn notify(&self, _: Request<NotifyRequest>) -> Result<Response<Self::NotifyStream>, Status> {
        Ok(Response::new(Box::pin(self.0.notifications().map(Ok))))
    }
}
