//! The tc programs `flowlog_ingress` and `flowlog_egress`, attached together
//! to one interface: [`TcHook`].

use std::ffi::CString;

use aya::Ebpf;
use aya::programs::tc::{self, NlOptions, SchedClassifierLinkId, TcAttachOptions};
use aya::programs::{LinkOrder, ProgramError, SchedClassifier, TcAttachType};

use crate::error::classify;
use crate::{CaptureError, TcMode};

/// Name of the ingress program in the object.
pub const INGRESS_PROGRAM: &str = "flowlog_ingress";
/// Name of the egress program in the object.
pub const EGRESS_PROGRAM: &str = "flowlog_egress";

/// How a [`TcHook`] is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachedVia {
    /// tcx links: detached when the link is closed, even if we crash.
    Tcx,
    /// Filters on a clsact qdisc, removed by netlink on detach. The qdisc
    /// stays, since other tools may have filters on it too.
    Netlink,
}

/// Both tc programs attached to one interface.
#[derive(Debug)]
pub(crate) struct TcHook {
    pub(crate) ifname: String,
    pub(crate) via: AttachedVia,
    ingress: SchedClassifierLinkId,
    egress: SchedClassifierLinkId,
}

/// Loads both tc programs into the kernel (once, before any attach).
pub(crate) fn load(ebpf: &mut Ebpf) -> Result<(), CaptureError> {
    for name in [INGRESS_PROGRAM, EGRESS_PROGRAM] {
        program(ebpf, name)?.load().map_err(|e| {
            classify(
                || format!("loading program {name}"),
                e,
                |source| CaptureError::LoadProgram { program: name, source },
            )
        })?;
    }
    Ok(())
}

impl TcHook {
    /// Attaches ingress then egress to `ifname`, in the calling thread's
    /// network namespace. On failure nothing stays attached.
    pub(crate) fn attach(ebpf: &mut Ebpf, ifname: &str, mode: TcMode) -> Result<TcHook, CaptureError> {
        check_interface(ifname)?;
        let (ingress, via) = attach_one(ebpf, INGRESS_PROGRAM, ifname, TcAttachType::Ingress, mode)?;
        // Egress uses the same mechanism as ingress, so one detach path fits both.
        let egress_mode = match via {
            AttachedVia::Tcx => mode,
            AttachedVia::Netlink => TcMode::Netlink,
        };
        let egress = match attach_one(ebpf, EGRESS_PROGRAM, ifname, TcAttachType::Egress, egress_mode) {
            Ok((egress, _)) => egress,
            Err(e) => {
                // Best effort: the attach error is the one worth reporting.
                if let Ok(program) = program(ebpf, INGRESS_PROGRAM) {
                    let _ = program.detach(ingress);
                }
                return Err(e);
            }
        };
        Ok(TcHook { ifname: ifname.to_owned(), via, ingress, egress })
    }

    /// Detaches both programs; tries both even when the first fails.
    pub(crate) fn detach(self, ebpf: &mut Ebpf) -> Result<(), CaptureError> {
        let TcHook { ifname: _, via: _, ingress, egress } = self;
        let first = detach_one(ebpf, INGRESS_PROGRAM, ingress);
        let second = detach_one(ebpf, EGRESS_PROGRAM, egress);
        first.and(second)
    }
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut SchedClassifier, CaptureError> {
    ebpf.program_mut(name).and_then(|p| p.try_into().ok()).ok_or(CaptureError::Missing { what: "tc program", name })
}

fn check_interface(ifname: &str) -> Result<(), CaptureError> {
    let unknown = || CaptureError::UnknownInterface { ifname: ifname.to_owned() };
    let name = CString::new(ifname).map_err(|_| unknown())?;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    if unsafe { libc::if_nametoindex(name.as_ptr()) } == 0 {
        return Err(unknown());
    }
    Ok(())
}

fn attach_one(
    ebpf: &mut Ebpf,
    name: &'static str,
    ifname: &str,
    attach_type: TcAttachType,
    mode: TcMode,
) -> Result<(SchedClassifierLinkId, AttachedVia), CaptureError> {
    let program = program(ebpf, name)?;
    let attach_error = |source: ProgramError| {
        classify(
            || format!("attaching {name} to {ifname}"),
            source,
            |source| CaptureError::AttachTc { program: name, ifname: ifname.to_owned(), source },
        )
    };
    if mode == TcMode::Auto {
        let tcx = program.attach_with_options(ifname, attach_type, TcAttachOptions::TcxOrder(LinkOrder::default()));
        if let Ok(id) = tcx {
            return Ok((id, AttachedVia::Tcx));
        }
        // Kernels before 6.6 (or without CONFIG_NET_XGRESS) have no tcx: fall
        // through to the clsact qdisc, which every kernel has. Its error, if
        // it fails too, is the one reported.
    }
    add_clsact(ifname)?;
    let id = program
        .attach_with_options(ifname, attach_type, TcAttachOptions::Netlink(NlOptions::default()))
        .map_err(attach_error)?;
    Ok((id, AttachedVia::Netlink))
}

/// Adds the clsact qdisc unless the interface already has one.
fn add_clsact(ifname: &str) -> Result<(), CaptureError> {
    match tc::qdisc_add_clsact(ifname) {
        Ok(()) => Ok(()),
        Err(tc::TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(tc::TcError::AlreadyAttached) => Ok(()),
        Err(e) => Err(classify(
            || format!("adding the clsact qdisc to {ifname}"),
            e,
            |source| CaptureError::AddClsact { ifname: ifname.to_owned(), source },
        )),
    }
}

fn detach_one(ebpf: &mut Ebpf, name: &'static str, id: SchedClassifierLinkId) -> Result<(), CaptureError> {
    program(ebpf, name)?.detach(id).map_err(|source| CaptureError::Detach { program: name, source })
}
