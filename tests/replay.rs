//! End-to-end tests of `flowlog replay`: the real binary, real files, and `jq`
//! reading the output as users do (`.ci/run` installs jq).

mod support;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Flowlog, SAMPLE, jq, lines_of, sample_events, send_signal};

#[test]
fn the_sample_replays_into_a_file_jq_reads_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.log");
    Flowlog::replay(&["--input", SAMPLE, "--export-file-path", out.to_str().unwrap()]).success();

    let lines = lines_of(&out);
    assert_eq!(lines.len(), sample_events(), "every event of the sample comes out");
    let kinds = jq(&out, r#"keys_unsorted[0]"#);
    for kind in ["\"flow\"", "\"agent_event\"", "\"debug_event\"", "\"lost_events\""] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} is exported");
    }
    // A flow line carries its own node name and time at the top level.
    let mismatched = jq(&out, r#"select(.flow) | select(.node_name != .flow.node_name or .time != .flow.time)"#);
    assert!(mismatched.is_empty(), "{mismatched:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&out).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "export files are private by default");
}

#[test]
fn cilium_lines_come_out_byte_for_byte_on_stdout() {
    let cilium_line = std::fs::read_to_string(SAMPLE).unwrap().lines().next().unwrap().to_owned();
    let output = Flowlog::replay(&["--export-file-path", "stdout"]).stdin(&format!("{cilium_line}\n")).success();
    assert_eq!(output.stdout, format!("{cilium_line}\n"));
}

#[test]
fn allowlist_denylist_and_fieldmask_shape_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("drops.log");
    Flowlog::replay(&[
        "--input",
        SAMPLE,
        "--export-file-path",
        out.to_str().unwrap(),
        "--export-allowlist",
        r#"{"verdict":["DROPPED","ERROR"]}"#,
        "--export-denylist",
        r#"{"source_pod":["kube-system/"]} {"destination_pod":["kube-system/"]}"#,
        "--export-fieldmask",
        "time,source.namespace,source.pod_name,destination.namespace,destination.pod_name,l4,IP,node_name,is_reply,verdict",
    ])
    .success();

    assert!(!lines_of(&out).is_empty(), "the sample has drops");
    let verdicts: std::collections::BTreeSet<String> = jq(&out, ".flow.verdict").into_iter().collect();
    assert_eq!(verdicts, ["\"DROPPED\"".to_owned()].into(), "only drops (the sample has no ERROR)");
    assert!(
        jq(&out, r#"select(.flow.source.namespace == "kube-system" or .flow.destination.namespace == "kube-system")"#)
            .is_empty()
    );
    // Kept fields, in the schema's declaration order, on every line.
    let shapes = jq(&out, r#"[.flow | keys_unsorted[]] | join(",")"#);
    assert!(shapes.iter().all(|s| s == "\"time,verdict,IP,l4,source,destination,node_name,is_reply\""), "{shapes:?}");
    assert!(jq(&out, r#"select(.flow.source.labels or .flow.Summary)"#).is_empty(), "masked-out fields are gone");
}

#[test]
fn bad_filters_and_masks_fail_before_any_input_is_read() {
    let cases: &[(&[&str], &str)] = &[
        (&["--export-allowlist", r#"{"source_ip":["320.1.1.1"]}"#], "320.1.1.1"),
        (&["--export-denylist", r#"{"sourc_pod":["a/"]}"#], "source_pod"),
        (&["--export-fieldmask", "time source.nope"], "source.nope"),
        (&["--export-aggregation-interval", "30"], "30"),
    ];
    for (flags, named) in cases {
        let mut args = vec!["--export-file-path", "stdout"];
        args.extend_from_slice(flags);
        // Standard input stays open: reading it would hang the test.
        let started = Instant::now();
        let failed = Flowlog::replay(&args).stdin_open().failure();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(failed.code, Some(2), "{flags:?}");
        assert!(failed.stderr.contains(named), "{flags:?}: stderr names {named:?}: {}", failed.stderr);
    }
}

#[test]
fn malformed_lines_are_reported_with_their_number_and_skipped() {
    let input = "{\"flow\":{\"verdict\":\"FORWARDED\"}}\nnot json\n{\"flow\":{\"verdict\":true}}\n\n{\"flow\":{\"verdict\":\"DROPPED\"}}\n";
    let output = Flowlog::replay(&["--export-file-path", "stdout"]).stdin(input).success();
    assert_eq!(output.stdout, "{\"flow\":{\"verdict\":\"FORWARDED\"}}\n{\"flow\":{\"verdict\":\"DROPPED\"}}\n");
    assert!(output.stderr.contains("line 2:"), "{}", output.stderr);
    assert!(output.stderr.contains("line 3:") && output.stderr.contains("boolean"), "{}", output.stderr);
}

#[test]
fn non_flow_events_take_the_node_name_of_their_line_else_the_flag() {
    let input = "{\"agent_event\":{},\"time\":\"2024-01-01T00:00:00Z\"}\n{\"lost_events\":{},\"node_name\":\"theirs\",\"time\":\"2024-01-01T00:00:01Z\"}\n";
    let output = Flowlog::replay(&["--export-file-path", "stdout", "--node-name", "ours"]).stdin(input).success();
    assert_eq!(
        output.stdout,
        "{\"agent_event\":{},\"node_name\":\"ours\",\"time\":\"2024-01-01T00:00:00Z\"}\n{\"lost_events\":{},\"node_name\":\"theirs\",\"time\":\"2024-01-01T00:00:01Z\"}\n"
    );
}

#[test]
fn rotation_keeps_every_line_whole_in_lumberjack_named_gzipped_backups() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.log");
    let generated = Flowlog::run(&["generate", "--count", "6000"]).success().stdout;
    Flowlog::replay(&[
        "--export-file-path",
        out.to_str().unwrap(),
        "--export-file-max-size-mb",
        "1",
        "--export-file-max-backups",
        "0",
        "--export-file-compress",
    ])
    .stdin(&generated)
    .success();

    let mut backups: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "events.log")
        .collect();
    backups.sort();
    assert!(backups.len() >= 5, "6000 lines of ~1.5 KB rotate at 1 MiB: {backups:?}");
    let lumberjack = regex::Regex::new(r"^events-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.log\.gz$").unwrap();
    assert!(backups.iter().all(|name| lumberjack.is_match(name)), "{backups:?}");

    // Backups in name order, then the live file, give back the input exactly.
    let mut all = String::new();
    for backup in &backups {
        let text = support::gunzip(&dir.path().join(backup));
        assert!(text.ends_with('\n'), "{backup} ends with a whole line");
        all += &text;
    }
    all += &std::fs::read_to_string(&out).unwrap();
    assert_eq!(all, generated);
}

#[test]
fn a_config_file_sets_options_by_their_cilium_names_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flowlog.yaml");
    let from_file = dir.path().join("file.log");
    std::fs::write(
        &config,
        format!(
            "hubble-export-file-path: {}\nhubble-export-allowlist: '{{\"verdict\":[\"DROPPED\"]}}'\nhubble-export-fieldmask: [verdict]\nhubble-export-file-max-size-mb: \"10\"\n",
            from_file.display()
        ),
    )
    .unwrap();
    Flowlog::replay(&["--config", config.to_str().unwrap(), "--input", SAMPLE]).success();
    let lines = jq(&from_file, ".");
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l == "{\"flow\":{\"verdict\":\"DROPPED\"}}"), "{lines:?}");

    let output = Flowlog::replay(&[
        "--config",
        config.to_str().unwrap(),
        "--input",
        SAMPLE,
        "--export-file-path",
        "stdout",
        "--export-fieldmask",
        "",
    ])
    .success();
    assert!(
        output.stdout.lines().all(|l| l.contains("\"DROPPED\"") && l.contains("\"Type\"")),
        "flags override the file"
    );

    std::fs::write(&config, "hubble-export-file-pth: x\n").unwrap();
    let failed = Flowlog::replay(&["--config", config.to_str().unwrap()]).stdin_open().failure();
    assert!(failed.stderr.contains("did you mean \"hubble-export-file-path\""), "{}", failed.stderr);
}

#[test]
fn lines_reach_the_file_within_a_second_and_sigterm_flushes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.log");
    let mut child = Flowlog::replay(&["--export-file-path", out.to_str().unwrap()])
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let events: Vec<String> = std::fs::read_to_string(SAMPLE).unwrap().lines().take(20).map(str::to_owned).collect();

    for (i, event) in events.iter().enumerate() {
        writeln!(stdin, "{event}").unwrap();
        stdin.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        while lines_of(&out).len() < i + 1 {
            assert!(Instant::now() < deadline, "line {} not in the file within one second", i + 1);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // SIGTERM with input still open: what was read is written, then exit 0.
    send_signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(lines_of(&out).len(), events.len());
    drop(stdin);
}

#[test]
fn aggregation_folds_flows_into_counted_lines() {
    let output = Flowlog::replay(&[
        "--input",
        SAMPLE,
        "--export-file-path",
        "stdout",
        "--export-fieldaggregate",
        "verdict",
        "--export-aggregation-interval",
        "1m",
    ])
    .success();
    let flows: Vec<&str> = output.stdout.lines().filter(|l| l.starts_with("{\"flow\"")).collect();
    assert_eq!(flows.len(), 2, "one line per verdict: {flows:?}");
    let total: u64 = flows
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let aggregate = &value["flow"]["aggregate"];
            ["ingress_flow_count", "egress_flow_count", "unknown_direction_flow_count"]
                .iter()
                .map(|k| aggregate[k].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    let sample_flows = std::fs::read_to_string(SAMPLE).unwrap().lines().filter(|l| l.starts_with("{\"flow\"")).count();
    assert_eq!(total as usize, sample_flows, "every flow is counted once");
}

/// A replay waits for a slow sink rather than drop lines; with a dynamic flow
/// log stuck on a FIFO nobody reads, SIGTERM still ends it within the grace
/// period plus a second, naming the flow log and the lines it could not write.
#[test]
fn sigterm_with_a_stuck_sink_exits_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (finished, took) = stuck_replay(dir.path(), "2s").stop_with("TERM");
    assert!(took < Duration::from_secs(3), "took {took:?} to exit with a 2 s grace period:\n{}", finished.stderr);
    assert_eq!(finished.code, Some(1), "{}", finished.stderr);
    let named =
        finished.stderr.lines().find(|line| line.contains("lines not written") && line.contains("exporter=stuck"));
    assert!(named.is_some_and(|line| line.contains("lines=")), "the stuck flow log is not named:\n{}", finished.stderr);
}

/// The second SIGTERM (or SIGINT) does not wait for the grace period.
#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let running = stuck_replay(dir.path(), "60s");
    send_signal(running.pid(), "TERM");
    let stopping = support::wait_for(Duration::from_secs(5), || running.stderr().contains("stopping"));
    assert!(stopping.is_some(), "{}", running.stderr());
    let (finished, took) = running.stop_with("INT");
    assert!(took < Duration::from_secs(1), "took {took:?} after the second signal:\n{}", finished.stderr);
    assert_eq!(finished.code, Some(1), "{}", finished.stderr);
    assert!(finished.stderr.contains("second signal"), "{}", finished.stderr);
}

/// A replay of the sample into two dynamic flow logs, one of them on a FIFO
/// nobody reads, with `grace` as its shutdown grace period; returned once
/// the stuck flow log is running.
fn stuck_replay(dir: &std::path::Path, grace: &str) -> support::Running {
    let stuck = dir.join("stuck.fifo");
    assert!(Command::new("mkfifo").arg(&stuck).status().unwrap().success());
    let flow_logs = dir.join("flowlogs.yaml");
    let yaml = format!(
        "flowLogs:\n  - {{name: all, filePath: {}}}\n  - {{name: stuck, filePath: {}}}\n",
        dir.join("all.log").display(),
        stuck.display()
    );
    std::fs::write(&flow_logs, yaml).unwrap();
    let grace = format!("--shutdown-grace-period={grace}");
    let mut running =
        support::Running::replay_from_fifo(dir, &["--flowlogs-config-path", flow_logs.to_str().unwrap(), &grace]);
    let sample: Vec<String> = std::fs::read_to_string(SAMPLE).unwrap().lines().map(str::to_owned).collect();
    running.send(&sample);
    let writing = support::wait_for(Duration::from_secs(10), || running.stderr().contains("exporter=stuck"));
    assert!(writing.is_some(), "{}", running.stderr());
    running
}

/// A replay whose standard error is closed, or whose log reader went away,
/// still exports everything and finishes.
#[test]
fn a_closed_or_broken_log_stream_does_not_stop_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_flowlog");
    for (name, redirect) in [("closed", "2>&-"), ("broken", "2>&1 >/dev/null | head -c 1 >/dev/null")] {
        let out = dir.path().join(format!("{name}.log"));
        let script = format!("{exe} replay --input {SAMPLE} --export-file-path {} {redirect}", out.display());
        let shell = Command::new("sh").args(["-c", &script]).env_remove("RUST_LOG").process_group(0).spawn();
        let mut child = support::Child(shell.unwrap());
        let exited = support::wait_for(Duration::from_secs(30), || child.0.try_wait().unwrap().is_some());
        assert!(exited.is_some(), "replay with its log stream {name} did not finish");
        assert!(child.0.wait().unwrap().success(), "replay with its log stream {name} failed");
        assert_eq!(lines_of(&out).len(), sample_events(), "every line exported with the log stream {name}");
    }
}

/// One flow line at second `second` of 2026-12-02 06:00, its Summary naming it.
fn timed_line(second: u32, summary: &str) -> String {
    format!(
        "{{\"flow\":{{\"time\":\"2026-12-02T06:00:{second:02}Z\",\"Summary\":\"{summary}\"}},\"time\":\"2026-12-02T06:00:{second:02}Z\"}}\n"
    )
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn an_archive_replays_in_time_order_gzipped_backups_and_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    // As --export-file-compress leaves them: backups named by rotation time, gzipped; the live file last.
    std::fs::write(
        path("events-2026-12-02T06-00-20.000.log.gz"),
        gzip(&(timed_line(10, "b1") + &timed_line(11, "b2"))),
    )
    .unwrap();
    std::fs::write(path("events-2026-12-02T06-00-10.000.log.gz"), gzip(&timed_line(5, "a"))).unwrap();
    std::fs::write(path("events-2026-12-02T06-00-30.000.log"), timed_line(25, "c")).unwrap();
    std::fs::write(path("events.log"), timed_line(40, "live")).unwrap();
    let pattern = path("events*").display().to_string();

    let all = Flowlog::replay(&["--input", &pattern, "--export-file-path", "stdout"]).success();
    let in_order = [(5, "a"), (10, "b1"), (11, "b2"), (25, "c"), (40, "live")];
    assert_eq!(all.stdout, in_order.map(|(second, summary)| timed_line(second, summary)).concat());

    // A window: from 06:00:10 (inclusive) to 06:00:25 (exclusive), and several --input.
    let window = Flowlog::replay(&[
        "--input",
        path("events.log").to_str().unwrap(),
        "--input",
        &path("events-*.gz").display().to_string(),
        "--since",
        "2026-12-02T07:00:10+01:00",
        "--until",
        "2026-12-02T06:00:25Z",
        "--export-file-path",
        "stdout",
    ])
    .success();
    assert_eq!(window.stdout, timed_line(10, "b1") + &timed_line(11, "b2"));
    assert!(window.stderr.contains("outside_the_window=1"), "{}", window.stderr);

    // Durations before now: the whole archive is within the last 100,000 hours, and none of it before then.
    let since = Flowlog::replay(&["--input", &pattern, "--since", "100000h", "--export-file-path", "stdout"]).success();
    assert_eq!(since.stdout, all.stdout);
    let until = Flowlog::replay(&["--input", &pattern, "--until", "100000h", "--export-file-path", "stdout"]).success();
    assert_eq!(until.stdout, "");

    // Gzip on standard input too, recognised by its magic bytes.
    let mut child = Flowlog::replay(&["--export-file-path", "stdout"]).command();
    child.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = child.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&gzip(&timed_line(1, "z"))).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), timed_line(1, "z"));
}

