//! Privileged tests of interface selection and hot-plug: real links that
//! come, get renamed and go while the programs are attached.
//!
//! Each test builds its own network namespace (`fl-if-<pid>-<n>`), whose
//! first veth gets the subnet 10.201.<n>.0/24, and does its work on a thread
//! that entered it; links are changed from outside with `ip -n`. A guard
//! deletes the namespace, also when a test panics. Every wait for the kernel
//! is bounded (2 s).
//!
//! Without root every test prints `SKIPPED (needs root)` and passes.

mod netns;

use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use aya::programs::{SchedClassifier, TcAttachType};
use flowlog_capture_ebpf::decode::InterfaceRole;
use flowlog_capture_ebpf::interfaces::{
    DetachReason, InterfaceEvent, InterfacePattern, Interfaces, Link, LinkChange, LinkMonitor, links,
};
use flowlog_capture_ebpf::{AttachedVia, Capture, CaptureOptions, TcMode};

/// The longest any test waits for the kernel to report a change.
const WAIT: Duration = Duration::from_secs(2);

// ---- namespace ------------------------------------------------------------------

/// A network namespace of the test's own, with the subnet of its first
/// veth; deleting it (on drop) deletes its links, and the programs with them.
struct Netns {
    netns: netns::Netns,
    subnet: u8,
}

impl Netns {
    /// `subnet` must be unique per test.
    fn new(subnet: u8) -> Netns {
        Netns { netns: netns::Netns::new(format!("fl-if-{}-{subnet}", std::process::id())), subnet }
    }

    /// Adds a veth pair, both ends in this namespace and down.
    fn add_veth(&self, name: &str, peer: &str) {
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", peer]);
    }

    /// Adds the test's first veth pair, with an address on `name`.
    fn add_first_veth(&self, name: &str, peer: &str) {
        self.add_veth(name, peer);
        self.ip(&["addr", "add", &format!("10.201.{}.1/24", self.subnet), "dev", name]);
    }
}

/// `name`, `ip` and `run` are the shared namespace's.
impl Deref for Netns {
    type Target = netns::Netns;

    fn deref(&self) -> &netns::Netns {
        &self.netns
    }
}

