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

mod namespaces;
#[path = "../../tests/netns/mod.rs"]
mod netns;
mod saturation;
mod threads;
mod throughput;

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
use namespaces::*;
use netns::Netns;
use saturation::*;
use threads::*;
use throughput::*;

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
