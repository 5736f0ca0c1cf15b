//! End-to-end tests with real log shippers: while `flowlog replay` writes
//! 200,000 flow lines through more than 50 rotations (2 MiB files, every
//! backup kept, uncompressed), a shipper follows the export file by name, and
//! every line must arrive exactly once, as JSON: the flow uuids shipped are
//! the uuids flowlog wrote, each once.
//!
//! - rsyslog's imfile, running `examples/rsyslog-flowlog.conf` as it stands
//!   but for its paths; what it ships must also be the lines written, byte
//!   for byte;
//! - `tail -n +1 -F events.log | jq -c .flow.uuid`.
//!
//! The writing rate is capped at [`MAX_RATE`] lines a second, fed through a
//! FIFO in small chunks. A shipper that follows a name can only read a file it
//! opened before the file was renamed away, so each file must outlive the
//! shipper's reaction time. Replaying a file flat out, flowlog reads megabytes
//! at once and may fill and rotate a 1 MiB file within a millisecond; `tail`
//! also waits whenever `jq` falls behind. Then both shippers lose whole files
//! (never part of one), and at 10,000 lines a second `tail -F` still lost one
//! on a loaded machine. At the cap (2,000 lines/s) a 2 MiB file lives about 700 ms: 2.5 times
//! shorter than Cilium's default 10 MiB file at the same, already busy, rate.
//! (1 MiB files, 175 ms, lost one to `tail -F` in CI once a faster replay let
//! the debug build reach the cap.) docs/shippers.md has the measurements.
//!
//! The tools come from the distribution's packages, which `bash scripts/test`
//! installs. Without one a test skips, loudly; as root (CI) a missing tool is
//! a failure, because scripts/test has installed it.

mod support;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Flowlog, Running, send_signal, wait_for};

/// Flow lines written, each with its own uuid.
const LINES: usize = 200_000;
/// Backups at least: 200,000 lines of about 1.5 KB make some 140 files of 2 MiB.
const MIN_BACKUPS: usize = 50;
/// The writing rate cap, lines a second (see the module docs).
const MAX_RATE: u32 = 2_000;
/// Lines fed to flowlog at a time.
const CHUNK: usize = 100;
/// How long a shipper may take to catch up once flowlog has exited.
const CATCH_UP: Duration = Duration::from_secs(60);
/// A shipper whose output has not grown for this long has stopped.
const STALLED: Duration = Duration::from_secs(10);
/// How long a shipper may take to start watching, or to stop.
const START_STOP: Duration = Duration::from_secs(10);

/// The rsyslog configuration the tests run, and the paths in it they replace.
const RSYSLOG_CONF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/rsyslog-flowlog.conf");
const CONF_WORK_DIR: &str = "/var/lib/rsyslog-flowlog";
const CONF_LIVE_FILE: &str = "/var/run/flowlog/events.log";
const CONF_SHIPPED_FILE: &str = "/var/log/flowlog/shipped.log";

#[test]
fn rsyslog_imfile_ships_every_line_once_across_rotations() {
    let Some(rsyslogd) = require("rsyslogd", "rsyslog", "rsyslog_imfile_ships_every_line_once_across_rotations") else {
        return;
    };
    let export = Export::new();
    let work = export.dir.join("rsyslog");
    std::fs::create_dir(&work).unwrap();
    let shipped = export.dir.join("shipped.log");
    let conf = export.dir.join("rsyslog.conf");
    std::fs::write(&conf, rsyslog_conf(&work, &export.live, &shipped)).unwrap();

    // Started before flowlog creates the file, as on a node.
    let stderr = export.dir.join("rsyslogd.stderr");
    let rsyslog = Reaped::spawn(
        Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(export.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap()),
    );
    rsyslog.wait_until_watching(&stderr);

    let written = export.write();
    let caught_up = wait_until_caught_up(&shipped, written.lines());
    rsyslog.stop("TERM", &stderr);

    let mut content = 0;
    let shipped_uuids = read_lines(&shipped).enumerate().map(|(i, line)| {
        content = add_line(content, &line);
        flow_uuid(&line).unwrap_or_else(|e| panic!("shipped.log line {}: {e}: {line}", i + 1))
    });
    let shipped_count = written.check_exactly_once("rsyslog", shipped_uuids);
    assert_eq!(content, written.content, "rsyslog shipped the lines, but not byte for byte");
    eprintln!(
        "rsyslog: {shipped_count} of {} lines shipped once, through {} rotations; flowlog wrote for {:.1?}, rsyslog caught up {:.1?} later",
        written.lines(),
        written.backups(),
        written.elapsed,
        caught_up
    );
}

