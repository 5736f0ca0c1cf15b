//! [`Session`]: a capture running on a node, from kernel records to
//! Hubble flows.
//!
//! ```text
//!  netlink link changes ─▶ Interfaces ─ attach/detach ─▶ Capture
//!  ring buffer `events` ─▶ FlowRecord ─▶ Decoder ──────────────────────▶ emit(Captured::Flow)
//!                        └ DnsPayload (DNS records) ────────────────────▶ emit(Captured::Dns)
//!  `lost` counters (every second) ─────────────────────────────────────▶ emit(Captured::Lost)
//! ```
//!
//! [`Session::run`] is one task on the agent's tokio runtime, waiting on the
//! ring buffer's and the netlink socket's file descriptors: records are read
//! when the kernel wakes us for a burst, or every 10 ms otherwise, never by
//! busy polling. Interfaces are attached by the same task; the runtime's
//! threads are all in the network namespace the agent was started in, which
//! is the one the [`Capture`] must stay in.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use flowlog_flow::Flow;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use crate::decode::{Decoder, DropReasonNames};
use crate::interfaces::{InterfaceEvent, InterfacePattern, Interfaces, LinkChange, LinkMonitor};
use crate::{Capture, CaptureError, CaptureOptions, DnsPayload, FlowRecord, Kind};

/// How often kernel losses are collected and the clocks compared.
const TICK: Duration = Duration::from_secs(1);
/// How often the ring buffer is read without being woken: the kernel wakes
/// the reader only when a burst has queued up (see `wakeup_flag` in the C source),
/// so this bounds how long a lone record waits.
const DRAIN_EVERY: Duration = Duration::from_millis(10);
/// Records handed out per wake-up. Past this the loop looks at its other
/// sources (a stop, the loss count, link changes) before going on, so a
/// flood of records cannot starve them.
const BATCH: usize = 4096;

/// What a [`Session`] needs to start.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// What the kernel programs report.
    pub capture: CaptureOptions,
    /// Which interfaces to capture on, and their roles; interfaces that
    /// appear later are attached when they match.
    pub interfaces: Vec<InterfacePattern>,
    /// Written in every flow's `node_name`.
    pub node_name: String,
}

/// What a running session hands out.
#[derive(Debug)]
pub enum Captured {
    /// A flow, decoded: its endpoints are still to be named.
    Flow(CapturedFlow),
    /// A packet to or from a DNS port: its flow (as a trace) and payload.
    Dns(CapturedFlow, DnsPayload),
    /// Records the kernel could not write because the ring buffer was full.
    Lost(u64),
    /// An interface was attached, detached, or failed to attach.
    Interface(InterfaceEvent),
}

/// A flow as the kernel reported it, with the addresses it was decoded
/// from, so the next stage can name its endpoints without parsing them back
/// from the flow's strings.
#[derive(Debug)]
pub struct CapturedFlow {
    /// The flow, without `source` and `destination`.
    pub flow: Box<Flow>,
    /// Its source and destination addresses, when it has an IP header.
    pub addresses: Option<(IpAddr, IpAddr)>,
}

/// Asks a running [`Session`] to stop, from any thread.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<Notify>);

