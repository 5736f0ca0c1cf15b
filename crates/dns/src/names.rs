//! The names Hubble gives DNS types and response codes.
//!
//! Cilium writes `qtypes` and `rrtypes` and the summary's response code
//! with gopacket's `DNSType` and `DNSResponseCode` names, and labels its
//! metrics from its own table (`pkg/hubble/metrics/dns/rcode.go`), which
//! differs for code 9 and adds 11. Both are kept as Cilium has them, so
//! dashboards and filters written for Cilium match.

/// The name of a QTYPE or TYPE, as in `qtypes` and `rrtypes`: gopacket's,
/// `"Unknown"` for the types it does not name (ANY, CAA, DS among them).
pub fn type_name(code: u16) -> &'static str {
    match code {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        41 => "OPT",
        46 => "RRSIG",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        256 => "URI",
        _ => "Unknown",
    }
}

/// A response code as the summary writes it (gopacket's names).
pub fn rcode_summary_name(rcode: u16) -> &'static str {
    match rcode {
        9 => "Server Not Authoritative for zone",
        11 => "Unknown",
        23 => "Bad Cookie",
        rcode => rcode_metric_name(rcode).unwrap_or("Unknown"),
    }
}

/// A response code as the `rcode` label of Hubble's DNS metrics writes it;
/// `None` for codes Cilium's table lacks (the label is then empty).
pub fn rcode_metric_name(rcode: u16) -> Option<&'static str> {
    Some(match rcode {
        0 => "No Error",
        1 => "Format Error",
        2 => "Server Failure",
        3 => "Non-Existent Domain",
        4 => "Not Implemented",
        5 => "Query Refused",
        6 => "Name Exists when it should not",
        7 => "RR Set Exists when it should not",
        8 => "RR Set that should exist does not",
        9 => "Not Authorized",
        10 => "Name not contained in zone",
        11 => "DSO-TYPE Not Implemented",
        16 => "Bad OPT Version",
        17 => "Key not recognized",
        18 => "Signature out of time window",
        19 => "Bad TKEY Mode",
        20 => "Duplicate key name",
        21 => "Algorithm not supported",
        22 => "Bad Truncation",
        23 => "Bad/missing Server Cookie",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_tables_differ_where_cilium_does() {
        assert_eq!(rcode_summary_name(3), "Non-Existent Domain");
        assert_eq!(rcode_summary_name(9), "Server Not Authoritative for zone");
        assert_eq!(rcode_metric_name(9), Some("Not Authorized"));
        assert_eq!(rcode_summary_name(11), "Unknown");
        assert_eq!(rcode_metric_name(12), None);
        assert_eq!(rcode_summary_name(12), "Unknown");
        assert_eq!((type_name(28), type_name(255)), ("AAAA", "Unknown"));
    }
}
