//! The `skb:kfree_skb` tracepoint program, `flowlog_kfree_skb`: [`DropHook`].
//!
//! It sees drops in every network namespace (the tracepoint is global), so
//! unlike the tc programs it is attached once per [`Capture`](crate::Capture),
//! not per interface.

use std::ffi::CString;
use std::io;
use std::path::Path;

use aya::Ebpf;
use aya::programs::TracePoint;
use aya::programs::trace_point::TracePointLinkId;

use crate::CaptureError;
use crate::error::classify;

/// Name of the drop program in the object.
pub const DROP_PROGRAM: &str = "flowlog_kfree_skb";

/// Where aya looks for tracefs first, and where we mount it when missing.
const TRACEFS: &str = "/sys/kernel/tracing";

/// The attached drop tracepoint.
#[derive(Debug)]
pub(crate) struct DropHook {
    link: TracePointLinkId,
}

impl DropHook {
    /// Mounts tracefs if needed, loads the program (first time only) and attaches it.
    pub(crate) fn attach(ebpf: &mut Ebpf) -> Result<DropHook, CaptureError> {
        ensure_tracefs()?;
        let program = program(ebpf)?;
        if program.fd().is_err() {
            program.load().map_err(|e| {
                classify(
                    || format!("loading program {DROP_PROGRAM}"),
                    e,
                    |source| CaptureError::LoadProgram { program: DROP_PROGRAM, source },
                )
            })?;
        }
        let link = program.attach("skb", "kfree_skb").map_err(|e| {
            classify(
                || format!("attaching {DROP_PROGRAM} to skb:kfree_skb"),
                e,
                |source| CaptureError::AttachTracepoint { program: DROP_PROGRAM, source },
            )
        })?;
        Ok(DropHook { link })
    }

    /// Detaches the tracepoint.
    pub(crate) fn detach(self, ebpf: &mut Ebpf) -> Result<(), CaptureError> {
        program(ebpf)?.detach(self.link).map_err(|source| CaptureError::Detach { program: DROP_PROGRAM, source })
    }
}

fn program(ebpf: &mut Ebpf) -> Result<&mut TracePoint, CaptureError> {
    ebpf.program_mut(DROP_PROGRAM)
        .and_then(|p| p.try_into().ok())
        .ok_or(CaptureError::Missing { what: "tracepoint program", name: DROP_PROGRAM })
}

/// Mounts tracefs at /sys/kernel/tracing unless some tracefs is reachable.
///
/// Minimal systems (containers, CI VMs) often boot without it, and aya needs
/// it to look up the tracepoint id.
fn ensure_tracefs() -> Result<(), CaptureError> {
    let candidates = [Path::new(TRACEFS), Path::new("/sys/kernel/debug/tracing")];
    if candidates.iter().any(|dir| dir.join("events").is_dir()) {
        return Ok(());
    }
    let mount_error = |source| CaptureError::MountTracefs { path: TRACEFS.into(), source };
    let target = CString::new(TRACEFS).expect("constant has no NUL");
    let fstype = c"tracefs";
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of
    // the call; a null `data` is allowed.
    let rc = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        let error = io::Error::last_os_error();
        // Someone else mounted it meanwhile: fine.
        if error.raw_os_error() == Some(libc::EBUSY) && Path::new(TRACEFS).join("events").is_dir() {
            return Ok(());
        }
        return Err(mount_error(error));
    }
    Ok(())
}
