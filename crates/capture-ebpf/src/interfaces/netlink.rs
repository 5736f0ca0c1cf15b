//! Network interfaces as the kernel's rtnetlink reports them: [`links`] lists
//! them, [`LinkMonitor`] watches them come, change and go.
//!
//! Plain libc rather than `netlink-packet-route` and `netlink-sys`: all we
//! send is one `RTM_GETLINK` dump request, and all we read is two message
//! types with one attribute (`IFLA_IFNAME`). That is less code here than the
//! glue those crates need, without five more dependencies whose APIs change
//! with most releases. Messages are read from bytes with bounds checks,
//! never by casting pointers; `unsafe` is limited to the socket calls.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A network interface of one network namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    /// The interface index: unique in its namespace, and not reused until
    /// the counter wraps.
    pub index: u32,
    /// The interface name. Bytes that are not UTF-8 are replaced, so such an
    /// interface cannot be attached by this name.
    pub name: String,
}

/// A change to the links of the namespace a [`LinkMonitor`] watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkChange {
    /// `RTM_NEWLINK`: a link appeared (created, or moved into the namespace)
    /// or changed. A rename comes as this too, with the new name under the
    /// same index; so does every other change (up, down, MTU), so one link
    /// is reported many times.
    Added(Link),
    /// `RTM_DELLINK`: a link was deleted or moved to another namespace.
    Removed(Link),
}

/// How far messages and attributes are aligned (NLMSG_ALIGNTO, RTA_ALIGNTO).
const ALIGN: usize = 4;
/// `struct nlmsghdr`: length u32, type u16, flags u16, sequence u32, port u32.
const HEADER_LEN: usize = 16;
/// `struct ifinfomsg`: family u8, pad u8, type u16, index i32, flags u32, change u32.
const IFINFOMSG_LEN: usize = 16;
/// `struct rtattr`: length u16, type u16.
const ATTRIBUTE_HEADER_LEN: usize = 4;

const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;
const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
const NLM_F_DUMP: u16 = libc::NLM_F_DUMP as u16;
const NLM_F_DUMP_INTR: u16 = libc::NLM_F_DUMP_INTR as u16;
const NLA_TYPE_MASK: u16 = libc::NLA_TYPE_MASK as u16;

/// The kernel fills one dump datagram up to the size of the reader's buffer,
/// at most 32 KiB; a smaller buffer only means more datagrams.
const DATAGRAM_BYTES: usize = 32 * 1024;
/// Receive buffer asked for the monitor, so a burst of changes (a node
/// starting many pods) fits before the kernel drops notifications. The
/// kernel caps it at `net.core.rmem_max`.
const MONITOR_RECEIVE_BUFFER: libc::c_int = 1 << 20;
/// How often a dump the kernel flags as interrupted by a change is redone.
const DUMP_ATTEMPTS: usize = 5;
/// The sequence number of our dump request; the socket sends no other.
const DUMP_SEQUENCE: u32 = 1;

/// Lists every link of the calling thread's network namespace (an
/// `RTM_GETLINK` dump).
///
/// When links keep changing while they are listed (the kernel flags the
/// dump as interrupted), the dump is redone a few times and the last one
/// returned: a [`LinkMonitor`] opened before the listing reports whatever
/// it missed.
pub fn links() -> io::Result<Vec<Link>> {
    let mut attempt = 1;
    loop {
        let (links, interrupted) = dump_links()?;
        if !interrupted || attempt == DUMP_ATTEMPTS {
            return Ok(links);
        }
        attempt += 1;
    }
}

/// One dump: the links, and whether the kernel flagged it as interrupted.
fn dump_links() -> io::Result<(Vec<Link>, bool)> {
    let socket = open(0, false)?;
    request_links(&socket)?;
    let mut buffer = vec![0u8; DATAGRAM_BYTES];
    let mut links = Vec::new();
    let mut interrupted = false;
    loop {
        let Some(received) = receive(&socket, &mut buffer)? else { continue };
        for message in messages(&buffer[..received])? {
            if message.sequence != DUMP_SEQUENCE {
                continue;
            }
            interrupted |= message.flags & NLM_F_DUMP_INTR != 0;
            match message.kind {
                libc::RTM_NEWLINK => links.extend(parse_link(message.payload)),
                // NLMSG_DONE carries the dump's own error, or 0.
                NLMSG_DONE | NLMSG_ERROR => {
                    return match netlink_error(message.payload) {
                        Some(error) => Err(error),
                        None => Ok((links, interrupted)),
                    };
                }
                _ => {}
            }
        }
    }
}

