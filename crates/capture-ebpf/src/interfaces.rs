//! Which interfaces are captured, kept in step with the links of the network
//! namespace as they come, get renamed and go.
//!
//! ```text
//! links() ─────────────────────▶ Interfaces::sync ──┐
//! LinkMonitor ─ LinkChange ────▶ Interfaces::apply ─┴▶ Capture attach/detach ─▶ Vec<InterfaceEvent> (to log)
//! FlowRecord::ifindex ─────────▶ Interfaces::lookup ─▶ (name, role) ─▶ Decoder::decode
//! ```
//!
//! [`InterfacePattern`]s say which interface names to capture on and in
//! which role. [`Interfaces`] knows interfaces by index, which stays the
//! same through a rename; names are only matched against the patterns.

mod netlink;
mod pattern;

use std::collections::{BTreeMap, HashSet};
use std::fmt;

pub use netlink::{Link, LinkChange, LinkMonitor, links};
pub use pattern::InterfacePattern;

use crate::decode::InterfaceRole;
use crate::{AttachedVia, Capture, CaptureError};

/// The attach manager: captures on every link whose name matches a pattern,
/// and follows the links as [`sync`](Self::sync) and [`apply`](Self::apply)
/// report them.
///
/// Every method that attaches or detaches returns what it did as
/// [`InterfaceEvent`]s for the caller to log. An interface that fails to
/// attach is reported and never stops the others; it is tried again the
/// next time it is reported (any change to it, or a `sync`).
///
/// Use it with the [`Capture`] it attached, from threads in the network
/// namespace the links were listed in.
#[derive(Debug)]
pub struct Interfaces {
    patterns: Vec<InterfacePattern>,
    attached: BTreeMap<u32, AttachedInterface>,
}

/// An interface the programs are attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedInterface {
    /// Its index, under which [`Interfaces`] knows it.
    pub index: u32,
    /// Its name now.
    pub name: String,
    /// The role of the first pattern its name matches.
    pub role: InterfaceRole,
    /// How the programs are attached.
    pub via: AttachedVia,
}

/// What [`Interfaces`] did about a link, for the agent's log
/// ([`Display`](fmt::Display) writes one line).
#[derive(Debug)]
pub enum InterfaceEvent {
    /// The programs were attached to a matching link.
    Attached {
        /// The interface's name.
        name: String,
        /// The interface's index.
        index: u32,
        /// The role of the first pattern its name matches.
        role: InterfaceRole,
        /// How the programs are attached.
        via: AttachedVia,
    },
    /// A captured interface was renamed, and a pattern matches the new name:
    /// still captured, now under that name and that pattern's role.
    Renamed {
        /// The interface's index.
        index: u32,
        /// The name it had.
        from: String,
        /// The name it has now.
        to: String,
        /// The role of the first pattern the new name matches.
        role: InterfaceRole,
    },
    /// The programs were detached and the interface forgotten.
    Detached {
        /// The interface's last name.
        name: String,
        /// The interface's index.
        index: u32,
        /// Why.
        reason: DetachReason,
    },
    /// Attaching or detaching failed; the error says which. An interface
    /// that failed to attach is not captured; one that failed to detach is
    /// forgotten anyway.
    Failed {
        /// The interface's name.
        name: String,
        /// The interface's index.
        index: u32,
        /// What went wrong.
        error: CaptureError,
    },
}

/// Why an interface stopped being captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DetachReason {
    /// It was deleted, or moved to another network namespace.
    Removed,
    /// It was renamed to a name no pattern matches.
    Renamed {
        /// The new name.
        to: String,
    },
    /// [`Interfaces::detach_all`]: the capture is stopping.
    Stopped,
}

impl Interfaces {
    /// Captures nothing yet: [`sync`](Self::sync) with the current links
    /// attaches to those that match `patterns`.
    pub fn new(patterns: Vec<InterfacePattern>) -> Interfaces {
        Interfaces { patterns, attached: BTreeMap::new() }
    }

