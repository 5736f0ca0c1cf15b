//! What the kernel side costs and whether it owns up to what it loses.
//!
//! `cargo bench -p flowlog-capture-ebpf --bench datapath` (root; otherwise it
//! prints SKIPPED and exits 0). Two network namespaces `flb-a-<pid>` and
//! `flb-b-<pid>` joined by a veth (`veth-a` 10.202.1.1, `veth-b` 10.202.1.2),
//! deleted by a guard on exit and on panic. IPv6 is off and the neighbours
//! are static, so the only packets on the veth are the benchmark's own.
//!
//! 1. Throughput: a sender thread in A sends 18-byte UDP datagrams (60-byte
//!    frames) to a receiver thread in B as fast as it can, with nothing
//!    attached, with the capture on `veth-a` at [`Aggregation::Medium`], and
//!    at [`Aggregation::None`]; with a capture, a reader thread waits on the
//!    ring buffer's file descriptor (at most 10 ms), as the agent does, and
//!    decodes every record into a Hubble flow. Runs of `FLOWLOG_BENCH_SECONDS` (3) after a
//!    0.5 s warm-up, `FLOWLOG_BENCH_RUNS` (5) of each, interleaved; medians.
//!    Besides packets/s, the sender thread's CPU time per packet (which
//!    includes the tc program and leaves out time stolen by other load), and
//!    then, in one more run per setup with the kernel's BPF statistics on,
//!    `flowlog_egress`'s own run time per packet.
//! 2. Saturation: [`Aggregation::None`], a 64 KiB ring buffer, a flood of
//!    `FLOWLOG_BENCH_FLOOD` (300,000) datagrams with the reader paused, then
//!    with a reader that sleeps after every record. Every datagram the
//!    sender handed to the kernel passed `veth-a`'s tc egress program, so
//!    records read for its 5-tuple plus the `lost` counter must equal the
//!    datagrams sent; `veth-a`'s own counters are printed as a cross-check.
//!
//! `FLOWLOG_BENCH_SETUPS=none,bare` runs only some throughput setups and
//! `FLOWLOG_BENCH_FLOOD=0` skips the saturation part, for profiling. On a
//! machine shared with other work, run it under `nice -n -15`: packets/s
//! measure the CPU share the threads get as much as the datapath.
//!
//! Timings are printed, never asserted.

#[path = "../tests/netns/mod.rs"]
mod netns;

use std::hint::black_box;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aya::programs::{SchedClassifier, TcAttachType};
use flowlog_capture_ebpf::decode::{Decoder, DropReasonNames, InterfaceRole};
use flowlog_capture_ebpf::{
    Aggregation, Capture, CaptureOptions, Direction, EGRESS_PROGRAM, FlowRecord, Kind, MapData, RingBuf,
};
use netns::Netns;

const IP_A: Ipv4Addr = Ipv4Addr::new(10, 202, 1, 1);
const IP_B: Ipv4Addr = Ipv4Addr::new(10, 202, 1, 2);
const MAC_A: &str = "02:00:0a:ca:01:01";
const MAC_B: &str = "02:00:0a:ca:01:02";
/// 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 18 = 60 bytes, the minimum frame.
const PAYLOAD: [u8; 18] = [0x5a; 18];
const IPPROTO_UDP: u8 = 17;
/// Share of a run's window the sender must have been on a CPU for the run
/// to count in the medians. Not higher: on a busy machine the
/// `Aggregation::None` runs steadily show 90-93 % where the others show
/// 97-100 %, while runs that lost the CPU to other work fall far lower.
const MIN_BUSY: f64 = 0.85;
const WARM_UP: Duration = Duration::from_millis(500);
/// Long enough for the receiver to take what is still queued after a flood.
const SETTLE: Duration = Duration::from_millis(300);

