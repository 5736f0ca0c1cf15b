//! [`Capture`]: the loaded object, the interfaces it is attached to, and the
//! maps userspace reads.

use aya::maps::{Array, MapData, PerCpuArray, RingBuf};
use aya::{Ebpf, EbpfLoader};

use crate::config::KernelConfig;
use crate::drops::DropHook;
use crate::error::classify;
use crate::tc::{AttachedVia, TcHook};
use crate::{CaptureError, CaptureOptions};

/// The compiled kernel programs (`bpf/flowlog.bpf.o`, rebuilt by `build.rs`
/// when clang is available).
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/flowlog.bpf.o"));

const EVENTS_MAP: &str = "events";
const LOST_MAP: &str = "lost";
const CONFIG_MAP: &str = "config";
const DNS_PORTS_MAP: &str = "dns_ports";

/// The flowlog eBPF programs, loaded and configured, and what they are attached to.
///
/// Interfaces are looked up in the network namespace of the *calling thread*,
/// and netlink (clsact) attachments are removed through that namespace too:
/// attach, detach and drop a `Capture` from threads in the same namespace.
///
/// Dropping it detaches everything (tcx links and the tracepoint would go
/// away with their file descriptors anyway; clsact filters would not).
#[derive(Debug)]
pub struct Capture {
    options: CaptureOptions,
    hooks: Vec<TcHook>,
    drops: Option<DropHook>,
    // Last: the programs must outlive the hooks detached in Drop.
    ebpf: Ebpf,
}

impl Capture {
    /// Validates `options`, creates the maps (the ring buffer with
    /// [`CaptureOptions::ring_buffer_bytes`]), writes the configuration and
    /// loads the tc programs. With [`CaptureOptions::drops`] it also attaches
    /// the drop tracepoint.
    ///
    /// Nothing is attached to an interface yet: see [`Capture::attach`].
    pub fn load(options: CaptureOptions) -> Result<Capture, CaptureError> {
        options.validate()?;
        let ebpf =
            EbpfLoader::new().map_max_entries(EVENTS_MAP, options.ring_buffer_bytes).load(OBJECT).map_err(|e| {
                classify(
                    || "creating the eBPF maps and relocating programs".to_owned(),
                    e,
                    |source| CaptureError::Object { source },
                )
            })?;
        let mut capture = Capture { options, hooks: Vec::new(), drops: None, ebpf };
        capture.write_config()?;
        crate::tc::load(&mut capture.ebpf)?;
        if capture.options.drops {
            capture.enable_drops()?;
        }
        Ok(capture)
    }

    /// The options this capture was loaded with.
    pub fn options(&self) -> &CaptureOptions {
        &self.options
    }

    /// Attaches the ingress and egress programs to `ifname` in the calling
    /// thread's network namespace: tcx first, a clsact filter when tcx is not
    /// available (see [`TcMode`](crate::TcMode)).
    ///
    /// The programs only observe: they never change what happens to a packet.
    /// The attachment belongs to the interface, not its name: it stays
    /// through a rename, and another interface that takes the name later is
    /// a different one.
    pub fn attach(&mut self, ifname: &str) -> Result<AttachedVia, CaptureError> {
        let ifindex = crate::tc::interface_index(ifname)?;
        self.attach_index(ifindex, ifname)
    }

    /// [`attach`](Self::attach) to the interface `ifindex`, named `ifname`;
    /// [`CaptureError::UnknownInterface`] when `ifname` no longer names it
    /// (the interface was renamed or removed since it was listed).
    pub(crate) fn attach_index(&mut self, ifindex: u32, ifname: &str) -> Result<AttachedVia, CaptureError> {
        if self.hooks.iter().any(|hook| hook.ifindex == ifindex) {
            return Err(CaptureError::AlreadyAttached { ifname: ifname.to_owned() });
        }
        let hook = TcHook::attach(&mut self.ebpf, ifindex, ifname, self.options.tc_mode)?;
        let via = hook.via;
        self.hooks.push(hook);
        Ok(via)
    }

    /// Detaches both programs from `ifname`: the interface that has this
    /// name now, or, when none is attached, the one attached under it.
    ///
    /// Succeeds when that interface no longer exists: the kernel removed the
    /// programs with it, and only the bookkeeping was left to do.
    pub fn detach(&mut self, ifname: &str) -> Result<(), CaptureError> {
        let by_index = crate::tc::interface_index(ifname)
            .ok()
            .and_then(|ifindex| self.hooks.iter().position(|hook| hook.ifindex == ifindex));
        let index = by_index
            .or_else(|| self.hooks.iter().position(|hook| hook.ifname == ifname))
            .ok_or_else(|| CaptureError::NotAttached { ifname: ifname.to_owned() })?;
        self.hooks.swap_remove(index).detach(&mut self.ebpf)
    }

