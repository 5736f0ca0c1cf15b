//! What to capture and how much to report: [`CaptureOptions`], and its
//! kernel-side image, the single entry of the `config` map.

use std::io;
use std::time::Duration;

use crate::CaptureError;

/// How many records the tc programs emit per connection.
///
/// A connection is the 5-tuple with both directions folded together; for
/// ICMP echo the echo identifier plays the part of the ports, other ICMP
/// messages have ports 0. Non-IP packets are reported only with
/// [`Aggregation::None`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Aggregation {
    /// Every packet.
    None,
    /// The first packet of a connection in each direction, every packet
    /// carrying a TCP flag not yet seen in its direction, and otherwise at
    /// most one packet per connection per [`CaptureOptions::report_interval`].
    #[default]
    Medium,
    /// The first packet of a connection in each direction, and the first
    /// SYN, FIN and RST in each direction.
    Maximum,
}

impl Aggregation {
    fn raw(self) -> u32 {
        match self {
            Aggregation::None => 0,
            Aggregation::Medium => 1,
            Aggregation::Maximum => 2,
        }
    }
}

/// How the tc programs are attached to an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TcMode {
    /// tcx links (Linux 6.6+), falling back to a clsact qdisc filter when
    /// the kernel refuses tcx.
    #[default]
    Auto,
    /// Always a clsact qdisc filter via netlink (adds the qdisc if missing).
    Netlink,
}

/// Settings for [`Capture::load`](crate::Capture::load).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Records per connection. Default: [`Aggregation::Medium`].
    pub aggregation: Aggregation,
    /// With [`Aggregation::Medium`], the longest a connection stays silent
    /// while it carries traffic. Default: 5 s. Must be at least 1 ms.
    pub report_interval: Duration,
    /// Size of the `events` ring buffer in bytes: a power of two and a
    /// multiple of the page size. Default: 4 MiB (about 50,000 records).
    pub ring_buffer_bytes: u32,
    /// Also report drops whose reason is `SKB_DROP_REASON_NOT_SPECIFIED`, which
    /// is every `kfree_skb()` call without a reason and mostly noise.
    /// Default: false.
    pub report_unspecified_drops: bool,
    /// Attach the `skb:kfree_skb` tracepoint during load, as
    /// [`Capture::enable_drops`](crate::Capture::enable_drops) would.
    /// Default: false.
    pub drops: bool,
    /// How tc programs are attached. Default: [`TcMode::Auto`].
    pub tc_mode: TcMode,
    /// Ports whose TCP and UDP packets also produce a [`Kind::Dns`](crate::Kind::Dns)
    /// record carrying the payload, whatever the aggregation. Empty: none.
    /// Default: 53. Port 0 is refused.
    pub dns_ports: Vec<u16>,
}

/// The default ring buffer size: 4 MiB.
pub const DEFAULT_RING_BUFFER_BYTES: u32 = 4 * 1024 * 1024;

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            aggregation: Aggregation::default(),
            report_interval: Duration::from_secs(5),
            ring_buffer_bytes: DEFAULT_RING_BUFFER_BYTES,
            report_unspecified_drops: false,
            drops: false,
            tc_mode: TcMode::default(),
            dns_ports: vec![53],
        }
    }
}

impl CaptureOptions {
    /// Checks the options without touching the kernel.
    pub fn validate(&self) -> Result<(), CaptureError> {
        let page = page_size();
        let bytes = self.ring_buffer_bytes;
        // The kernel rejects other sizes with a bare EINVAL; say why up front.
        if !bytes.is_power_of_two() || (bytes as usize) < page || !(bytes as usize).is_multiple_of(page) {
            return Err(CaptureError::InvalidRingBuffer { bytes, page_size: page });
        }
        if self.report_interval < Duration::from_millis(1) {
            return Err(CaptureError::InvalidReportInterval { interval: self.report_interval });
        }
        if self.dns_ports.contains(&0) {
            return Err(CaptureError::InvalidDnsPort);
        }
        Ok(())
    }

    /// The `dns_ports` map's words: bit `port % 64` of word `port / 64`.
    pub(crate) fn dns_port_words(&self) -> Vec<(u32, u64)> {
        let mut words = std::collections::BTreeMap::new();
        for &port in &self.dns_ports {
            *words.entry(u32::from(port / 64)).or_insert(0u64) |= 1 << (port % 64);
        }
        words.into_iter().collect()
    }