fn main() {
    // Prints "SKIPPED (needs root): the datapath benchmark creates network
    // namespaces and loads eBPF programs".
    if netns::skip_unless_root("the datapath benchmark") {
        return;
    }
    let seconds = env_number("FLOWLOG_BENCH_SECONDS", 3);
    let runs = env_number("FLOWLOG_BENCH_RUNS", 5).max(1);
    let flood = env_number("FLOWLOG_BENCH_FLOOD", 300_000);
    let pins = Pins::choose();

    let ns = Namespaces::new();
    println!("flowlog datapath benchmark, kernel {}", kernel_release());
    println!("  {}", pins.describe());
    println!("  load average before: {}", load_average());
    println!("  other eBPF programs loaded before: {}", loaded_programs());
    throughput(&ns, pins, Duration::from_secs(seconds), runs);
    if flood > 0 {
        saturation(&ns, pins, flood, ReaderMode::Paused);
        saturation(&ns, pins, flood, ReaderMode::Slow);
    }
    println!("  load average after: {}", load_average());
    println!("  other eBPF programs loaded after: {}", loaded_programs());
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

// ---- namespaces ----------------------------------------------------------------

/// The two namespaces and their veth; deleted on drop, also while unwinding
/// (deleting a namespace deletes the veth pair, and the programs with it).
struct Namespaces {
    a: Netns,
    b: Netns,
}

impl Namespaces {
    fn new() -> Namespaces {
        let pid = std::process::id();
        let ns = Namespaces { a: Netns::new(format!("flb-a-{pid}")), b: Netns::new(format!("flb-b-{pid}")) };
        for side in [&ns.a, &ns.b] {
            // No IPv6: router solicitations and MLD reports would be records too.
            for key in ["all", "default"] {
                side.exec(&["sysctl", "-qw", &format!("net.ipv6.conf.{key}.disable_ipv6=1")]);
            }
        }
        ns.a.ip(&[
            "link", "add", "veth-a", "address", MAC_A, "type", "veth", "peer", "name", "veth-b", "address", MAC_B,
            "netns", &ns.b.name,
        ]);
        for (side, dev, ip, peer_ip, peer_mac) in
            [(&ns.a, "veth-a", IP_A, IP_B, MAC_B), (&ns.b, "veth-b", IP_B, IP_A, MAC_A)]
        {
            side.ip(&["addr", "add", &format!("{ip}/24"), "dev", dev]);
            side.ip(&["link", "set", dev, "up"]);
            // No ARP during a measurement: its packets would be records too.
            let peer_ip = peer_ip.to_string();
            side.ip(&["neigh", "replace", &peer_ip, "lladdr", peer_mac, "dev", dev, "nud", "permanent"]);
        }
        ns
    }

    /// Runs `f` in namespace A; sockets and captures made there keep that
    /// namespace wherever they are used.
    fn in_a<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.a.run(f)
    }

    fn in_b<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.b.run(f)
    }

    /// `veth-a`'s counters, read from namespace A.
    fn veth_a_counters(&self) -> DevCounters {
        self.in_a(|| DevCounters::read("veth-a"))
    }

    /// Run time and run count of the `flowlog_egress` program attached to
    /// `veth-a` with tcx; `None` when there is none (or it was attached
    /// with a clsact filter, which cannot be queried this way).
    fn egress_program_stats(&self) -> Option<(Duration, u64)> {
        self.in_a(|| {
            let (_, programs) = SchedClassifier::query_tcx("veth-a", TcAttachType::Egress).ok()?;
            let program = programs.into_iter().find(|p| p.name_as_str() == Some(EGRESS_PROGRAM))?;
            Some((program.run_time(), program.run_count()))
        })
    }

    /// A capture of `options` attached to `veth-a`, and its ring buffer.
    fn capture(&self, options: CaptureOptions) -> (Capture, RingBuf<MapData>) {
        self.in_a(|| {
            let mut capture = Capture::load(options).expect("loading the capture");
            capture.attach("veth-a").expect("attaching to veth-a");
            let ring = capture.take_ring_buffer().expect("the ring buffer");
            (capture, ring)
        })
    }

    /// Detaches from the namespace the capture was attached in.
    fn release(&self, capture: Capture) {
        self.in_a(move || drop(capture));
    }
}

/// Packet counters of one interface, from `/proc/thread-self/net/dev`
/// (which shows the calling thread's namespace).
#[derive(Clone, Copy, Debug)]
struct DevCounters {
    rx_packets: u64,
    rx_dropped: u64,
    tx_packets: u64,
    tx_dropped: u64,
}

impl DevCounters {
    fn read(dev: &str) -> DevCounters {
        let text = std::fs::read_to_string("/proc/thread-self/net/dev").expect("reading /proc/thread-self/net/dev");
        let prefix = format!("{dev}:");
        let fields: Vec<u64> = text
            .lines()
            .find_map(|line| line.trim_start().strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("{dev} not in /proc/net/dev"))
            .split_whitespace()
            .map(|field| field.parse().expect("a counter"))
            .collect();
        // Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop ...
        DevCounters { rx_packets: fields[1], rx_dropped: fields[3], tx_packets: fields[9], tx_dropped: fields[11] }
    }

