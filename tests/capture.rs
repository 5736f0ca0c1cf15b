//! The agent end to end: the real `flowlog run`, capturing real traffic.
//!
//! A miniature node: a network namespace `node` with two pods, `web` and
//! `db`, each a namespace joined to the node by a veth whose host side is
//! `lxc-web` / `lxc-db`, routed through the node like a CNI would. flowlog
//! runs inside `node`, attached to `lxc*` as endpoint interfaces, with an
//! endpoints file naming both pods. The test makes bounded TCP, UDP and ICMP
//! traffic from web to db and to the node, a datagram that a netfilter rule
//! in db drops, stops flowlog with SIGTERM and reads the exported lines.
//!
//! Without root the test prints `SKIPPED (needs root)` and passes; CI runs
//! as root, where it always runs.

#[path = "../crates/capture-ebpf/tests/netns/mod.rs"]
mod netns;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use netns::Netns;
use serde_json::Value;
use support::{Running, wait_for};

const WEB: &str = "10.210.1.2";
const DB: &str = "10.210.2.2";
const NODE_TO_WEB: &str = "10.210.1.1";
/// The port db serves TCP on, and the one its firewall drops UDP to.
const TCP_PORT: u16 = 5432;
const UDP_PORT: u16 = 5353;
const DROPPED_PORT: u16 = 9999;
/// Request/response round trips on the TCP connection: hundreds of packets.
const ROUND_TRIPS: usize = 100;

/// The node and its pods, and the topology between them; the namespaces
/// (and with them the veths and the programs) are deleted on drop.
struct Namespaces {
    node: Netns,
    web: Netns,
    db: Netns,
}

impl Namespaces {
    /// The node and its pods on 10.`net`.1.0/24 (web) and 10.`net`.2.0/24
    /// (db); `tag` keeps the names apart from other tests'.
    fn new(tag: &str, net: u8) -> Namespaces {
        let pid = std::process::id();
        let name = |role: &str| format!("fl-{role}-{tag}-{pid}");
        let ns =
            Namespaces { node: Netns::new(name("node")), web: Netns::new(name("web")), db: Netns::new(name("db")) };
        for (pod, subnet, host_side) in [(&ns.web, 1, "lxc-web"), (&ns.db, 2, "lxc-db")] {
            ns.node.add_pod(pod, host_side, &format!("10.{net}.{subnet}.1"), &format!("10.{net}.{subnet}.2"));
        }
        // The node routes between its pods. /proc/sys/net is the opening thread's namespace's.
        ns.node.run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap());
        // The netfilter rule whose drop the test expects, inside the db pod.
        ns.db.exec(&["iptables", "-A", "INPUT", "-p", "udp", "--dport", &DROPPED_PORT.to_string(), "-j", "DROP"]);
        ns
    }
}

const ENDPOINTS: &str = r#"
- ips: [10.210.1.2]
  id: 101
  identity: 12345
  cluster: test
  namespace: shop
  pod_name: web-0
  labels: {app: web, tier: front}
  workloads: [{name: web, kind: StatefulSet}]
- ips: [10.210.2.2]
  id: 102
  identity: 23456
  cluster: test
  namespace: shop
  pod_name: db-0
  labels: {app: db}
  workloads: [{name: db, kind: StatefulSet}]
"#;

