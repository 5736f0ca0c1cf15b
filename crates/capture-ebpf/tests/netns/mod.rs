//! Network namespaces for privileged tests and benchmarks: made, entered and
//! deleted, also when the test panics.
//!
//! Shared by the capture crate's tests and benchmark and the agent's
//! end-to-end test (`#[path]`), so every one builds its topology the same way.

#![allow(dead_code, reason = "each user needs a different part")]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Output};

/// True, after saying so loudly, when the caller must skip `test` because it
/// is not root: the tests create namespaces and load eBPF programs.
pub fn skip_unless_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED (needs root): {test} creates network namespaces and loads eBPF programs");
    }
    !root
}

/// A network namespace of the test's own, with its loopback up; deleted on
/// drop, with every link (and so every program attached) in it.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `name` must be unique on the machine: tests run in parallel, and other
    /// test binaries too. Put the process id in it.
    pub fn new(name: String) -> Netns {
        // Built before the first command so a failure halfway still cleans up.
        let netns = Netns { name };
        run(&["ip", "netns", "add", &netns.name]);
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// Runs `ip -n <namespace> <args>`, panicking when it fails.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut all = vec!["ip", "-n", self.name.as_str()];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Runs a command in the namespace with nsenter, which (unlike `ip netns
    /// exec`) leaves /sys alone, so bpffs and tracefs stay visible.
    pub fn exec(&self, args: &[&str]) -> Output {
        let net = self.nsenter_arg();
        let mut all = vec!["nsenter", net.as_str()];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Joins `pod` to this namespace as a CNI joins a pod to its node: a
    /// veth whose host side `host_side` has `gateway`/24, and whose pod side,
    /// `eth0` in `pod`, has `address`/24 and its default route via `gateway`.
    pub fn add_pod(&self, pod: &Netns, host_side: &str, gateway: &str, address: &str) {
        self.ip(&["link", "add", host_side, "type", "veth", "peer", "name", "eth0", "netns", &pod.name]);
        self.ip(&["addr", "add", &format!("{gateway}/24"), "dev", host_side]);
        self.ip(&["link", "set", host_side, "up"]);
        pod.ip(&["addr", "add", &format!("{address}/24"), "dev", "eth0"]);
        pod.ip(&["link", "set", "eth0", "up"]);
        pod.ip(&["route", "add", "default", "via", gateway]);
    }

    /// `--net=<path>`, for running commands of one's own under nsenter.
    pub fn nsenter_arg(&self) -> String {
        format!("--net=/var/run/netns/{}", self.name)
    }

    /// Runs `f` on a thread whose network namespace is this one.
    ///
    /// setns(CLONE_NEWNET) changes only the calling thread, so a fresh thread
    /// keeps the test harness's threads where they were. Sockets and
    /// captures keep the namespace they were made in, so they can be
    /// returned and used anywhere.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                    // SAFETY: a valid namespace fd, borrowed for the call.
                    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Runs a command and panics with its output when it fails.
pub fn run(args: &[&str]) -> Output {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e} (is it installed?)"));
    assert!(output.status.success(), "{args:?} failed: {}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    output
}