#[test]
fn tail_f_into_jq_reads_every_line_once_across_rotations() {
    let test = "tail_f_into_jq_reads_every_line_once_across_rotations";
    let (Some(tail), Some(jq)) = (require("tail", "coreutils", test), require("jq", "jq", test)) else {
        return;
    };
    let export = Export::new();
    // tail -F falls back to polling once a second when its file is missing
    // at start; created first, the file is followed through inotify.
    File::create(&export.live).unwrap();

    let uuids = export.dir.join("uuids.txt");
    let tail_stderr = export.dir.join("tail.stderr");
    let jq_stderr = export.dir.join("jq.stderr");
    let mut tail = Reaped::spawn(
        Command::new(tail)
            .args(["-n", "+1", "-F"])
            .arg(&export.live)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&tail_stderr).unwrap()),
    );
    let mut jq = Reaped::spawn(
        Command::new(jq)
            .args(["--unbuffered", "-c", ".flow.uuid"])
            .stdin(tail.0.stdout.take().unwrap())
            .stdout(File::create(&uuids).unwrap())
            .stderr(File::create(&jq_stderr).unwrap()),
    );
    tail.wait_until_watching(&tail_stderr);

    let written = export.write();
    let caught_up = wait_until_caught_up(&uuids, written.lines());
    // Ending tail ends jq's input: jq then exits, successfully only if every
    // line it read was JSON.
    tail.stop("TERM", &tail_stderr);
    let status = jq.wait(START_STOP);
    assert!(status.success(), "jq failed ({status}): {}", last_lines(&jq_stderr));

    let shipped_uuids = read_lines(&uuids).enumerate().map(|(i, line)| {
        serde_json::from_str::<String>(&line).unwrap_or_else(|e| panic!("jq output line {}: {e}: {line}", i + 1))
    });
    let shipped_count = written.check_exactly_once("tail -F | jq", shipped_uuids);
    eprintln!(
        "tail -F | jq: {shipped_count} of {} lines read once, through {} rotations; flowlog wrote for {:.1?}, tail caught up {:.1?} later",
        written.lines(),
        written.backups(),
        written.elapsed,
        caught_up
    );
}

/// The program `name` from the distribution package `package`, or `None`
/// (after saying so) when it is missing and the test is not running as root.
fn require(name: &str, package: &str, test: &str) -> Option<PathBuf> {
    // rsyslogd lives in sbin, which a user's PATH may leave out.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    match found {
        Some(program) => Some(program),
        None if root => panic!("{name} is missing; `bash scripts/test` installs the {package} package"),
        None => {
            eprintln!("SKIPPED: {test}: {name} is missing (apt-get install {package}; scripts/test does so as root)");
            None
        }
    }
}

/// `examples/rsyslog-flowlog.conf` with its paths replaced.
fn rsyslog_conf(work: &Path, live: &Path, shipped: &Path) -> String {
    let mut conf = std::fs::read_to_string(RSYSLOG_CONF).unwrap();
    for (from, to) in [(CONF_WORK_DIR, work), (CONF_LIVE_FILE, live), (CONF_SHIPPED_FILE, shipped)] {
        assert_eq!(conf.matches(from).count(), 1, "{RSYSLOG_CONF} names {from} once");
        conf = conf.replace(from, to.to_str().unwrap());
    }
    conf
}

/// A temporary directory where flowlog writes `events.log` and its backups.
struct Export {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    live: PathBuf,
    /// Generated export lines, [`LINES`] flows.
    input: PathBuf,
}