    /// Packets that reached the device's transmit and receive paths since
    /// `before`: what its tc egress and ingress programs ran on.
    fn since(self, before: DevCounters) -> (u64, u64) {
        (
            (self.tx_packets + self.tx_dropped) - (before.tx_packets + before.tx_dropped),
            (self.rx_packets + self.rx_dropped) - (before.rx_packets + before.rx_dropped),
        )
    }
}

// ---- threads -----------------------------------------------------------------------

/// Which CPU each thread runs on.
#[derive(Clone, Copy, Debug)]
struct Pins {
    sender: Option<usize>,
    receiver: Option<usize>,
}

impl Pins {
    /// On two or more CPUs: the sender on CPU 0, the receiver and the ring
    /// reader on CPU 1. The sender's CPU also runs everything the kernel does
    /// for its packets (UDP and IP output, the tc egress program, the veth,
    /// and B's receive softirq up to the socket), so that is where the tc
    /// program's cost shows.
    fn choose() -> Pins {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cpus >= 2 { Pins { sender: Some(0), receiver: Some(1) } } else { Pins { sender: None, receiver: None } }
    }

    fn describe(&self) -> String {
        match (self.sender, self.receiver) {
            (Some(s), Some(r)) => format!(
                "pinning: sender on CPU {s} (its CPU also runs the kernel's send path, the tc egress program on \
                 veth-a and B's receive softirq); receiver and ring reader on CPU {r}"
            ),
            _ => "pinning: none (fewer than two CPUs)".to_owned(),
        }
    }
}

fn pin(cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    // SAFETY: cpu_set_t is plain old data; zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the number of CPUs, well inside the set.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is valid for its size.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(rc, 0, "sched_setaffinity({cpu}): {}", std::io::Error::last_os_error());
}

/// A counter on a cache line of its own, so the sender's and the receiver's
/// updates do not slow each other down.
#[repr(align(128))]
#[derive(Default)]
struct Counter(AtomicU64);

impl Counter {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

/// Sends until `stop`, or `limit` datagrams; returns (sent, errors).
fn send_loop(socket: &UdpSocket, sent: &Counter, stop: &AtomicBool, limit: u64) -> (u64, u64) {
    let (mut ok, mut errors) = (0u64, 0u64);
    while ok + errors < limit && !stop.load(Ordering::Relaxed) {
        for _ in 0..64.min(limit - ok - errors) {
            match socket.send(&PAYLOAD) {
                Ok(_) => ok += 1,
                Err(_) => errors += 1,
            }
        }
        sent.set(ok);
    }
    (ok, errors)
}

/// Counts datagrams until `stop` and a quiet read timeout.
fn receive_loop(socket: &UdpSocket, received: &Counter, stop: &AtomicBool) -> u64 {
    socket.set_read_timeout(Some(Duration::from_millis(50))).expect("read timeout");
    let mut buf = [0u8; 64];
    let mut count = 0u64;
    loop {
        match socket.recv(&mut buf) {
            Ok(_) => {
                count += 1;
                received.set(count);
            }
            Err(_) if stop.load(Ordering::Relaxed) => return count,
            Err(_) => {}
        }
    }
}

/// What a reader took from the ring buffer.
#[derive(Clone, Copy, Debug, Default)]
struct Read {
    /// Trace records of the flood's 5-tuple, egress on veth-a.
    ours: u64,
    /// Everything else.
    others: u64,
}

impl Read {
    fn total(&self) -> u64 {
        self.ours + self.others
    }
}

/// How a reader goes through the ring buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReaderMode {
    /// Waits on the file descriptor (as the agent does) and decodes
    /// everything at once.
    Full,
    /// Reads nothing until told to (a stalled agent).
    Paused,
    /// Sleeps 50 µs after each record (an agent far slower than the flood).
    Slow,
}