impl StopHandle {
    /// Makes [`Session::run`] detach everything, hand out what is still
    /// queued and return. Works before `run` is called, too.
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

/// The programs loaded and attached, and everything needed to read them.
pub struct Session {
    hooks: Hooks,
    monitor: LinkMonitor,
    ring: RingBuf<MapData>,
    decoder: Decoder,
    stop: StopHandle,
}

/// What is attached where, and the kernel's loss count already reported.
#[derive(Debug)]
struct Hooks {
    capture: Capture,
    interfaces: Interfaces,
    lost_reported: u64,
}

impl Session {
    /// Loads the programs, enables drop reporting when asked, and attaches
    /// to every interface of the calling thread's network namespace that
    /// matches a pattern. Returns what happened to each interface, for the
    /// caller to log: an interface that cannot be attached does not stop the
    /// others.
    ///
    /// Fails when the programs cannot be loaded (privileges, kernel
    /// features), or the link list or the drop reason names cannot be read.
    pub fn start(options: SessionOptions) -> Result<(Session, Vec<InterfaceEvent>), StartError> {
        // Link changes are watched before the links are listed, so an
        // interface created in between is seen by one or the other.
        let monitor = LinkMonitor::new().map_err(StartError::Netlink)?;
        let links = crate::interfaces::links().map_err(StartError::Netlink)?;
        let mut capture = Capture::load(options.capture).map_err(StartError::Capture)?;
        // Readable only once tracefs is mounted, which loading with drops ensures.
        let drop_reasons = match capture.options().drops {
            true => DropReasonNames::from_tracefs().map_err(StartError::DropReasons)?,
            false => DropReasonNames::default(),
        };
        let ring = capture.take_ring_buffer().map_err(StartError::Capture)?;
        let mut interfaces = Interfaces::new(options.interfaces);
        let events = interfaces.sync(&mut capture, &links);
        let session = Session {
            hooks: Hooks { capture, interfaces, lost_reported: 0 },
            monitor,
            ring,
            decoder: Decoder::new(options.node_name, drop_reasons),
            stop: StopHandle::default(),
        };
        Ok((session, events))
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The interfaces captured now, with their index and role.
    pub fn interfaces(&self) -> &Interfaces {
        &self.hooks.interfaces
    }

    /// Hands every flow, loss and interface change to `emit` until stopped
    /// through a [`StopHandle`] or until `emit` returns `false` (its
    /// receiver is gone). Then detaches every program, hands out the
    /// records still queued and the last losses, and returns.
    ///
    /// `emit` may wait (a full queue downstream): meanwhile records queue up
    /// in the kernel's ring buffer, and what does not fit there is counted
    /// and handed out as [`Captured::Lost`].
    pub async fn run(self, mut emit: impl AsyncFnMut(Captured) -> bool) -> io::Result<()> {
        let Session { mut hooks, monitor, ring, decoder, stop } = self;
        // SAFETY: both own their file descriptor, which stays open and the
        // same until they are dropped, and the AsyncFds own them.
        let mut ring = unsafe { AsyncFd::register(ring) }?;
        // SAFETY: as above.
        let monitor = unsafe { AsyncFd::register(monitor) }?;
        let mut tick = tokio::time::interval(TICK);
        let mut drain_timer = tokio::time::interval(DRAIN_EVERY);
        drain_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wanted = tokio::select! {
                _ = stop.0.notified() => false,
                guard = ring.readable_mut() => {
                    let mut guard = guard?;
                    match drain(guard.get_inner_mut(), &decoder, &hooks.interfaces, &mut emit, BATCH).await {
                        Drained::Emptied => {
                            guard.clear_ready();
                            true
                        }
                        // Still readable: the next turn comes back here,
                        // unless a stop or the tick is due first.
                        Drained::Paused => true,
                        Drained::Refused => false,
                    }
                }
                _ = drain_timer.tick() => {
                    !matches!(
                        drain(ring.get_mut(), &decoder, &hooks.interfaces, &mut emit, BATCH).await,
                        Drained::Refused
                    )
                }
                guard = monitor.readable() => {
                    let mut guard = guard?;
                    let changes = guard.get_inner().read_changes();
                    guard.clear_ready();
                    emit_all(hooks.apply_link_changes(changes), &mut emit).await
                }
                _ = tick.tick() => {
                    decoder.refresh_clock_offset();
                    hooks.report_losses(&mut emit).await
                }
            };
            if !wanted {
                break;
            }
        }
        // Stop new records first, then hand out what the kernel queued
        // before the programs went away.
        let detached = hooks.interfaces.detach_all(&mut hooks.capture);
        emit_all(detached, &mut emit).await;
        let _ = hooks.capture.disable_drops();
        drain(ring.get_mut(), &decoder, &hooks.interfaces, &mut emit, usize::MAX).await;
        hooks.report_losses(&mut emit).await;
        Ok(())
    }
}

/// Emits interface events until `emit` wants no more; false then.
async fn emit_all(events: Vec<InterfaceEvent>, emit: &mut impl AsyncFnMut(Captured) -> bool) -> bool {
    for event in events {
        if !emit(Captured::Interface(event)).await {
            return false;
        }
    }
    true
}

impl Hooks {
    fn apply_link_changes(&mut self, changes: io::Result<Vec<LinkChange>>) -> Vec<InterfaceEvent> {
        match changes {
            Ok(changes) => {
                changes.into_iter().flat_map(|change| self.interfaces.apply(&mut self.capture, change)).collect()
            }
            // The socket overflowed and changes were lost: list everything again.
            Err(error) => {
                tracing::debug!(%error, "netlink link notifications lost; listing links again");
                match crate::interfaces::links() {
                    Ok(links) => self.interfaces.sync(&mut self.capture, &links),
                    Err(error) => {
                        tracing::warn!(%error, "cannot list network interfaces");
                        Vec::new()
                    }
                }
            }
        }
    }