impl Export {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let input = path.join("input.jsonl");
        let status = Flowlog::run(&["generate", "--count", &LINES.to_string(), "--seed", "2024"])
            .command()
            .stdout(File::create(&input).unwrap())
            .status()
            .unwrap();
        assert!(status.success(), "flowlog generate: {status}");
        Self { live: path.join("events.log"), dir: path, input, _dir: dir }
    }

    /// Replays the input into `events.log`, at most [`MAX_RATE`] lines a
    /// second, and checks that flowlog wrote every input line once, through
    /// at least [`MIN_BACKUPS`] rotations.
    fn write(&self) -> Written {
        let started = Instant::now();
        let mut flowlog = Running::replay_from_fifo(
            &self.dir,
            &[
                "--export-file-path",
                self.live.to_str().unwrap(),
                "--export-file-max-size-mb",
                "2",
                "--export-file-max-backups",
                "0",
            ],
        );
        let mut input = HashMap::with_capacity(LINES);
        let mut chunk = String::new();
        let mut sent = 0usize;
        for line in read_lines(&self.input) {
            *input.entry(uuid_of(&line).to_owned()).or_insert(0usize) += 1;
            chunk.push_str(&line);
            chunk.push('\n');
            sent += 1;
            if sent.is_multiple_of(CHUNK) || sent == LINES {
                // The chunk ending with line `sent` is due `sent / MAX_RATE` seconds in.
                let due = Duration::from_secs(1) * sent as u32 / MAX_RATE;
                std::thread::sleep(due.saturating_sub(started.elapsed()));
                flowlog.send_text(&chunk);
                chunk.clear();
            }
        }
        flowlog.finish();
        let elapsed = started.elapsed();

        assert_eq!(sent, LINES, "flowlog generate wrote {sent} lines");
        assert!(input.values().all(|&n| n == 1), "every generated flow has its own uuid");
        let written = Written::read(&self.dir, elapsed);
        assert_eq!(written.lines(), LINES, "flowlog wrote every line it read, once");
        assert!(written.uuids.keys().all(|uuid| input.contains_key(uuid)), "flowlog wrote only what it read");
        assert!(written.backups() >= MIN_BACKUPS, "{} backups, expected {MIN_BACKUPS} or more", written.backups());
        written
    }
}

/// What flowlog wrote: the uuid of every line and the file holding it.
struct Written {
    /// Uuid → index in `files`.
    uuids: HashMap<String, usize>,
    /// `events.log` and its backups, by name.
    files: Vec<String>,
    /// Every line, through [`add_line`].
    content: u64,
    /// How long flowlog took, from start to exit.
    elapsed: Duration,
}

impl Written {
    fn read(dir: &Path, elapsed: Duration) -> Self {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with("events") && name.ends_with(".log"))
            .collect();
        files.sort();
        let mut uuids = HashMap::with_capacity(LINES);
        let mut content = 0;
        for (index, name) in files.iter().enumerate() {
            for line in read_lines(&dir.join(name)) {
                content = add_line(content, &line);
                if let Some(first) = uuids.insert(uuid_of(&line).to_owned(), index) {
                    panic!("flowlog wrote a flow twice, in {} and {name}", files[first]);
                }
            }
        }
        Self { uuids, files, content, elapsed }
    }

    fn lines(&self) -> usize {
        self.uuids.len()
    }

    /// Rotated files: every file but the live one.
    fn backups(&self) -> usize {
        self.files.iter().filter(|name| *name != "events.log").count()
    }

    /// Checks that `shipped` holds every written uuid once and nothing else;
    /// on failure, names the files the missing lines came from. Returns how
    /// many lines were shipped.
    fn check_exactly_once(&self, shipper: &str, shipped: impl Iterator<Item = String>) -> usize {
        let mut seen: HashMap<&str, usize> = self.uuids.keys().map(|uuid| (uuid.as_str(), 0)).collect();
        let mut total = 0;
        let mut unknown = Vec::new();
        for uuid in shipped {
            total += 1;
            match seen.get_mut(uuid.as_str()) {
                Some(count) => *count += 1,
                None => unknown.push(uuid),
            }
        }
        let duplicated = seen.values().filter(|&&n| n > 1).count();
        // Missing lines by file: whole files point at a file the shipper never
        // opened, a few lines at its end at a file closed too early.
        let mut missing: HashMap<usize, usize> = HashMap::new();
        for (uuid, _) in seen.iter().filter(|(_, n)| **n == 0) {
            *missing.entry(self.uuids[*uuid]).or_default() += 1;
        }
        let mut missing: Vec<String> = missing
            .into_iter()
            .map(|(file, n)| format!("{}: {n} of {}", self.files[file], self.lines_in(file)))
            .collect();
        missing.sort();
        assert!(
            missing.is_empty() && duplicated == 0 && unknown.is_empty(),
            "{shipper}: {total} lines shipped for {} written; {duplicated} shipped more than once; \
             {} not written by flowlog (e.g. {:?}); missing lines by file ({} files of {}): {missing:#?}",
            self.lines(),
            unknown.len(),
            unknown.first(),
            missing.len(),
            self.files.len(),
        );
        total
    }

    fn lines_in(&self, file: usize) -> usize {
        self.uuids.values().filter(|&&f| f == file).count()
    }
}

