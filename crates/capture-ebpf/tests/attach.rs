//! Privileged end-to-end tests: real programs on a real veth pair.
//!
//! Each test builds its own pair of network namespaces (`fl-a-<pid>-<n>`,
//! `fl-b-<pid>-<n>`) joined by a veth (`veth-a` in A, `veth-b` in B) on its
//! own subnet 10.200.<n>.0/24, attaches the capture to `veth-a` from a thread
//! that entered namespace A, makes bounded traffic and checks the records.
//! The namespaces are deleted by a guard, also when a test panics.
//!
//! Without root every test prints `SKIPPED (needs root)` and passes.

mod netns;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use aya::programs::{SchedClassifier, TcAttachType};
use flowlog_capture_ebpf::record::tcp_flags::{ACK, SYN};
use flowlog_capture_ebpf::{
    Aggregation, AttachedVia, Capture, CaptureOptions, Direction, FlowRecord, Kind, MapData, Reply, RingBuf, TcMode,
};
use netns::Netns;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;

// ---- namespaces ---------------------------------------------------------------

/// Two network namespaces joined by a veth pair; deleting them (on drop)
/// deletes the veth pair, and the programs with it.
struct NetnsPair {
    a: Netns,
    b: Netns,
    subnet: u8,
}

impl NetnsPair {
    /// `subnet` must be unique per test: the drop tracepoint sees every
    /// namespace, and tests tell their records apart by address.
    fn new(subnet: u8) -> NetnsPair {
        let pid = std::process::id();
        let pair = NetnsPair {
            a: Netns::new(format!("fl-a-{pid}-{subnet}")),
            b: Netns::new(format!("fl-b-{pid}-{subnet}")),
            subnet,
        };
        pair.a.ip(&["link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", &pair.b.name]);
        pair.a.ip(&["addr", "add", &format!("{}/24", pair.ip_a()), "dev", "veth-a"]);
        pair.b.ip(&["addr", "add", &format!("{}/24", pair.ip_b()), "dev", "veth-b"]);
        pair.a.ip(&["link", "set", "veth-a", "up"]);
        pair.b.ip(&["link", "set", "veth-b", "up"]);
        pair
    }

    fn ip_a(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.subnet, 1)
    }

    fn ip_b(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.subnet, 2)
    }

    fn in_a<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.a.run(f)
    }

    fn in_b<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.b.run(f)
    }

    fn ifindex_b(&self) -> u32 {
        self.in_b(|| {
            // SAFETY: a valid NUL-terminated name.
            unsafe { libc::if_nametoindex(c"veth-b".as_ptr()) }
        })
    }
}

fn require_ping() {
    let found = Command::new("sh").args(["-c", "command -v ping"]).output().is_ok_and(|o| o.status.success());
    assert!(found, "ping is not installed: install iputils-ping (apt-get install -y iputils-ping)");
}

// ---- traffic ---------------------------------------------------------------------

fn ping(pair: &NetnsPair, count: u32) {
    require_ping();
    let count = count.to_string();
    pair.a.exec(&["ping", "-c", &count, "-i", "0.2", "-W", "1", &pair.ip_b().to_string()]);
}

/// One datagram from A:`sport` to B:`dport`, where B listens.
fn udp(pair: &NetnsPair, sport: u16, dport: u16) {
    let server = pair.in_b(|| UdpSocket::bind((pair.ip_b(), dport)).unwrap());
    server.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let client = pair.in_a(|| UdpSocket::bind((pair.ip_a(), sport)).unwrap());
    client.send_to(b"flowlog", (pair.ip_b(), dport)).unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = server.recv_from(&mut buf).expect("the datagram should arrive");
    assert_eq!(&buf[..n], b"flowlog");
}

/// One datagram from A to B:`dport` where nothing may receive it.
fn udp_unanswered(pair: &NetnsPair, dport: u16) {
    let client = pair.in_a(|| UdpSocket::bind((pair.ip_a(), 0)).unwrap());
    client.send_to(b"dropped", (pair.ip_b(), dport)).unwrap();
}

