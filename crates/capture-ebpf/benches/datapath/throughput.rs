//! Part 1: packets/s with and without the tc programs.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setup {
    Bare,
    Capture(Aggregation, ReaderMode),
}

impl Setup {
    pub(crate) fn name(self) -> String {
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
pub(crate) struct Rates {
    pub(crate) sent_pps: f64,
    pub(crate) received_pps: f64,
    /// The sender thread's CPU time per datagram sent: its system calls and
    /// everything the kernel does for the packet in its context.
    pub(crate) sender_ns: f64,
    /// Share of the window the sender was on a CPU (other load steals the rest).
    pub(crate) sender_busy: f64,
    pub(crate) records_per_second: f64,
    /// The reader thread's CPU time per record read (waiting, reading, decoding).
    pub(crate) reader_ns: f64,
    /// Run time of `flowlog_egress` per invocation, from the kernel's BPF
    /// statistics; NaN when they were not enabled.
    pub(crate) program_ns: f64,
    pub(crate) lost: u64,
}

/// Counters and clocks at one instant.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    pub(crate) at: Instant,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) records: u64,
    pub(crate) sender_cpu_ns: u64,
    pub(crate) reader_cpu_ns: u64,
    /// `flowlog_egress`'s (run time, run count), when BPF statistics are on.
    pub(crate) program: Option<(Duration, u64)>,
}

pub(crate) fn throughput(ns: &Namespaces, pins: Pins, duration: Duration, runs: u64) {
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
pub(crate) fn or_dash(value: f64) -> String {
    if value.is_nan() { "-".to_owned() } else { format!("{value:.0}") }
}

pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// One run of `setup`; with `stats`, the kernel's BPF run-time statistics are
/// on and the egress program's run time is read at both ends of the window.
pub(crate) fn measure(ns: &Namespaces, pins: Pins, setup: Setup, duration: Duration, stats: bool) -> Rates {
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
pub(crate) struct CpuClock(pub(crate) AtomicU64);

impl CpuClock {
    /// Called by the thread to be measured.
    pub(crate) fn publish(&self) {
        // SAFETY: pthread_self has no preconditions.
        let thread = unsafe { libc::pthread_self() };
        self.0.store(thread as u64, Ordering::Release);
    }

    /// The thread's CPU time in nanoseconds; 0 before it published itself.
    /// Only valid while the thread runs.
    pub(crate) fn ns(&self) -> u64 {
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