    /// Emits the kernel losses counted since the last report; false when
    /// `emit` wants no more.
    async fn report_losses(&mut self, emit: &mut impl AsyncFnMut(Captured) -> bool) -> bool {
        let Ok(lost) = self.capture.lost_records() else { return true };
        let new = lost.wrapping_sub(self.lost_reported);
        self.lost_reported = lost;
        new == 0 || emit(Captured::Lost(new)).await
    }
}

impl std::fmt::Debug for Session {
    // aya's ring buffer has no Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("hooks", &self.hooks).field("decoder", &self.decoder).finish()
    }
}

/// How a [`drain`] ended.
enum Drained {
    /// The ring buffer is empty.
    Emptied,
    /// `limit` records were handed out and more are queued.
    Paused,
    /// `emit` wants no more.
    Refused,
}

/// Decodes up to `limit` records queued in `ring`.
async fn drain(
    ring: &mut RingBuf<MapData>,
    decoder: &Decoder,
    interfaces: &Interfaces,
    emit: &mut impl AsyncFnMut(Captured) -> bool,
    limit: usize,
) -> Drained {
    for _ in 0..limit {
        let Some(item) = ring.next() else { return Drained::Emptied };
        let Some(record) = FlowRecord::parse(&item) else { continue };
        if decoder.is_bookkeeping_drop(&record) {
            continue;
        }
        let dns = match record.kind() {
            Some(Kind::Dns) => match DnsPayload::parse(&item) {
                Some(payload) => Some(payload),
                None => continue,
            },
            _ => None,
        };
        // Give the slot back to the kernel before `emit`, which may block.
        drop(item);
        // Interface indexes are per network namespace; drops come from every
        // namespace, so only trace records, taken on our own interfaces, are named.
        let interface = match record.kind() {
            Some(Kind::Trace | Kind::Dns) => interfaces.lookup(record.ifindex),
            _ => None,
        };
        let flow = Box::new(decoder.decode(&record, interface));
        let addresses = record.source().zip(record.destination());
        let captured = CapturedFlow { flow, addresses };
        let captured = match dns {
            Some(payload) => Captured::Dns(captured, payload),
            None => Captured::Flow(captured),
        };
        if !emit(captured).await {
            return Drained::Refused;
        }
    }
    Drained::Paused
}

/// Why a [`Session`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Loading or configuring the programs failed.
    #[error(transparent)]
    Capture(CaptureError),
    /// The netlink socket for link changes could not be opened or read.
    #[error("cannot list or watch network interfaces through netlink")]
    Netlink(#[source] io::Error),
    /// The kernel's drop reason names could not be read from tracefs.
    #[error("cannot read the kernel's drop reasons from the skb:kfree_skb tracepoint format")]
    DropReasons(#[source] io::Error),
}
