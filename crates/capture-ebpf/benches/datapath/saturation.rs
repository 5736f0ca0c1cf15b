//! Part 2: at saturation, is every record not read reported lost?

use super::*;

pub(crate) fn saturation(ns: &Namespaces, pins: Pins, flood: u64, mode: ReaderMode) {
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