#[test]
fn inputs_that_cannot_be_replayed_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let nothing = dir.path().join("*.log").display().to_string();
    let refused = Flowlog::replay(&["--input", &nothing, "--export-file-path", "stdout"]).failure();
    assert_eq!(refused.code, Some(2));
    assert!(refused.stderr.contains("no file matches it"), "{}", refused.stderr);
    let when = Flowlog::replay(&["--since", "tuesday", "--export-file-path", "stdout"]).stdin("").failure();
    assert!(when.stderr.contains(r#"--since "tuesday": not an RFC 3339 time"#), "{}", when.stderr);
    let gz = dir.path().join("a.log.gz");
    std::fs::write(&gz, gzip(&timed_line(1, "x"))).unwrap();
    let follow =
        Flowlog::replay(&["--input", gz.to_str().unwrap(), "--follow", "--export-file-path", "stdout"]).failure();
    assert!(follow.stderr.contains("is gzipped, and a gzipped file does not grow"), "{}", follow.stderr);
    let plain = dir.path().join("b.log");
    std::fs::write(&plain, timed_line(2, "y")).unwrap();
    let two = Flowlog::replay(&[
        "--input",
        gz.to_str().unwrap(),
        "--input",
        plain.to_str().unwrap(),
        "--follow",
        "--export-file-path",
        "stdout",
    ])
    .failure();
    assert!(two.stderr.contains("--follow reads one file"), "{}", two.stderr);
}
