//! End-to-end tests of `--metrics-address`: the real binary replays flows
//! from a FIFO while the test scrapes `/metrics` and `/healthz` over plain
//! HTTP, as Prometheus and a liveness probe would.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use std::io::Write;

use support::{Flowlog, Running, get, lines_of, metrics_address, sum, wait_for};

fn generated(count: usize) -> Vec<String> {
    let text = Flowlog::run(&["generate", "--count", &count.to_string(), "--seed", "7"]).success().stdout;
    text.lines().map(str::to_owned).collect()
}

#[test]
fn metrics_count_what_the_exporters_wrote() {
    const FLOWS: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let (events, drops, config) =
        (dir.path().join("events.log"), dir.path().join("drops.log"), dir.path().join("fl.yaml"));
    let drops_entry = format!(
        "flowLogs:\n  - name: drops\n    filePath: {}\n    includeFilters: [{{verdict: [DROPPED]}}]\n",
        drops.display()
    );
    std::fs::write(&config, drops_entry).unwrap();
    let mut running = Running::replay_from_fifo(
        dir.path(),
        &[
            "--export-file-path",
            events.to_str().unwrap(),
            "--flowlogs-config-path",
            config.to_str().unwrap(),
            "--metrics-address",
            "127.0.0.1:0",
        ],
    );
    let address = metrics_address(&running);
    assert_eq!(get(address, "/healthz"), (200, "ok\n".to_owned()));

    let lines = generated(FLOWS);
    running.send(&lines);
    let static_written = [r#"exporter="static""#, r#"origin="static""#];
    let all_written = wait_for(Duration::from_secs(10), || {
        sum(&get(address, "/metrics").1, "flowlog_exporter_events_written_total", &static_written) == FLOWS as u64
    });
    assert!(all_written.is_some(), "not everything was written:\n{}\n{}", get(address, "/metrics").1, running.stderr());

    let text = get(address, "/metrics").1;
    let written = std::fs::read(&events).unwrap();
    let dropped = lines_of(&events).iter().filter(|line| line.contains(r#""verdict":"DROPPED""#)).count();
    assert!(dropped > 0 && dropped < FLOWS, "the sample has drops and more: {dropped}");
    // Counted before the exporters' filters, as Hubble counts the flows it processes.
    assert_eq!(sum(&text, "hubble_flows_processed_total", &[]), FLOWS as u64, "{text}");
    assert_eq!(sum(&text, "hubble_flows_processed_total", &[r#"verdict="DROPPED""#]), dropped as u64);
    assert_eq!(sum(&text, "hubble_drop_total", &[]), dropped as u64);
    // Each exporter's counters match its file.
    assert_eq!(sum(&text, "flowlog_exporter_events_written_total", &static_written), lines_of(&events).len() as u64);
    assert_eq!(sum(&text, "flowlog_exporter_bytes_written_total", &static_written), written.len() as u64);
    let drops_sink = [r#"exporter="drops""#, r#"origin="dynamic""#];
    let drops_written = wait_for(Duration::from_secs(10), || {
        sum(&get(address, "/metrics").1, "flowlog_exporter_events_written_total", &drops_sink) == dropped as u64
    });
    assert!(drops_written.is_some(), "{}", get(address, "/metrics").1);
    assert_eq!(lines_of(&drops).len(), dropped);
    let text = get(address, "/metrics").1;
    assert_eq!(
        sum(&text, "flowlog_exporter_bytes_written_total", &drops_sink),
        std::fs::metadata(&drops).unwrap().len()
    );
    assert_eq!(sum(&text, "flowlog_exporter_events_lost_total", &[]), 0, "{text}");
    assert_eq!(sum(&text, "hubble_dynamic_exporter_up", &[r#"name="drops""#]), 1);
    assert_eq!(sum(&text, "hubble_dynamic_exporter_reconfigurations_total", &[r#"op="add""#]), 1);
    assert!(text.contains("# TYPE hubble_tcp_flags_total counter"), "{text}");
    running.finish();
}

#[test]
fn a_busy_metrics_address_is_a_configuration_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let failed = Flowlog::replay(&["--export-file-path", "stdout", "--metrics-address", &address]).stdin("").failure();
    assert_eq!(failed.code, Some(2), "{}", failed.stderr);
    assert!(failed.stderr.contains(&format!("--metrics-address: cannot listen on {address}")), "{}", failed.stderr);
    let bad = Flowlog::replay(&["--export-file-path", "stdout", "--metrics-address", "9965"]).stdin("").failure();
    assert!(bad.stderr.contains("host:port"), "{}", bad.stderr);
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs: {status}");
        Tmpfs(dir.to_owned())
    }

    /// Fills the file system with `filler`, until no byte more fits.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = [0u8; 4096];
        while matches!(file.write(&chunk), Ok(1..)) {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        match Command::new("umount").arg(&self.0).status() {
            Ok(status) if status.success() => {}
            other => eprintln!("cannot unmount the test tmpfs at {}: {other:?}", self.0.display()),
        }
    }
}

/// A flow line numbered `seq`.
fn flow(seq: usize) -> String {
    format!(
        r#"{{"flow":{{"time":"2024-05-01T10:00:00Z","verdict":"FORWARDED","node_name":"kind-kind/kind-worker","Summary":"seq {seq}"}},"node_name":"kind-kind/kind-worker","time":"2024-05-01T10:00:00Z"}}"#
    )
}

#[test]
fn healthz_fails_while_a_sink_cannot_write_and_recovers_with_it() {
    // As root, permission bits do not stop writes (chmod 0500 would not
    // fail); a full file system does, for everyone.
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the unwritable-sink test needs root to mount a tmpfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tmpfs = Tmpfs::mount(&dir.path().join("logs"), "256k");
    let config = dir.path().join("flowlogs.yaml");
    let target = tmpfs.0.join("flows.log");
    std::fs::write(&config, format!("flowLogs:\n  - name: flows\n    filePath: {}\n", target.display())).unwrap();
    let mut running = Running::replay_from_fifo(
        dir.path(),
        &["--flowlogs-config-path", config.to_str().unwrap(), "--metrics-address", "127.0.0.1:0"],
    );
    let address = metrics_address(&running);
    running.send(&[flow(0)]);
    assert!(wait_for(Duration::from_secs(5), || lines_of(&target).len() == 1).is_some());
    assert_eq!(get(address, "/healthz"), (200, "ok\n".to_owned()));

    let filler = tmpfs.fill();
    let mut seq = 1;
    let failing = wait_for(Duration::from_secs(10), || {
        running.send(&[flow(seq)]);
        seq += 1;
        std::thread::sleep(Duration::from_millis(10));
        get(address, "/healthz").0 == 503
    });
    assert!(failing.is_some(), "/healthz stayed 200 with a full disk:\n{}", running.stderr());
    let (_, problems) = get(address, "/healthz");
    assert!(problems.contains(r#"exporter "flows""#) && problems.contains("flows.log"), "{problems}");
    let text = get(address, "/metrics").1;
    assert_eq!(sum(&text, "flowlog_exporter_writing", &[r#"exporter="flows""#]), 0, "{text}");
    assert!(sum(&text, "hubble_lost_events_total", &[r#"source="write_failed""#]) > 0, "{text}");

    // Room again: the sink's retried loss report goes through by itself.
    std::fs::remove_file(filler).unwrap();
    let recovered = wait_for(Duration::from_secs(10), || get(address, "/healthz") == (200, "ok\n".to_owned()));
    assert!(recovered.is_some(), "/healthz did not recover:\n{}\n{}", get(address, "/healthz").1, running.stderr());
    running.finish();
    assert!(lines_of(&target).iter().any(|line| line.contains("lost_events")), "the loss is reported in the stream");
}
