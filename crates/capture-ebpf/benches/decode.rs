//! Userspace cost of a captured packet: ring buffer bytes → [`FlowRecord`] →
//! Hubble [`Flow`] (→ export line).
//!
//! 1,024 records of a realistic mix, built once as the bytes the kernel
//! writes: IPv4 TCP (handshake, data, teardown flags), UDP and ICMP, a few
//! IPv6 TCP and ICMPv6, both directions on pod veths and on the uplink, and
//! some kernel drops. Throughput is in records.
//!
//! `taskset -c 0 cargo bench -p flowlog-capture-ebpf --bench decode`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlog_capture_ebpf::FlowRecord;
use flowlog_capture_ebpf::decode::{Decoder, DropReasonNames, InterfaceRole};
use flowlog_capture_ebpf::record::RECORD_SIZE;
use flowlog_capture_ebpf::record::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use flowlog_flow::ExportEvent;
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::json::encode_line;

const RECORDS: usize = 1024;

/// The drop reason table of a 6.18 kernel, shortened to the reasons used here.
const KFREE_SKB_FORMAT: &str = r#"print fmt: "reason: %s", __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 12, "NETFILTER_DROP" }, { 73, "TC_INGRESS" })"#;

/// ifindex, name, role: the uplink and a few pod veths.
const INTERFACES: [(u32, &str, InterfaceRole); 5] = [
    (2, "eth0", InterfaceRole::Network),
    (11, "lxc5a1b2c3d4e5f", InterfaceRole::Endpoint),
    (12, "lxc9f8e7d6c5b4a", InterfaceRole::Endpoint),
    (13, "lxc0123456789ab", InterfaceRole::Endpoint),
    (14, "lxcfedcba987654", InterfaceRole::Endpoint),
];

/// The interface lookup an agent does per record: a short table scan.
fn interface(ifindex: u32) -> Option<(&'static str, InterfaceRole)> {
    INTERFACES.iter().find(|(index, _, _)| *index == ifindex).map(|&(_, name, role)| (name, role))
}

/// A deterministic xorshift generator: the same mix on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The byte image the kernel writes, at the offsets of `struct flow_record`.
fn image(r: &FlowRecord) -> [u8; RECORD_SIZE] {
    let mut b = [0u8; RECORD_SIZE];
    b[0..8].copy_from_slice(&r.ktime_ns.to_ne_bytes());
    b[8..12].copy_from_slice(&r.ifindex.to_ne_bytes());
    b[12..16].copy_from_slice(&r.len.to_ne_bytes());
    b[16..20].copy_from_slice(&r.drop_reason.to_ne_bytes());
    b[20..22].copy_from_slice(&r.vlan_id.to_ne_bytes());
    b[22..24].copy_from_slice(&r.eth_proto.to_ne_bytes());
    b[24..32].copy_from_slice(&[
        r.kind,
        r.direction,
        r.ip_version,
        r.l4_proto,
        r.tcp_flags,
        r.is_reply,
        r.icmp_type,
        r.icmp_code,
    ]);
    b[32..38].copy_from_slice(&r.src_mac);
    b[38..44].copy_from_slice(&r.dst_mac);
    b[44..60].copy_from_slice(&r.saddr);
    b[60..76].copy_from_slice(&r.daddr);
    b[76..78].copy_from_slice(&r.sport.to_ne_bytes());
    b[78..80].copy_from_slice(&r.dport.to_ne_bytes());
    b
}

