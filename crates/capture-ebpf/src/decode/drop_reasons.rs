//! The kernel's drop reasons: their names on the running kernel, and the
//! Hubble drop reason each one becomes.
//!
//! Drops have `event_type.type` 1 and the Hubble [`DropReason`] number as
//! sub-type, also written to `drop_reason_desc` and the deprecated
//! `drop_reason`. The kernel's reason is matched by *name* (the numbers of
//! `enum skb_drop_reason` change between kernel versions; the names do not),
//! and the kernel's name is always kept in `Summary` as
//! `kernel drop reason: NETFILTER_DROP`, so nothing is lost where the
//! mapping is coarse.
//!
//! | kernel `skb_drop_reason` | Hubble `DropReason` | why |
//! |---|---|---|
//! | NETFILTER_DROP | POLICY_DENIED | a netfilter rule is the node's network policy |
//! | TC_INGRESS, TC_EGRESS, TC_DROP | POLICY_DENIED | a tc program or filter decided to drop |
//! | BPF_CGROUP_EGRESS | POLICY_DENIED | a cgroup BPF program refused the packet |
//! | XFRM_POLICY | POLICY_DENIED | the IPsec policy check refused the packet |
//! | SECURITY_HOOK | POLICY_DENIED | an LSM refused the packet |
//! | IP_NOPROTO, UNHANDLED_PROTO | UNKNOWN_L4_PROTOCOL | nothing handles the transport protocol |
//! | IPV6DISABLED | UNSUPPORTED_L3_PROTOCOL | IPv6 is off on the device |
//! | IP_INHDR, PKT_TOO_SMALL, HDR_TRUNC, INVALID_PROTO | INVALID_PACKET_DROPPED | malformed or truncated headers |
//! | IP_CSUM, TCP_CSUM, UDP_CSUM, ICMP_CSUM, SKB_CSUM | INVALID_PACKET_DROPPED | bad checksum |
//! | IPV6_BAD_EXTHDR | INVALID_IPV6_EXTENSION_HEADER | same meaning |
//! | IP_OUTNOROUTES, IP_INNOROUTES | FIB_LOOKUP_FAILED | the route lookup found nothing |
//! | IP_INADDRERRORS, IP_INVALID_DEST | UNKNOWN_L3_TARGET_ADDRESS | the destination address is unusable |
//! | IP_RPFILTER, IP_INVALID_SOURCE, IP_LOCAL_SOURCE | INVALID_SOURCE_IP | the source address is not acceptable |
//! | VXLAN_VNI_NOT_FOUND | INVALID_VNI | no VXLAN device for the VNI |
//! | FQ_HORIZON_LIMIT | REACHED_EDT_RATE_LIMITING_DROP_HORIZON | the fq qdisc's EDT horizon, as in Cilium's bandwidth manager |
//! | NO_SOCKET | DROP_REASON_UNKNOWN | no local socket; Hubble's SOCKET_LOOKUP_FAILED is Cilium's own socket assignment, not this |
//! | anything else, or a number the running kernel does not name | DROP_REASON_UNKNOWN | no Hubble equivalent |
//!
//! Hubble's TTL_EXCEEDED has no kernel counterpart: the kernel has no
//! dedicated drop reason for an expired TTL or hop limit (none in the 6.18
//! list), so such drops arrive under a generic reason and map as that reason.

use std::collections::HashMap;
use std::io;

use flowlog_flow::DropReason;

/// Names of the kernel's `enum skb_drop_reason` values, as the running kernel
/// numbers them.
///
/// The numbering changes between kernel versions, so it is read from the
/// `skb:kfree_skb` tracepoint's format rather than compiled in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropReasonNames {
    names: HashMap<u32, String>,
}

/// Where tracefs may be mounted, newest convention first.
const KFREE_SKB_FORMATS: [&str; 2] =
    ["/sys/kernel/tracing/events/skb/kfree_skb/format", "/sys/kernel/debug/tracing/events/skb/kfree_skb/format"];

impl DropReasonNames {
    /// Reads the names from the running kernel's `skb:kfree_skb` format file.
    ///
    /// Fails when neither tracefs location can be read (tracefs not mounted,
    /// or no permission), or with [`io::ErrorKind::InvalidData`] when the file
    /// names no reasons (a kernel before drop reasons, 5.17).
    pub fn from_tracefs() -> io::Result<Self> {
        let mut last_error = None;
        for path in KFREE_SKB_FORMATS {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let names = Self::parse_format(&text);
                    if names.names.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{path} names no drop reasons"),
                        ));
                    }
                    return Ok(names);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound)))
    }

    /// Parses the text of a tracepoint format file, taking the
    /// `__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, …)` table from
    /// its `print fmt` line. Entries that do not parse are skipped; text
    /// without such a table gives an empty set.
    pub fn parse_format(text: &str) -> Self {
        let mut names = HashMap::new();
        let Some(start) = text.find("__print_symbolic(REC->reason") else {
            return DropReasonNames { names };
        };
        let mut rest = &text[start + "__print_symbolic(REC->reason".len()..];
        // Entries are `{ number, "NAME" }`; the table ends at the call's `)`,
        // which cannot occur inside an entry because names are identifiers.
        loop {
            let open = rest.find('{');
            let close_call = rest.find(')');
            let Some(open) = open.filter(|&open| close_call.is_none_or(|close| open < close)) else {
                break;
            };
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let entry = &rest[open + 1..open + close];
            rest = &rest[open + close + 1..];
            if let Some((number, name)) = entry.split_once(',')
                && let Some(number) = parse_number(number.trim())
            {
                let name = name.trim().trim_matches('"');
                if !name.is_empty() {
                    names.insert(number, name.to_owned());
                }
            }
        }
        DropReasonNames { names }
    }

    /// The kernel's name for `reason` (`"NETFILTER_DROP"`), without the
    /// `SKB_DROP_REASON_` prefix; `None` when this kernel does not name it.
    pub fn name(&self, reason: u32) -> Option<&str> {
        self.names.get(&reason).map(String::as_str)
    }
}

