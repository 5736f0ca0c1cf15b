//! Running the `flowlog` binary and reading what it wrote, for end-to-end tests.

#![allow(dead_code, reason = "each test binary uses a different part")]

pub mod api_server;
pub mod hubble;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The sample export file shipped in `examples/`.
pub const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/flows.jsonl");

/// Events in the sample: its non-blank lines.
pub fn sample_events() -> usize {
    std::fs::read_to_string(SAMPLE).unwrap().lines().filter(|l| !l.trim().is_empty()).count()
}

/// A `flowlog` invocation being prepared.
pub struct Flowlog {
    args: Vec<String>,
    stdin: Option<String>,
    keep_stdin_open: bool,
}

/// What a finished invocation printed.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Flowlog {
    pub fn run(args: &[&str]) -> Self {
        Self { args: args.iter().map(|a| a.to_string()).collect(), stdin: None, keep_stdin_open: false }
    }

    pub fn replay(args: &[&str]) -> Self {
        let mut all = vec!["replay"];
        all.extend_from_slice(args);
        Self::run(&all)
    }

    /// Feeds `text` on standard input, then closes it.
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    /// Leaves standard input open and empty: a process that reads it blocks.
    pub fn stdin_open(mut self) -> Self {
        self.keep_stdin_open = true;
        self
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_flowlog"));
        command.args(&self.args).env_remove("RUST_LOG").env_remove("K8S_NODE_NAME");
        command
    }

    fn finish(self) -> Finished {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flowlog runs");
        let stdin = child.stdin.take().unwrap();
        let writer = {
            let text = self.stdin.clone().unwrap_or_default();
            let keep_open = self.keep_stdin_open;
            std::thread::spawn(move || {
                let mut stdin = stdin;
                let _ = stdin.write_all(text.as_bytes());
                if keep_open {
                    std::thread::sleep(std::time::Duration::from_secs(30));
                }
            })
        };
        let mut stdout = String::new();
        let mut stderr = String::new();
        child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        if !self.keep_stdin_open {
            writer.join().unwrap();
        }
        Finished { code: status.code(), stdout, stderr }
    }

    /// Runs to completion and expects success.
    pub fn success(self) -> Finished {
        let args = self.args.join(" ");
        let finished = self.finish();
        assert_eq!(finished.code, Some(0), "flowlog {args} failed:\n{}", finished.stderr);
        finished
    }

    /// Runs to completion and expects failure.
    pub fn failure(self) -> Finished {
        let args = self.args.join(" ");
        let finished = self.finish();
        assert_ne!(finished.code, Some(0), "flowlog {args} succeeded unexpectedly");
        finished
    }
}

/// A child process that is killed when the test lets go of it, panics
/// included, so a failing test leaves nothing running; with its process
/// group, when it leads one (`Command::process_group(0)`: a shell pipeline).
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines of a file (empty if it does not exist).
pub fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|t| t.lines().map(str::to_owned).collect()).unwrap_or_default()
}

/// Runs `jq -c FILTER FILE` and returns its output lines; jq failing (e.g. on
/// a line that is not JSON) fails the test.
pub fn jq(path: &Path, filter: &str) -> Vec<String> {
    let output =
        Command::new("jq").arg("-c").arg(filter).arg(path).output().expect("jq is installed (.ci/run installs it)");
    assert!(output.status.success(), "jq {filter} {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// The decompressed text of a gzip file.
pub fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
    text
}

/// Sends `signal` (e.g. `TERM`) to process `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Polls `done` every 10 ms until it holds or `limit` passes; returns how long
/// it took, or `None` on timeout.
pub fn wait_for(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    done().then(|| started.elapsed())
}

/// `GET path` over a plain TCP connection: the status code and the body.
pub fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("connect to {address}: {e}"));
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("not HTTP: {response:?}"));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("status: {head}"));
    (code, body.to_owned())
}