    /// The `config` map's entry for a kernel whose clock ticks every `tick`.
    pub(crate) fn kernel_config(&self, tick: Duration) -> KernelConfig {
        let (interval, tick) = (self.report_interval.as_nanos(), tick.as_nanos().max(1));
        KernelConfig {
            aggregation: self.aggregation.raw(),
            report_unspecified_drops: u32::from(self.report_unspecified_drops),
            // Whole ticks, rounded up: the interval is never cut short.
            report_interval_ticks: u64::try_from(interval.div_ceil(tick)).unwrap_or(u64::MAX),
        }
    }
}

/// How long the kernel's clock tick (a jiffy, 1/HZ) is, by which the tc
/// programs count the report interval. The kernel keeps HZ to itself; the
/// coarse clocks advance once a tick, and their resolution is that tick.
pub(crate) fn kernel_tick() -> io::Result<Duration> {
    let mut res = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `res` is a valid out-pointer for the call.
    if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Duration::new(res.tv_sec.try_into().unwrap_or(0), res.tv_nsec.try_into().unwrap_or(0)))
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// Mirror of `struct flowlog_config` in `bpf/record.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KernelConfig {
    pub(crate) aggregation: u32,
    pub(crate) report_unspecified_drops: u32,
    pub(crate) report_interval_ticks: u64,
}

const _: () = assert!(size_of::<KernelConfig>() == 16);

// SAFETY: repr(C), integers only, no padding (asserted size 16 = 4 + 4 + 8).
unsafe impl aya::Pod for KernelConfig {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        CaptureOptions::default().validate().unwrap();
    }

    #[test]
    fn ring_buffer_must_be_a_power_of_two_of_pages() {
        for bytes in [0, 1000, 3 * 4096, 1 << 31 | 1] {
            let options = CaptureOptions { ring_buffer_bytes: bytes, ..CaptureOptions::default() };
            assert!(
                matches!(options.validate(), Err(CaptureError::InvalidRingBuffer { .. })),
                "{bytes} should be rejected"
            );
        }
        let options = CaptureOptions { ring_buffer_bytes: 1 << 16, ..CaptureOptions::default() };
        options.validate().unwrap();
    }

    #[test]
    fn dns_ports_become_bits() {
        let options = CaptureOptions { dns_ports: vec![53, 5353, 63, 64], ..CaptureOptions::default() };
        assert_eq!(options.dns_port_words(), vec![(0, 1 << 53 | 1 << 63), (1, 1), (83, 1 << 41)]);
        let zero = CaptureOptions { dns_ports: vec![0], ..CaptureOptions::default() };
        assert!(matches!(zero.validate(), Err(CaptureError::InvalidDnsPort)));
    }

    #[test]
    fn interval_must_be_positive() {
        let options = CaptureOptions { report_interval: Duration::ZERO, ..CaptureOptions::default() };
        assert!(matches!(options.validate(), Err(CaptureError::InvalidReportInterval { .. })));
    }

    #[test]
    fn kernel_image() {
        let options = CaptureOptions {
            aggregation: Aggregation::Maximum,
            report_interval: Duration::from_millis(1500),
            report_unspecified_drops: true,
            ..CaptureOptions::default()
        };
        assert_eq!(
            options.kernel_config(Duration::from_millis(4)),
            KernelConfig { aggregation: 2, report_unspecified_drops: 1, report_interval_ticks: 375 }
        );
    }

    #[test]
    fn the_interval_is_whole_ticks_rounded_up() {
        let ticks = |interval_ms, tick_ms| {
            let options = CaptureOptions { report_interval: Duration::from_millis(interval_ms), ..Default::default() };
            options.kernel_config(Duration::from_millis(tick_ms)).report_interval_ticks
        };
        assert_eq!(ticks(5000, 4), 1250);
        assert_eq!(ticks(250, 4), 63);
        assert_eq!(ticks(1, 10), 1);
        assert_eq!(ticks(1, 1), 1);
    }

    #[test]
    fn the_kernel_tick_is_one_of_the_kernels_hz() {
        let tick = kernel_tick().unwrap();
        // HZ is 100, 250, 300 or 1000 in every kernel configuration.
        let hz = (Duration::from_secs(1).as_nanos() as f64 / tick.as_nanos() as f64).round() as u32;
        assert!([100, 250, 300, 1000].contains(&hz), "tick {tick:?}");
    }
}
