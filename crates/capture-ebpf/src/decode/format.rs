//! Addresses in their text forms, written byte by byte into a sized `String`:
//! the decoder formats two addresses and two MACs per record, and through
//! `fmt` machinery that was a third of its time.

use std::net::{IpAddr, Ipv4Addr};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `aa:bb:cc:dd:ee:ff`, lowercase, as Hubble writes MACs.
pub(super) fn format_mac(mac: &[u8; 6]) -> String {
    let mut text = String::with_capacity(17);
    for (i, byte) in mac.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        text.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// An address in its usual text form: dotted quad for IPv4 (written here,
/// the common case), RFC 5952 for IPv6 (left to the standard library).
pub(super) fn format_ip(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => format_ipv4(v4),
        IpAddr::V6(v6) => v6.to_string(),
    }
}

fn format_ipv4(address: Ipv4Addr) -> String {
    let mut text = String::with_capacity(15);
    for (i, octet) in address.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    #[test]
    fn text_forms_match_the_standard_library() {
        for octet in [0u8, 1, 9, 10, 42, 99, 100, 199, 200, 255] {
            let address = Ipv4Addr::new(octet, 255 - octet, octet / 3, 7);
            assert_eq!(format_ip(IpAddr::V4(address)), address.to_string());
        }
        let v6: Ipv6Addr = "fd00:10:244::5".parse().unwrap();
        assert_eq!(format_ip(IpAddr::V6(v6)), "fd00:10:244::5");
        assert_eq!(format_mac(&[0x0a, 0x58, 0x0a, 0xf4, 0x00, 0xff]), "0a:58:0a:f4:00:ff");
    }
}