/// The sum of `metric`'s samples whose labels include every one of `labels`
/// (`r#"exporter="all""#`, …); 0 when there are none.
pub fn sum(text: &str, metric: &str, labels: &[&str]) -> u64 {
    text.lines()
        .filter_map(|line| line.strip_prefix(metric))
        .filter_map(|rest| {
            let (labels_part, value) = rest.rsplit_once(' ')?;
            (labels_part.starts_with('{') || labels_part.is_empty()).then_some((labels_part, value))
        })
        .filter(|(labels_part, _)| labels.iter().all(|label| labels_part.contains(label)))
        .map(|(_, value)| value.parse::<f64>().unwrap_or_else(|e| panic!("{metric} value {value:?}: {e}")) as u64)
        .sum()
}

/// The address flowlog logged it serves metrics on (it was asked for port 0).
pub fn metrics_address(running: &Running) -> SocketAddr {
    let logged = wait_for(Duration::from_secs(10), || running.stderr().contains("serving metrics"));
    assert!(logged.is_some(), "no metrics address logged:\n{}", running.stderr());
    let stderr = running.stderr();
    let line = stderr.lines().find(|line| line.contains("serving metrics")).unwrap();
    let address = line.split("address=").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
    address.parse().unwrap_or_else(|e| panic!("{address:?} in {line:?}: {e}"))
}

/// A `flowlog replay` running in the background, reading export lines from a
/// FIFO the test writes to, so it runs for as long as the test needs.
pub struct Running {
    child: std::process::Child,
    fifo: Option<std::fs::File>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    /// Starts `flowlog replay --input <dir>/input.fifo ARGS`.
    pub fn replay_from_fifo(dir: &Path, args: &[&str]) -> Self {
        let fifo = dir.join("input.fifo");
        let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", fifo.display());
        let mut all = vec!["replay", "--input", fifo.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut running = Self::spawn(Flowlog::run(&all).command());
        // Opening a FIFO for writing waits for its reader: flowlog, once started.
        running.fifo = Some(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
        running
    }

    /// Starts `command` (a flowlog invocation, perhaps wrapped in nsenter)
    /// in the background, collecting what it logs.
    pub fn spawn(mut command: Command) -> Self {
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("flowlog runs");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let collected = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                collected.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Self { child, fifo: None, stderr }
    }

    /// Writes export lines to flowlog's input.
    pub fn send(&mut self, lines: &[String]) {
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        self.send_text(&text);
    }

    /// Writes text, whole lines each ending in `\n`, to flowlog's input.
    pub fn send_text(&mut self, text: &str) {
        let fifo = self.fifo.as_mut().expect("input is open");
        fifo.write_all(text.as_bytes()).unwrap();
    }

    /// What flowlog has logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True when flowlog holds `path` open.
    pub fn has_open(&self, path: &Path) -> bool {
        let wanted = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .any(|target| target == wanted)
    }

    /// Ends the input (flowlog exports the rest; with the Hubble API on, it
    /// then serves until a signal).
    pub fn close_input(&mut self) {
        drop(self.fifo.take());
    }

    /// Ends the input and waits for flowlog to export everything and exit.
    pub fn finish(mut self) -> Finished {
        drop(self.fifo.take());
        self.wait()
    }

    /// Sends SIGTERM and waits for flowlog to write everything and exit.
    pub fn terminate(self) -> Finished {
        send_signal(self.pid(), "TERM");
        self.wait()
    }

    /// Sends `signal` and waits for flowlog to exit, however it does;
    /// returns what it logged and how long it took to exit.
    pub fn stop_with(mut self, signal: &str) -> (Finished, std::time::Duration) {
        let sent = std::time::Instant::now();
        send_signal(self.pid(), signal);
        let status = self.child.wait().unwrap();
        let took = sent.elapsed();
        // Give the stderr reader a moment to see the end of the pipe.
        std::thread::sleep(std::time::Duration::from_millis(50));
        (Finished { code: status.code(), stdout: String::new(), stderr: self.stderr() }, took)
    }

    fn wait(mut self) -> Finished {
        let status = self.child.wait().unwrap();
        // Give the stderr reader a moment to see the end of the pipe.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let stderr = self.stderr();
        assert!(status.success(), "flowlog failed: {status:?}\n{stderr}");
        Finished { code: status.code(), stdout: String::new(), stderr }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