/// Reads and decodes records, like the agent's session does, until `stop`,
/// then drains what is left.
fn read_loop(
    ring: &mut RingBuf<MapData>,
    mode: ReaderMode,
    stop: &AtomicBool,
    ports: (u16, u16),
    progress: &Counter,
) -> Read {
    let decoder = Decoder::new("bench".to_owned(), DropReasonNames::from_tracefs().unwrap_or_default());
    let mut read = Read::default();
    let mut take = |record: FlowRecord| {
        let flow = decoder.decode(&record, Some(("veth-a", InterfaceRole::Network)));
        black_box(flow);
        let ours = record.kind() == Some(Kind::Trace)
            && record.direction() == Some(Direction::Egress)
            && record.l4_proto == IPPROTO_UDP
            && record.ip_version == 4
            && record.saddr[..4] == IP_A.octets()
            && record.daddr[..4] == IP_B.octets()
            && (record.sport, record.dport) == ports;
        if ours {
            read.ours += 1;
        } else {
            read.others += 1;
        }
        progress.set(read.total());
    };
    let mut poll = libc::pollfd { fd: ring.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    while !stop.load(Ordering::Relaxed) {
        match mode {
            ReaderMode::Paused => std::thread::sleep(Duration::from_millis(5)),
            ReaderMode::Full | ReaderMode::Slow => {
                // At most 10 ms, as the agent: the kernel wakes readers only
                // for bursts. SAFETY: one valid pollfd; the ring buffer outlives the call.
                unsafe { libc::poll(&mut poll, 1, 10) };
                while let Some(item) = ring.next() {
                    take(FlowRecord::parse(&item).expect("ring buffer items are whole records"));
                    if mode == ReaderMode::Slow {
                        drop(item);
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
            }
        }
    }
    while let Some(item) = ring.next() {
        take(FlowRecord::parse(&item).expect("ring buffer items are whole records"));
    }
    read
}

// ---- 1. throughput -------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    Bare,
    Capture(Aggregation, ReaderMode),
}

impl Setup {
    fn name(self) -> String {
        let Setup::Capture(aggregation, mode) = self else {
            return "no capture".to_owned();
        };
        let reader = match mode {
            ReaderMode::Full => "",
            ReaderMode::Paused => ", reader paused",
            ReaderMode::Slow => ", slow reader",
        };
        format!("{aggregation:?}{reader}")
    }
}

/// One run's figures over its measurement window.
#[derive(Clone, Copy, Debug, Default)]
struct Rates {
    sent_pps: f64,
    received_pps: f64,
    /// The sender thread's CPU time per datagram sent: its system calls and
    /// everything the kernel does for the packet in its context.
    sender_ns: f64,
    /// Share of the window the sender was on a CPU (other load steals the rest).
    sender_busy: f64,
    records_per_second: f64,
    /// The reader thread's CPU time per record read (waiting, reading, decoding).
    reader_ns: f64,
    /// Run time of `flowlog_egress` per invocation, from the kernel's BPF
    /// statistics; NaN when they were not enabled.
    program_ns: f64,
    lost: u64,
}

/// Counters and clocks at one instant.
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    at: Instant,
    sent: u64,
    received: u64,
    records: u64,
    sender_cpu_ns: u64,
    reader_cpu_ns: u64,
    /// `flowlog_egress`'s (run time, run count), when BPF statistics are on.
    program: Option<(Duration, u64)>,
}

fn throughput(ns: &Namespaces, pins: Pins, duration: Duration, runs: u64) {
    let all = [
        ("bare", Setup::Bare),
        ("medium", Setup::Capture(Aggregation::Medium, ReaderMode::Full)),
        ("none", Setup::Capture(Aggregation::None, ReaderMode::Full)),
    ];
    // A subset, for profiling one setup: FLOWLOG_BENCH_SETUPS=none,bare
    let chosen = std::env::var("FLOWLOG_BENCH_SETUPS").unwrap_or_default();
    let setups: Vec<Setup> = all
        .into_iter()
        .filter(|(name, _)| chosen.is_empty() || chosen.split(',').any(|c| c == *name))
        .map(|(_, setup)| setup)
        .collect();
    if setups.is_empty() {
        println!("  FLOWLOG_BENCH_SETUPS={chosen:?} names none of {:?}", all.map(|(name, _)| name));
        return;
    }
    println!();
    println!(
        "1. UDP throughput A -> B, 18-byte datagrams, {runs} runs of {:.1} s per setup (interleaved), medians",
        duration.as_secs_f64()
    );
    let mut results: Vec<Vec<Rates>> = vec![Vec::new(); setups.len()];
    for run in 1..=runs {
        for (i, &setup) in setups.iter().enumerate() {
            let r = measure(ns, pins, setup, duration, false);
            println!(
                "  run {run}/{runs} {:<26} sent {:>8.0} pps, received {:>8.0} pps, sender {:>5.0} ns/packet on CPU \
                 {:>3.0} % of the time, records {:>8.0}/s at {:>5} ns each, lost {}",
                setup.name(),
                r.sent_pps,
                r.received_pps,
                r.sender_ns,
                r.sender_busy * 100.0,
                r.records_per_second,
                or_dash(r.reader_ns),
                r.lost
            );
            results[i].push(r);
        }
    }
    // On a shared machine some runs get only part of a CPU; their packets/s
    // measure the other load. Medians are over the runs in which the sender
    // was on a CPU at least MIN_BUSY of the window (all runs if none was).
    let used: Vec<Vec<Rates>> = results
        .iter()
        .map(|runs| {
            let clean: Vec<Rates> = runs.iter().copied().filter(|r| r.sender_busy >= MIN_BUSY).collect();
            if clean.is_empty() { runs.clone() } else { clean }
        })
        .collect();
    let medians: Vec<Rates> = used
        .iter()
        .map(|runs| {
            let m = |field: fn(&Rates) -> f64| median(runs.iter().map(field));
            Rates {
                sent_pps: m(|r| r.sent_pps),
                received_pps: m(|r| r.received_pps),
                sender_ns: m(|r| r.sender_ns),
                sender_busy: m(|r| r.sender_busy),
                records_per_second: m(|r| r.records_per_second),
                reader_ns: m(|r| r.reader_ns),
                program_ns: f64::NAN,
                lost: runs.iter().map(|r| r.lost).max().unwrap_or(0),
            }
        })
        .collect();
    let base = medians[0];
    let baseline = if setups[0] == Setup::Bare { "no capture" } else { "first row" };
    println!();
    println!("  medians of the runs with the sender on a CPU at least {:.0} % of the time", MIN_BUSY * 100.0);
    println!(
        "  | setup | runs | sent pps | received pps | received vs {baseline} | sender CPU ns/packet | added ns/packet | \
         packets per sender CPU-second vs {baseline} | records read/s | reader CPU ns/record | lost records (max) |"
    );
    println!("  |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((setup, r), runs) in setups.iter().zip(&medians).zip(&used) {
        println!(
            "  | {} | {}/{} | {:.0} | {:.0} | {:+.1} % | {:.0} | {:+.0} | {:+.1} % | {:.0} | {} | {} |",
            setup.name(),
            runs.len(),
            results[0].len(),
            r.sent_pps,
            r.received_pps,
            100.0 * (r.received_pps / base.received_pps - 1.0),
            r.sender_ns,
            r.sender_ns - base.sender_ns,
            100.0 * (base.sender_ns / r.sender_ns - 1.0),
            r.records_per_second,
            or_dash(r.reader_ns),
            r.lost
        );
    }

    // Apart from the runs above: the statistics cost two clock reads per
    // invocation, which would be charged to the capture.
    println!();
    println!("  tc egress program run time, kernel BPF statistics (BPF_ENABLE_STATS), one run per setup:");
    for &setup in setups.iter().filter(|setup| **setup != Setup::Bare) {
        let r = measure(ns, pins, setup, duration, true);
        println!(
            "  {:<26} flowlog_egress {:>5.0} ns per packet; sender {:>5.0} ns/packet, {:>8.0} pps",
            setup.name(),
            r.program_ns,
            r.sender_ns,
            r.sent_pps
        );
    }
}

/// A figure, or "-" for NaN (not measured).
fn or_dash(value: f64) -> String {
    if value.is_nan() { "-".to_owned() } else { format!("{value:.0}") }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// One run of `setup`; with `stats`, the kernel's BPF run-time statistics are
/// on and the egress program's run time is read at both ends of the window.
fn measure(ns: &Namespaces, pins: Pins, setup: Setup, duration: Duration, stats: bool) -> Rates {
    let ports = (40001, 9001);
    let receiver = ns.in_b(|| UdpSocket::bind((IP_B, ports.1)).expect("bind in B"));
    let sender = ns.in_a(|| {
        let socket = UdpSocket::bind((IP_A, ports.0)).expect("bind in A");
        socket.connect((IP_B, ports.1)).expect("connect");
        socket
    });
    let mut capture = match setup {
        Setup::Bare => None,
        Setup::Capture(aggregation, _) => Some(ns.capture(CaptureOptions { aggregation, ..CaptureOptions::default() })),
    };
    let (sent, received, records) = (Counter::default(), Counter::default(), Counter::default());
    let (sender_clock, reader_clock) = (CpuClock::default(), CpuClock::default());
    let (stop_sender, stop_others) = (AtomicBool::new(false), AtomicBool::new(false));
    let _stats = stats.then(|| aya::sys::enable_stats(aya::sys::Stats::RunTime).expect("BPF_ENABLE_STATS"));
    let snapshot = || {
        let program = if stats { ns.egress_program_stats() } else { None };
        Snapshot {
            at: Instant::now(),
            sent: sent.get(),
            received: received.get(),
            records: records.get(),
            sender_cpu_ns: sender_clock.ns(),
            reader_cpu_ns: reader_clock.ns(),
            program,
        }
    };

    let (start, end) = std::thread::scope(|scope| {
        scope.spawn(|| {
            pin(pins.sender);
            sender_clock.publish();
            send_loop(&sender, &sent, &stop_sender, u64::MAX)
        });
        scope.spawn(|| {
            pin(pins.receiver);
            receive_loop(&receiver, &received, &stop_others)
        });
        if let (Some((_, ring)), Setup::Capture(_, mode)) = (capture.as_mut(), setup) {
            let (stop, records, reader_clock) = (&stop_others, &records, &reader_clock);
            scope.spawn(move || {
                pin(pins.receiver);
                reader_clock.publish();
                read_loop(ring, mode, stop, ports, records)
            });
        }
        std::thread::sleep(WARM_UP);
        let start = snapshot();
        std::thread::sleep(duration);
        let end = snapshot();
        stop_sender.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(100));
        stop_others.store(true, Ordering::Relaxed);
        (start, end)
    });
    let seconds = (end.at - start.at).as_secs_f64();
    let delta = |f: fn(&Snapshot) -> u64| (f(&end) - f(&start)) as f64;
    let lost = capture.map_or(0, |(capture, ring)| {
        drop(ring);
        let lost = capture.lost_records().expect("reading the lost counter");
        ns.release(capture);
        lost
    });
    Rates {
        sent_pps: delta(|s| s.sent) / seconds,
        received_pps: delta(|s| s.received) / seconds,
        sender_ns: delta(|s| s.sender_cpu_ns) / delta(|s| s.sent),
        sender_busy: delta(|s| s.sender_cpu_ns) / 1e9 / seconds,
        records_per_second: delta(|s| s.records) / seconds,
        // NaN (printed "-") when a handful of records would only measure
        // the reader's idle wake-ups.
        reader_ns: if delta(|s| s.records) >= 1000.0 {
            delta(|s| s.reader_cpu_ns) / delta(|s| s.records)
        } else {
            f64::NAN
        },
        program_ns: match (start.program, end.program) {
            (Some((t0, n0)), Some((t1, n1))) if n1 > n0 => (t1 - t0).as_nanos() as f64 / (n1 - n0) as f64,
            _ => f64::NAN,
        },
        lost,
    }
}

/// Another thread's CPU time, read from the measuring thread. Steal time
/// (this kernel has PARAVIRT_TIME_ACCOUNTING) and other processes' time are
/// not in it; interrupts and softirqs handled while the thread runs are.
#[derive(Default)]
struct CpuClock(AtomicU64);

impl CpuClock {
    /// Called by the thread to be measured.
    fn publish(&self) {
        // SAFETY: pthread_self has no preconditions.
        let thread = unsafe { libc::pthread_self() };
        self.0.store(thread as u64, Ordering::Release);
    }

    /// The thread's CPU time in nanoseconds; 0 before it published itself.
    /// Only valid while the thread runs.
    fn ns(&self) -> u64 {
        let thread = self.0.load(Ordering::Acquire);
        if thread == 0 {
            return 0;
        }
        let mut clock: libc::clockid_t = 0;
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `thread` is a live thread of this process (the caller
        // samples only inside the scope that runs it); both out-pointers are valid.
        unsafe {
            assert_eq!(libc::pthread_getcpuclockid(thread as libc::pthread_t, &mut clock), 0);
            assert_eq!(libc::clock_gettime(clock, &mut ts), 0);
        }
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

// ---- 2. saturation -------------------------------------------------------------------

fn saturation(ns: &Namespaces, pins: Pins, flood: u64, mode: ReaderMode) {
    const RING_BYTES: u32 = 64 * 1024;
    let ports = match mode {
        ReaderMode::Paused => (40002, 9002),
        _ => (40003, 9003),
    };
    println!();
    println!(
        "2. saturation: Aggregation::None, {} KiB ring buffer, {flood} datagrams, reader {}",
        RING_BYTES / 1024,
        match mode {
            ReaderMode::Paused => "paused until the flood is over",
            ReaderMode::Slow => "sleeping 50 µs after each record",
            ReaderMode::Full => "reading everything",
        }
    );
    let receiver = ns.in_b(|| UdpSocket::bind((IP_B, ports.1)).expect("bind in B"));
    let sender = ns.in_a(|| {
        let socket = UdpSocket::bind((IP_A, ports.0)).expect("bind in A");
        socket.connect((IP_B, ports.1)).expect("connect");
        socket
    });
    let (capture, mut ring) = ns.capture(CaptureOptions {
        aggregation: Aggregation::None,
        ring_buffer_bytes: RING_BYTES,
        ..CaptureOptions::default()
    });
    // Nothing should be there yet; whatever is, is not the flood's.
    let mut before_flood = 0u64;
    while ring.next().is_some() {
        before_flood += 1;
    }
    let lost_before = capture.lost_records().expect("reading the lost counter");
    let dev_before = ns.veth_a_counters();

    let (sent, received) = (Counter::default(), Counter::default());
    let (stop_receiver, stop_reader, never) = (AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false));
    let start = Instant::now();
    let ((ok, errors), flood_seconds, received, read) = std::thread::scope(|scope| {
        let receiver = scope.spawn(|| {
            pin(pins.receiver);
            receive_loop(&receiver, &received, &stop_receiver)
        });
        let reader = scope.spawn(|| {
            pin(pins.receiver);
            read_loop(&mut ring, mode, &stop_reader, ports, &Counter::default())
        });
        let sender = scope.spawn(|| {
            pin(pins.sender);
            let result = send_loop(&sender, &sent, &never, flood);
            (result, start.elapsed())
        });
        let (sent_result, elapsed) = sender.join().expect("sender");
        std::thread::sleep(SETTLE);
        stop_reader.store(true, Ordering::Relaxed);
        let read = reader.join().expect("reader");
        stop_receiver.store(true, Ordering::Relaxed);
        (sent_result, elapsed, receiver.join().expect("receiver"), read)
    });
    let lost = capture.lost_records().expect("reading the lost counter") - lost_before;
    let (egress, ingress) = ns.veth_a_counters().since(dev_before);
    drop(ring);
    ns.release(capture);

    let accounted = read.ours + lost;
    println!(
        "  flood took {:.2} s ({:.0} datagrams/s)",
        flood_seconds.as_secs_f64(),
        ok as f64 / flood_seconds.as_secs_f64()
    );
    println!("  datagrams sent by A (send() returned Ok)   {ok:>9}   send errors {errors}");
    println!("  datagrams received by B                    {received:>9}");
    println!("  veth-a packets, egress (tx + tx_dropped)   {egress:>9}   ingress {ingress}");
    println!("  records read before the flood              {before_flood:>9}");
    println!("  records read for the flood's 5-tuple       {:>9}", read.ours);
    println!("  other records read                         {:>9}", read.others);
    println!("  lost records reported (`lost` map delta)   {lost:>9}");
    println!(
        "  read + lost = {accounted}; sent = {ok}: {}",
        if accounted == ok {
            "EQUAL, every record not read is reported lost".to_owned()
        } else {
            format!("MISMATCH by {}", accounted as i128 - ok as i128)
        }
    );
    if egress + ingress != ok {
        println!("  note: veth-a carried {} packets besides the flood", (egress + ingress) as i128 - ok as i128);
    }
}

// ---- machine -------------------------------------------------------------------------

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// The eBPF programs loaded on the machine (by anyone: this benchmark has
/// none loaded when it asks). A `kfree_skb` tracepoint runs on every packet
/// B's full socket drops, in the sender's context, and skews the figures.
fn loaded_programs() -> String {
    let names: Vec<String> = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .map(|program| format!("{} ({:?})", program.name_as_str().unwrap_or("?"), program.program_type()))
        .collect();
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
