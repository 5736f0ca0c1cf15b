//! ICMP type names for the `type` label of `hubble_icmp_total`, spelled as
//! Hubble spells them: Hubble formats the type and code with gopacket's
//! `ICMPv4TypeCode`/`ICMPv6TypeCode` `String()`, so that is the format here:
//!
//! - a type without codes: its name (`EchoRequest`);
//! - a type with named codes: `Name(Code)` (`DestinationUnreachable(Port)`);
//! - a code the type does not use or name: `Name(Code: 7)`;
//! - a type gopacket does not name: `type(code)` (`130(0)` for an MLD query).
//!
//! The names themselves are [`flowlog_flow::icmp`]'s, the table the capture's
//! flow summaries use too; this module only puts them together into labels.

use std::borrow::Cow;

use flowlog_flow::icmp::{IcmpType, icmpv4, icmpv6};

/// The label for an ICMPv4 type and code.
pub fn icmpv4_type(kind: u32, code: u32) -> Cow<'static, str> {
    label(icmpv4, kind, code)
}

/// The label for an ICMPv6 type and code.
pub fn icmpv6_type(kind: u32, code: u32) -> Cow<'static, str> {
    label(icmpv6, kind, code)
}

/// gopacket's `String()` of a type and code, the type looked up with `lookup`.
fn label(lookup: fn(u8) -> Option<IcmpType>, kind: u32, code: u32) -> Cow<'static, str> {
    // A type wider than the 8-bit wire field is none gopacket names, and is
    // written, like the code, as gopacket sees it: truncated to u8.
    let known = u8::try_from(kind).ok().and_then(lookup);
    let (kind, code) = (kind as u8, code as u8);
    match known {
        None => Cow::Owned(format!("{kind}({code})")),
        Some(known) if known.codes.is_empty() && code == 0 => Cow::Borrowed(known.name),
        Some(known) => match known.code(code) {
            Some(code_name) => Cow::Owned(format!("{}({code_name})", known.name)),
            None => Cow::Owned(format!("{}(Code: {code})", known.name)),
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