#[test]
fn captures_pod_traffic_with_names_directions_and_drops() {
    if netns::skip_unless_root("captures_pod_traffic_with_names_directions_and_drops") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let endpoints = dir.path().join("endpoints.yaml");
    std::fs::write(&endpoints, ENDPOINTS).unwrap();
    let output = dir.path().join("flows.log");
    let ns = Namespaces::new("main", 210);

    let flowlog = start_flowlog(
        &ns,
        &[
            "--interface",
            "lxc*:endpoint",
            "--endpoints-file",
            endpoints.to_str().unwrap(),
            "--export-file-path",
            output.to_str().unwrap(),
            "--node-name",
            "test-node",
            // The drop tracepoint sees the whole machine: keep this test's
            // flows only, so other traffic cannot rotate them out of the file.
            "--export-allowlist",
            r#"{"source_ip":["10.210.0.0/16"]} {"destination_ip":["10.210.0.0/16"]}"#,
        ],
    );

    let tcp_client_port = tcp_conversation(&ns);
    let udp_client_port = udp_datagrams(&ns);
    ping(&ns.web, DB, 2);
    ping(&ns.web, NODE_TO_WEB, 1);

    // The endpoints file is watched: edited (renamed over, as editors and
    // the kubelet do), the pod shows under its new name from then on.
    let edited = dir.path().join("endpoints.yaml.new");
    std::fs::write(&edited, ENDPOINTS.replace("web-0", "web-1")).unwrap();
    std::fs::rename(&edited, &endpoints).unwrap();
    let reloaded = wait_for(Duration::from_secs(5), || flowlog.stderr().contains("endpoints reloaded"));
    assert!(reloaded.is_some(), "the endpoints file was not reloaded:\n{}", flowlog.stderr());
    ping(&ns.web, DB, 1);

    // Everything is in the ring buffer by now; SIGTERM detaches, drains and flushes.
    let finished = flowlog.terminate();
    let lines = support::lines_of(&output);
    let flows: Vec<Value> = lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["flow"].clone()).collect();
    let everything = || format!("flowlog logged:\n{}\nexported:\n{}", finished.stderr, lines.join("\n"));
    assert!(finished.stderr.contains("lxc-web"), "{}", everything());

    // TCP: the handshake as web sent it (host side of web's veth, ingress) ...
    let tcp: Vec<&Value> = flows.iter().filter(|f| f["l4"]["TCP"].is_object()).collect();
    let syn = tcp
        .iter()
        .find(|f| {
            f["interface"]["name"] == "lxc-web"
                && f["l4"]["TCP"]["flags"] == serde_json::json!({"SYN": true})
                && f["l4"]["TCP"]["source_port"] == tcp_client_port
        })
        .unwrap_or_else(|| panic!("no SYN from web on lxc-web\n{}", everything()));
    assert_eq!(syn["IP"]["source"], WEB);
    assert_eq!(syn["IP"]["destination"], DB);
    assert_eq!(syn["IP"]["ipVersion"], "IPv4");
    assert_eq!(syn["l4"]["TCP"]["destination_port"], TCP_PORT);
    assert_eq!(syn["verdict"], "FORWARDED");
    assert_eq!(syn["traffic_direction"], "EGRESS");
    assert_eq!(syn["trace_observation_point"], "FROM_ENDPOINT");
    assert_eq!(syn["event_type"], serde_json::json!({"type": 4, "sub_type": 5}));
    assert_eq!(syn["is_reply"], false);
    assert_eq!(syn["node_name"], "test-node");
    assert_eq!(syn["Type"], "L3_L4");
    assert!(syn["uuid"].as_str().is_some_and(|u| u.len() == 36), "{syn}");
    // ... with both ends named from the endpoints file.
    assert_eq!(syn["source"]["namespace"], "shop");
    assert_eq!(syn["source"]["pod_name"], "web-0");
    assert_eq!(syn["source"]["identity"], 12345);
    assert_eq!(syn["source"]["ID"], 101);
    assert_eq!(syn["source"]["cluster_name"], "test");
    let labels = syn["source"]["labels"].as_array().unwrap();
    assert!(labels.contains(&"k8s:app=web".into()) && labels.contains(&"k8s:tier=front".into()), "{syn}");
    assert_eq!(syn["source"]["workloads"], serde_json::json!([{"name": "web", "kind": "StatefulSet"}]));
    assert_eq!(syn["destination"]["pod_name"], "db-0");
    assert_eq!(syn["destination"]["labels"], serde_json::json!(["k8s:app=db"]));

    // The same SYN delivered to db: the host side of db's veth, egress.
    let delivered = tcp
        .iter()
        .find(|f| {
            f["interface"]["name"] == "lxc-db"
                && f["l4"]["TCP"]["flags"] == serde_json::json!({"SYN": true})
                && f["l4"]["TCP"]["source_port"] == tcp_client_port
        })
        .unwrap_or_else(|| panic!("no SYN delivered on lxc-db\n{}", everything()));
    assert_eq!(delivered["traffic_direction"], "INGRESS");
    assert_eq!(delivered["trace_observation_point"], "TO_ENDPOINT");
    assert_eq!(delivered["event_type"], serde_json::json!({"type": 4}));

    // db's answer is a reply, from db to web.
    let syn_ack = tcp
        .iter()
        .find(|f| f["l4"]["TCP"]["flags"] == serde_json::json!({"SYN": true, "ACK": true}))
        .unwrap_or_else(|| panic!("no SYN-ACK\n{}", everything()));
    assert_eq!(syn_ack["is_reply"], true);
    assert_eq!(syn_ack["IP"]["source"], DB);
    assert_eq!(syn_ack["l4"]["TCP"]["destination_port"], tcp_client_port);
    assert_eq!(syn_ack["source"]["pod_name"], "db-0");
    assert!(tcp.iter().any(|f| f["l4"]["TCP"]["flags"]["FIN"] == true), "no FIN\n{}", everything());

    // Medium aggregation: hundreds of packets, a handful of lines (new
    // connection and each new flag, per direction and interface).
    let connection = tcp
        .iter()
        .filter(|f| {
            f["l4"]["TCP"]["source_port"] == tcp_client_port || f["l4"]["TCP"]["destination_port"] == tcp_client_port
        })
        .count();
    assert!((4..=24).contains(&connection), "{connection} lines for {} round trips\n{}", ROUND_TRIPS, everything());

    // UDP.
    let udp = flows
        .iter()
        .find(|f| f["l4"]["UDP"]["destination_port"] == UDP_PORT && f["interface"]["name"] == "lxc-web")
        .unwrap_or_else(|| panic!("no UDP flow\n{}", everything()));
    assert_eq!(udp["l4"]["UDP"]["source_port"], udp_client_port);
    assert_eq!((&udp["IP"]["source"], &udp["IP"]["destination"]), (&WEB.into(), &DB.into()));

    // ICMP: the echo request and its reply.
    let icmp = |r#type: u64, from: &str| {
        // Hubble's JSON leaves out zero values: an echo reply has no "type".
        let type_of =
            |f: &Value| f["l4"]["ICMPv4"].is_object().then(|| f["l4"]["ICMPv4"]["type"].as_u64().unwrap_or(0));
        flows
            .iter()
            .find(|f| type_of(f) == Some(r#type) && f["IP"]["source"] == from && f["verdict"] == "FORWARDED")
            .cloned()
    };
    let request = icmp(8, WEB).unwrap_or_else(|| panic!("no echo request\n{}", everything()));
    assert_eq!(request["is_reply"], false);
    let reply = icmp(0, DB).unwrap_or_else(|| panic!("no echo reply\n{}", everything()));
    assert_eq!(reply["is_reply"], true);

    let renamed = flows.iter().filter(|f| f["source"]["pod_name"] == "web-1").count();
    assert!(renamed > 0, "no flow names the pod by its new name\n{}", everything());

    // The node's own address is reserved:host.
    let to_node = flows
        .iter()
        .find(|f| f["IP"]["destination"] == NODE_TO_WEB && f["l4"]["ICMPv4"]["type"] == 8)
        .unwrap_or_else(|| panic!("no ping to the node\n{}", everything()));
    assert_eq!(to_node["destination"]["identity"], 1);
    assert_eq!(to_node["destination"]["labels"], serde_json::json!(["reserved:host"]));

    // The datagram db's firewall dropped, with the kernel's reason.
    let drop = flows
        .iter()
        .find(|f| f["verdict"] == "DROPPED" && f["l4"]["UDP"]["destination_port"] == DROPPED_PORT)
        .unwrap_or_else(|| panic!("no drop\n{}", everything()));
    assert_eq!(drop["drop_reason_desc"], "POLICY_DENIED");
    assert_eq!(drop["event_type"], serde_json::json!({"type": 1, "sub_type": 133}));
    assert_eq!(drop["Summary"], "kernel drop reason: NETFILTER_DROP");
    assert_eq!(drop["source"]["pod_name"], "web-0");
    assert_eq!(drop["destination"]["pod_name"], "db-0");
    assert!(drop["traffic_direction"].is_null(), "{drop}");
    // Kernel bookkeeping is not a network drop: nothing else was dropped.
    let drops = flows.iter().filter(|f| f["verdict"] == "DROPPED").count();
    assert_eq!(drops, 1, "only the firewalled datagram was dropped\n{}", everything());
}

