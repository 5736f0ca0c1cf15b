//! End-to-end tests of dynamic flow logs: the real binary reads a FIFO the
//! test feeds while the test edits the flow log file, as an operator edits
//! the ConfigMap.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use support::{Flowlog, Running, lines_of, wait_for};

/// A change must be applied within this long of the write (issue 3).
const APPLIED_WITHIN: Duration = Duration::from_secs(1);

/// A flow line from `namespace/pod` with `verdict`, numbered `seq` in its
/// Summary so tests can check for lost and duplicated lines.
fn flow(seq: usize, namespace: &str, verdict: &str) -> String {
    format!(
        r#"{{"flow":{{"time":"2024-05-01T10:00:00Z","verdict":"{verdict}","source":{{"namespace":"{namespace}","pod_name":"{namespace}-pod"}},"node_name":"kind-kind/kind-worker","Summary":"seq {seq}"}},"node_name":"kind-kind/kind-worker","time":"2024-05-01T10:00:00Z"}}"#
    )
}

/// The sequence numbers in a file, in file order.
fn seqs(path: &Path) -> Vec<usize> {
    lines_of(path)
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let summary = value["flow"]["Summary"].as_str().unwrap_or_else(|| panic!("no Summary in {line}"));
            summary.strip_prefix("seq ").unwrap().parse().unwrap()
        })
        .collect()
}

/// Replaces the file as an editor does: write a new file, rename it over.
fn write_config(path: &Path, yaml: &str) {
    let temporary = path.with_extension("swp");
    std::fs::write(&temporary, yaml).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// A flow log file holding `entries`.
fn flow_logs(entries: &[String]) -> String {
    format!("flowLogs:\n{}", entries.concat())
}

fn entry(name: &str, dir: &Path, extra: &str) -> String {
    format!("  - name: {name}\n    filePath: {}\n{extra}", dir.join(format!("{name}.log")).display())
}

struct Setup {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    config: PathBuf,
}

/// A temporary directory for a test's flow log file and output files.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    Setup { config: path.join("flowlogs.yaml"), dir: path, _dir: dir }
}

fn start(setup: &Setup) -> Running {
    Running::replay_from_fifo(&setup.dir, &["--flowlogs-config-path", setup.config.to_str().unwrap()])
}

/// Sends one line every 10 ms, numbered from `*next`, until `done` holds;
/// returns how long that took from the call.
fn feed_until(
    running: &mut Running,
    next: &mut usize,
    make: impl Fn(usize) -> String,
    done: impl Fn() -> bool,
) -> Duration {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "gave up waiting:\n{}", running.stderr());
        running.send(&[make(*next)]);
        *next += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