/// The index of `name` in the calling thread's namespace; 0 when there is none.
fn ifindex(name: &str) -> u32 {
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: a valid NUL-terminated name.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

// ---- waiting for changes ------------------------------------------------------------

/// Waits until `monitor` is readable or `deadline` passes.
fn poll(monitor: &LinkMonitor, deadline: Instant) {
    let timeout = deadline.saturating_duration_since(Instant::now()).as_millis().min(i32::MAX as u128) as i32;
    let mut fd = libc::pollfd { fd: monitor.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, for the duration of the call.
    let rc = unsafe { libc::poll(&mut fd, 1, timeout) };
    assert!(rc >= 0, "poll: {}", std::io::Error::last_os_error());
}

/// Reads changes into `seen` until `done` holds, for at most [`WAIT`].
fn wait_for(monitor: &LinkMonitor, seen: &mut Vec<LinkChange>, done: impl Fn(&[LinkChange]) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(seen) {
        assert!(Instant::now() < deadline, "not seen within {WAIT:?}; seen: {seen:#?}");
        poll(monitor, deadline);
        seen.extend(monitor.read_changes().expect("reading link changes"));
    }
}

/// Applies changes until the events returned satisfy `done`, for at most
/// [`WAIT`]; returns those events.
fn apply_until(
    monitor: &LinkMonitor,
    interfaces: &mut Interfaces,
    capture: &mut Capture,
    done: impl Fn(&[InterfaceEvent]) -> bool,
) -> Vec<InterfaceEvent> {
    let deadline = Instant::now() + WAIT;
    let mut events = Vec::new();
    while !done(&events) {
        assert!(Instant::now() < deadline, "not done within {WAIT:?}; events: {events:#?}");
        poll(monitor, deadline);
        for change in monitor.read_changes().expect("reading link changes") {
            events.extend(interfaces.apply(capture, change));
        }
    }
    events
}

fn attached_to(events: &[InterfaceEvent], ifname: &str) -> bool {
    events.iter().any(|event| matches!(event, InterfaceEvent::Attached { name, .. } if name == ifname))
}

fn detached_from(events: &[InterfaceEvent], ifname: &str) -> bool {
    events.iter().any(|event| matches!(event, InterfaceEvent::Detached { name, .. } if name == ifname))
}

fn patterns(texts: &[&str]) -> Vec<InterfacePattern> {
    texts.iter().map(|text| text.parse().unwrap()).collect()
}

fn options(tc_mode: TcMode) -> CaptureOptions {
    // A small ring keeps the tests' locked memory low.
    CaptureOptions { ring_buffer_bytes: 1 << 20, tc_mode, ..CaptureOptions::default() }
}

fn names(interfaces: &Interfaces) -> Vec<&str> {
    interfaces.attached().map(|interface| interface.name.as_str()).collect()
}

/// The tcx programs on `ifname`, comma-separated, once none is a flowlog
/// program or [`WAIT`] has passed. A process another test forks holds a
/// copy of a link's fd until it execs, which keeps the link alive that long.
fn tcx_programs_after_detach(ifname: &str) -> String {
    let list = || {
        [TcAttachType::Ingress, TcAttachType::Egress]
            .into_iter()
            .flat_map(|attach_type| SchedClassifier::query_tcx(ifname, attach_type).unwrap().1)
            .map(|info| info.name_as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join(",")
    };
    let deadline = Instant::now() + WAIT;
    let mut listed = list();
    while listed.contains("flowlog") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        listed = list();
    }
    listed
}

// ---- tests --------------------------------------------------------------------------

#[test]
fn links_lists_every_link_of_the_namespace() {
    if netns::skip_unless_root("links_lists_every_link_of_the_namespace") {
        return;
    }
    let netns = Netns::new(1);
    netns.add_first_veth("veth-a", "peer-a");

    netns.run(|| {
        let listed = links().expect("listing links");
        for name in ["lo", "veth-a", "peer-a"] {
            let link = Link { index: ifindex(name), name: name.to_owned() };
            assert!(listed.contains(&link), "{link:?} not in {listed:?}");
        }
        assert_eq!(listed.len(), 3, "{listed:?}");
    });
}

#[test]
fn monitor_reports_links_added_and_removed_after_it_opened() {
    if netns::skip_unless_root("monitor_reports_links_added_and_removed_after_it_opened") {
        return;
    }
    let netns = Netns::new(2);
    let monitor = netns.run(LinkMonitor::new).expect("opening the link monitor");
    assert_eq!(monitor.read_changes().unwrap(), [], "nothing changed yet, and reading must not block");

    netns.add_veth("veth-new", "peer-new");
    let mut seen = Vec::new();
    wait_for(&monitor, &mut seen, |seen| {
        seen.iter().any(|change| matches!(change, LinkChange::Added(link) if link.name == "veth-new"))
    });
    let index = seen
        .iter()
        .find_map(|change| match change {
            LinkChange::Added(link) if link.name == "veth-new" => Some(link.index),
            _ => None,
        })
        .unwrap();
    assert_eq!(index, netns.run(|| ifindex("veth-new")));

    netns.ip(&["link", "del", "veth-new"]);
    let removed = LinkChange::Removed(Link { index, name: "veth-new".to_owned() });
    wait_for(&monitor, &mut seen, |seen| seen.contains(&removed));
}

#[test]
fn interfaces_attach_to_matching_links_and_forget_deleted_ones() {
    if netns::skip_unless_root("interfaces_attach_to_matching_links_and_forget_deleted_ones") {
        return;
    }
    let netns = Netns::new(3);
    netns.add_first_veth("veth-a", "peer-a");

    netns.run(|| {
        let monitor = LinkMonitor::new().unwrap();
        let mut capture = Capture::load(options(TcMode::Auto)).unwrap();
        let mut interfaces = Interfaces::new(patterns(&["veth*"]));

        // The link that was there first, found by sync; its peer does not match.
        let events = interfaces.sync(&mut capture, &links().unwrap());
        let (a, peer_a) = (ifindex("veth-a"), ifindex("peer-a"));
        assert!(
            matches!(
                events.as_slice(),
                [InterfaceEvent::Attached { name, index, role: InterfaceRole::Network, via: AttachedVia::Tcx }]
                    if name == "veth-a" && *index == a
            ),
            "{events:#?}"
        );
        assert_eq!(interfaces.lookup(a), Some(("veth-a", InterfaceRole::Network)));
        assert_eq!(interfaces.lookup(peer_a), None);
        assert!(interfaces.sync(&mut capture, &links().unwrap()).is_empty(), "a second sync changes nothing");

        // Links that do not match come first, so they are read before veth-b
        // is: a dummy when the kernel has the module, a veth otherwise.
        let dummy = Command::new("ip").args(["-n", &netns.name, "link", "add", "dummy0", "type", "dummy"]).output();
        let other = if dummy.is_ok_and(|output| output.status.success()) {
            "dummy0"
        } else {
            eprintln!("no dummy interfaces on this kernel; using a veth named other0 instead");
            netns.ip(&["link", "add", "other0", "type", "veth", "peer", "name", "other1"]);
            "other0"
        };
        netns.ip(&["link", "add", "veth-b", "type", "veth", "peer", "name", "peer-b"]);
        let events = apply_until(&monitor, &mut interfaces, &mut capture, |events| attached_to(events, "veth-b"));
        assert!(
            events.iter().all(|event| matches!(event, InterfaceEvent::Attached { name, .. } if name == "veth-b")),
            "only veth-b attached, {other} and peer-b ignored: {events:#?}"
        );
        assert_eq!(names(&interfaces), ["veth-a", "veth-b"]);
        assert_eq!(interfaces.lookup(ifindex(other)), None);
        assert_eq!(capture.attached().count(), 2);

        // Deleted: the kernel took the tcx links with the device; forgetting it is no error.
        netns.ip(&["link", "del", "veth-a"]);
        let events = apply_until(&monitor, &mut interfaces, &mut capture, |events| detached_from(events, "veth-a"));
        assert!(
            matches!(
                events.as_slice(),
                [InterfaceEvent::Detached { name, index, reason: DetachReason::Removed }] if name == "veth-a" && *index == a
            ),
            "{events:#?}"
        );
        assert_eq!(interfaces.lookup(a), None);
        assert_eq!(names(&interfaces), ["veth-b"]);
        assert_eq!(capture.attached().map(|(name, _)| name).collect::<Vec<_>>(), ["veth-b"]);

        let events = interfaces.detach_all(&mut capture);
        assert!(
            matches!(events.as_slice(), [InterfaceEvent::Detached { name, reason: DetachReason::Stopped, .. }] if name == "veth-b"),
            "{events:#?}"
        );
        assert_eq!((interfaces.attached().count(), capture.attached().count()), (0, 0));
    });
}

#[test]
fn interfaces_follow_renames() {
    if netns::skip_unless_root("interfaces_follow_renames") {
        return;
    }
    let netns = Netns::new(4);
    netns.add_first_veth("veth-a", "peer-a");

    netns.run(|| {
        let monitor = LinkMonitor::new().unwrap();
        let mut capture = Capture::load(options(TcMode::Auto)).unwrap();
        let mut interfaces = Interfaces::new(patterns(&["veth-r:endpoint", "veth*"]));
        interfaces.sync(&mut capture, &links().unwrap());
        let a = ifindex("veth-a");
        assert_eq!(interfaces.lookup(a), Some(("veth-a", InterfaceRole::Network)));

        // Renamed to a name that still matches: same index, new name and role.
        netns.ip(&["link", "set", "veth-a", "name", "veth-r"]);
        let events = apply_until(&monitor, &mut interfaces, &mut capture, |events| !events.is_empty());
        assert!(
            matches!(
                events.as_slice(),
                [InterfaceEvent::Renamed { index, from, to, role: InterfaceRole::Endpoint }]
                    if *index == a && from == "veth-a" && to == "veth-r"
            ),
            "{events:#?}"
        );
        assert_eq!(interfaces.lookup(a), Some(("veth-r", InterfaceRole::Endpoint)));
        assert_eq!(capture.attached().map(|(name, _)| name).collect::<Vec<_>>(), ["veth-r"]);

        // Renamed to a name no pattern matches: detached.
        netns.ip(&["link", "set", "veth-r", "name", "kept-r"]);
        let events = apply_until(&monitor, &mut interfaces, &mut capture, |events| !events.is_empty());
        assert!(
            matches!(
                events.as_slice(),
                [InterfaceEvent::Detached { name, reason: DetachReason::Renamed { to }, .. }]
                    if name == "veth-r" && to == "kept-r"
            ),
            "{events:#?}"
        );
        assert_eq!((interfaces.attached().count(), capture.attached().count()), (0, 0));
        let listed = tcx_programs_after_detach("kept-r");
        assert!(!listed.contains("flowlog"), "still attached after the rename: {listed}");
    });
}

#[test]
fn clsact_filters_of_deleted_interfaces_are_forgotten_quietly() {
    if netns::skip_unless_root("clsact_filters_of_deleted_interfaces_are_forgotten_quietly") {
        return;
    }
    let netns = Netns::new(5);
    netns.add_first_veth("veth-a", "peer-a");
    netns.add_veth("veth-b", "peer-b");

    netns.run(|| {
        let monitor = LinkMonitor::new().unwrap();
        let mut capture = Capture::load(options(TcMode::Netlink)).unwrap();
        let mut interfaces = Interfaces::new(patterns(&["veth-a"]));
        let events = interfaces.sync(&mut capture, &links().unwrap());
        assert!(
            matches!(events.as_slice(), [InterfaceEvent::Attached { via: AttachedVia::Netlink, .. }]),
            "{events:#?}"
        );

        // Netlink can only answer ENODEV for filters of a device that is gone.
        netns.ip(&["link", "del", "veth-a"]);
        let events = apply_until(&monitor, &mut interfaces, &mut capture, |events| !events.is_empty());
        assert!(
            matches!(events.as_slice(), [InterfaceEvent::Detached { reason: DetachReason::Removed, .. }]),
            "{events:#?}"
        );

        // The same through Capture alone, by name.
        assert_eq!(capture.attach("veth-b").unwrap(), AttachedVia::Netlink);
        netns.ip(&["link", "del", "veth-b"]);
        capture.detach("veth-b").expect("detaching from a deleted interface succeeds");
        assert_eq!(capture.attached().count(), 0);
    });
}