/// A TCP connection from A to B:`port` carrying `writes` small writes, closed
/// by both sides. Returns the client's port.
fn tcp(pair: &NetnsPair, port: u16, writes: usize) -> u16 {
    let listener = pair.in_b(|| TcpListener::bind((pair.ip_b(), port)).unwrap());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut received = Vec::new();
        conn.read_to_end(&mut received).unwrap();
        conn.write_all(b"bye").unwrap();
        received.len()
    });
    let mut client =
        pair.in_a(|| TcpStream::connect_timeout(&(pair.ip_b(), port).into(), Duration::from_secs(2))).expect("connect");
    let client_port = client.local_addr().unwrap().port();
    client.set_nodelay(true).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    for _ in 0..writes {
        client.write_all(&[b'x'; 100]).unwrap();
        // Spaced out so each write is its own segment.
        std::thread::sleep(Duration::from_millis(1));
    }
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"bye");
    assert_eq!(server.join().unwrap(), writes * 100);
    client_port
}

// ---- records ----------------------------------------------------------------------

/// Reads records until `done` is satisfied (then a short grace period for
/// stragglers) or 3 s have passed.
fn collect(ring: &mut RingBuf<MapData>, done: impl Fn(&[FlowRecord]) -> bool) -> Vec<FlowRecord> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut records = Vec::new();
    let mut grace_until = None;
    loop {
        while let Some(item) = ring.next() {
            records.push(FlowRecord::parse(&item).expect("ring buffer items are whole records"));
        }
        let now = Instant::now();
        if grace_until.is_none() && done(&records) {
            grace_until = Some(now + Duration::from_millis(200));
        }
        if now >= deadline || grace_until.is_some_and(|t| now >= t) {
            if std::env::var_os("FLOWLOG_TEST_DUMP").is_some() {
                eprintln!("{} records:\n{}", records.len(), dump(&records));
            }
            return records;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn dump(records: &[FlowRecord]) -> String {
    records.iter().map(|r| format!("  {r}\n")).collect()
}

fn v4(r: &FlowRecord, saddr: Ipv4Addr, daddr: Ipv4Addr) -> bool {
    r.ip_version == 4 && r.saddr[..4] == saddr.octets() && r.daddr[..4] == daddr.octets()
}

fn options(aggregation: Aggregation) -> CaptureOptions {
    // A small ring keeps the tests' locked memory low.
    CaptureOptions { aggregation, ring_buffer_bytes: 1 << 20, ..CaptureOptions::default() }
}

/// The kernel's number for a drop reason, from the tracepoint's print format,
/// so the test does not hard-code this kernel's enum.
fn drop_reason_number(name: &str) -> u32 {
    let format = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .find_map(|dir| std::fs::read_to_string(format!("{dir}/events/skb/kfree_skb/format")).ok())
        .expect("tracefs is mounted once drops are enabled");
    let needle = format!("\"{name}\" }}");
    let at = format.find(&needle).unwrap_or_else(|| panic!("{name} not in the kfree_skb format"));
    let open = format[..at].rfind('{').unwrap();
    format[open + 1..at].trim().trim_end_matches(',').trim().parse().unwrap()
}

// ---- tests --------------------------------------------------------------------------

#[test]
fn traces_icmp_udp_and_tcp_with_medium_aggregation() {
    if netns::skip_unless_root("traces_icmp_udp_and_tcp_with_medium_aggregation") {
        return;
    }
    let pair = NetnsPair::new(201);
    let (a, b) = (pair.ip_a(), pair.ip_b());

    let (records, client_port) = pair.in_a(|| {
        let mut capture = Capture::load(options(Aggregation::Medium)).unwrap();
        capture.attach("veth-a").unwrap();
        let mut ring = capture.take_ring_buffer().unwrap();
        ping(&pair, 3);
        udp(&pair, 5301, 5300);
        let client_port = tcp(&pair, 5400, 50);
        let records = collect(&mut ring, |rs| {
            rs.iter().filter(|r| r.l4_proto == IPPROTO_TCP && r.tcp_flags & 0x01 != 0).count() >= 2
        });
        assert_eq!(capture.lost_records().unwrap(), 0);
        (records, client_port)
    });
    let all = dump(&records);

    // ICMP: the echo request goes out, the reply comes back and is a reply.
    let request = records
        .iter()
        .find(|r| r.l4_proto == IPPROTO_ICMP && r.icmp_type == 8 && v4(r, a, b))
        .unwrap_or_else(|| panic!("no echo request in\n{all}"));
    assert_eq!(request.kind(), Some(Kind::Trace));
    assert_eq!(request.direction(), Some(Direction::Egress));
    assert_eq!(request.reply(), Some(Reply::No));
    assert_eq!((request.icmp_code, request.sport, request.dport), (0, 0, 0));
    assert_eq!(request.eth_proto, 0x0800);
    let reply = records
        .iter()
        .find(|r| r.l4_proto == IPPROTO_ICMP && r.icmp_type == 0 && v4(r, b, a))
        .unwrap_or_else(|| panic!("no echo reply in\n{all}"));
    assert_eq!(reply.direction(), Some(Direction::Ingress));
    assert_eq!(reply.reply(), Some(Reply::Yes));
    assert_eq!(reply.src_mac, request.dst_mac, "MACs swap between request and reply");

    // UDP: ports in host order.
    let datagram = records
        .iter()
        .find(|r| r.l4_proto == IPPROTO_UDP && v4(r, a, b) && r.dport == 5300)
        .unwrap_or_else(|| panic!("no UDP record in\n{all}"));
    assert_eq!(datagram.sport, 5301);
    assert_eq!(datagram.reply(), Some(Reply::No));

    // TCP: SYN out, SYN|ACK back as a reply, and few records for ~50 data segments.
    let conn: Vec<&FlowRecord> = records
        .iter()
        .filter(|r| {
            r.l4_proto == IPPROTO_TCP
                && ((v4(r, a, b) && r.sport == client_port && r.dport == 5400)
                    || (v4(r, b, a) && r.sport == 5400 && r.dport == client_port))
        })
        .collect();
    let syn = conn.iter().position(|r| r.tcp_flags & (SYN | ACK) == SYN).unwrap_or_else(|| panic!("no SYN in\n{all}"));
    let syn_ack = conn
        .iter()
        .position(|r| r.tcp_flags & (SYN | ACK) == SYN | ACK)
        .unwrap_or_else(|| panic!("no SYN|ACK in\n{all}"));
    assert!(syn < syn_ack, "SYN before SYN|ACK in\n{all}");
    assert_eq!(conn[syn].reply(), Some(Reply::No));
    assert_eq!(conn[syn].direction(), Some(Direction::Egress));
    assert_eq!(conn[syn_ack].reply(), Some(Reply::Yes));
    assert_eq!(conn[syn_ack].direction(), Some(Direction::Ingress));
    assert!(conn.len() < 10, "medium aggregation should report a handful of records, got {}:\n{all}", conn.len());
}

#[test]
fn medium_aggregation_reports_a_steady_connection_once_per_interval() {
    if netns::skip_unless_root("medium_aggregation_reports_a_steady_connection_once_per_interval") {
        return;
    }
    let pair = NetnsPair::new(208);
    let (a, b) = (pair.ip_a(), pair.ip_b());
    let interval = Duration::from_millis(250);

    let (records, sending) = pair.in_a(|| {
        let mut capture =
            Capture::load(CaptureOptions { report_interval: interval, ..options(Aggregation::Medium) }).unwrap();
        capture.attach("veth-a").unwrap();
        let mut ring = capture.take_ring_buffer().unwrap();
        let _server = pair.in_b(|| UdpSocket::bind((b, 5600)).unwrap());
        let client = UdpSocket::bind((a, 5601)).unwrap();
        let started = Instant::now();
        for _ in 0..40 {
            client.send_to(b"steady", (b, 5600)).unwrap();
            std::thread::sleep(Duration::from_millis(25));
        }
        let sending = started.elapsed();
        (collect(&mut ring, |_| false), sending)
    });
    let times: Vec<u64> = records
        .iter()
        .filter(|r| r.l4_proto == IPPROTO_UDP && v4(r, a, b) && (r.sport, r.dport) == (5601, 5600))
        .map(|r| r.ktime_ns)
        .collect();
    let all = dump(&records);
    // The first datagram, then one as each interval ends: the decision reads
    // jiffies, so a gap may look one tick (up to 10 ms) short.
    let shortest = interval.as_nanos() as u64 - 15_000_000;
    assert!(times.windows(2).all(|w| w[1] - w[0] >= shortest), "reported within the interval:\n{all}");
    let most = 1 + (sending.as_nanos() as u64 / shortest) as usize;
    assert!((2..=most).contains(&times.len()), "{} records in {sending:?}, expected 2..={most}:\n{all}", times.len());
}

#[test]
fn no_aggregation_reports_every_packet() {
    if netns::skip_unless_root("no_aggregation_reports_every_packet") {
        return;
    }
    let pair = NetnsPair::new(202);
    let (a, b) = (pair.ip_a(), pair.ip_b());

    let (records, client_port) = pair.in_a(|| {
        let mut capture = Capture::load(options(Aggregation::None)).unwrap();
        capture.attach("veth-a").unwrap();
        let mut ring = capture.take_ring_buffer().unwrap();
        let client_port = tcp(&pair, 5500, 50);
        (collect(&mut ring, |rs| rs.len() >= 100), client_port)
    });
    let outgoing_data = records
        .iter()
        .filter(|r| r.l4_proto == IPPROTO_TCP && v4(r, a, b) && r.sport == client_port && r.len > 100)
        .count();
    assert!(outgoing_data >= 50, "expected a record per data segment, got {outgoing_data}:\n{}", dump(&records));
}

#[test]
fn reports_netfilter_drops() {
    if netns::skip_unless_root("reports_netfilter_drops") {
        return;
    }
    let pair = NetnsPair::new(203);
    let (a, b) = (pair.ip_a(), pair.ip_b());
    pair.b.exec(&["iptables", "-A", "INPUT", "-p", "udp", "--dport", "9", "-j", "DROP"]);

    let records = pair.in_a(|| {
        let mut capture = Capture::load(CaptureOptions { drops: true, ..options(Aggregation::Medium) }).unwrap();
        capture.attach("veth-a").unwrap();
        let mut ring = capture.take_ring_buffer().unwrap();
        udp_unanswered(&pair, 9);
        collect(&mut ring, |rs| rs.iter().any(|r| r.kind() == Some(Kind::Drop) && v4(r, a, b)))
    });
    let netfilter_drop = drop_reason_number("NETFILTER_DROP");
    let all = dump(&records);
    let drop = records
        .iter()
        .find(|r| r.kind() == Some(Kind::Drop) && v4(r, a, b) && r.dport == 9)
        .unwrap_or_else(|| panic!("no drop record in\n{all}"));
    assert_eq!(drop.drop_reason, netfilter_drop, "SKB_DROP_REASON_NETFILTER_DROP expected in\n{all}");
    assert_eq!(drop.direction(), Some(Direction::Unknown));
    assert_eq!(drop.l4_proto, IPPROTO_UDP);
    assert_eq!(drop.ifindex, pair.ifindex_b(), "the drop happened on veth-b, in namespace B");
    // The tc program saw the datagram leave, so the drop belongs to a known connection.
    assert_eq!(drop.reply(), Some(Reply::No));
    // And the trace record of the same datagram on veth-a.
    assert!(records.iter().any(|r| r.kind() == Some(Kind::Trace) && v4(r, a, b) && r.dport == 9), "{all}");
}

#[test]
fn detach_removes_the_programs() {
    if netns::skip_unless_root("detach_removes_the_programs") {
        return;
    }
    let pair = NetnsPair::new(204);
    // Debian 12's bpftool predates tcx, so ask the kernel through aya; this
    // runs on the thread already inside namespace A.
    let tcx_programs = || {
        [TcAttachType::Ingress, TcAttachType::Egress]
            .into_iter()
            .flat_map(|attach_type| SchedClassifier::query_tcx("veth-a", attach_type).unwrap().1)
            .map(|info| info.name_as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join(",")
    };

    pair.in_a(|| {
        let mut capture = Capture::load(options(Aggregation::None)).unwrap();
        assert_eq!(capture.attach("veth-a").unwrap(), AttachedVia::Tcx);
        assert!(matches!(capture.attach("veth-a"), Err(flowlog_capture_ebpf::CaptureError::AlreadyAttached { .. })));
        let listed = tcx_programs();
        assert!(listed.contains("flowlog_ingress") && listed.contains("flowlog_egress"), "{listed}");
        let mut ring = capture.take_ring_buffer().unwrap();
        ping(&pair, 1);
        assert!(!collect(&mut ring, |rs| rs.len() >= 2).is_empty(), "records while attached");

        capture.detach("veth-a").unwrap();
        assert_eq!(capture.attached().count(), 0);
        // A process another test forks at this moment holds a copy of the
        // link's fd until it execs, which keeps the link alive that long:
        // give it a moment rather than reading the list once.
        let detached_by = Instant::now() + Duration::from_secs(2);
        let mut listed = tcx_programs();
        while listed.contains("flowlog") && Instant::now() < detached_by {
            std::thread::sleep(Duration::from_millis(20));
            listed = tcx_programs();
        }
        assert!(!listed.contains("flowlog"), "still attached after detach: {listed}");
        // Whatever was emitted before the detach (IPv6 autoconfiguration
        // chatter, say) is still queued: drain it, then only our pings count.
        while ring.next().is_some() {}
        ping(&pair, 1);
        let after = collect(&mut ring, |_| false);
        let pings: Vec<FlowRecord> = after.into_iter().filter(|r| r.l4_proto == IPPROTO_ICMP).collect();
        assert!(pings.is_empty(), "records after detach:\n{}", dump(&pings));
        assert!(matches!(capture.detach("veth-a"), Err(flowlog_capture_ebpf::CaptureError::NotAttached { .. })));
    });
}

#[test]
fn netlink_mode_attaches_clsact_filters_and_drop_removes_them() {
    if netns::skip_unless_root("netlink_mode_attaches_clsact_filters_and_drop_removes_them") {
        return;
    }
    let pair = NetnsPair::new(205);
    let filters = || {
        ["ingress", "egress"]
            .map(|dir| {
                String::from_utf8_lossy(&pair.a.exec(&["tc", "filter", "show", "dev", "veth-a", dir]).stdout)
                    .into_owned()
            })
            .join("")
    };

    pair.in_a(|| {
        let mut capture =
            Capture::load(CaptureOptions { tc_mode: TcMode::Netlink, ..options(Aggregation::None) }).unwrap();
        assert_eq!(capture.attach("veth-a").unwrap(), AttachedVia::Netlink);
        let listed = filters();
        assert!(listed.contains("flowlog_ingress") && listed.contains("flowlog_egress"), "{listed}");
        let mut ring = capture.take_ring_buffer().unwrap();
        ping(&pair, 1);
        let records = collect(&mut ring, |rs| rs.iter().any(|r| r.icmp_type == 0 && r.l4_proto == IPPROTO_ICMP));
        assert!(records.iter().any(|r| r.reply() == Some(Reply::Yes)), "{}", dump(&records));
        drop(capture);
        let listed = filters();
        assert!(!listed.contains("flowlog"), "still attached after drop:\n{listed}");
    });
}

/// Sends raw Ethernet frames out of `veth-b` (namespace B), so they arrive at
/// `veth-a`'s ingress exactly as built: no kernel VLAN device is needed (the
/// 8021q module may be missing) and IPv6 extension headers can be chosen.
fn inject(pair: &NetnsPair, frames: &[Vec<u8>]) {
    pair.in_b(|| {
        // SAFETY: plain socket(2); the fd is checked and closed below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
        // SAFETY: sockaddr_ll is plain old data; zero is a valid starting value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        // SAFETY: a valid NUL-terminated name.
        addr.sll_ifindex = unsafe { libc::if_nametoindex(c"veth-b".as_ptr()) } as i32;
        addr.sll_halen = 6;
        for frame in frames {
            addr.sll_addr[..6].copy_from_slice(&frame[..6]);
            // SAFETY: `frame` and `addr` are valid for the lengths passed.
            let sent = unsafe {
                libc::sendto(
                    fd,
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&raw const addr).cast(),
                    size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            assert_eq!(sent, frame.len() as isize, "sendto: {}", std::io::Error::last_os_error());
        }
        // SAFETY: closing the fd we opened.
        unsafe { libc::close(fd) };
    });
}

const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xb];
const DST_MAC: [u8; 6] = [0xff; 6];

/// Ethernet header with `tags` (TPID, VLAN id) before `ethertype`.
fn ethernet(tags: &[(u16, u16)], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(DST_MAC);
    f.extend(SRC_MAC);
    for (tpid, id) in tags {
        f.extend(tpid.to_be_bytes());
        f.extend(id.to_be_bytes());
    }
    f.extend(ethertype.to_be_bytes());
    f
}

/// A QinQ (802.1ad 100, 802.1Q 200) IPv4 UDP datagram 192.0.2.1:1111 -> 192.0.2.2:2222.
fn qinq_udp() -> Vec<u8> {
    let mut f = ethernet(&[(0x88a8, 100), (0x8100, 200)], 0x0800);
    // IHL 6: one option word, so the L4 offset must come from IHL.
    f.extend([0x46, 0, 0, 32, 0, 1, 0, 0, 64, IPPROTO_UDP, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, 1, 1, 1, 1]);
    f.extend([0x04, 0x57, 0x08, 0xae, 0, 8, 0, 0]);
    f
}

/// IPv6 2001:db8::1 -> 2001:db8::2 with hop-by-hop, destination options and a
/// (first) fragment header before a TCP SYN 3333 -> 80.
fn ipv6_ext_tcp() -> Vec<u8> {
    let mut f = ethernet(&[], 0x86dd);
    let src: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    let dst: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
    f.extend([0x60, 0, 0, 0, 0, 44, 0 /* hop-by-hop */, 64]);
    f.extend(src.octets());
    f.extend(dst.octets());
    f.extend([60 /* dstopts */, 0, 1, 4, 0, 0, 0, 0]); // PadN
    f.extend([44 /* fragment */, 0, 1, 4, 0, 0, 0, 0]);
    f.extend([IPPROTO_TCP, 0, 0, 1 /* offset 0, more fragments */, 0, 0, 0, 7]);
    f.extend([0x0d, 0x05, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, SYN, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

#[test]
fn parses_vlan_tags_and_ipv6_extension_headers() {
    if netns::skip_unless_root("parses_vlan_tags_and_ipv6_extension_headers") {
        return;
    }
    let pair = NetnsPair::new(206);

    let records = pair.in_a(|| {
        let mut capture = Capture::load(options(Aggregation::None)).unwrap();
        capture.attach("veth-a").unwrap();
        let mut ring = capture.take_ring_buffer().unwrap();
        inject(&pair, &[qinq_udp(), ipv6_ext_tcp()]);
        collect(&mut ring, |rs| rs.iter().filter(|r| r.src_mac == SRC_MAC).count() >= 2)
    });
    let all = dump(&records);

    let udp = records
        .iter()
        .find(|r| r.src_mac == SRC_MAC && r.ip_version == 4)
        .unwrap_or_else(|| panic!("no QinQ record in\n{all}"));
    assert_eq!(udp.direction(), Some(Direction::Ingress));
    assert_eq!(udp.vlan_id, 100, "the outer tag, whether in the packet or in skb metadata");
    assert_eq!(udp.eth_proto, 0x0800, "the ethertype after both tags");
    assert!(v4(udp, Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)), "{all}");
    assert_eq!((udp.l4_proto, udp.sport, udp.dport), (IPPROTO_UDP, 1111, 2222));
    assert_eq!(udp.dst_mac, DST_MAC);

    let tcp = records
        .iter()
        .find(|r| r.src_mac == SRC_MAC && r.ip_version == 6)
        .unwrap_or_else(|| panic!("no IPv6 record in\n{all}"));
    assert_eq!(tcp.source(), Some("2001:db8::1".parse().unwrap()));
    assert_eq!(tcp.destination(), Some("2001:db8::2".parse().unwrap()));
    assert_eq!((tcp.eth_proto, tcp.vlan_id), (0x86dd, 0));
    assert_eq!((tcp.l4_proto, tcp.sport, tcp.dport, tcp.tcp_flags), (IPPROTO_TCP, 3333, 80, SYN));
    assert_eq!(tcp.reply(), Some(Reply::No));
}

#[test]
fn traces_ipv6_ping() {
    if netns::skip_unless_root("traces_ipv6_ping") {
        return;
    }
    let pair = NetnsPair::new(207);
    for (ns, dev, last) in [(&pair.a, "veth-a", 1), (&pair.b, "veth-b", 2)] {
        // nodad: usable at once, without waiting for duplicate address detection.
        ns.ip(&["addr", "add", &format!("fd00:207::{last}/64"), "dev", dev, "nodad"]);
    }

    let records = pair.in_a(|| {
        let mut capture = Capture::load(options(Aggregation::Maximum)).unwrap();
        capture.attach("veth-a").unwrap();
        let mut ring = capture.take_ring_buffer().unwrap();
        require_ping();
        pair.a.exec(&["ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", "fd00:207::2"]);
        collect(&mut ring, |rs| rs.iter().any(|r| r.l4_proto == IPPROTO_ICMPV6 && r.icmp_type == 129))
    });
    let all = dump(&records);
    let (a6, b6) = ("fd00:207::1".parse().ok(), "fd00:207::2".parse().ok());
    let echo: Vec<&FlowRecord> =
        records.iter().filter(|r| r.l4_proto == IPPROTO_ICMPV6 && matches!(r.icmp_type, 128 | 129)).collect();
    // Maximum aggregation: the first request and the first reply, nothing else.
    assert_eq!(echo.len(), 2, "{all}");
    assert_eq!((echo[0].icmp_type, echo[0].source(), echo[0].destination()), (128, a6, b6));
    assert_eq!(echo[0].reply(), Some(Reply::No));
    assert_eq!((echo[1].icmp_type, echo[1].source(), echo[1].destination()), (129, b6, a6));
    assert_eq!(echo[1].reply(), Some(Reply::Yes));
    assert_eq!((echo[1].ip_version, echo[1].eth_proto), (6, 0x86dd));
}