    /// The role of the first pattern `name` matches, or `None` when it
    /// should not be captured.
    pub fn role_of(&self, name: &str) -> Option<InterfaceRole> {
        self.patterns.iter().find(|pattern| pattern.matches(name)).map(|pattern| pattern.role)
    }

    /// Brings the attachments in line with `links`, every link of the
    /// namespace (from [`links`]): attaches to each matching link not yet
    /// captured, follows renames, and forgets captured interfaces that are
    /// no longer listed.
    ///
    /// A link that is gone or renamed by the time it is attached is skipped
    /// without an event: the [`LinkMonitor`] reports what became of it.
    pub fn sync(&mut self, capture: &mut Capture, links: &[Link]) -> Vec<InterfaceEvent> {
        let listed: HashSet<u32> = links.iter().map(|link| link.index).collect();
        let gone: Vec<u32> = self.attached.keys().copied().filter(|index| !listed.contains(index)).collect();
        let removed = gone.into_iter().filter_map(|index| self.detach(capture, index, DetachReason::Removed));
        let mut events: Vec<InterfaceEvent> = removed.collect();
        events.extend(links.iter().filter_map(|link| self.link_added(capture, link)));
        events
    }

    /// Follows one change reported by a [`LinkMonitor`]: attaches to a new
    /// link that matches, detaches from a removed one or one renamed to a
    /// name no pattern matches, and re-keys one renamed to a name that
    /// still matches. Changes that make no difference return no event.
    pub fn apply(&mut self, capture: &mut Capture, change: LinkChange) -> Vec<InterfaceEvent> {
        let event = match change {
            LinkChange::Added(link) => self.link_added(capture, &link),
            LinkChange::Removed(link) => self.detach(capture, link.index, DetachReason::Removed),
        };
        event.into_iter().collect()
    }

    /// The name and role of the captured interface `ifindex`, in the shape
    /// [`Decoder::decode`](crate::decode::Decoder::decode) takes.
    pub fn lookup(&self, ifindex: u32) -> Option<(&str, InterfaceRole)> {
        self.attached.get(&ifindex).map(|interface| (interface.name.as_str(), interface.role))
    }

    /// The captured interfaces, by index.
    pub fn attached(&self) -> impl Iterator<Item = &AttachedInterface> {
        self.attached.values()
    }

    /// Detaches from every captured interface and forgets them all.
    pub fn detach_all(&mut self, capture: &mut Capture) -> Vec<InterfaceEvent> {
        let indexes: Vec<u32> = self.attached.keys().copied().collect();
        indexes.into_iter().filter_map(|index| self.detach(capture, index, DetachReason::Stopped)).collect()
    }

    fn link_added(&mut self, capture: &mut Capture, link: &Link) -> Option<InterfaceEvent> {
        let role = self.role_of(&link.name);
        let Some(known) = self.attached.get_mut(&link.index) else {
            return role.and_then(|role| self.attach(capture, link, role));
        };
        if known.name == link.name {
            // Up, down, a new MTU...: nothing that matters here.
            return None;
        }
        match role {
            Some(role) => {
                let from = std::mem::replace(&mut known.name, link.name.clone());
                known.role = role;
                capture.rename(link.index, &link.name);
                Some(InterfaceEvent::Renamed { index: link.index, from, to: link.name.clone(), role })
            }
            None => self.detach(capture, link.index, DetachReason::Renamed { to: link.name.clone() }),
        }
    }

    fn attach(&mut self, capture: &mut Capture, link: &Link, role: InterfaceRole) -> Option<InterfaceEvent> {
        let (name, index) = (link.name.clone(), link.index);
        match capture.attach_index(index, &name) {
            Ok(via) => {
                self.attached.insert(index, AttachedInterface { index, name: name.clone(), role, via });
                Some(InterfaceEvent::Attached { name, index, role, via })
            }
            // Gone or renamed since it was reported; a later change says what became of it.
            Err(CaptureError::UnknownInterface { .. }) => None,
            Err(error) => Some(InterfaceEvent::Failed { name, index, error }),
        }
    }

