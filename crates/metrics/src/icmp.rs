//! ICMP type names for the `type` label of `hubble_icmp_total`, spelled as
//! Hubble spells them: Hubble formats the type and code with gopacket's
//! `ICMPv4TypeCode`/`ICMPv6TypeCode` `String()`, so that is the format here:
//!
//! - a type without codes: its name (`EchoRequest`);
//! - a type with named codes: `Name(Code)` (`DestinationUnreachable(Port)`);
//! - a code the type does not use or name: `Name(Code: 7)`;
//! - a type gopacket does not name: `type(code)` (`130(0)` for an MLD query).

use std::borrow::Cow;

/// The label for an ICMPv4 type and code.
pub fn icmpv4_type(kind: u32, code: u32) -> Cow<'static, str> {
    let known = match kind {
        0 => Some(("EchoReply", None)),
        3 => Some((
            "DestinationUnreachable",
            Some(
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
                ][..],
            ),
        )),
        4 => Some(("SourceQuench", None)),
        5 => Some(("Redirect", Some(&["Net", "Host", "TOS+Net", "TOS+Host"][..]))),
        8 => Some(("EchoRequest", None)),
        9 => Some(("RouterAdvertisement", None)),
        10 => Some(("RouterSolicitation", None)),
        11 => Some(("TimeExceeded", Some(&["TTLExceeded", "FragmentReassemblyTimeExceeded"][..]))),
        12 => Some(("ParameterProblem", Some(&["PointerIndicatesError", "MissingOption", "BadLength"][..]))),
        13 => Some(("TimestampRequest", None)),
        14 => Some(("TimestampReply", None)),
        15 => Some(("InfoRequest", None)),
        16 => Some(("InfoReply", None)),
        17 => Some(("AddressMaskRequest", None)),
        18 => Some(("AddressMaskReply", None)),
        _ => None,
    };
    name(known, kind, code)
}

/// The label for an ICMPv6 type and code.
pub fn icmpv6_type(kind: u32, code: u32) -> Cow<'static, str> {
    let known = match kind {
        1 => Some((
            "DestinationUnreachable",
            Some(
                &[
                    "NoRouteToDst",
                    "AdminProhibited",
                    "BeyondScopeOfSrc",
                    "AddressUnreachable",
                    "PortUnreachable",
                    "SrcAddressFailedPolicy",
                    "RejectRouteToDst",
                ][..],
            ),
        )),
        2 => Some(("PacketTooBig", None)),
        3 => Some(("TimeExceeded", Some(&["HopLimitExceeded", "FragmentReassemblyTimeExceeded"][..]))),
        4 => Some((
            "ParameterProblem",
            Some(&["ErroneousHeaderField", "UnrecognizedNextHeader", "UnrecognizedIPv6Option"][..]),
        )),
        128 => Some(("EchoRequest", None)),
        129 => Some(("EchoReply", None)),
        133 => Some(("RouterSolicitation", None)),
        134 => Some(("RouterAdvertisement", None)),
        135 => Some(("NeighborSolicitation", None)),
        136 => Some(("NeighborAdvertisement", None)),
        137 => Some(("Redirect", None)),
        _ => None,
    };
    name(known, kind, code)
}

/// A type's name and, for types that use the code, the codes' names by number.
type Known = Option<(&'static str, Option<&'static [&'static str]>)>;

fn name(known: Known, kind: u32, code: u32) -> Cow<'static, str> {
    // The wire fields are 8 bits; gopacket sees them truncated to u8.
    let (kind, code) = (kind as u8, code as u8);
    match known {
        None => Cow::Owned(format!("{kind}({code})")),
        Some((name, None)) if code == 0 => Cow::Borrowed(name),
        Some((name, codes)) => match codes.and_then(|codes| codes.get(usize::from(code))) {
            Some(code) => Cow::Owned(format!("{name}({code})")),
            None => Cow::Owned(format!("{name}(Code: {code})")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_gopackets() {
        assert_eq!(icmpv4_type(8, 0), "EchoRequest");
        assert_eq!(icmpv4_type(0, 0), "EchoReply");
        assert_eq!(icmpv4_type(3, 3), "DestinationUnreachable(Port)");
        assert_eq!(icmpv4_type(3, 4), "DestinationUnreachable(FragmentationNeeded)");
        assert_eq!(icmpv4_type(3, 42), "DestinationUnreachable(Code: 42)");
        assert_eq!(icmpv4_type(11, 0), "TimeExceeded(TTLExceeded)");
        assert_eq!(icmpv4_type(5, 2), "Redirect(TOS+Net)");
        assert_eq!(icmpv4_type(8, 1), "EchoRequest(Code: 1)");
        assert_eq!(icmpv4_type(42, 1), "42(1)");
        assert_eq!(icmpv6_type(128, 0), "EchoRequest");
        assert_eq!(icmpv6_type(129, 0), "EchoReply");
        assert_eq!(icmpv6_type(1, 4), "DestinationUnreachable(PortUnreachable)");
        assert_eq!(icmpv6_type(3, 0), "TimeExceeded(HopLimitExceeded)");
        assert_eq!(icmpv6_type(135, 0), "NeighborSolicitation");
        assert_eq!(icmpv6_type(143, 0), "143(0)");
    }
}