    /// [`detach`](Self::detach) from the interface `ifindex`.
    pub(crate) fn detach_index(&mut self, ifindex: u32) -> Result<(), CaptureError> {
        let index = self
            .hooks
            .iter()
            .position(|hook| hook.ifindex == ifindex)
            .ok_or_else(|| CaptureError::NotAttached { ifname: format!("with index {ifindex}") })?;
        self.hooks.swap_remove(index).detach(&mut self.ebpf)
    }

    /// Records that the attached interface `ifindex` is now called `ifname`,
    /// for [`attached`](Self::attached). Does nothing when it is not attached.
    pub(crate) fn rename(&mut self, ifindex: u32, ifname: &str) {
        if let Some(hook) = self.hooks.iter_mut().find(|hook| hook.ifindex == ifindex) {
            ifname.clone_into(&mut hook.ifname);
        }
    }

    /// The interfaces the tc programs are attached to, and how.
    pub fn attached(&self) -> impl Iterator<Item = (&str, AttachedVia)> {
        self.hooks.iter().map(|hook| (hook.ifname.as_str(), hook.via))
    }

    /// Attaches the `skb:kfree_skb` tracepoint, which reports drops in every
    /// network namespace. Mounts tracefs at `/sys/kernel/tracing` when no
    /// tracefs is mounted. Does nothing when already enabled.
    pub fn enable_drops(&mut self) -> Result<(), CaptureError> {
        if self.drops.is_none() {
            self.drops = Some(DropHook::attach(&mut self.ebpf)?);
        }
        Ok(())
    }

    /// Detaches the drop tracepoint. Does nothing when not enabled.
    pub fn disable_drops(&mut self) -> Result<(), CaptureError> {
        match self.drops.take() {
            Some(hook) => hook.detach(&mut self.ebpf),
            None => Ok(()),
        }
    }

    /// Hands over the `events` ring buffer; decode its items with
    /// [`FlowRecord::parse`](crate::FlowRecord::parse). Can be called once.
    ///
    /// The returned value implements `AsRawFd`, so it can be polled for
    /// readability (e.g. with tokio's `AsyncFd`) instead of busy-looping on
    /// `next()`.
    pub fn take_ring_buffer(&mut self) -> Result<RingBuf<MapData>, CaptureError> {
        let map = self.ebpf.take_map(EVENTS_MAP).ok_or(CaptureError::RingBufferTaken)?;
        RingBuf::try_from(map).map_err(|source| CaptureError::Map { map: EVENTS_MAP, action: "open", source })
    }

    /// Records the kernel could not write because the ring buffer was full,
    /// summed over CPUs, since load.
    pub fn lost_records(&self) -> Result<u64, CaptureError> {
        let map_error = |source| CaptureError::Map { map: LOST_MAP, action: "read", source };
        let map = self.ebpf.map(LOST_MAP).ok_or(CaptureError::Missing { what: "map", name: LOST_MAP })?;
        let lost = PerCpuArray::<&MapData, u64>::try_from(map).map_err(map_error)?;
        let per_cpu = lost.get(&0, 0).map_err(map_error)?;
        Ok(per_cpu.iter().copied().fold(0u64, u64::wrapping_add))
    }

    fn write_config(&mut self) -> Result<(), CaptureError> {
        let map_error = |source| CaptureError::Map { map: CONFIG_MAP, action: "write", source };
        let map = self.ebpf.map_mut(CONFIG_MAP).ok_or(CaptureError::Missing { what: "map", name: CONFIG_MAP })?;
        let mut config = Array::<&mut MapData, KernelConfig>::try_from(map).map_err(map_error)?;
        let tick = crate::config::kernel_tick().map_err(|source| CaptureError::Clock { source })?;
        config.set(0, self.options.kernel_config(tick), 0).map_err(map_error)?;

        let map_error = |source| CaptureError::Map { map: DNS_PORTS_MAP, action: "write", source };
        let map = self.ebpf.map_mut(DNS_PORTS_MAP).ok_or(CaptureError::Missing { what: "map", name: DNS_PORTS_MAP })?;
        let mut ports = Array::<&mut MapData, u64>::try_from(map).map_err(map_error)?;
        for (word, bits) in self.options.dns_port_words() {
            ports.set(word, bits, 0).map_err(map_error)?;
        }
        Ok(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // Errors are ignored: there is no one left to tell, and closing the
        // object's file descriptors afterwards removes tcx links regardless.
        for hook in self.hooks.drain(..) {
            let _ = hook.detach(&mut self.ebpf);
        }
        if let Some(hook) = self.drops.take() {
            let _ = hook.detach(&mut self.ebpf);
        }
    }
}

// A capture is built on a thread inside the target namespace and often used
// elsewhere; keep that possible.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Capture>();
};