    fn detach(&mut self, capture: &mut Capture, index: u32, reason: DetachReason) -> Option<InterfaceEvent> {
        let AttachedInterface { name, .. } = self.attached.remove(&index)?;
        Some(match capture.detach_index(index) {
            Ok(()) => InterfaceEvent::Detached { name, index, reason },
            Err(error) => InterfaceEvent::Failed { name, index, error },
        })
    }
}

impl fmt::Display for InterfaceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceEvent::Attached { name, index, role, via } => {
                let role = pattern::role_name(*role);
                let via = match via {
                    AttachedVia::Tcx => "tcx",
                    AttachedVia::Netlink => "clsact filters",
                };
                write!(f, "capturing on {name} (index {index}, {role} role) via {via}")
            }
            InterfaceEvent::Renamed { index, from, to, role } => {
                let role = pattern::role_name(*role);
                write!(f, "{from} (index {index}) was renamed to {to}; still capturing on it ({role} role)")
            }
            InterfaceEvent::Detached { name, index, reason } => {
                write!(f, "stopped capturing on {name} (index {index}): ")?;
                match reason {
                    DetachReason::Removed => f.write_str("the interface was removed"),
                    DetachReason::Renamed { to } => write!(f, "renamed to {to}, which no pattern matches"),
                    DetachReason::Stopped => f.write_str("the capture is stopping"),
                }
            }
            InterfaceEvent::Failed { name, index, error } => {
                // The whole chain: the kernel's reason is in the sources.
                write!(f, "interface {name} (index {index}): {error}")?;
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interfaces(patterns: &[&str]) -> Interfaces {
        Interfaces::new(patterns.iter().map(|text| text.parse().unwrap()).collect())
    }

    #[test]
    fn the_first_matching_pattern_gives_the_role() {
        let interfaces = interfaces(&["lxc_health", "lxc*:endpoint", "*"]);
        assert_eq!(interfaces.role_of("lxc_health"), Some(InterfaceRole::Network));
        assert_eq!(interfaces.role_of("lxc1a2b"), Some(InterfaceRole::Endpoint));
        assert_eq!(interfaces.role_of("eth0"), Some(InterfaceRole::Network));
    }

    #[test]
    fn names_no_pattern_matches_have_no_role() {
        let interfaces = interfaces(&["veth*:endpoint", "eth0"]);
        assert_eq!(interfaces.role_of("veth0"), Some(InterfaceRole::Endpoint));
        assert_eq!(interfaces.role_of("eth0"), Some(InterfaceRole::Network));
        assert_eq!(interfaces.role_of("eth1"), None);
        assert_eq!(interfaces.role_of("lo"), None);
        assert_eq!(Interfaces::new(Vec::new()).role_of("eth0"), None);
    }

    #[test]
    fn events_read_as_log_lines() {
        let attached = InterfaceEvent::Attached {
            name: "lxc1".into(),
            index: 7,
            role: InterfaceRole::Endpoint,
            via: AttachedVia::Tcx,
        };
        assert_eq!(attached.to_string(), "capturing on lxc1 (index 7, endpoint role) via tcx");
        let detached = InterfaceEvent::Detached {
            name: "lxc1".into(),
            index: 7,
            reason: DetachReason::Renamed { to: "x".into() },
        };
        assert_eq!(detached.to_string(), "stopped capturing on lxc1 (index 7): renamed to x, which no pattern matches");
        let failed = InterfaceEvent::Failed {
            name: "eth0".into(),
            index: 2,
            error: CaptureError::AlreadyAttached { ifname: "eth0".into() },
        };
        assert_eq!(failed.to_string(), "interface eth0 (index 2): interface eth0 is already captured");
    }
}
