//! DNS visibility end to end: the real `flowlog run` watching a real DNS
//! server (Debian's dnsmasq) answer a real client (dig, from
//! bind9-dnsutils).
//!
//! A node namespace with two pods: `client`, and `server`, which runs
//! dnsmasq and a TCP service. flowlog captures on both pods' veths, with an
//! endpoints file naming them, a dynamic flow log keeping the flows to
//! `api.shop.test`, and metrics. The client asks for an A record through a
//! CNAME, an AAAA record, a name that does not exist, and an A record over
//! TCP, then connects to the address it was given.
//!
//! Without root the test prints `SKIPPED (needs root)` and passes; CI runs
//! as root, where it always runs.

#[path = "../crates/capture-ebpf/tests/netns/mod.rs"]
mod netns;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use netns::Netns;
use serde_json::{Value, json};
use support::{Child, Running, get, metrics_address, sum, wait_for};

const CLIENT: &str = "10.211.1.2";
const SERVER: &str = "10.211.2.2";
const SERVER_V6: &str = "fd00:211::2";
/// The pods' IPv6 addresses, over which the client asks once too.
const CLIENT_IP6: &str = "fd00:211:1::2";
const SERVER_IP6: &str = "fd00:211:2::2";
/// The service on the answered address.
const WEB_PORT: u16 = 8080;
/// A second DNS port, where nothing listens: the undecodable datagrams go there.
const JUNK_PORT: u16 = 5353;

const ENDPOINTS: &str = r#"
- ips: [10.211.1.2]
  identity: 12345
  namespace: shop
  pod_name: client-0
- ips: [10.211.2.2]
  identity: 23456
  namespace: kube-system
  pod_name: dns-0
"#;

/// Dynamic flow logs: the flows to the name the client asked for, and the
/// DNS flows by three of Hubble's filters.
const FLOWLOGS: &str = r#"flowLogs:
  - name: to-api
    filePath: {dir}/to-api.log
    includeFilters: [{destination_fqdn: ["api.shop.test"]}]
  - name: missing
    filePath: {dir}/missing.log
    includeFilters: [{dns_query: ["^missing\\."]}]
  - name: dns
    filePath: {dir}/dns.log
    includeFilters: [{protocol: ["dns"]}]
  - name: l7
    filePath: {dir}/l7.log
    includeFilters: [{event_type: [{type: 129}]}]
"#;

