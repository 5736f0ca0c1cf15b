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
    /// What the hook is known by: an index stays when the interface is renamed.
    pub(crate) ifindex: u32,
    /// The interface's name when attached, or since [`Capture`](crate::Capture) learned of a rename.
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
    /// network namespace, provided it still names the interface `ifindex`
    /// (else [`CaptureError::UnknownInterface`]). On failure nothing stays
    /// attached.
    pub(crate) fn attach(ebpf: &mut Ebpf, ifindex: u32, ifname: &str, mode: TcMode) -> Result<TcHook, CaptureError> {
        if interface_index(ifname)? != ifindex {
            return Err(CaptureError::UnknownInterface { ifname: ifname.to_owned() });
        }
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
        Ok(TcHook { ifindex, ifname: ifname.to_owned(), via, ingress, egress })
    }

    /// Detaches both programs; tries both even when the first fails.
    ///
    /// Succeeds when the interface is gone from the calling thread's
    /// namespace: the kernel removed its tcx links and its clsact qdisc with
    /// it, and netlink can only answer ENODEV. (A clsact filter on an
    /// interface moved to another namespace stays there; a tcx link goes
    /// away with its file descriptor wherever the interface is.)
    pub(crate) fn detach(self, ebpf: &mut Ebpf) -> Result<(), CaptureError> {
        let TcHook { ifindex, ifname: _, via: _, ingress, egress } = self;
        let first = detach_one(ebpf, INGRESS_PROGRAM, ingress);
        let second = detach_one(ebpf, EGRESS_PROGRAM, egress);
        match first.and(second) {
            Err(_) if !interface_exists(ifindex) => Ok(()),
            result => result,
        }
    }
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut SchedClassifier, CaptureError> {
    ebpf.program_mut(name).and_then(|p| p.try_into().ok()).ok_or(CaptureError::Missing { what: "tc program", name })
}

/// The index of the interface named `ifname` in the calling thread's network namespace.
pub(crate) fn interface_index(ifname: &str) -> Result<u32, CaptureError> {
    let unknown = || CaptureError::UnknownInterface { ifname: ifname.to_owned() };
    let name = CString::new(ifname).map_err(|_| unknown())?;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(unknown()),
        index => Ok(index),
    }
}

/// Whether the calling thread's network namespace has an interface `ifindex`.
fn interface_exists(ifindex: u32) -> bool {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has the IF_NAMESIZE bytes if_indextoname may write.
    !unsafe { libc::if_indextoname(ifindex, name.as_mut_ptr()) }.is_null()
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