#[test]
fn a_new_entry_starts_writing_within_a_second_of_the_edit() {
    let s = setup();
    write_config(&s.config, &flow_logs(&[entry("all", &s.dir, "")]));
    let mut running = start(&s);
    let mut next = 0;
    running.send(&(0..10).map(|i| flow(i, "shop", "FORWARDED")).collect::<Vec<_>>());
    next += 10;

    write_config(
        &s.config,
        &flow_logs(&[
            entry("all", &s.dir, ""),
            entry("drops", &s.dir, "    includeFilters:\n      - verdict: [DROPPED]\n"),
        ]),
    );
    let drops = s.dir.join("drops.log");
    let took = feed_until(&mut running, &mut next, |i| flow(i, "shop", "DROPPED"), || !lines_of(&drops).is_empty());
    assert!(took < APPLIED_WITHIN, "the new entry wrote its first line {took:?} after the edit");
    running.send(&[flow(next, "shop", "FORWARDED")]);
    next += 1;
    running.finish();

    assert_eq!(seqs(&s.dir.join("all.log")), (0..next).collect::<Vec<_>>(), "the other sink lost or repeated nothing");
    let dropped = lines_of(&drops);
    assert!(dropped.iter().all(|line| line.contains(r#""verdict":"DROPPED""#)), "{dropped:?}");
}

#[test]
fn an_edited_filter_takes_effect_without_touching_the_other_sinks() {
    let s = setup();
    let config = |namespace: &str| {
        flow_logs(&[
            entry("all", &s.dir, ""),
            entry("team", &s.dir, &format!("    includeFilters:\n      - source_pod: [\"{namespace}/\"]\n")),
        ])
    };
    write_config(&s.config, &config("a"));
    let mut running = start(&s);
    let namespace = |i: usize| if i.is_multiple_of(2) { "a" } else { "b" };
    running.send(&(0..100).map(|i| flow(i, namespace(i), "FORWARDED")).collect::<Vec<_>>());
    let mut next = 100;
    let team = s.dir.join("team.log");
    wait_for(Duration::from_secs(5), || lines_of(&team).len() == 50).expect("the first 50 lines of namespace a");

    // A plain rewrite in place, as `kubectl edit` of a mounted file or `echo >` does.
    std::fs::write(&s.config, config("b")).unwrap();
    let took = feed_until(
        &mut running,
        &mut next,
        |i| flow(i, namespace(i), "FORWARDED"),
        || lines_of(&team).iter().any(|l| l.contains(r#""namespace":"b""#)),
    );
    assert!(took < APPLIED_WITHIN, "the edited filter applied {took:?} after the write");
    running.finish();

    assert_eq!(seqs(&s.dir.join("all.log")), (0..next).collect::<Vec<_>>(), "the other sink lost or repeated nothing");
    let team_seqs = seqs(&team);
    let switch = team_seqs.iter().position(|seq| namespace(*seq) == "b").unwrap();
    assert!(team_seqs[..switch].iter().all(|seq| namespace(*seq) == "a"));
    assert!(team_seqs[switch..].iter().all(|seq| namespace(*seq) == "b"), "{team_seqs:?}");
    assert!(team_seqs.windows(2).all(|w| w[0] < w[1]), "in order, no line twice: {team_seqs:?}");
}

#[test]
fn a_removed_entry_leaves_a_complete_closed_file() {
    let s = setup();
    write_config(&s.config, &flow_logs(&[entry("all", &s.dir, ""), entry("gone", &s.dir, "")]));
    let mut running = start(&s);
    running.send(&(0..100).map(|i| flow(i, "shop", "FORWARDED")).collect::<Vec<_>>());
    let gone = s.dir.join("gone.log");
    wait_for(Duration::from_secs(5), || lines_of(&gone).len() == 100).expect("all 100 lines in gone.log");
    assert!(running.has_open(&gone));

    write_config(&s.config, &flow_logs(&[entry("all", &s.dir, "")]));
    wait_for(APPLIED_WITHIN, || !running.has_open(&gone)).expect("gone.log closed within a second of the edit");
    running.send(&(100..110).map(|i| flow(i, "shop", "FORWARDED")).collect::<Vec<_>>());
    running.finish();

    assert_eq!(seqs(&gone), (0..100).collect::<Vec<_>>());
    assert!(std::fs::read(&gone).unwrap().ends_with(b"\n"));
    assert_eq!(seqs(&s.dir.join("all.log")), (0..110).collect::<Vec<_>>());
}

#[test]
fn a_broken_file_or_entry_changes_nothing_that_runs() {
    let s = setup();
    let good = flow_logs(&[
        entry("all", &s.dir, ""),
        entry("drops", &s.dir, "    includeFilters:\n      - verdict: [DROPPED]\n"),
    ]);
    write_config(&s.config, &good);
    let mut running = start(&s);
    let mut next = 0;
    let send = |running: &mut Running, next: &mut usize, n: usize| {
        running.send(&(*next..*next + n).map(|i| flow(i, "shop", "DROPPED")).collect::<Vec<_>>());
        *next += n;
    };
    send(&mut running, &mut next, 10);

    // Not YAML at all.
    write_config(&s.config, "flowLogs: [ {name: all\n");
    wait_for(Duration::from_secs(2), || running.stderr().contains("flow log config rejected"))
        .expect("the rejection is logged");
    send(&mut running, &mut next, 10);
    // Valid YAML, but one entry has a typo in a key: that entry keeps its old
    // exporter, and the typo is named.
    write_config(
        &s.config,
        &flow_logs(&[
            entry("all", &s.dir, ""),
            entry("drops", &s.dir, "    includeFilter:\n      - verdict: [FORWARDED]\n"),
        ]),
    );
    wait_for(Duration::from_secs(2), || running.stderr().contains("includeFilter")).expect("the unknown key is named");
    assert!(running.stderr().contains("includeFilters"), "the closest key is suggested:\n{}", running.stderr());
    send(&mut running, &mut next, 10);
    let finished = running.finish();

    assert_eq!(seqs(&s.dir.join("all.log")), (0..30).collect::<Vec<_>>(), "{}", finished.stderr);
    assert_eq!(seqs(&s.dir.join("drops.log")), (0..30).collect::<Vec<_>>(), "drops kept its exporter throughout");
}

#[test]
fn a_kubelet_style_symlink_swap_is_picked_up() {
    // The kubelet mounts a ConfigMap as `<key> -> ..data/<key>`, `..data ->
    // ..<timestamp>/`, and updates it by writing a new timestamped directory
    // and renaming a new `..data` link over the old one.
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("flowlog-config");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&mount).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let publish = |version: &str, yaml: &str| {
        let data = mount.join(format!("..{version}"));
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("flowlogs.yaml"), yaml).unwrap();
        let link = mount.join("..data_tmp");
        std::os::unix::fs::symlink(format!("..{version}"), &link).unwrap();
        std::fs::rename(&link, mount.join("..data")).unwrap();
    };
    publish("2024_05_01_10_00_00.1", &flow_logs(&[entry("all", &out, "")]));
    std::os::unix::fs::symlink("..data/flowlogs.yaml", mount.join("flowlogs.yaml")).unwrap();

    let config = mount.join("flowlogs.yaml");
    let mut running = Running::replay_from_fifo(dir.path(), &["--flowlogs-config-path", config.to_str().unwrap()]);
    let mut next = 0;
    publish("2024_05_01_10_05_00.2", &flow_logs(&[entry("all", &out, ""), entry("second", &out, "")]));
    std::fs::remove_dir_all(mount.join("..2024_05_01_10_00_00.1")).unwrap();
    let second = out.join("second.log");
    let took = feed_until(&mut running, &mut next, |i| flow(i, "shop", "FORWARDED"), || !lines_of(&second).is_empty());
    assert!(took < APPLIED_WITHIN, "the swapped ConfigMap applied {took:?} after the swap");
    running.finish();
    assert_eq!(seqs(&out.join("all.log")), (0..next).collect::<Vec<_>>());
}

#[test]
fn an_end_in_the_past_writes_nothing_and_a_reached_end_stops_the_sink() {
    let s = setup();
    let end_at = SystemTime::now() + Duration::from_secs(2);
    let end = chrono::DateTime::<chrono::Utc>::from(end_at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    write_config(
        &s.config,
        &flow_logs(&[
            entry("all", &s.dir, ""),
            entry("past", &s.dir, "    end: \"2020-01-01T00:00:00Z\"\n"),
            entry("soon", &s.dir, &format!("    end: \"{end}\"\n")),
        ]),
    );
    let mut running = start(&s);
    let soon = s.dir.join("soon.log");
    let mut next = 0;
    feed_until(
        &mut running,
        &mut next,
        |i| flow(i, "shop", "FORWARDED"),
        || SystemTime::now() > end_at + Duration::from_secs(1),
    );
    wait_for(Duration::from_secs(2), || running.stderr().contains("reached its end")).expect("the end is logged");
    assert!(!running.has_open(&soon), "the ended sink closed its file");
    let written = seqs(&soon);
    feed_until(
        &mut running,
        &mut next,
        |i| flow(i, "shop", "FORWARDED"),
        || SystemTime::now() > end_at + Duration::from_millis(1500),
    );
    running.finish();

    assert!(!s.dir.join("past.log").exists(), "an end in the past writes nothing, not even an empty file");
    assert!(!written.is_empty(), "soon wrote until its end");
    assert_eq!(seqs(&soon), written, "nothing after the end");
    assert_eq!(seqs(&soon), (0..written.len()).collect::<Vec<_>>(), "every line up to the end");
    assert_eq!(seqs(&s.dir.join("all.log")), (0..next).collect::<Vec<_>>());
}

#[test]
fn twenty_sinks_run_at_once_each_with_its_own_lines() {
    let s = setup();
    let namespaces = ["a", "b", "c", "d"];
    let entries: Vec<String> = (0..20)
        .map(|i| {
            let namespace = namespaces[i % namespaces.len()];
            let mask = if i % 2 == 0 { "    fieldMask: [time, source, Summary]\n" } else { "" };
            entry(
                &format!("sink{i:02}"),
                &s.dir,
                &format!("    includeFilters:\n      - source_pod: [\"{namespace}/\"]\n{mask}"),
            )
        })
        .collect();
    write_config(&s.config, &flow_logs(&entries));
    let mut running = start(&s);
    let lines: Vec<String> = (0..2000).map(|i| flow(i, namespaces[i % namespaces.len()], "FORWARDED")).collect();
    running.send(&lines);
    running.finish();

    for i in 0..20 {
        let file = s.dir.join(format!("sink{i:02}.log"));
        let expected: Vec<usize> = (0..2000).filter(|seq| seq % namespaces.len() == i % namespaces.len()).collect();
        assert_eq!(seqs(&file), expected, "{}", file.display());
        let first = &lines_of(&file)[0];
        assert_eq!(first.contains("verdict"), i % 2 == 1, "sink{i:02}'s mask: {first}");
    }
}

#[test]
fn check_prints_every_problem_and_fails() {
    let s = setup();
    std::fs::write(
        &s.config,
        "flowLogs:\n  - name: ok\n    filePath: /tmp/ok.log\n  - name: bad\n    filePath: /tmp/bad.log\n    fieldMask: [sourc.pod_name]\n    includeFilter: []\n    end: tomorrow\n",
    )
    .unwrap();
    let failed = Flowlog::run(&["check", "--flowlogs-config-path", s.config.to_str().unwrap()]).failure();
    assert_eq!(failed.code, Some(1));
    let report = format!("{}{}", failed.stdout, failed.stderr);
    for expected in ["bad", "fieldMask", "sourc", "includeFilter", "includeFilters", "end", "tomorrow"] {
        assert!(report.contains(expected), "{expected:?} in:\n{report}");
    }

    std::fs::write(
        &s.config,
        "flowLogs:\n  - name: ok\n    filePath: /tmp/ok.log\n    includeFilters: [{verdict: [DROPPED]}]\n",
    )
    .unwrap();
    Flowlog::run(&["check", "--flowlogs-config-path", s.config.to_str().unwrap()]).success();
}

#[test]
fn the_shipped_example_flow_log_file_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/flowlogs.yaml");
    Flowlog::run(&["check", "--flowlogs-config-path", example]).success();
}

#[test]
fn sighup_reads_the_file_again_and_stops_nothing() {
    let s = setup();
    write_config(&s.config, &flow_logs(&[entry("all", &s.dir, "")]));
    let mut running = start(&s);
    running.send(&[flow(0, "shop", "FORWARDED")]);
    support::send_signal(running.pid(), "HUP");
    let reread = wait_for(Duration::from_secs(5), || running.stderr().contains("reading the config files again"));
    assert!(reread.is_some(), "no reload on SIGHUP:\n{}", running.stderr());
    running.send(&[flow(1, "shop", "FORWARDED")]);
    running.finish();
    assert_eq!(seqs(&s.dir.join("all.log")), [0, 1], "SIGHUP must not stop or restart the sink");
}

#[test]
fn check_validates_endpoints_files_too() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/endpoints.yaml");
    Flowlog::run(&["check", "--endpoints-file", example]).success();

    let s = setup();
    let broken = s.dir.join("endpoints.yaml");
    std::fs::write(&broken, "- ips: [10.0.0.1]\n  pod: web-0\n- ips: [10.0.0.1, not-an-ip]\n").unwrap();
    let finished = Flowlog::run(&["check", "--endpoints-file", broken.to_str().unwrap()]).failure();
    assert!(finished.stdout.contains("endpoints[0]: unknown field `pod`"), "{}", finished.stdout);
    assert!(finished.stdout.contains("not-an-ip"), "{}", finished.stdout);
}