#[test]
fn dns_messages_become_l7_flows_and_their_answers_name_later_flows() {
    if netns::skip_unless_root("dns_messages_become_l7_flows_and_their_answers_name_later_flows") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let endpoints = dir.path().join("endpoints.yaml");
    std::fs::write(&endpoints, ENDPOINTS).unwrap();
    let flowlogs = dir.path().join("flowlogs.yaml");
    std::fs::write(&flowlogs, FLOWLOGS.replace("{dir}", dir.path().to_str().unwrap())).unwrap();
    let output = dir.path().join("flows.log");

    let pid = std::process::id();
    let (node, client, server) = (
        Netns::new(format!("fl-node-dns-{pid}")),
        Netns::new(format!("fl-cli-dns-{pid}")),
        Netns::new(format!("fl-srv-dns-{pid}")),
    );
    node.add_pod(&client, "lxc-client", "10.211.1.1", CLIENT);
    node.add_pod(&server, "lxc-server", "10.211.2.1", SERVER);
    node.run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap());
    add_ipv6(&node, &client, "lxc-client", "fd00:211:1::1", CLIENT_IP6);
    add_ipv6(&node, &server, "lxc-server", "fd00:211:2::1", SERVER_IP6);
    node.run(|| std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1").unwrap());
    let _dnsmasq = start_dnsmasq(&server, &client, dir.path());

    let mut command = Command::new("nsenter");
    command.arg(node.nsenter_arg()).arg(env!("CARGO_BIN_EXE_flowlog")).arg("run");
    command.args(["--interface", "lxc*:endpoint", "--node-name", "test-node", "--metrics-address", "127.0.0.1:0"]);
    command.arg(format!("--dns-ports=53,{JUNK_PORT}"));
    command.arg("--endpoints-file").arg(&endpoints).arg("--flowlogs-config-path").arg(&flowlogs);
    command.arg("--export-file-path").arg(&output);
    command.args([
        "--export-allowlist",
        r#"{"source_ip":["10.211.0.0/16","fd00:211::/32"]} {"destination_ip":["10.211.0.0/16","fd00:211::/32"]}"#,
    ]);
    command.env_remove("RUST_LOG").env_remove("K8S_NODE_NAME");
    let flowlog = Running::spawn(command);
    let ready = wait_for(Duration::from_secs(10), || flowlog.stderr().contains("capturing;"));
    assert!(ready.is_some(), "flowlog did not start:\n{}", flowlog.stderr());

    let answer = dig(&client, &["www.shop.test", "A"]);
    assert!(answer.contains("api.shop.test.") && answer.contains(SERVER), "{answer}");
    assert!(dig(&client, &["api.shop.test", "AAAA"]).contains(SERVER_V6));
    assert!(dig(&client, &["missing.shop.test", "A"]).contains("status: NXDOMAIN"));
    assert!(dig(&client, &["+tcp", "api.shop.test", "A"]).contains(SERVER));
    let web_client_port = connect_to_web(&client, &server);
    assert!(dig_once(&client, SERVER_IP6, &["ns.shop.test", "A"]).contains(SERVER));
    send_undecodable(&client);

    // The undecodable datagrams are the last packets: once they are
    // counted, everything before them has been read.
    let address = metrics_address(&flowlog);
    let scrape = || node.run(|| get(address, "/metrics")).1;
    wait_for(Duration::from_secs(5), || sum(&scrape(), "flowlog_dns_skipped_total", &[]) >= 4);
    let metrics = scrape();
    let finished = flowlog.terminate();
    let lines = support::lines_of(&output);
    let flows: Vec<Value> = lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["flow"].clone()).collect();
    let everything = || format!("flowlog logged:\n{}\nexported:\n{}", finished.stderr, lines.join("\n"));
    let dns = |kind: &str, query: &str, transport: &str| -> Vec<&Value> {
        flows
            .iter()
            .filter(|f| f["Type"] == "L7" && f["l7"]["type"] == kind && f["l7"]["dns"]["query"] == query)
            .filter(|f| f["l4"][transport].is_object())
            .collect()
    };
    let one = |kind: &str, query: &str, transport: &str| -> Value {
        let found = dns(kind, query, transport);
        // Seen on both veths, reported once.
        assert_eq!(found.len(), 1, "{kind} {query} over {transport}: {found:?}\n{}", everything());
        found[0].clone()
    };

    // The query, as it left the client.
    let query = one("REQUEST", "www.shop.test.", "UDP");
    assert_eq!(query["event_type"], json!({"type": 129}));
    assert_eq!(query["is_reply"], false);
    assert_eq!(query["verdict"], "FORWARDED");
    assert_eq!(query["traffic_direction"], "EGRESS");
    assert_eq!(query["interface"]["name"], "lxc-client");
    assert!(query["trace_observation_point"].is_null() && query["ethernet"].is_null(), "{query}");
    assert_eq!(query["l7"]["dns"], json!({"query": "www.shop.test.", "qtypes": ["A"]}));
    assert!(query["l7"]["latency_ns"].is_null(), "{query}");
    assert_eq!(query["Summary"], "DNS Query www.shop.test. A");
    assert_eq!((&query["IP"]["source"], &query["IP"]["destination"]), (&CLIENT.into(), &SERVER.into()));
    assert_eq!(query["l4"]["UDP"]["destination_port"], 53);
    assert_eq!(query["source"]["pod_name"], "client-0");
    assert_eq!(query["destination"]["pod_name"], "dns-0");
    let client_port = query["l4"]["UDP"]["source_port"].clone();

    // Its response, through the CNAME, as it left the server.
    let response = one("RESPONSE", "www.shop.test.", "UDP");
    assert_eq!(response["event_type"], json!({"type": 129}));
    assert_eq!(response["is_reply"], true);
    assert_eq!(response["interface"]["name"], "lxc-server");
    assert_eq!(
        response["l7"]["dns"],
        json!({"query": "www.shop.test.", "ips": [SERVER], "ttl": 300, "cnames": ["api.shop.test."],
               "qtypes": ["A"], "rrtypes": ["CNAME", "A"]})
    );
    assert_eq!(
        response["Summary"],
        format!(r#"DNS Answer "{SERVER}" CNAMEs: "api.shop.test." TTL: 300 (Query www.shop.test. A)"#)
    );
    let latency: u64 = response["l7"]["latency_ns"].as_str().unwrap_or("0").parse().unwrap();
    assert!((1..1_000_000_000).contains(&latency), "latency {latency} ns\n{response}");
    assert_eq!((&response["IP"]["source"], &response["IP"]["destination"]), (&SERVER.into(), &CLIENT.into()));
    assert_eq!(response["l4"]["UDP"]["destination_port"], client_port);
    assert_eq!(response["source"]["pod_name"], "dns-0");
    assert_eq!(response["destination"]["pod_name"], "client-0");

    let aaaa = one("RESPONSE", "api.shop.test.", "UDP");
    assert_eq!(aaaa["l7"]["dns"]["ips"], json!([SERVER_V6]));
    assert_eq!((&aaaa["l7"]["dns"]["qtypes"], &aaaa["l7"]["dns"]["rrtypes"]), (&json!(["AAAA"]), &json!(["AAAA"])));

    let nxdomain = one("RESPONSE", "missing.shop.test.", "UDP");
    assert_eq!(nxdomain["l7"]["dns"]["rcode"], 3);
    assert_eq!(nxdomain["l7"]["dns"]["ttl"], u32::MAX);
    assert!(nxdomain["l7"]["dns"]["ips"].is_null(), "{nxdomain}");
    assert_eq!(
        nxdomain["Summary"],
        "DNS Answer RCode: Non-Existent Domain TTL: 4294967295 (Query missing.shop.test. A)"
    );

    // Over TCP: each message read out of its stream.
    let tcp_query = one("REQUEST", "api.shop.test.", "TCP");
    assert_eq!(tcp_query["l4"]["TCP"]["destination_port"], 53);
    let tcp_response = one("RESPONSE", "api.shop.test.", "TCP");
    assert_eq!(tcp_response["l7"]["dns"]["ips"], json!([SERVER]));
    assert!(tcp_response["l7"]["latency_ns"].as_str().is_some(), "{tcp_response}");

    // Over IPv6: the payload found behind the IPv6 header.
    let ipv6_query = one("REQUEST", "ns.shop.test.", "UDP");
    assert_eq!(ipv6_query["IP"], json!({"source": CLIENT_IP6, "destination": SERVER_IP6, "ipVersion": "IPv6"}));
    let ipv6_response = one("RESPONSE", "ns.shop.test.", "UDP");
    assert_eq!(ipv6_response["l7"]["dns"]["ips"], json!([SERVER]));

    // The connection to the answered address carries the names it was asked by.
    let syn = flows
        .iter()
        .find(|f| f["l4"]["TCP"]["source_port"] == web_client_port && f["l4"]["TCP"]["flags"] == json!({"SYN": true}))
        .unwrap_or_else(|| panic!("no SYN to the web port\n{}", everything()));
    assert_eq!(syn["Type"], "L3_L4");
    assert_eq!(syn["destination_names"], json!(["api.shop.test", "www.shop.test"]));
    assert!(syn["source_names"].is_null(), "{syn}");

    // The dynamic flow log kept the flows to api.shop.test, that SYN among them.
    let to_api: Vec<Value> =
        support::lines_of(&dir.path().join("to-api.log")).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(to_api.iter().any(|e| e["flow"]["l4"]["TCP"]["source_port"] == web_client_port), "{to_api:?}");
    for event in &to_api {
        let names = event["flow"]["destination_names"].as_array().unwrap_or_else(|| panic!("{event}"));
        assert!(names.contains(&"api.shop.test".into()), "{event}");
    }
    assert!(to_api.len() < flows.len(), "the filter kept everything");

    // Hubble's filters select the DNS flows: by query, protocol and event type.
    let flow_log = |name: &str| -> Vec<Value> {
        let lines = support::lines_of(&dir.path().join(format!("{name}.log")));
        lines.iter().map(|line| serde_json::from_str::<Value>(line).unwrap()["flow"].clone()).collect()
    };
    let missing = flow_log("missing");
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(missing.iter().all(|f| f["l7"]["dns"]["query"] == "missing.shop.test."), "{missing:?}");
    let l7_flows = flows.iter().filter(|f| f["Type"] == "L7").count();
    assert_eq!(l7_flows, 10, "five queries, five answers\n{}", everything());
    for name in ["dns", "l7"] {
        let selected = flow_log(name);
        assert_eq!(selected.len(), l7_flows, "{name}: {selected:?}");
        assert!(selected.iter().all(|f| f["Type"] == "L7"), "{name}: {selected:?}");
    }

    // Hubble's DNS metrics, and flowlog's own.
    let metric = |name: &str, labels: &[&str]| sum(&metrics, name, labels);
    assert_eq!(
        metric("hubble_dns_queries_total", &[r#"rcode="""#, r#"qtypes="A""#, r#"ips_returned="0""#]),
        4,
        "{metrics}"
    );
    assert_eq!(metric("hubble_dns_queries_total", &[r#"qtypes="AAAA""#]), 1, "{metrics}");
    assert_eq!(
        metric("hubble_dns_responses_total", &[r#"rcode="No Error""#, r#"qtypes="A""#, r#"ips_returned="1""#]),
        3
    );
    assert_eq!(metric("hubble_dns_responses_total", &[r#"rcode="Non-Existent Domain""#, r#"ips_returned="0""#]), 1);
    assert_eq!(metric("hubble_dns_response_types_total", &[r#"type="CNAME""#, r#"qtypes="A""#]), 1, "{metrics}");
    assert_eq!(metric("hubble_dns_response_types_total", &[r#"type="A""#, r#"qtypes="A""#]), 3, "{metrics}");
    assert_eq!(metric("hubble_dns_response_types_total", &[r#"type="AAAA""#]), 1, "{metrics}");
    // The undecodable datagrams, once on each veth; nothing else was skipped.
    assert_eq!(metric("flowlog_dns_skipped_total", &[r#"reason="cut""#]), 2, "{metrics}");
    assert_eq!(metric("flowlog_dns_skipped_total", &[r#"reason="malformed""#]), 2, "{metrics}");
    assert_eq!(metric("flowlog_dns_skipped_total", &[]), 4, "{metrics}");
    assert_eq!(metric("flowlog_dns_cache_addresses", &[]), 2, "{metrics}");
}

#[test]
fn bad_dns_options_are_refused_before_anything_is_loaded() {
    let zero =
        support::Flowlog::run(&["run", "--interface", "lo", "--dns-ports", "53,0", "--export-file-path", "stdout"])
            .failure();
    assert_eq!(zero.code, Some(2));
    assert!(zero.stderr.contains(r#""0" is not a port: give ports from 1 to 65535"#), "{}", zero.stderr);
    let ttls = support::Flowlog::run(&[
        "run",
        "--interface",
        "lo",
        "--dns-cache-min-ttl",
        "2h",
        "--dns-cache-max-ttl",
        "1h",
        "--export-file-path",
        "stdout",
    ])
    .failure();
    assert_eq!(ttls.code, Some(2));
    assert!(
        ttls.stderr.contains("--dns-cache-min-ttl 7200s is longer than --dns-cache-max-ttl 3600s"),
        "{}",
        ttls.stderr
    );
}

/// dnsmasq answering on the server pod's addresses: `api.shop.test` (A and
/// AAAA), `www.shop.test`, a CNAME of it, and `ns.shop.test` (A), with a
/// TTL of 300 s; other names under `shop.test` do not exist. Returns once
/// the client gets answers on both addresses, so the paths through the node,
/// its neighbour entries included, work before the capture starts: a first
/// IPv6 packet can wait seconds for neighbour discovery on new veths.
fn start_dnsmasq(server: &Netns, client: &Netns, dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("dnsmasq.log")).unwrap();
    let child = Command::new("nsenter")
        .arg(server.nsenter_arg())
        .args(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts"])
        .args(["--bind-interfaces", &format!("--listen-address={SERVER},{SERVER_IP6}"), "--user=root", "--pid-file"])
        .args(["--local-ttl=300", &format!("--host-record=api.shop.test,{SERVER},{SERVER_V6}")])
        .arg(format!("--host-record=ns.shop.test,{SERVER}"))
        .args(["--cname=www.shop.test,api.shop.test", "--local=/shop.test/", "--log-queries", "--log-facility=-"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("dnsmasq (apt-get install -y dnsmasq)");
    let child = Child(child);
    let answers = wait_for(Duration::from_secs(20), || {
        [SERVER, SERVER_IP6].iter().all(|at| dig_once(client, at, &["api.shop.test", "A"]).contains(SERVER))
    });
    assert!(
        answers.is_some(),
        "dnsmasq does not answer:\n{}",
        std::fs::read_to_string(dir.join("dnsmasq.log")).unwrap()
    );
    child
}

/// What dig prints for one query from `client` to the server's IPv4 address.
fn dig(client: &Netns, query: &[&str]) -> String {
    let printed = dig_once(client, SERVER, query);
    assert!(printed.contains("status:"), "dig {query:?} got no answer:\n{printed}");
    printed
}

/// What dig prints for one query from `from` to `server`, answered or not.
fn dig_once(from: &Netns, server: &str, query: &[&str]) -> String {
    let output = Command::new("nsenter")
        .arg(from.nsenter_arg())
        .args(["dig", &format!("@{server}"), "+tries=1", "+time=2"])
        .args(query)
        .output()
        .expect("dig (apt-get install -y bind9-dnsutils)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Gives `pod` an IPv6 address and a default route through the node, as
/// `Netns::add_pod` does for IPv4 (without duplicate address detection, so
/// the addresses work at once).
fn add_ipv6(node: &Netns, pod: &Netns, host_side: &str, gateway: &str, address: &str) {
    node.ip(&["-6", "addr", "add", &format!("{gateway}/64"), "dev", host_side, "nodad"]);
    pod.ip(&["-6", "addr", "add", &format!("{address}/64"), "dev", "eth0", "nodad"]);
    pod.ip(&["-6", "route", "add", "default", "via", gateway]);
}

/// Two datagrams to the second DNS port that are no DNS message flowlog can
/// read: one longer than the capture copies (2 KiB), one whose question's
/// name is a compression pointer to itself.
fn send_undecodable(client: &Netns) {
    let socket = client.run(|| std::net::UdpSocket::bind((CLIENT, 0)).unwrap());
    socket.send_to(&[0xab; 3000], (SERVER, JUNK_PORT)).unwrap();
    let looping = [0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
    socket.send_to(&looping, (SERVER, JUNK_PORT)).unwrap();
}

/// A TCP connection from the client to the web port of the answered
/// address, one exchange; returns the client's port.
fn connect_to_web(client: &Netns, server: &Netns) -> u16 {
    let listener = server.run(|| TcpListener::bind((SERVER, WEB_PORT)).unwrap());
    let echo = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = [0u8; 16];
        let n = stream.read(&mut buffer).unwrap();
        stream.write_all(&buffer[..n]).unwrap();
    });
    let mut stream = client.run(|| {
        let address: SocketAddr = format!("{SERVER}:{WEB_PORT}").parse().unwrap();
        TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap()
    });
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(b"hello").unwrap();
    stream.read_exact(&mut [0u8; 5]).unwrap();
    let port = stream.local_addr().unwrap().port();
    drop(stream);
    echo.join().unwrap();
    port
}
