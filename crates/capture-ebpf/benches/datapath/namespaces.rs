//! The two namespaces joined by a veth, and what the benchmark reads off them.

use super::*;

/// The two namespaces and their veth; deleted on drop, also while unwinding
/// (deleting a namespace deletes the veth pair, and the programs with it).
pub(crate) struct Namespaces {
    pub(crate) a: Netns,
    pub(crate) b: Netns,
}

impl Namespaces {
    pub(crate) fn new() -> Namespaces {
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
    pub(crate) fn in_a<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.a.run(f)
    }

    pub(crate) fn in_b<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.b.run(f)
    }

    /// `veth-a`'s counters, read from namespace A.
    pub(crate) fn veth_a_counters(&self) -> DevCounters {
        self.in_a(|| DevCounters::read("veth-a"))
    }

    /// Run time and run count of the `flowlog_egress` program attached to
    /// `veth-a` with tcx; `None` when there is none (or it was attached
    /// with a clsact filter, which cannot be queried this way).
    pub(crate) fn egress_program_stats(&self) -> Option<(Duration, u64)> {
        self.in_a(|| {
            let (_, programs) = SchedClassifier::query_tcx("veth-a", TcAttachType::Egress).ok()?;
            let program = programs.into_iter().find(|p| p.name_as_str() == Some(EGRESS_PROGRAM))?;
            Some((program.run_time(), program.run_count()))
        })
    }

    /// A capture of `options` attached to `veth-a`, and its ring buffer.
    pub(crate) fn capture(&self, options: CaptureOptions) -> (Capture, RingBuf<MapData>) {
        self.in_a(|| {
            let mut capture = Capture::load(options).expect("loading the capture");
            capture.attach("veth-a").expect("attaching to veth-a");
            let ring = capture.take_ring_buffer().expect("the ring buffer");
            (capture, ring)
        })
    }

    /// Detaches from the namespace the capture was attached in.
    pub(crate) fn release(&self, capture: Capture) {
        self.in_a(move || drop(capture));
    }
}

/// Packet counters of one interface, from `/proc/thread-self/net/dev`
/// (which shows the calling thread's namespace).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DevCounters {
    pub(crate) rx_packets: u64,
    pub(crate) rx_dropped: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_dropped: u64,
}

impl DevCounters {
    pub(crate) fn read(dev: &str) -> DevCounters {
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
    pub(crate) fn since(self, before: DevCounters) -> (u64, u64) {
        (
            (self.tx_packets + self.tx_dropped) - (before.tx_packets + before.tx_dropped),
            (self.rx_packets + self.rx_dropped) - (before.rx_packets + before.rx_dropped),
        )
    }
}