/// Sends an `RTM_GETLINK` dump request for every link of every kind.
fn request_links(socket: &OwnedFd) -> io::Result<()> {
    const REQUEST_LEN: usize = HEADER_LEN + IFINFOMSG_LEN;
    let mut request = [0u8; REQUEST_LEN];
    request[0..4].copy_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
    request[4..6].copy_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
    request[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request[8..12].copy_from_slice(&DUMP_SEQUENCE.to_ne_bytes());
    // Port 0 lets the kernel fill in ours; an all-zero ifinfomsg
    // (AF_UNSPEC, no index) asks for every link.
    // SAFETY: `request` is valid for reads of its length during the call.
    let sent = unsafe { libc::send(socket.as_raw_fd(), request.as_ptr().cast(), request.len(), 0) };
    match sent {
        n if n < 0 => Err(io::Error::last_os_error()),
        n if n as usize != request.len() => Err(io::Error::new(io::ErrorKind::WriteZero, "short netlink send")),
        _ => Ok(()),
    }
}

/// A NETLINK_ROUTE socket subscribed to link changes (`RTMGRP_LINK`) in the
/// network namespace of the thread that opened it, which it keeps wherever
/// it is used.
///
/// Non-blocking: poll it for readability through [`AsRawFd`]/[`AsFd`] (with
/// tokio's `AsyncFd` or poll(2)), then call [`read_changes`](Self::read_changes).
/// Open it *before* listing the links with [`links`], so that a link created
/// in between is seen by one or the other.
#[derive(Debug)]
pub struct LinkMonitor {
    socket: OwnedFd,
}

impl LinkMonitor {
    /// Opens the socket in the calling thread's network namespace.
    pub fn new() -> io::Result<LinkMonitor> {
        let socket = open(libc::RTMGRP_LINK as u32, true)?;
        // Best effort: the default buffer still works, it just overflows sooner.
        let size = MONITOR_RECEIVE_BUFFER;
        // SAFETY: `size` is a c_int, valid for reads of its size.
        let _ = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const size).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        Ok(LinkMonitor { socket })
    }

    /// Every change queued on the socket, in the order the kernel reported
    /// them, without blocking: an empty vector when none is queued.
    ///
    /// Fails with `ENOBUFS` (`error.raw_os_error() == Some(libc::ENOBUFS)`)
    /// when the kernel dropped notifications because the socket's buffer was
    /// full. The changes still queued are then discarded, as they are older
    /// than what the caller should do next: list the links again with
    /// [`links`] and hand them to `Interfaces::sync`. Other errors mean the
    /// socket itself failed; listing again is the right answer to them too.
    ///
    /// Takes `&self`, so it can be called through `AsyncFd::get_inner`.
    pub fn read_changes(&self) -> io::Result<Vec<LinkChange>> {
        let mut buffer = vec![0u8; DATAGRAM_BYTES];
        let mut changes = Vec::new();
        loop {
            match receive(&self.socket, &mut buffer) {
                Ok(Some(received)) => {
                    for message in messages(&buffer[..received])? {
                        let change = match message.kind {
                            libc::RTM_NEWLINK => parse_link(message.payload).map(LinkChange::Added),
                            libc::RTM_DELLINK => parse_link(message.payload).map(LinkChange::Removed),
                            _ => None,
                        };
                        changes.extend(change);
                    }
                }
                Ok(None) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(changes),
                Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.discard_queued(&mut buffer);
                    return Err(error);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Reads and drops everything queued.
    fn discard_queued(&self, buffer: &mut [u8]) {
        loop {
            match receive(&self.socket, buffer) {
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(_) => return,
            }
        }
    }
}

impl AsRawFd for LinkMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl AsFd for LinkMonitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// Opens a NETLINK_ROUTE socket in the calling thread's network namespace,
/// subscribed to the multicast `groups`.
fn open(groups: u32, nonblocking: bool) -> io::Result<OwnedFd> {
    let flags = libc::SOCK_RAW | libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, flags, libc::NETLINK_ROUTE) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain old data; all zeroes is a valid value.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    address.nl_groups = groups;
    // SAFETY: `address` is a valid sockaddr_nl for reads of the size given.
    let bound = unsafe {
        libc::bind(socket.as_raw_fd(), (&raw const address).cast(), size_of::<libc::sockaddr_nl>() as libc::socklen_t)
    };
    if bound < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

/// Receives one datagram into `buffer`, retrying when interrupted by a
/// signal. Returns its length, or `None` when it came from another process
/// rather than the kernel (root may send to rtnetlink groups too).
fn receive(socket: &OwnedFd, buffer: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: sockaddr_nl is plain old data; all zeroes is a valid value.
        let mut sender: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut sender_len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // MSG_TRUNC makes recvfrom return the datagram's real length, so a
        // truncated one is noticed rather than parsed.
        // SAFETY: `buffer` is valid for writes of its length, `sender` for
        // writes of `sender_len` bytes.
        let received = unsafe {
            libc::recvfrom(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                libc::MSG_TRUNC,
                (&raw mut sender).cast(),
                &mut sender_len,
            )
        };
        if received < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        let received = received as usize;
        if received > buffer.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a {received}-byte netlink datagram does not fit the {}-byte buffer", buffer.len()),
            ));
        }
        return Ok((sender.nl_pid == 0).then_some(received));
    }
}