/// The flow uuid of a line flowlog generated or wrote, found as text: in a
/// flow line `"uuid":"` can only be the key of `flow.uuid` (a quote inside a
/// string is escaped). Lines shipped are parsed as JSON instead, by
/// [`flow_uuid`]; this is for the lines known good, and fast.
fn uuid_of(line: &str) -> &str {
    const KEY: &str = "\"uuid\":\"";
    let start = line.find(KEY).unwrap_or_else(|| panic!("no flow uuid in {line}")) + KEY.len();
    let len = line[start..].find('"').unwrap_or_else(|| panic!("unterminated uuid in {line}"));
    &line[start..start + len]
}

/// The `flow.uuid` of a shipped line, which must be JSON.
fn flow_uuid(line: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    value["flow"]["uuid"].as_str().map(str::to_owned).ok_or_else(|| "no flow.uuid".to_owned())
}

/// Adds `line` to a digest of lines that ignores their order: the same lines
/// give the same digest, whatever the order they were shipped in.
fn add_line(digest: u64, line: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    digest.wrapping_add(BuildHasherDefault::<DefaultHasher>::default().hash_one(line))
}

/// The lines of a file, read as they are needed.
fn read_lines(path: &Path) -> impl Iterator<Item = String> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::with_capacity(1 << 20, file).lines().map(|line| line.unwrap())
}

/// Waits until `path` has `expected` lines, or stops growing for [`STALLED`],
/// or [`CATCH_UP`] passes; returns how long that took.
fn wait_until_caught_up(path: &Path, expected: usize) -> Duration {
    let started = Instant::now();
    let mut counter = LineCounter::new(path);
    let mut last_growth = Instant::now();
    let mut lines = counter.count();
    while lines < expected && last_growth.elapsed() < STALLED && started.elapsed() < CATCH_UP {
        std::thread::sleep(Duration::from_millis(100));
        let now = counter.count();
        if now > lines {
            lines = now;
            last_growth = Instant::now();
        }
    }
    started.elapsed()
}

/// Counts the lines of a growing file, reading only what was appended since.
struct LineCounter {
    path: PathBuf,
    file: Option<File>,
    lines: usize,
}

impl LineCounter {
    fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), file: None, lines: 0 }
    }

    fn count(&mut self) -> usize {
        if self.file.is_none() {
            // Not created yet: no lines.
            self.file = File::open(&self.path).ok();
        }
        if let Some(file) = &mut self.file {
            let mut buffer = vec![0; 1 << 20];
            loop {
                match file.read(&mut buffer).unwrap() {
                    0 => break,
                    n => self.lines += buffer[..n].iter().filter(|&&b| b == b'\n').count(),
                }
            }
        }
        self.lines
    }
}

/// A child process, killed and reaped if the test ends before it does.
struct Reaped(Child);

impl Reaped {
    fn spawn(command: &mut Command) -> Self {
        let program = command.get_program().to_owned();
        Self(command.spawn().unwrap_or_else(|e| panic!("{}: {e}", program.display())))
    }

    /// Waits until the process watches a file or directory through inotify,
    /// so that nothing flowlog does from now on can escape it.
    fn wait_until_watching(&self, stderr: &Path) {
        let fdinfo = format!("/proc/{}/fdinfo", self.0.id());
        let watching = || {
            std::fs::read_dir(&fdinfo).into_iter().flatten().flatten().any(|fd| {
                std::fs::read_to_string(fd.path()).is_ok_and(|info| info.lines().any(|l| l.starts_with("inotify wd:")))
            })
        };
        assert!(
            wait_for(START_STOP, watching).is_some(),
            "no inotify watch after {START_STOP:?}: {}",
            last_lines(stderr)
        );
    }

    /// Sends `signal` and waits for the process to exit.
    fn stop(mut self, signal: &str, stderr: &Path) {
        send_signal(self.0.id(), signal);
        let status = self.wait(START_STOP);
        // tail ends by the signal; rsyslogd exits 0 on SIGTERM.
        assert!(
            status.success() || std::os::unix::process::ExitStatusExt::signal(&status).is_some(),
            "exited with {status}: {}",
            last_lines(stderr)
        );
    }

    /// Waits up to `limit` for the process to exit.
    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut status = None;
        wait_for(limit, || {
            status = self.0.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap_or_else(|| panic!("process {} still running after {limit:?}", self.0.id()))
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last lines of a log file, for failure messages.
fn last_lines(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
