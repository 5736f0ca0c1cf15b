//! The Hubble API end to end: the real `flowlog replay` (and, for peers
//! from Kubernetes, `flowlog run`) serving on a unix socket or TCP, called
//! by a gRPC client of the tests' own (tonic), as `hubble observe`,
//! `hubble status` and Hubble Relay call it.
//!
//! The flows are made here, one a second, so that each query's answer is
//! known: flow `i` has uuid `f<i>`, is DROPPED when `i % 4 == 0`, and comes
//! from namespace `shop` when `i` is even, `web` when odd.

#[path = "../crates/capture-ebpf/tests/netns/mod.rs"]
mod netns;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flowlog_flow::proto::observer::get_flows_response::ResponseTypes;
use flowlog_flow::proto::observer::{
    GetAgentEventsRequest, GetFlowsRequest, GetFlowsResponse, GetNamespacesRequest, GetNodesRequest,
    ServerStatusRequest,
};
use flowlog_flow::proto::peer::{ChangeNotification, ChangeNotificationType, NotifyRequest};
use flowlog_flow::{FlowFilter, LostEventSource, Verdict};
use flowlog_serve::api::observer::observer_client::ObserverClient;
use flowlog_serve::api::peer::peer_client::PeerClient;
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use prost_types::{FieldMask, Timestamp};
use support::api_server::ApiServer;
use support::hubble::{connect_tls, connect_unix, get_flows};
use support::{Flowlog, Running, wait_for};
use tonic::Code;
use tonic::transport::Channel;

/// 2026-01-01T00:00:00Z: flow `i` is `i` seconds later.
const BASE: i64 = 1_767_225_600;