/// One netlink message of a datagram.
#[derive(Debug)]
struct Message<'a> {
    kind: u16,
    flags: u16,
    sequence: u32,
    payload: &'a [u8],
}

/// Splits a datagram into its messages.
fn messages(mut datagram: &[u8]) -> io::Result<Vec<Message<'_>>> {
    let mut messages = Vec::new();
    while datagram.len() >= HEADER_LEN {
        let len = u32_at(datagram, 0) as usize;
        if !(HEADER_LEN..=datagram.len()).contains(&len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("netlink message claims {len} bytes of the {} left in its datagram", datagram.len()),
            ));
        }
        messages.push(Message {
            kind: u16_at(datagram, 4),
            flags: u16_at(datagram, 6),
            sequence: u32_at(datagram, 8),
            payload: &datagram[HEADER_LEN..len],
        });
        datagram = datagram.get(align(len)..).unwrap_or_default();
    }
    Ok(messages)
}

/// The link an `RTM_NEWLINK` or `RTM_DELLINK` payload describes.
///
/// `None` for a message without a name, or about another address family's
/// view of a link: a bridge reports its ports' state as `AF_BRIDGE` link
/// messages to the same group, including an `RTM_DELLINK` when a port
/// leaves the bridge while the device stays.
fn parse_link(payload: &[u8]) -> Option<Link> {
    if payload.len() < IFINFOMSG_LEN || payload[0] != libc::AF_UNSPEC as u8 {
        return None;
    }
    let index = u32_at(payload, 4);
    let mut attributes = payload.get(align(IFINFOMSG_LEN)..).unwrap_or_default();
    while attributes.len() >= ATTRIBUTE_HEADER_LEN {
        let len = usize::from(u16_at(attributes, 0));
        if !(ATTRIBUTE_HEADER_LEN..=attributes.len()).contains(&len) {
            return None;
        }
        if u16_at(attributes, 2) & NLA_TYPE_MASK == libc::IFLA_IFNAME {
            let value = &attributes[ATTRIBUTE_HEADER_LEN..len];
            let name = value.split(|&byte| byte == 0).next().unwrap_or_default();
            return Some(Link { index, name: String::from_utf8_lossy(name).into_owned() });
        }
        attributes = attributes.get(align(len)..).unwrap_or_default();
    }
    None
}

/// The error an `NLMSG_ERROR` or `NLMSG_DONE` payload carries (a negative
/// errno first), or `None` for success.
fn netlink_error(payload: &[u8]) -> Option<io::Error> {
    let code = i32::from_ne_bytes(payload.get(..4)?.try_into().ok()?);
    (code < 0).then(|| io::Error::from_raw_os_error(-code))
}

