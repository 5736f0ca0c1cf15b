//! The metrics as a scraper reads them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use flowlog_export::dynamic::ReloadStats;
use flowlog_export::dynamic::config::parse;
use flowlog_export::{DynamicFlowLogs, ExportContext, Pipeline, WhenFull};
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::layer4::Protocol;
use flowlog_flow::{
    CiliumEventType, DropReason, ExportEvent, Flow, IcmPv4, IcmPv6, Ip, IpVersion, Layer4, LostEvent, LostEventSource,
    Tcp, TcpFlags, Udp, Verdict,
};

use super::*;

fn flow(kind: i32, sub_type: i32, verdict: Verdict, version: IpVersion, l4: Protocol) -> Flow {
    Flow {
        verdict: verdict as i32,
        event_type: Some(CiliumEventType { r#type: kind, sub_type }),
        ip: Some(Ip { ip_version: version as i32, ..Default::default() }),
        l4: Some(Layer4 { protocol: Some(l4) }),
        ..Default::default()
    }
}

fn tcp(flags: TcpFlags) -> Protocol {
    Protocol::Tcp(Tcp { source_port: 40000, destination_port: 80, flags: Some(flags) })
}

fn event(flow: Flow) -> ExportEvent {
    ExportEvent { response_types: Some(ResponseTypes::Flow(flow)), ..Default::default() }
}

/// The metrics of a pipeline without exporters.
/// The log's dropped lines, for tests that drop none.
static NO_LOG_DROPS: AtomicU64 = AtomicU64::new(0);

fn metrics() -> Metrics {
    Metrics::new(&SinkRegistry::default(), None, None, &NO_LOG_DROPS)
}

/// Asserts that the Prometheus text holds every one of `lines`.
#[track_caller]
fn assert_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.lines().any(|l| l == *line), "no line {line:?} in:\n{text}");
    }
}