/// Decimal, or hexadecimal with `0x`: tracefs writes resolved enum values
/// in decimal today, but nothing promises it.
fn parse_number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The Hubble drop reason for a kernel drop reason name; the table is in the
/// module documentation.
pub(super) fn hubble_drop_reason(kernel_name: Option<&str>) -> DropReason {
    match kernel_name {
        Some(
            "NETFILTER_DROP" | "TC_INGRESS" | "TC_EGRESS" | "TC_DROP" | "BPF_CGROUP_EGRESS" | "XFRM_POLICY"
            | "SECURITY_HOOK",
        ) => DropReason::PolicyDenied,
        Some("IP_NOPROTO" | "UNHANDLED_PROTO") => DropReason::UnknownL4Protocol,
        Some("IPV6DISABLED") => DropReason::UnsupportedL3Protocol,
        Some(
            "IP_INHDR" | "PKT_TOO_SMALL" | "HDR_TRUNC" | "INVALID_PROTO" | "IP_CSUM" | "TCP_CSUM" | "UDP_CSUM"
            | "ICMP_CSUM" | "SKB_CSUM",
        ) => DropReason::InvalidPacketDropped,
        Some("IPV6_BAD_EXTHDR") => DropReason::InvalidIpv6ExtensionHeader,
        Some("IP_OUTNOROUTES" | "IP_INNOROUTES") => DropReason::FibLookupFailed,
        Some("IP_INADDRERRORS" | "IP_INVALID_DEST") => DropReason::UnknownL3TargetAddress,
        Some("IP_RPFILTER" | "IP_INVALID_SOURCE" | "IP_LOCAL_SOURCE") => DropReason::InvalidSourceIp,
        Some("VXLAN_VNI_NOT_FOUND") => DropReason::InvalidVni,
        Some("FQ_HORIZON_LIMIT") => DropReason::ReachedEdtRateLimitingDropHorizon,
        _ => DropReason::Unknown,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A shortened copy of the `print fmt` line of a 6.18 kernel's
    /// `/sys/kernel/tracing/events/skb/kfree_skb/format`.
    pub(in crate::decode) const FORMAT: &str = r#"name: kfree_skb
ID: 2310
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:enum skb_drop_reason reason;	offset:36;	size:4;	signed:0;

print fmt: "skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s", REC->skbaddr, REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 9, "PKT_TOO_SMALL" }, { 12, "NETFILTER_DROP" }, { 16, "IP_RPFILTER" }, { 54, "IP_OUTNOROUTES" }, { 62, "TC_EGRESS" }, { 73, "TC_INGRESS" }, { 128, "MAX" })
"#;

    #[test]
    fn parses_the_kfree_skb_format() {
        let names = DropReasonNames::parse_format(FORMAT);
        assert_eq!(names.name(2), Some("NOT_SPECIFIED"));
        assert_eq!(names.name(12), Some("NETFILTER_DROP"));
        assert_eq!(names.name(73), Some("TC_INGRESS"));
        assert_eq!(names.name(128), Some("MAX"));
        assert_eq!(names.name(4), None);
        assert_eq!(names.names.len(), 9);
        assert_eq!(DropReasonNames::parse_format("print fmt: \"%p\", REC->skbaddr"), DropReasonNames::default());
    }

    #[test]
    fn maps_kernel_reasons() {
        let names = DropReasonNames::parse_format(FORMAT);
        let map = |reason| hubble_drop_reason(names.name(reason));
        assert_eq!(map(9), DropReason::InvalidPacketDropped);
        assert_eq!(map(16), DropReason::InvalidSourceIp);
        assert_eq!(map(54), DropReason::FibLookupFailed);
        assert_eq!(map(62), DropReason::PolicyDenied);
        assert_eq!(map(73), DropReason::PolicyDenied);
        assert_eq!(map(2), DropReason::Unknown);
    }

    /// On a machine with tracefs mounted, the running kernel's table parses
    /// and names the reasons the mapping relies on.
    #[test]
    fn running_kernel_names() {
        let Ok(names) = DropReasonNames::from_tracefs() else {
            return; // no tracefs here: nothing to check
        };
        assert!(names.names.values().any(|name| name == "NETFILTER_DROP"));
        assert!(names.names.values().any(|name| name == "NOT_SPECIFIED"));
    }
}
