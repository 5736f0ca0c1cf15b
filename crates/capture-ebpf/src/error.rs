//! [`CaptureError`]: everything that can go wrong loading, attaching and reading.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use aya::programs::ProgramError;
use aya::{EbpfError, maps::MapError};

/// Errors of this crate. Messages name the program, map or interface
/// involved; the underlying error (with the verifier log, when there is one)
/// is the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The kernel said EPERM and we are not root.
    #[error(
        "{what}: permission denied; eBPF capture needs root (or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON), \
         and this process runs as uid {euid}"
    )]
    NotRoot {
        /// What was being done, e.g. "loading program flowlog_ingress".
        what: String,
        /// The effective user id.
        euid: u32,
        /// The kernel's answer.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The kernel said EPERM although we are root.
    #[error(
        "{what}: permission denied as root; the kernel lacks a feature this needs \
         (BPF syscall, ring buffers, tc/tcx, tracepoints) or a security policy (lockdown, seccomp, LSM) forbids it"
    )]
    PermissionDenied {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// [`CaptureOptions::ring_buffer_bytes`](crate::CaptureOptions::ring_buffer_bytes) is unusable.
    #[error("ring buffer size {bytes} is not a power of two multiple of the page size ({page_size} bytes)")]
    InvalidRingBuffer {
        /// The configured size.
        bytes: u32,
        /// This machine's page size.
        page_size: usize,
    },
    /// [`CaptureOptions::report_interval`](crate::CaptureOptions::report_interval) is too short.
    #[error("report interval {interval:?} is shorter than 1 ms")]
    InvalidReportInterval {
        /// The configured interval.
        interval: Duration,
    },
    /// The kernel's clock tick, by which the programs count the report
    /// interval, could not be read.
    #[error("reading the kernel's clock tick (clock_getres(CLOCK_MONOTONIC_COARSE)) failed")]
    Clock {
        /// The clock_getres(2) error.
        #[source]
        source: io::Error,
    },
    /// Port 0 was given as a DNS port.
    #[error("DNS port 0 is not a port: give ports from 1 to 65535")]
    InvalidDnsPort,
    /// The embedded object could not be loaded (maps, BTF relocation).
    #[error("loading the flowlog eBPF object failed")]
    Object {
        /// aya's error.
        #[source]
        source: EbpfError,
    },
    /// A program was rejected by the kernel (the verifier log is in the source).
    #[error("loading program {program} failed")]
    LoadProgram {
        /// The program's name.
        program: &'static str,
        /// aya's error, with the verifier log.
        #[source]
        source: ProgramError,
    },
    /// The embedded object lacks a program or map this crate expects.
    #[error("the embedded eBPF object has no {what} named {name}")]
    Missing {
        /// "program" or "map".
        what: &'static str,
        /// The name looked for.
        name: &'static str,
    },
    /// A map could not be read or written.
    #[error("map {map}: {action} failed")]
    Map {
        /// The map's name.
        map: &'static str,
        /// What was attempted.
        action: &'static str,
        /// aya's error.
        #[source]
        source: MapError,
    },
    /// [`Capture::take_ring_buffer`](crate::Capture::take_ring_buffer) was already called.
    #[error("the events ring buffer was already taken")]
    RingBufferTaken,
    /// No interface with this name in the calling thread's network namespace.
    #[error("no interface named {ifname} in this network namespace")]
    UnknownInterface {
        /// The name given.
        ifname: String,
    },
    /// [`Capture::attach`](crate::Capture::attach) was called twice for one interface.
    #[error("interface {ifname} is already captured")]
    AlreadyAttached {
        /// The interface.
        ifname: String,
    },
    /// [`Capture::detach`](crate::Capture::detach) for an interface that is not captured.
    #[error("interface {ifname} is not captured")]
    NotAttached {
        /// The interface.
        ifname: String,
    },
    /// Attaching a tc program failed (both tcx and clsact, in [`TcMode::Auto`](crate::TcMode::Auto)).
    #[error("attaching {program} to {ifname} failed")]
    AttachTc {
        /// The program's name.
        program: &'static str,
        /// The interface.
        ifname: String,
        /// aya's error from the last attempt.
        #[source]
        source: ProgramError,
    },
    /// Adding the clsact qdisc for the netlink fallback failed.
    #[error("adding the clsact qdisc to {ifname} failed")]
    AddClsact {
        /// The interface.
        ifname: String,
        /// aya's error.
        #[source]
        source: aya::programs::tc::TcError,
    },
    /// Detaching a program failed.
    #[error("detaching {program} failed")]
    Detach {
        /// The program's name.
        program: &'static str,
        /// aya's error.
        #[source]
        source: ProgramError,
    },
    /// tracefs is not mounted and mounting it failed.
    #[error("tracefs is not mounted and mounting it at {} failed", path.display())]
    MountTracefs {
        /// Where we tried to mount it.
        path: PathBuf,
        /// The mount(2) error.
        #[source]
        source: io::Error,
    },
    /// Attaching the `skb:kfree_skb` tracepoint failed.
    #[error("attaching {program} to the skb:kfree_skb tracepoint failed")]
    AttachTracepoint {
        /// The program's name.
        program: &'static str,
        /// aya's error.
        #[source]
        source: ProgramError,
    },
}

/// Turns an EPERM buried in an aya error into [`CaptureError::NotRoot`] or
/// [`CaptureError::PermissionDenied`]; anything else goes through `other`.
pub(crate) fn classify<E>(
    what: impl FnOnce() -> String,
    error: E,
    other: impl FnOnce(E) -> CaptureError,
) -> CaptureError
where
    E: std::error::Error + Send + Sync + 'static,
{
    if !is_eperm(&error) {
        return other(error);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let source = Box::new(error);
    if euid == 0 {
        CaptureError::PermissionDenied { what: what(), source }
    } else {
        CaptureError::NotRoot { what: what(), euid, source }
    }
}

/// Whether any error in the chain is an `io::Error` with EPERM.
fn is_eperm(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && io.raw_os_error() == Some(libc::EPERM)
        {
            return true;
        }
        if let Some(ProgramError::LoadError { io_error, .. }) = e.downcast_ref::<ProgramError>()
            && io_error.raw_os_error() == Some(libc::EPERM)
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_anywhere_in_the_chain_is_a_permission_error() {
        let io = io::Error::from_raw_os_error(libc::EPERM);
        let error = ProgramError::SyscallError(aya::sys::SyscallError { call: "bpf_prog_load", io_error: io });
        let classified = classify(|| "loading program x".into(), error, |_| unreachable!());
        assert!(matches!(classified, CaptureError::NotRoot { .. } | CaptureError::PermissionDenied { .. }));
        assert!(classified.to_string().starts_with("loading program x: permission denied"));
    }

    #[test]
    fn other_errors_pass_through() {
        let error = ProgramError::NotLoaded;
        let classified = classify(|| "x".into(), error, |source| CaptureError::LoadProgram { program: "p", source });
        assert!(matches!(classified, CaptureError::LoadProgram { program: "p", .. }));
    }
}