fn record(rng: &mut Rng, ktime_ns: u64) -> FlowRecord {
    let mut r = FlowRecord::parse(&[0; RECORD_SIZE]).expect("a whole record");
    r.ktime_ns = ktime_ns;
    r.kind = 1;
    r.direction = rng.below(2) as u8;
    r.is_reply = rng.below(2) as u8;
    r.ifindex = INTERFACES[rng.below(INTERFACES.len() as u64) as usize].0;
    r.src_mac = [0x0a, 0x58, 0x0a, 0xf4, 0x00, rng.below(250) as u8];
    r.dst_mac = [0xee, 0xee, 0xee, 0xee, 0xee, 0xee];
    let pod = |rng: &mut Rng| [10, 244, rng.below(4) as u8, 10 + rng.below(200) as u8];
    let v6 = rng.below(10) == 0;
    if v6 {
        r.ip_version = 6;
        r.eth_proto = 0x86dd;
        let address = |rng: &mut Rng| {
            let mut a = [0u8; 16];
            a[..6].copy_from_slice(&[0xfd, 0x00, 0x00, 0x10, 0x02, 0x44]);
            a[14..].copy_from_slice(&(rng.below(4000) as u16).to_be_bytes());
            a
        };
        r.saddr = address(rng);
        r.daddr = address(rng);
    } else {
        r.ip_version = 4;
        r.eth_proto = 0x0800;
        r.saddr[..4].copy_from_slice(&pod(rng));
        r.daddr[..4].copy_from_slice(&if rng.below(5) == 0 { [10, 96, 0, 10] } else { pod(rng) });
    }
    let ephemeral = 32768 + rng.below(28000) as u16;
    match (v6, rng.below(10)) {
        (false, 0..6) | (true, 0..7) => {
            r.l4_proto = 6;
            r.tcp_flags = [SYN, SYN | ACK, ACK, PSH | ACK, PSH | ACK, ACK, FIN | ACK, RST][rng.below(8) as usize];
            (r.sport, r.dport) = (ephemeral, [80, 443, 8080, 6379][rng.below(4) as usize]);
            r.len = 66 + rng.below(1400) as u32;
        }
        (false, 6..9) => {
            r.l4_proto = 17;
            (r.sport, r.dport) = (ephemeral, 53);
            r.len = 70 + rng.below(200) as u32;
        }
        (false, _) => {
            r.l4_proto = 1;
            (r.icmp_type, r.icmp_code) = [(8, 0), (0, 0), (3, 3)][rng.below(3) as usize];
            r.len = 98;
        }
        (true, _) => {
            r.l4_proto = 58;
            (r.icmp_type, r.icmp_code) = [(128, 0), (129, 0), (135, 0)][rng.below(3) as usize];
            r.len = 118;
        }
    }
    // One in twenty is a kernel drop: no direction, no MACs, a reason.
    if rng.below(20) == 0 {
        r.kind = 2;
        r.direction = 2;
        r.is_reply = 2;
        r.src_mac = [0; 6];
        r.dst_mac = [0; 6];
        r.drop_reason = [12, 3, 73, 200][rng.below(4) as usize];
    }
    r
}

/// The ring buffer items, back to back.
fn ring_items() -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut bytes = Vec::with_capacity(RECORDS * RECORD_SIZE);
    for i in 0..RECORDS {
        bytes.extend_from_slice(&image(&record(&mut rng, 1_000_000_000_000 + i as u64 * 1000)));
    }
    bytes
}

fn decoding(c: &mut Criterion) {
    let items = ring_items();
    let decoder = Decoder::new("kind-kind/kind-worker".to_owned(), DropReasonNames::parse_format(KFREE_SKB_FORMAT));
    let mut line = Vec::with_capacity(4096);

    let mut group = c.benchmark_group("capture_decode");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for item in black_box(&items).chunks_exact(RECORD_SIZE) {
                black_box(FlowRecord::parse(item));
            }
        })
    });
    group.bench_function("parse_decode", |b| {
        b.iter(|| {
            for item in black_box(&items).chunks_exact(RECORD_SIZE) {
                let record = FlowRecord::parse(item).expect("a whole record");
                black_box(decoder.decode(&record, interface(record.ifindex)));
            }
        })
    });
    group.bench_function("parse_decode_encode", |b| {
        b.iter(|| {
            for item in black_box(&items).chunks_exact(RECORD_SIZE) {
                let record = FlowRecord::parse(item).expect("a whole record");
                let flow = decoder.decode(&record, interface(record.ifindex));
                let event = ExportEvent {
                    node_name: flow.node_name.clone(),
                    time: flow.time,
                    response_types: Some(ResponseTypes::Flow(flow)),
                };
                line.clear();
                encode_line(&event, None, &mut line).expect("a decoded flow encodes");
            }
            black_box(line.len())
        })
    });
    group.finish();
}

criterion_group!(benches, decoding);
criterion_main!(benches);