#[test]
fn kernel_ring_buffer_losses_are_reported_as_lost_events() {
    if netns::skip_unless_root("kernel_ring_buffer_losses_are_reported_as_lost_events") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("flows.log");
    let ns = Namespaces::new("loss", 211);
    // One page of ring buffer (46 records), every packet reported: a ping
    // flood outruns it, whatever the machine.
    let flowlog = start_flowlog(
        &ns,
        &[
            "--interface=lxc-web:endpoint",
            "--monitor-aggregation=none",
            "--ring-buffer-size-kb=4",
            "--capture-drops=false",
            "--export-file-path",
            output.to_str().unwrap(),
            "--export-file-max-size-mb=100",
        ],
    );
    const PINGS: u64 = 2000;
    let status = Command::new("nsenter")
        .arg(ns.web.nsenter_arg())
        .args(["ping", "-f", "-q", "-c", &PINGS.to_string(), "-W", "1", "10.211.2.2"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ping -f");
    let finished = flowlog.terminate();

    let lines = support::lines_of(&output);
    let events: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let echoes = events.iter().filter(|e| e["flow"]["l4"]["ICMPv4"].is_object()).count() as u64;
    let lost: u64 = events
        .iter()
        .filter_map(|e| e.get("lost_events"))
        .inspect(|lost| assert_eq!(lost["source"], "PERF_EVENT_RING_BUFFER", "{lost}"))
        .map(|lost| lost["num_events_lost"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(lost > 0, "a one-page ring buffer lost nothing to a ping flood?\n{}", finished.stderr);
    // Each ping is a request leaving web (lxc-web ingress) and a reply
    // reaching it (egress): every one of them was either written or counted.
    assert!(echoes + lost >= 2 * PINGS, "{echoes} flows + {lost} lost < {} packets", 2 * PINGS);
}

/// Two dynamic flow logs beside the static exporter, one of them on a FIFO
/// that nobody reads (a stand-in for a hung NFS mount): the others get every
/// flow while it is stuck, its losses are counted in `/metrics`, and once a
/// reader comes they are reported in its own stream as `lost_events`.
#[test]
fn a_stuck_flow_log_loses_only_its_own_lines_and_reports_them() {
    if netns::skip_unless_root("a_stuck_flow_log_loses_only_its_own_lines_and_reports_them") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (fifo, flow_logs) = stuck_flow_logs(dir.path());
    let everything = dir.path().join("static.log");
    let ns = Namespaces::new("stuck", 212);
    let flowlog = start_flowlog(
        &ns,
        &[
            "--interface=lxc*:endpoint",
            "--monitor-aggregation=none",
            "--capture-drops=false",
            "--export-file-path",
            everything.to_str().unwrap(),
            "--export-file-max-size-mb=100",
            "--flowlogs-config-path",
            flow_logs.to_str().unwrap(),
            "--metrics-address=127.0.0.1:0",
        ],
    );
    let metrics = support::metrics_address(&flowlog);

    // Enough flows to fill the stuck sink's queue many times over.
    const DATAGRAMS: usize = 5000;
    udp_flood(&ns, 212, DATAGRAMS);
    let all = dir.path().join("all.log");
    let caught_up = wait_for(Duration::from_secs(20), || {
        let flows = |path: &Path| {
            support::lines_of(path).into_iter().filter(|l| l.starts_with(r#"{"flow""#)).collect::<Vec<_>>()
        };
        flows(&all).len() >= DATAGRAMS && flows(&all) == flows(&everything)
    });
    assert!(
        caught_up.is_some(),
        "the healthy flow log did not get every flow while the other was stuck: {} lines, the static exporter {}\n{}",
        support::lines_of(&all).len(),
        support::lines_of(&everything).len(),
        flowlog.stderr()
    );
    let (_, scraped) = ns.node.run(|| support::get(metrics, "/metrics"));
    let lost = support::sum(
        &scraped,
        "flowlog_exporter_events_lost_total",
        &[r#"exporter="stuck""#, r#"reason="queue_full""#],
    );
    assert!(lost > 0, "the stuck flow log's losses are not counted:\n{scraped}");
    let healthy_lost = support::sum(&scraped, "flowlog_exporter_events_lost_total", &[r#"exporter="all""#]);
    assert_eq!(healthy_lost, 0, "the healthy flow log lost lines:\n{scraped}");

    // A reader comes: the stuck flow log writes what it kept, and says what it lost.
    let reader = read_lines(fifo);
    let (finished, _) = {
        let reported = wait_for(Duration::from_secs(10), || reader.lost_events() >= lost);
        assert!(reported.is_some(), "the stuck flow log reported {} of {lost} lost events", reader.lost_events());
        flowlog.stop_with("TERM")
    };
    assert_eq!(finished.code, Some(0), "every line went out in the end:\n{}", finished.stderr);
    let lines = reader.finish();
    // What the stuck flow log's queue dropped; kernel losses, if the machine
    // had any, are in every stream alike and are not its own.
    let queue_lost: Vec<&Value> =
        lines.iter().filter(|line| line["lost_events"]["source"] == "OBSERVER_EVENTS_QUEUE").collect();
    assert!(!queue_lost.is_empty(), "no lost_events line for the full queue");
    let flows = lines.iter().filter(|line| line["flow"].is_object()).count() as u64;
    let reported: u64 = queue_lost
        .iter()
        .map(|line| line["lost_events"]["num_events_lost"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    let captured = support::lines_of(&everything).iter().filter(|line| line.starts_with(r#"{"flow""#)).count() as u64;
    assert_eq!(flows + reported, captured, "every flow is either in the stuck log or counted as lost");
}

/// SIGTERM while a flow log is stuck on a FIFO nobody reads: the agent
/// exits within the grace period plus a second, naming the flow log and the
/// lines it could not write.
#[test]
fn sigterm_with_a_stuck_sink_exits_within_the_grace_period() {
    if netns::skip_unless_root("sigterm_with_a_stuck_sink_exits_within_the_grace_period") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_fifo, flow_logs) = stuck_flow_logs(dir.path());
    let ns = Namespaces::new("grace", 213);
    let flowlog = start_flowlog(
        &ns,
        &[
            "--interface=lxc*:endpoint",
            "--monitor-aggregation=none",
            "--capture-drops=false",
            "--flowlogs-config-path",
            flow_logs.to_str().unwrap(),
            "--shutdown-grace-period=2s",
        ],
    );
    udp_flood(&ns, 213, 500);
    let all = dir.path().join("all.log");
    assert!(wait_for(Duration::from_secs(10), || support::lines_of(&all).len() >= 500).is_some());

    let (finished, took) = flowlog.stop_with("TERM");
    assert!(took < Duration::from_secs(3), "took {took:?} to exit with a 2 s grace period:\n{}", finished.stderr);
    assert_eq!(finished.code, Some(1), "lines were left unwritten:\n{}", finished.stderr);
    let named =
        finished.stderr.lines().find(|line| line.contains("lines not written") && line.contains("exporter=stuck"));
    let named = named.unwrap_or_else(|| panic!("the stuck flow log is not named:\n{}", finished.stderr));
    let count: u64 =
        named.split("lines=").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap().parse().unwrap();
    assert!(count > 0, "{named}");
    let unwritten = |line: &&str| line.contains("lines not written") && line.contains("exporter=all");
    assert!(!finished.stderr.lines().any(|line| unwritten(&line)), "the healthy flow log wrote everything");
}

/// With its standard error gone (a log pipe whose reader left), the agent
/// keeps capturing and exporting.
#[test]
fn a_closed_log_stream_does_not_stop_the_agent() {
    if netns::skip_unless_root("a_closed_log_stream_does_not_stop_the_agent") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("flows.log");
    let ns = Namespaces::new("nolog", 214);
    let mut command = Command::new("nsenter");
    command
        .arg(ns.node.nsenter_arg())
        .arg(env!("CARGO_BIN_EXE_flowlog"))
        .args(["run", "--interface=lxc*:endpoint", "--monitor-aggregation=none", "--capture-drops=false"])
        .arg("--export-file-path")
        .arg(&output)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = support::Child(command.spawn().unwrap());
    // Read the first log line, then go away, as `2>&1 | head -1` would.
    let mut stderr = child.0.stderr.take().unwrap();
    let mut first = [0u8; 1];
    stderr.read_exact(&mut first).unwrap();
    drop(stderr);

    // Flows come once the programs are attached, which is after that first line.
    let started = wait_for(Duration::from_secs(10), || {
        udp_flood(&ns, 214, 10);
        !support::lines_of(&output).is_empty()
    });
    assert!(started.is_some(), "no flows with the log stream closed");
    let before = support::lines_of(&output).len();
    udp_flood(&ns, 214, 100);
    let more = wait_for(Duration::from_secs(10), || support::lines_of(&output).len() >= before + 100);
    assert!(more.is_some(), "the agent stopped exporting with its log stream closed");
    support::send_signal(child.0.id(), "TERM");
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// A dynamic flow log file in `dir` with `all`, a file, and `stuck`, a FIFO
/// nobody reads; returns the FIFO and the file.
fn stuck_flow_logs(dir: &Path) -> (PathBuf, PathBuf) {
    let fifo = dir.join("stuck.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let flow_logs = dir.join("flowlogs.yaml");
    let all = dir.join("all.log");
    let yaml = format!(
        "flowLogs:\n  - {{name: all, filePath: {}, fileMaxSizeMb: 100}}\n  - {{name: stuck, filePath: {}}}\n",
        all.display(),
        fifo.display()
    );
    std::fs::write(&flow_logs, yaml).unwrap();
    (fifo, flow_logs)
}

/// `count` datagrams from web to db (10.`net`.2.2), as fast as they go.
fn udp_flood(ns: &Namespaces, net: u8, count: usize) {
    let receiver = ns.db.run(|| UdpSocket::bind(("0.0.0.0", UDP_PORT)).unwrap());
    let sender = ns.web.run(|| UdpSocket::bind(("0.0.0.0", 0)).unwrap());
    for _ in 0..count {
        sender.send_to(b"flood", (format!("10.{net}.2.2").as_str(), UDP_PORT)).unwrap();
    }
    drop(receiver);
}

/// A FIFO's lines, read as JSON on a thread of its own until its writer closes it.
struct FifoReader {
    lines: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    thread: std::thread::JoinHandle<()>,
}

fn read_lines(fifo: PathBuf) -> FifoReader {
    let lines: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = std::sync::Arc::default();
    let collected = std::sync::Arc::clone(&lines);
    let thread = std::thread::spawn(move || {
        let reader = std::io::BufReader::new(std::fs::File::open(fifo).unwrap());
        for line in std::io::BufRead::lines(reader) {
            let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
            collected.lock().unwrap().push(line);
        }
    });
    FifoReader { lines, thread }
}

impl FifoReader {
    /// The events its `lost_events` lines report so far.
    fn lost_events(&self) -> u64 {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter_map(|line| line["lost_events"]["num_events_lost"].as_str())
            .map(|count| count.parse::<u64>().unwrap())
            .sum()
    }

    /// Every line, once the writer has closed the FIFO.
    fn finish(self) -> Vec<Value> {
        self.thread.join().unwrap();
        std::mem::take(&mut self.lines.lock().unwrap())
    }
}

/// `flowlog run ARGS` inside the node's namespace, once it is capturing.
fn start_flowlog(ns: &Namespaces, args: &[&str]) -> Running {
    let mut command = Command::new("nsenter");
    command.arg(ns.node.nsenter_arg()).arg(env!("CARGO_BIN_EXE_flowlog")).arg("run").args(args);
    command.env_remove("RUST_LOG").env_remove("K8S_NODE_NAME");
    let flowlog = Running::spawn(command);
    let ready = wait_for(Duration::from_secs(10), || flowlog.stderr().contains("capturing;"));
    assert!(ready.is_some(), "flowlog did not start:\n{}", flowlog.stderr());
    flowlog
}

/// A TCP connection from web to db with [`ROUND_TRIPS`] request/response
/// exchanges; returns the client's port.
fn tcp_conversation(ns: &Namespaces) -> u16 {
    let listener = ns.db.run(|| TcpListener::bind(("0.0.0.0", TCP_PORT)).unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = [0u8; 64];
        while let Ok(n @ 1..) = stream.read(&mut buffer) {
            stream.write_all(&buffer[..n]).unwrap();
        }
    });
    let mut client = ns.web.run(|| {
        let address: SocketAddr = format!("{DB}:{TCP_PORT}").parse().unwrap();
        TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap()
    });
    client.set_nodelay(true).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = client.local_addr().unwrap().port();
    let mut answer = [0u8; 32];
    for _ in 0..ROUND_TRIPS {
        client.write_all(&[7u8; 32]).unwrap();
        client.read_exact(&mut answer).unwrap();
    }
    drop(client);
    server.join().unwrap();
    port
}

/// Three datagrams web → db that arrive and one that db's firewall drops;
/// returns the client's port.
fn udp_datagrams(ns: &Namespaces) -> u16 {
    let receiver = ns.db.run(|| UdpSocket::bind(("0.0.0.0", UDP_PORT)).unwrap());
    receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let sender = ns.web.run(|| UdpSocket::bind(("0.0.0.0", 0)).unwrap());
    for _ in 0..3 {
        sender.send_to(b"hello", (DB, UDP_PORT)).unwrap();
        receiver.recv(&mut [0u8; 16]).unwrap();
    }
    sender.send_to(b"dropped", (DB, DROPPED_PORT)).unwrap();
    sender.local_addr().unwrap().port()
}

fn ping(ns: &Netns, to: &str, count: u32) {
    let status = Command::new("nsenter")
        .arg(ns.nsenter_arg())
        .args(["ping", "-q", "-c", &count.to_string(), "-i", "0.2", "-W", "2", to])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ping {to} from {}", ns.name);
}
