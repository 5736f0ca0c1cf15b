//! ICMPv4 and ICMPv6 type and code names, spelled as Hubble spells them.
//!
//! Hubble names ICMP messages with gopacket's `ICMPv4TypeCode` and
//! `ICMPv6TypeCode`, so these are gopacket's names: `EchoRequest`,
//! `DestinationUnreachable` with code `Port`, `TimeExceeded` with code
//! `TTLExceeded`. One table serves every place that prints them (the capture's
//! flow summaries, the metrics' `type` label), so they cannot drift apart.
//!
//! The lookups take the wire fields, which are 8 bits; Hubble's `ICMPv4` and
//! `ICMPv6` messages carry them as `u32`, and how to narrow a larger value is
//! the caller's choice.
//!
//! ```
//! use flowlog_flow::icmp;
//!
//! let unreachable = icmp::icmpv4(3).unwrap();
//! assert_eq!(unreachable.name, "DestinationUnreachable");
//! assert_eq!(unreachable.code(3), Some("Port"));
//! assert_eq!(icmp::icmpv6(128).map(|t| t.name), Some("EchoRequest"));
//! assert_eq!(icmp::icmpv4(42), None);
//! ```

/// An ICMP message type: its name and, for types whose code means something,
/// the names of the codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpType {
    /// gopacket's name for the type (`EchoRequest`).
    pub name: &'static str,
    /// The names of the codes, indexed by code number; empty for a type that
    /// uses no code (where the code should be 0).
    pub codes: &'static [&'static str],
}

impl IcmpType {
    /// A type that uses no code.
    const fn plain(name: &'static str) -> Self {
        IcmpType { name, codes: &[] }
    }

    /// A type whose codes are named, by code number.
    const fn with_codes(name: &'static str, codes: &'static [&'static str]) -> Self {
        IcmpType { name, codes }
    }

    /// The name of `code` for this type, `None` when the type uses no code or
    /// does not name this one.
    pub fn code(&self, code: u8) -> Option<&'static str> {
        self.codes.get(usize::from(code)).copied()
    }
}

/// The ICMPv4 (IP protocol 1) type `kind`, `None` when gopacket does not name it.
pub fn icmpv4(kind: u8) -> Option<IcmpType> {
    Some(match kind {
        0 => IcmpType::plain("EchoReply"),
        3 => IcmpType::with_codes(
            "DestinationUnreachable",
            &[
                "Net",
                "Host",
                "Protocol",
                "Port",
                "FragmentationNeeded",
                "SourceRoutingFailed",
                "NetUnknown",
                "HostUnknown",
                "SourceIsolated",
                "NetAdminProhibited",
                "HostAdminProhibited",
                "NetTOS",
                "HostTOS",
                "CommAdminProhibited",
                "HostPrecedence",
                "PrecedenceCutoff",
            ],
        ),
        4 => IcmpType::plain("SourceQuench"),
        5 => IcmpType::with_codes("Redirect", &["Net", "Host", "TOS+Net", "TOS+Host"]),
        8 => IcmpType::plain("EchoRequest"),
        9 => IcmpType::plain("RouterAdvertisement"),
        10 => IcmpType::plain("RouterSolicitation"),
        11 => IcmpType::with_codes("TimeExceeded", &["TTLExceeded", "FragmentReassemblyTimeExceeded"]),
        12 => IcmpType::with_codes("ParameterProblem", &["PointerIndicatesError", "MissingOption", "BadLength"]),
        13 => IcmpType::plain("TimestampRequest"),
        14 => IcmpType::plain("TimestampReply"),
        15 => IcmpType::plain("InfoRequest"),
        16 => IcmpType::plain("InfoReply"),
        17 => IcmpType::plain("AddressMaskRequest"),
        18 => IcmpType::plain("AddressMaskReply"),
        _ => return None,
    })
}

/// The ICMPv6 (IP protocol 58) type `kind`, `None` when gopacket does not name it.
pub fn icmpv6(kind: u8) -> Option<IcmpType> {
    Some(match kind {
        1 => IcmpType::with_codes(
            "DestinationUnreachable",
            &[
                "NoRouteToDst",
                "AdminProhibited",
                "BeyondScopeOfSrc",
                "AddressUnreachable",
                "PortUnreachable",
                "SrcAddressFailedPolicy",
                "RejectRouteToDst",
            ],
        ),
        2 => IcmpType::plain("PacketTooBig"),
        3 => IcmpType::with_codes("TimeExceeded", &["HopLimitExceeded", "FragmentReassemblyTimeExceeded"]),
        4 => IcmpType::with_codes(
            "ParameterProblem",
            &["ErroneousHeaderField", "UnrecognizedNextHeader", "UnrecognizedIPv6Option"],
        ),
        128 => IcmpType::plain("EchoRequest"),
        129 => IcmpType::plain("EchoReply"),
        133 => IcmpType::plain("RouterSolicitation"),
        134 => IcmpType::plain("RouterAdvertisement"),
        135 => IcmpType::plain("NeighborSolicitation"),
        136 => IcmpType::plain("NeighborAdvertisement"),
        137 => IcmpType::plain("Redirect"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_codes() {
        assert_eq!(icmpv4(8), Some(IcmpType { name: "EchoRequest", codes: &[] }));
        assert_eq!(icmpv4(8).unwrap().code(0), None, "a type without codes names none");
        assert_eq!(icmpv4(3).unwrap().code(15), Some("PrecedenceCutoff"));
        assert_eq!(icmpv4(3).unwrap().code(16), None);
        assert_eq!(icmpv4(11).unwrap().code(0), Some("TTLExceeded"));
        assert_eq!(icmpv4(4).map(|t| t.name), Some("SourceQuench"));
        assert_eq!(icmpv4(1), None);
        assert_eq!(icmpv4(19), None);
        assert_eq!(icmpv6(1).unwrap().code(6), Some("RejectRouteToDst"));
        assert_eq!(icmpv6(4).unwrap().code(2), Some("UnrecognizedIPv6Option"));
        assert_eq!(icmpv6(137).map(|t| t.name), Some("Redirect"));
        assert_eq!(icmpv6(130), None, "MLD is not named");
        assert_eq!(icmpv6(0), None);
    }

    /// The two families number the same messages differently.
    #[test]
    fn families_differ() {
        assert_eq!(icmpv4(0).map(|t| t.name), Some("EchoReply"));
        assert_eq!(icmpv6(129).map(|t| t.name), Some("EchoReply"));
        assert_eq!(icmpv4(3).map(|t| t.name), icmpv6(1).map(|t| t.name));
        assert_ne!(icmpv4(3).unwrap().codes, icmpv6(1).unwrap().codes);
    }
}