fn line(i: i64) -> String {
    let verdict = if i % 4 == 0 { "DROPPED" } else { "FORWARDED" };
    let namespace = if i % 2 == 0 { "shop" } else { "web" };
    let time =
        chrono::DateTime::from_timestamp(BASE + i, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!(
        r#"{{"flow":{{"time":"{time}","uuid":"f{i}","verdict":"{verdict}","source":{{"cluster_name":"c1","namespace":"{namespace}"}},"node_name":"c1/test-node"}},"node_name":"c1/test-node","time":"{time}"}}"#
    )
}

fn lines(range: std::ops::Range<i64>) -> String {
    range.map(|i| line(i) + "\n").collect()
}

fn at(i: i64) -> Timestamp {
    Timestamp { seconds: BASE + i, nanos: 0 }
}

fn uuids(responses: &[GetFlowsResponse]) -> Vec<String> {
    responses
        .iter()
        .filter_map(|response| match &response.response_types {
            Some(ResponseTypes::Flow(flow)) => Some(flow.uuid.clone()),
            _ => None,
        })
        .collect()
}

fn expected(indices: impl IntoIterator<Item = i64>) -> Vec<String> {
    indices.into_iter().map(|i| format!("f{i}")).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// `flowlog replay` of `input` serving on `<dir>/hubble.sock`, once it has
/// replayed everything.
fn serve_replay(dir: &Path, input: &str, args: &[&str]) -> Running {
    let path = dir.join("input.log");
    std::fs::write(&path, input).unwrap();
    let socket = dir.join("hubble.sock");
    let mut command = Flowlog::replay(&["--input", path.to_str().unwrap()]).command();
    command.arg("--hubble-socket-path").arg(&socket).args(["--node-name", "test-node"]).args(args);
    let running = Running::spawn(command);
    let ready = wait_for(Duration::from_secs(20), || running.stderr().contains("replayed: serving the Hubble API"));
    assert!(ready.is_some(), "flowlog did not serve:\n{}", running.stderr());
    running
}

#[test]
fn get_flows_answers_each_option_as_hubble_does() {
    let dir = tempfile::tempdir().unwrap();
    // No exporter: the Hubble API alone is reason enough to run.
    let flowlog = serve_replay(dir.path(), &lines(0..20), &[]);
    runtime().block_on(async {
        let channel = connect_unix(&dir.path().join("hubble.sock")).await;
        let flows = async |request: GetFlowsRequest| get_flows(&channel, request).await.unwrap();
        let dropped = FlowFilter { verdict: vec![Verdict::Dropped as i32], ..Default::default() };

        // `hubble observe --last 3`, and the last 3 that pass a filter.
        assert_eq!(uuids(&flows(GetFlowsRequest { number: 3, ..Default::default() }).await), expected(17..20));
        let last_dropped = GetFlowsRequest { number: 3, whitelist: vec![dropped.clone()], ..Default::default() };
        assert_eq!(uuids(&flows(last_dropped).await), expected([8, 12, 16]));
        // `--not --verdict DROPPED --all`.
        let all_but_dropped =
            GetFlowsRequest { number: u64::MAX, blacklist: vec![dropped.clone()], ..Default::default() };
        assert_eq!(uuids(&flows(all_but_dropped).await), expected((0..20).filter(|i| i % 4 != 0)));
        // `--first 2`; since/until; since with a number: the first after since.
        assert_eq!(
            uuids(&flows(GetFlowsRequest { number: 2, first: true, ..Default::default() }).await),
            expected(0..2)
        );
        let window = GetFlowsRequest { since: Some(at(5)), until: Some(at(8)), ..Default::default() };
        assert_eq!(uuids(&flows(window).await), expected(5..9));
        let after = GetFlowsRequest { since: Some(at(15)), number: 2, ..Default::default() };
        assert_eq!(uuids(&flows(after).await), expected([15, 16]));

        // Every response names its node and time; a field mask keeps only its fields.
        let mask = FieldMask { paths: vec!["uuid".into(), "verdict".into()] };
        let masked = flows(GetFlowsRequest { number: 2, field_mask: Some(mask), ..Default::default() }).await;
        assert_eq!(masked.len(), 2);
        for (response, i) in masked.iter().zip(18..) {
            assert_eq!((response.node_name.as_str(), response.time), ("c1/test-node", Some(at(i))));
            let Some(ResponseTypes::Flow(flow)) = &response.response_types else { panic!("{response:?}") };
            let verdict = if i % 4 == 0 { Verdict::Dropped } else { Verdict::Forwarded };
            let only = flowlog_flow::Flow { uuid: format!("f{i}"), verdict: verdict as i32, ..Default::default() };
            assert_eq!(*flow, only);
        }

        // Requests Hubble refuses, as it refuses them.
        let mut client = ObserverClient::new(channel.clone());
        let both = GetFlowsRequest { first: true, follow: true, ..Default::default() };
        let refused = client.get_flows(both).await.unwrap_err();
        assert_eq!(
            (refused.code(), refused.message()),
            (Code::InvalidArgument, "first cannot be specified with follow")
        );
        let bad_cidr = FlowFilter { source_ip: vec!["10.0.0.0/33".into()], ..Default::default() };
        let refused =
            client.get_flows(GetFlowsRequest { whitelist: vec![bad_cidr], ..Default::default() }).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains("10.0.0.0/33"), "{refused:?}");
        let bad_mask = FieldMask { paths: vec!["no_such_field".into()] };
        let refused = client.get_flows(GetFlowsRequest { field_mask: Some(bad_mask), ..Default::default() }).await;
        assert_eq!(refused.unwrap_err().code(), Code::InvalidArgument);

        // ServerStatus, with the version header every answer carries.
        let status = client.server_status(ServerStatusRequest {}).await.unwrap();
        assert_eq!(status.metadata().get("hubble-server-version").unwrap(), env!("CARGO_PKG_VERSION"));
        let status = status.into_inner();
        assert_eq!((status.num_flows, status.max_flows, status.seen_flows), (20, 4095, 20));
        assert!(status.uptime_ns > 0 && status.version == env!("CARGO_PKG_VERSION"), "{status:?}");
        assert_eq!(status.num_connected_nodes, None, "a node leaves the relay's fields unset");

        // Namespaces seen; GetNodes is Relay's; agent events end at once.
        let namespaces = client.get_namespaces(GetNamespacesRequest {}).await.unwrap().into_inner().namespaces;
        let namespaces: Vec<_> = namespaces.iter().map(|n| (n.cluster.as_str(), n.namespace.as_str())).collect();
        assert_eq!(namespaces, [("c1", "shop"), ("c1", "web")]);
        assert_eq!(client.get_nodes(GetNodesRequest {}).await.unwrap_err().code(), Code::Unimplemented);
        let mut events = client.get_agent_events(GetAgentEventsRequest::default()).await.unwrap().into_inner();
        assert!(events.message().await.unwrap().is_none());

        // Health as `hubble status` checks it, and reflection as grpcurl lists services.
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let check = tonic_health::pb::HealthCheckRequest { service: "hubble.server.Observer".into() };
        let serving = health.check(check).await.unwrap().into_inner().status;
        assert_eq!(serving, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
        assert!(list_services(&channel).await.iter().any(|s| s == "observer.Observer"));
    });
    let (_, took) = flowlog.stop_with("TERM");
    assert!(took < Duration::from_secs(5));
    assert!(!dir.path().join("hubble.sock").exists(), "the socket is removed on exit");
}

/// The services reflection lists.
async fn list_services(channel: &Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::new(channel.clone());
    let mut responses = client.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    match responses.message().await.unwrap().and_then(|r| r.message_response) {
        Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn peers_are_this_node_and_the_listed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--cluster-name", "c1", "--hubble-peers", "other=10.0.0.2,test-node=10.0.0.1:4244"];
    let flowlog = serve_replay(dir.path(), &lines(0..1), &args);
    runtime().block_on(async {
        let channel = connect_unix(&dir.path().join("hubble.sock")).await;
        let mut stream = PeerClient::new(channel).notify(NotifyRequest {}).await.unwrap().into_inner();
        let first = [next_peer(&mut stream).await, next_peer(&mut stream).await];
        assert_eq!(
            first,
            [
                ("PEER_ADDED", "c1/other".to_owned(), "10.0.0.2".to_owned()),
                ("PEER_ADDED", "c1/test-node".to_owned(), "10.0.0.1:4244".to_owned())
            ]
        );
    });
    drop(flowlog);

    // Without a list, this node alone, at its socket for a Relay beside it.
    let dir = tempfile::tempdir().unwrap();
    let _flowlog = serve_replay(dir.path(), &lines(0..1), &[]);
    runtime().block_on(async {
        let socket = dir.path().join("hubble.sock");
        let mut stream =
            PeerClient::new(connect_unix(&socket).await).notify(NotifyRequest {}).await.unwrap().into_inner();
        let address = format!("unix://{}", socket.display());
        assert_eq!(next_peer(&mut stream).await, ("PEER_ADDED", "test-node".to_owned(), address));
    });
}

async fn next_peer(stream: &mut tonic::Streaming<ChangeNotification>) -> (&'static str, String, String) {
    let next = tokio::time::timeout(Duration::from_secs(20), stream.message()).await;
    let notification = next.expect("a peer notification in time").unwrap().expect("the stream goes on");
    let kind = match ChangeNotificationType::try_from(notification.r#type).unwrap() {
        ChangeNotificationType::PeerAdded => "PEER_ADDED",
        ChangeNotificationType::PeerUpdated => "PEER_UPDATED",
        ChangeNotificationType::PeerDeleted => "PEER_DELETED",
        ChangeNotificationType::Unknown => "UNKNOWN",
    };
    (kind, notification.name, notification.address)
}

#[test]
fn follow_streams_flows_as_they_come_and_a_slow_reader_is_told_what_it_lost() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("events.log");
    let socket = dir.path().join("hubble.sock");
    let socket_arg = socket.to_str().unwrap();
    let args = [
        "--export-file-path",
        output.to_str().unwrap(),
        "--hubble-socket-path",
        socket_arg,
        "--hubble-event-buffer-capacity",
        "63",
        "--node-name",
        "test-node",
    ];
    let mut flowlog = Running::replay_from_fifo(dir.path(), &args);
    let total = 20_000;
    runtime().block_on(async {
        let channel = connect_unix(&socket).await;
        let mut client = ObserverClient::new(channel.clone());
        let follow = GetFlowsRequest { follow: true, ..Default::default() };
        let mut fast = client.get_flows(follow.clone()).await.unwrap().into_inner();
        let mut slow = client.get_flows(follow).await.unwrap().into_inner();

        // Followers get flows as they arrive.
        flowlog.send_text(&lines(0..3));
        for i in 0..3 {
            let response =
                tokio::time::timeout(Duration::from_secs(10), fast.message()).await.unwrap().unwrap().unwrap();
            assert_eq!(uuids(&[response]), expected([i]));
        }

        // Many more than the ring holds, with one follower not reading:
        // it falls behind, the pipeline does not wait for it.
        // (Writing blocks this thread, which is the slow follower's.)
        flowlog.send_text(&lines(3..total));
        let (mut flows, mut lost, mut reports) = (0u64, 0u64, 0);
        // Losses are reported at most once a second: the last report may
        // come after the last flow.
        while flows + lost < total as u64 {
            let response =
                tokio::time::timeout(Duration::from_secs(20), slow.message()).await.unwrap().unwrap().unwrap();
            match response.response_types.unwrap() {
                ResponseTypes::Flow(_) => flows += 1,
                ResponseTypes::LostEvents(event) => {
                    assert_eq!(event.source, LostEventSource::HubbleRingBuffer as i32);
                    assert!(event.first.is_some() && event.last.is_some());
                    assert_eq!(response.node_name, "test-node");
                    (lost, reports) = (lost + event.num_events_lost, reports + 1);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(lost > 0, "the slow follower lost events");
        assert_eq!(flows + lost, total as u64, "every event was either sent or counted as lost");
        let more = tokio::time::timeout(Duration::from_millis(1500), slow.message()).await;
        assert!(more.is_err(), "nothing more: {more:?}");
        assert!(reports <= 1 + 2 * 20, "at most one report a second: {reports}");
    });
    // A replay with the Hubble API serves until a signal once its input ends.
    flowlog.close_input();
    let served = wait_for(Duration::from_secs(10), || flowlog.stderr().contains("replayed: serving the Hubble API"));
    assert!(served.is_some(), "{}", flowlog.stderr());
    flowlog.terminate();
    // The exporter lost nothing.
    let written = support::lines_of(&output);
    assert_eq!(written.len(), total as usize);
    assert!(written.iter().all(|line| !line.contains("lost_events")));
}

#[test]
fn tcp_needs_tls_or_an_explicit_plaintext() {
    let refused =
        Flowlog::replay(&["--hubble-listen-address", "127.0.0.1:0", "--hubble-socket-path", ""]).stdin("").failure();
    assert_eq!(refused.code, Some(2));
    assert!(refused.stderr.contains("--hubble-listen-address 127.0.0.1:0 needs TLS: give --hubble-tls-cert-file and --hubble-tls-key-file, or --hubble-disable-tls"), "{}", refused.stderr);
    let half = Flowlog::replay(&["--hubble-listen-address", "127.0.0.1:0", "--hubble-tls-cert-file", "/x.pem"])
        .stdin("")
        .failure();
    assert!(half.stderr.contains("--hubble-tls-cert-file needs --hubble-tls-key-file"), "{}", half.stderr);
    let capacity = Flowlog::replay(&["--enable-hubble", "--hubble-event-buffer-capacity", "4096"]).stdin("").failure();
    assert!(
        capacity.stderr.contains("4096 is not a ring buffer capacity: it must be one less than a power of two"),
        "{}",
        capacity.stderr
    );

    // Asked for explicitly, plaintext TCP works.
    let dir = tempfile::tempdir().unwrap();
    let flowlog =
        serve_replay(dir.path(), &lines(0..5), &["--hubble-listen-address", "127.0.0.1:0", "--hubble-disable-tls"]);
    let address = tcp_address(&flowlog);
    runtime().block_on(async {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
        assert_eq!(
            uuids(&get_flows(&channel, GetFlowsRequest { number: 2, ..Default::default() }).await.unwrap()),
            expected(3..5)
        );
    });
    assert!(flowlog.stderr().contains("served without TLS"));
}

/// The TCP address flowlog logged it serves on.
fn tcp_address(flowlog: &Running) -> SocketAddr {
    let stderr = flowlog.stderr();
    let found = regex::Regex::new(r"serving the Hubble API .*address=(\S+)").unwrap();
    found.captures(&stderr).and_then(|c| c[1].parse().ok()).unwrap_or_else(|| panic!("no address logged:\n{stderr}"))
}

/// A CA, and certificates it signs.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { issuer: rcgen::Issuer::new(params, key), pem }
    }

    /// A certificate for `name` and its key, PEM, for a server or a client.
    fn sign(&self, name: &str, usage: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![usage];
        let key = rcgen::KeyPair::generate().unwrap();
        (params.signed_by(&key, &self.issuer).unwrap().pem(), key.serialize_pem())
    }
}

const SERVER_NAME: &str = "test-node.default.hubble-grpc.cilium.io";

#[test]
fn tls_mutual_tls_and_certificates_rotated_while_a_client_follows() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (ca, client_ca) = (Ca::new("hubble CA"), Ca::new("relay CA"));
    let (cert, key) = ca.sign(SERVER_NAME, rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) =
        client_ca.sign("relay.hubble-relay.cilium.io", rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::write(path("tls.crt"), &cert).unwrap();
    std::fs::write(path("tls.key"), &key).unwrap();
    std::fs::write(path("client-ca.crt"), &client_ca.pem).unwrap();
    let [socket, cert_file, key_file, client_ca_file] =
        ["hubble.sock", "tls.crt", "tls.key", "client-ca.crt"].map(|name| path(name).to_str().unwrap().to_owned());
    let args = [
        "--hubble-socket-path",
        &socket,
        "--hubble-listen-address",
        "127.0.0.1:0",
        "--hubble-tls-cert-file",
        &cert_file,
        "--hubble-tls-key-file",
        &key_file,
        "--hubble-tls-client-ca-files",
        &client_ca_file,
        "--node-name",
        "test-node",
    ];
    let mut flowlog = Running::replay_from_fifo(dir.path(), &args);
    let ready = wait_for(Duration::from_secs(10), || flowlog.stderr().contains("serving the Hubble API"));
    assert!(ready.is_some(), "{}", flowlog.stderr());
    assert!(flowlog.stderr().contains("security=\"mutual TLS\""), "{}", flowlog.stderr());
    let address = tcp_address(&flowlog);
    let identity = Some((client_cert.as_str(), client_key.as_str()));
    runtime().block_on(async {
        // Mutual TLS: a client without a certificate is refused.
        let anonymous = connect_tls(address, &ca.pem, SERVER_NAME, None).await;
        let refused = match anonymous {
            Err(_) => true,
            Ok(channel) => get_flows(&channel, GetFlowsRequest::default()).await.is_err(),
        };
        assert!(refused, "a client without a certificate is refused");
        let channel = connect_tls(address, &ca.pem, SERVER_NAME, identity).await.unwrap();
        let mut follower = ObserverClient::new(channel)
            .get_flows(GetFlowsRequest { follow: true, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        flowlog.send_text(&lines(0..1));
        let first = tokio::time::timeout(Duration::from_secs(10), follower.message()).await.unwrap().unwrap().unwrap();
        assert_eq!(uuids(&[first]), expected([0]));

        // cert-manager renews the certificate (here from another CA):
        // new connections get the new one, the open one goes on.
        let renewed_ca = Ca::new("renewed CA");
        let (cert, key) = renewed_ca.sign(SERVER_NAME, rcgen::ExtendedKeyUsagePurpose::ServerAuth);
        std::fs::write(path("tls.key.new"), &key).unwrap();
        std::fs::write(path("tls.crt.new"), &cert).unwrap();
        std::fs::rename(path("tls.key.new"), path("tls.key")).unwrap();
        std::fs::rename(path("tls.crt.new"), path("tls.crt")).unwrap();
        let mut renewed = None;
        for _ in 0..100 {
            if let Ok(channel) = connect_tls(address, &renewed_ca.pem, SERVER_NAME, identity).await
                && get_flows(&channel, GetFlowsRequest { number: 1, ..Default::default() }).await.is_ok()
            {
                renewed = Some(channel);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(renewed.is_some(), "the renewed certificate is served:\n{}", flowlog.stderr());
        assert!(flowlog.stderr().contains("Hubble TLS certificates reloaded"));
        let old = connect_tls(address, &ca.pem, SERVER_NAME, identity).await;
        let old_refused = match old {
            Err(_) => true,
            Ok(channel) => get_flows(&channel, GetFlowsRequest::default()).await.is_err(),
        };
        assert!(old_refused, "a client trusting only the old CA no longer connects");
        flowlog.send_text(&lines(1..2));
        let next = tokio::time::timeout(Duration::from_secs(10), follower.message()).await.unwrap().unwrap().unwrap();
        assert_eq!(uuids(&[next]), expected([1]), "the connection made before the renewal still streams");
    });
    flowlog.terminate();
}

fn node(name: &str, ip: &str) -> Node {
    Node {
        metadata: ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() },
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress { type_: "InternalIP".into(), address: ip.into() }]),
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

#[test]
fn peers_follow_the_kubernetes_nodes() {
    if netns::skip_unless_root("peers_follow_the_kubernetes_nodes") {
        return;
    }
    let netns = netns::Netns::new(format!("fl-hubble-peers-{}", std::process::id()));
    let server = ApiServer::start(netns.run(|| std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap()), 100);
    server.apply(&node("test-node", "10.217.1.1"));
    server.apply(&node("other-node", "10.217.1.2"));
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hubble.sock");
    let mut command = Command::new("nsenter");
    command.arg(netns.nsenter_arg()).arg(env!("CARGO_BIN_EXE_flowlog")).arg("run");
    command.args(["--interface", "fl-none*", "--node-name", "test-node", "--cluster-name", "c1"]);
    command.arg("--k8s-kubeconfig-path").arg(server.kubeconfig(dir.path()));
    command.arg("--hubble-socket-path").arg(&socket);
    command.env_remove("RUST_LOG").env_remove("K8S_NODE_NAME").env_remove("KUBERNETES_SERVICE_HOST");
    let flowlog = Running::spawn(command);
    let ready = wait_for(Duration::from_secs(20), || flowlog.stderr().contains("capturing;"));
    assert!(ready.is_some(), "flowlog did not start:\n{}", flowlog.stderr());
    runtime().block_on(async {
        let mut stream =
            PeerClient::new(connect_unix(&socket).await).notify(NotifyRequest {}).await.unwrap().into_inner();
        // Until the nodes are listed, this node is there alone, at its
        // socket; then at its node address.
        let mut known = std::collections::BTreeMap::new();
        let listed = [
            ("c1/other-node".to_owned(), "10.217.1.2".to_owned()),
            ("c1/test-node".to_owned(), "10.217.1.1".to_owned()),
        ];
        while known != std::collections::BTreeMap::from(listed.clone()) {
            match next_peer(&mut stream).await {
                ("PEER_ADDED" | "PEER_UPDATED", name, address) => known.insert(name, address),
                other => panic!("{other:?}"),
            };
        }
        let peer = |kind, name: &str, address: &str| (kind, name.to_owned(), address.to_owned());
        server.apply(&node("other-node", "10.217.1.3"));
        assert_eq!(next_peer(&mut stream).await, peer("PEER_UPDATED", "c1/other-node", "10.217.1.3"));
        server.apply(&node("third-node", "10.217.1.4"));
        assert_eq!(next_peer(&mut stream).await, peer("PEER_ADDED", "c1/third-node", "10.217.1.4"));
        server.delete::<Node>("", "other-node");
        assert_eq!(next_peer(&mut stream).await, peer("PEER_DELETED", "c1/other-node", "10.217.1.3"));
    });
    flowlog.terminate();
}
