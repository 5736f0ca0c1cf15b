//! The sender, receiver and reader threads, and where they run.

use super::*;

/// Which CPU each thread runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pins {
    pub(crate) sender: Option<usize>,
    pub(crate) receiver: Option<usize>,
}

impl Pins {
    /// On two or more CPUs: the sender on CPU 0, the receiver and the ring
    /// reader on CPU 1. The sender's CPU also runs everything the kernel does
    /// for its packets (UDP and IP output, the tc egress program, the veth,
    /// and B's receive softirq up to the socket), so that is where the tc
    /// program's cost shows.
    pub(crate) fn choose() -> Pins {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cpus >= 2 { Pins { sender: Some(0), receiver: Some(1) } } else { Pins { sender: None, receiver: None } }
    }

    pub(crate) fn describe(&self) -> String {
        match (self.sender, self.receiver) {
            (Some(s), Some(r)) => format!(
                "pinning: sender on CPU {s} (its CPU also runs the kernel's send path, the tc egress program on \
                 veth-a and B's receive softirq); receiver and ring reader on CPU {r}"
            ),
            _ => "pinning: none (fewer than two CPUs)".to_owned(),
        }
    }
}

pub(crate) fn pin(cpu: Option<usize>) {
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
pub(crate) struct Counter(pub(crate) AtomicU64);

impl Counter {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

/// Sends until `stop`, or `limit` datagrams; returns (sent, errors).
pub(crate) fn send_loop(socket: &UdpSocket, sent: &Counter, stop: &AtomicBool, limit: u64) -> (u64, u64) {
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
pub(crate) fn receive_loop(socket: &UdpSocket, received: &Counter, stop: &AtomicBool) -> u64 {
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
pub(crate) struct Read {
    /// Trace records of the flood's 5-tuple, egress on veth-a.
    pub(crate) ours: u64,
    /// Everything else.
    pub(crate) others: u64,
}

impl Read {
    pub(crate) fn total(&self) -> u64 {
        self.ours + self.others
    }
}

/// How a reader goes through the ring buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReaderMode {
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
pub(crate) fn read_loop(
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