fn align(len: usize) -> usize {
    len.next_multiple_of(ALIGN)
}

/// The native-endian u16 at `at`; callers check the length first.
fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

/// The native-endian u32 at `at`; callers check the length first.
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link message as the kernel sends it: header, ifinfomsg, attributes.
    fn link_message(kind: u16, family: u8, index: u32, attributes: &[(u16, &[u8])]) -> Vec<u8> {
        let mut payload = vec![0u8; IFINFOMSG_LEN];
        payload[0] = family;
        payload[4..8].copy_from_slice(&index.to_ne_bytes());
        for (kind, value) in attributes {
            let len = ATTRIBUTE_HEADER_LEN + value.len();
            payload.extend((len as u16).to_ne_bytes());
            payload.extend(kind.to_ne_bytes());
            payload.extend(*value);
            payload.resize(align(payload.len()), 0);
        }
        let mut message = Vec::new();
        message.extend(((HEADER_LEN + payload.len()) as u32).to_ne_bytes());
        message.extend(kind.to_ne_bytes());
        message.extend(0u16.to_ne_bytes());
        message.extend(DUMP_SEQUENCE.to_ne_bytes());
        message.extend(0u32.to_ne_bytes());
        message.extend(payload);
        message
    }

    const IFLA_MTU: u16 = 4;

    #[test]
    fn reads_index_and_name_after_other_attributes() {
        let datagram = [
            link_message(
                libc::RTM_NEWLINK,
                0,
                7,
                &[(IFLA_MTU, &1500u32.to_ne_bytes()), (libc::IFLA_IFNAME, b"veth1\0")],
            ),
            link_message(libc::RTM_DELLINK, 0, 9, &[(libc::IFLA_IFNAME, b"lxc12345\0")]),
        ]
        .concat();
        let messages = messages(&datagram).unwrap();
        assert_eq!(messages.iter().map(|m| m.kind).collect::<Vec<_>>(), [libc::RTM_NEWLINK, libc::RTM_DELLINK]);
        let links: Vec<Link> = messages.iter().filter_map(|m| parse_link(m.payload)).collect();
        assert_eq!(
            links,
            [Link { index: 7, name: "veth1".to_owned() }, Link { index: 9, name: "lxc12345".to_owned() }]
        );
    }

    #[test]
    fn ignores_bridge_port_messages_and_nameless_links() {
        let bridge = link_message(libc::RTM_DELLINK, libc::AF_BRIDGE as u8, 7, &[(libc::IFLA_IFNAME, b"veth1\0")]);
        assert_eq!(parse_link(messages(&bridge).unwrap()[0].payload), None);
        let nameless = link_message(libc::RTM_NEWLINK, 0, 7, &[(IFLA_MTU, &1500u32.to_ne_bytes())]);
        assert_eq!(parse_link(messages(&nameless).unwrap()[0].payload), None);
    }

    #[test]
    fn rejects_a_message_longer_than_its_datagram() {
        let mut datagram = link_message(libc::RTM_NEWLINK, 0, 7, &[(libc::IFLA_IFNAME, b"veth1\0")]);
        datagram.truncate(datagram.len() - 4);
        assert_eq!(messages(&datagram).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_truncated_attribute_ends_the_link() {
        let mut datagram = link_message(libc::RTM_NEWLINK, 0, 7, &[(libc::IFLA_IFNAME, b"veth1\0")]);
        // Claim a longer name than the message holds.
        datagram[HEADER_LEN + IFINFOMSG_LEN] = 64;
        assert_eq!(parse_link(messages(&datagram).unwrap()[0].payload), None);
    }

    #[test]
    fn errors_are_negative_errnos() {
        assert_eq!(netlink_error(&0i32.to_ne_bytes()).map(|e| e.raw_os_error()), None);
        assert_eq!(netlink_error(&(-libc::EPERM).to_ne_bytes()).and_then(|e| e.raw_os_error()), Some(libc::EPERM));
        assert!(netlink_error(&[]).is_none());
    }
}