#[test]
fn a_tcp_syn_trace_counts_as_hubble_counts_it() {
    let metrics = metrics();
    let syn = flow(4, 0, Verdict::Forwarded, IpVersion::IPv4, tcp(TcpFlags { syn: true, ..Default::default() }));
    let syn_ack = flow(
        4,
        5,
        Verdict::Forwarded,
        IpVersion::IPv6,
        tcp(TcpFlags { syn: true, ack: true, fin: true, ..Default::default() }),
    );
    metrics.flows().observe(&event(syn.clone()));
    metrics.flows().observe(&event(syn));
    metrics.flows().observe_flow(&syn_ack);
    // Dropped TCP flows count no flags, as in Hubble.
    metrics.flows().observe_flow(&flow(
        1,
        133,
        Verdict::Dropped,
        IpVersion::IPv4,
        tcp(TcpFlags { rst: true, ..Default::default() }),
    ));
    let text = metrics.encode(Format::Prometheus);
    assert_lines(
        &text,
        &[
            "# HELP hubble_flows_processed_total Total number of flows processed.",
            "# TYPE hubble_flows_processed_total counter",
            r#"hubble_flows_processed_total{protocol="TCP",type="Trace",subtype="to-endpoint",verdict="FORWARDED"} 2"#,
            r#"hubble_flows_processed_total{protocol="TCP",type="Trace",subtype="from-endpoint",verdict="FORWARDED"} 1"#,
            r#"hubble_flows_processed_total{protocol="TCP",type="Drop",subtype="",verdict="DROPPED"} 1"#,
            r#"hubble_tcp_flags_total{flag="SYN",family="IPv4"} 2"#,
            r#"hubble_tcp_flags_total{flag="SYN-ACK",family="IPv6"} 1"#,
            r#"hubble_tcp_flags_total{flag="FIN",family="IPv6"} 1"#,
        ],
    );
    assert!(!text.contains(r#"flag="RST""#), "{text}");
}

#[test]
fn a_drop_counts_with_its_reason() {
    let metrics = metrics();
    let mut dropped = flow(1, 133, Verdict::Dropped, IpVersion::IPv4, Protocol::Udp(Udp::default()));
    dropped.drop_reason_desc = DropReason::PolicyDenied as i32;
    metrics.flows().observe_flow(&dropped);
    let mut unknown = flow(1, 0, Verdict::Dropped, IpVersion::IPv4, tcp(TcpFlags::default()));
    unknown.drop_reason_desc = 0;
    metrics.flows().observe_flow(&unknown);
    assert_lines(
        &metrics.encode(Format::Prometheus),
        &[
            r#"hubble_drop_total{reason="POLICY_DENIED",protocol="UDP"} 1"#,
            r#"hubble_drop_total{reason="DROP_REASON_UNKNOWN",protocol="TCP"} 1"#,
            r#"hubble_flows_processed_total{protocol="UDP",type="Drop",subtype="",verdict="DROPPED"} 1"#,
        ],
    );
}

#[test]
fn icmp_messages_count_by_family_and_gopacket_type_name() {
    let metrics = metrics();
    let echo = Protocol::IcmPv4(IcmPv4 { r#type: 8, code: 0 });
    let unreachable = Protocol::IcmPv4(IcmPv4 { r#type: 3, code: 3 });
    let reply6 = Protocol::IcmPv6(IcmPv6 { r#type: 129, code: 0 });
    metrics.flows().observe_flow(&flow(4, 0, Verdict::Forwarded, IpVersion::IPv4, echo));
    metrics.flows().observe_flow(&flow(4, 11, Verdict::Forwarded, IpVersion::IPv4, unreachable));
    metrics.flows().observe_flow(&flow(4, 10, Verdict::Forwarded, IpVersion::IPv6, reply6));
    assert_lines(
        &metrics.encode(Format::Prometheus),
        &[
            r#"hubble_icmp_total{family="IPv4",type="EchoRequest"} 1"#,
            r#"hubble_icmp_total{family="IPv4",type="DestinationUnreachable(Port)"} 1"#,
            // Hubble writes family="IPv4" here; flowlog writes the truth.
            r#"hubble_icmp_total{family="IPv6",type="EchoReply"} 1"#,
            r#"hubble_flows_processed_total{protocol="ICMPv6",type="Trace",subtype="from-network",verdict="FORWARDED"} 1"#,
        ],
    );
}

#[test]
fn lost_events_count_by_source() {
    let metrics = metrics();
    metrics.flows().lost(LostEventSource::PerfEventRingBuffer, 5);
    let replayed =
        LostEvent { source: LostEventSource::HubbleRingBuffer as i32, num_events_lost: 2, ..Default::default() };
    metrics
        .flows()
        .observe(&ExportEvent { response_types: Some(ResponseTypes::LostEvents(replayed)), ..Default::default() });
    let text = metrics.encode(Format::Prometheus);
    assert_lines(
        &text,
        &[
            "# TYPE hubble_lost_events_total counter",
            r#"hubble_lost_events_total{source="perf_event_ring_buffer"} 5"#,
            r#"hubble_lost_events_total{source="hubble_ring_buffer"} 2"#,
            r#"hubble_lost_events_total{source="observer_events_queue"} 0"#,
            r#"hubble_lost_events_total{source="write_failed"} 0"#,
            r#"hubble_lost_events_total{source="encode_failed"} 0"#,
        ],
    );
    assert!(!text.contains("unknown_lost_event_source"), "a source never seen is left out:\n{text}");
    // Lost events are not flows.
    assert!(!text.contains("hubble_flows_processed_total{"), "{text}");
}

/// A pipeline whose dynamic flow logs are `yaml`'s entries, with `DIR` standing for `dir`.
fn pipeline(dir: &Path, yaml: &str) -> (Pipeline, Metrics) {
    let context = ExportContext::new("node", WhenFull::Wait);
    let reloads = Arc::new(ReloadStats::default());
    let metrics = Metrics::new(&context.sinks, Some(Arc::clone(&reloads)), None, &NO_LOG_DROPS);
    let (mut flow_logs, _) = DynamicFlowLogs::new(&context, Arc::clone(&reloads));
    let entries = parse(&yaml.replace("DIR", dir.to_str().unwrap()), None).entries;
    reloads.applied(0x1234, &flow_logs.apply(entries));
    (Pipeline::new(vec![Box::new(flow_logs)]), metrics)
}

/// Stops the pipeline and waits for its writers.
fn stop(pipeline: Pipeline) {
    for writer in pipeline.stop() {
        writer.wait();
    }
}

#[test]
fn exporters_report_what_they_wrote_and_reloads_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pipeline, metrics) = pipeline(
        dir.path(),
        "flowLogs:\n  - {name: all, filePath: DIR/all.log}\n  - {name: drops, filePath: DIR/drops.log, includeFilters: [{verdict: [DROPPED]}]}\n  - {name: old, filePath: DIR/old.log, end: '2001-01-01T00:00:00Z'}\n",
    );
    let forwarded = flow(4, 0, Verdict::Forwarded, IpVersion::IPv4, tcp(TcpFlags::default()));
    for _ in 0..3 {
        pipeline.export(&Arc::new(event(forwarded.clone())));
    }
    stop(pipeline);
    let size = std::fs::metadata(dir.path().join("all.log")).unwrap().len();
    let text = metrics.encode(Format::Prometheus);
    assert_lines(
        &text,
        &[
            r#"flowlog_exporter_events_written_total{exporter="all",origin="dynamic"} 3"#,
            &format!(r#"flowlog_exporter_bytes_written_total{{exporter="all",origin="dynamic"}} {size}"#),
            r#"flowlog_exporter_events_written_total{exporter="drops",origin="dynamic"} 0"#,
            r#"flowlog_exporter_rotations_total{exporter="all",origin="dynamic"} 0"#,
            r#"flowlog_exporter_events_lost_total{exporter="all",origin="dynamic",reason="write_failed"} 0"#,
            r#"flowlog_exporter_writing{exporter="all",origin="dynamic"} 1"#,
            r#"flowlog_exporter_active{exporter="old",origin="dynamic"} 0"#,
            r#"hubble_dynamic_exporter_up{name="old"} 0"#,
            r#"hubble_dynamic_exporter_reconfigurations_total{op="add"} 3"#,
            r#"hubble_dynamic_exporter_reconfigurations_total{op="failure"} 0"#,
            "hubble_dynamic_exporter_config_hash 4660.0",
        ],
    );
    // Stopped: every sink is inactive now.
    assert_lines(&text, &[r#"hubble_dynamic_exporter_exporters_total{status="inactive"} 3"#]);
}

#[test]
fn health_names_a_sink_that_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    // A path under a regular file: no directory can be made there, even by root.
    std::fs::write(dir.path().join("file"), "").unwrap();
    let (mut pipeline, metrics) = pipeline(
        dir.path(),
        "flowLogs:\n  - {name: ok, filePath: DIR/ok.log}\n  - {name: bad, filePath: DIR/file/bad.log}\n",
    );
    assert!(metrics.health().problems().is_empty());
    pipeline.export(&Arc::new(event(flow(4, 0, Verdict::Forwarded, IpVersion::IPv4, tcp(TcpFlags::default())))));
    pipeline.flush();
    let failed = (0..500).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        Some(metrics.health().problems()).filter(|p| !p.is_empty())
    });
    let problems = failed.expect("the failed write shows in health");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with(r#"exporter "bad" ("#) && problems[0].contains("bad.log"), "{problems:?}");
    metrics.health().capture_failed("the ring buffer is gone");
    assert_eq!(metrics.health().problems()[0], "capture: stopped: the ring buffer is gone");
    stop(pipeline);
}

/// `GET path` over a plain TCP connection; returns the status line's code and the body.
fn get(address: SocketAddr, path: &str, accept: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nAccept: {accept}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head[9..12].parse().unwrap(), body.to_owned())
}

#[test]
fn the_endpoint_serves_metrics_and_health_over_http() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _on_runtime = runtime.enter();
    let metrics = metrics();
    metrics.flows().observe_flow(&flow(4, 0, Verdict::Forwarded, IpVersion::IPv4, tcp(TcpFlags::default())));
    let server = metrics.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = server.local_addr();
    assert_ne!(address.port(), 0);

    let (code, text) = get(address, "/metrics", "*/*");
    assert_eq!(code, 200);
    assert_lines(
        &text,
        &[r#"hubble_flows_processed_total{protocol="TCP",type="Trace",subtype="to-endpoint",verdict="FORWARDED"} 1"#],
    );
    let (_, open_metrics) = get(address, "/metrics", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
    assert!(open_metrics.ends_with("# EOF\n"), "{open_metrics}");
    assert_eq!(get(address, "/healthz", ""), (200, "ok\n".to_owned()));
    metrics.health().capture_failed("boom");
    assert_eq!(get(address, "/healthz", ""), (503, "capture: stopped: boom\n".to_owned()));
    assert_eq!(get(address, "/nope", "").0, 404);

    let taken = metrics.serve(address).unwrap_err().to_string();
    assert!(taken.starts_with(&format!("cannot listen on {address}: ")), "{taken}");
    runtime.block_on(server.stop());
    assert!(TcpStream::connect(address).is_err(), "the server stopped");
}

#[test]
fn listen_addresses_read_as_cilium_writes_them() {
    assert_eq!(parse_listen_address(":9965").unwrap(), Some("0.0.0.0:9965".parse().unwrap()));
    assert_eq!(parse_listen_address("127.0.0.1:9965").unwrap(), Some("127.0.0.1:9965".parse().unwrap()));
    assert_eq!(parse_listen_address("[::1]:9965").unwrap(), Some("[::1]:9965".parse().unwrap()));
    assert_eq!(parse_listen_address("").unwrap(), None);
    assert!(parse_listen_address("9965").unwrap_err().to_string().contains("host:port"));
}
