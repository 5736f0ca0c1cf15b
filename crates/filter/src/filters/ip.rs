//! `source_ip`, `destination_ip`, `source_ip_xlated`: addresses and CIDR prefixes.

use std::net::IpAddr;

use super::FilterError;
use super::event::Event;

/// Which address of a flow's `IP` an [`IpFilter`] looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IpField {
    Source,
    Destination,
    SourceXlated,
}

/// Exact addresses (compared as strings, as Hubble does) and CIDR prefixes.
#[derive(Debug)]
pub(crate) struct IpFilter {
    field: IpField,
    addresses: Vec<String>,
    prefixes: Vec<Prefix>,
}

impl IpFilter {
    pub(crate) fn new(field: IpField, name: &str, values: &[String]) -> Result<Self, FilterError> {
        let mut addresses = Vec::new();
        let mut prefixes = Vec::new();
        for value in values {
            if value.contains('/') {
                let prefix = Prefix::parse(value)
                    .map_err(|reason| FilterError::field(name, "invalid CIDR").with_value(value).with_detail(reason))?;
                prefixes.push(prefix);
            } else {
                validate_address(value).map_err(|reason| {
                    FilterError::field(name, "invalid address").with_value(value).with_detail(reason)
                })?;
                addresses.push(value.clone());
            }
        }
        Ok(Self { field, addresses, prefixes })
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(ip) = event.flow().and_then(|flow| flow.ip.as_ref()) else {
            return false;
        };
        let address = match self.field {
            IpField::Source => &ip.source,
            IpField::Destination => &ip.destination,
            IpField::SourceXlated => &ip.source_xlated,
        };
        if address.is_empty() {
            return false;
        }
        if self.addresses.iter().any(|a| a == address) {
            return true;
        }
        if self.prefixes.is_empty() {
            return false;
        }
        // A zoned or malformed flow address is in no prefix.
        address.parse::<IpAddr>().is_ok_and(|address| self.prefixes.iter().any(|p| p.contains(address)))
    }
}

/// Accepts what Go's `netip.ParseAddr` does, IPv6 zones (`fe80::1%eth0`) included.
fn validate_address(value: &str) -> Result<(), String> {
    let (address, zone) = match value.split_once('%') {
        Some((address, zone)) => (address, Some(zone)),
        None => (value, None),
    };
    match (address.parse::<IpAddr>(), zone) {
        (Err(e), _) => Err(e.to_string()),
        (Ok(_), None) => Ok(()),
        (Ok(IpAddr::V6(_)), Some(zone)) if !zone.is_empty() => Ok(()),
        (Ok(_), Some(_)) => Err("a zone needs an IPv6 address and a name".to_owned()),
    }
}

/// A CIDR prefix; host bits are allowed and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    V4 { network: u32, bits: u32 },
    V6 { network: u128, bits: u32 },
}

impl Prefix {
    fn parse(value: &str) -> Result<Self, String> {
        let (address, bits) = value.rsplit_once('/').ok_or("missing `/`")?;
        let address: IpAddr = address.parse().map_err(|e| format!("{e}"))?;
        let valid_digits =
            !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) && (bits == "0" || !bits.starts_with('0'));
        let max = if address.is_ipv4() { 32 } else { 128 };
        let bits = bits
            .parse::<u32>()
            .ok()
            .filter(|bits| valid_digits && *bits <= max)
            .ok_or_else(|| format!("prefix length {bits:?} is not a number from 0 to {max}"))?;
        Ok(match address {
            IpAddr::V4(address) => Prefix::V4 { network: u32::from(address) & mask32(bits), bits },
            IpAddr::V6(address) => Prefix::V6 { network: u128::from(address) & mask128(bits), bits },
        })
    }

    fn contains(self, address: IpAddr) -> bool {
        match (self, address) {
            (Prefix::V4 { network, bits }, IpAddr::V4(address)) => u32::from(address) & mask32(bits) == network,
            (Prefix::V6 { network, bits }, IpAddr::V6(address)) => u128::from(address) & mask128(bits) == network,
            _ => false,
        }
    }
}

fn mask32(bits: u32) -> u32 {
    u32::MAX.checked_shl(32 - bits).unwrap_or(0)
}

fn mask128(bits: u32) -> u128 {
    u128::MAX.checked_shl(128 - bits).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_contain_addresses_of_their_family_only() {
        let cases = [
            ("10.0.0.0/8", "10.1.2.3", true),
            ("10.0.0.1/8", "10.1.2.3", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("0.0.0.0/0", "1.2.3.4", true),
            ("0.0.0.0/0", "::1", false),
            ("1.2.3.4/32", "1.2.3.4", true),
            ("1.2.3.4/32", "1.2.3.5", false),
            ("2001:db8::/32", "2001:db8::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "10.0.0.1", false),
            ("::/0", "::ffff:10.0.0.1", true),
        ];
        for (prefix, address, expected) in cases {
            let prefix = Prefix::parse(prefix).unwrap();
            assert_eq!(prefix.contains(address.parse().unwrap()), expected, "{prefix:?} {address}");
        }
    }

    #[test]
    fn rejects_bad_prefixes_and_addresses() {
        for bad in ["1.1.1.1/1234", "1.1.1.1/33", "1.1.1.1/", "1.1.1.1/+8", "1.1.1.1/08", "::/129", "320.0.0.0/8", "/8"]
        {
            assert!(Prefix::parse(bad).is_err(), "{bad}");
        }
        for bad in ["", "320.320.320.320", "1.2.3", "fe80::1%", "1.2.3.4%eth0", "010.1.1.1"] {
            assert!(validate_address(bad).is_err(), "{bad}");
        }
        for good in ["1.2.3.4", "::1", "fe80::1%eth0", "::ffff:1.2.3.4"] {
            assert!(validate_address(good).is_ok(), "{good}");
        }
    }
}
