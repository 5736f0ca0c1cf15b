//! Numeric identities without an allocator: a pod's identity is a hash of
//! its identity labels, so every node gives the same labels the same number
//! with no coordination, and `source_identity` filters work across nodes.
//!
//! # The range
//!
//! Cilium splits the 32 bits of an identity by scope in the top byte
//! (`pkg/identity/numericidentity.go`): 0 is the cluster-wide range
//! (reserved identities below 256, allocated ones up to 2^16, and the
//! cluster ID of a cluster mesh in bits 16 to 23), 1 the node-local
//! identities (CIDRs, FQDNs) and 2 remote nodes. flowlog's identities use
//! the other 253 values of the top byte, [`FIRST`] to `u32::MAX`: never a
//! reserved number, never a number a Cilium cluster could give, and as
//! many numbers as 32 bits leave, 4,244,635,648.
//!
//! With `n` numbers and `k` label sets, the chance that two share a number
//! is about `1 − exp(−k(k−1)/2n)`: 0.012 % for 1,000 label sets, 1.2 % for
//! 10,000 (the chance that a given label set shares its number with any of
//! the other 9,999 is 2.4 in a million). A smaller range would be worse: in
//! Cilium's own 2^16 cluster range, 10,000 label sets would all but surely
//! collide. The flow field is 32 bits, so this is as far as it goes.
//!
//! The hash is SHA-256 of the sorted labels, each followed by a newline:
//! stable across versions, platforms and Rust releases, unlike `std`'s
//! hashers.

use sha2::{Digest, Sha256};

/// The first number a label set can have: top byte 3.
pub const FIRST: u32 = 3 << 24;
/// How many numbers there are from [`FIRST`] to `u32::MAX`.
const RANGE: u64 = (u32::MAX - FIRST) as u64 + 1;

/// The identity of a pod whose sorted identity labels are `labels`.
pub fn identity_of(labels: &[String]) -> u32 {
    let mut hash = Sha256::new();
    for label in labels {
        hash.update(label.as_bytes());
        hash.update(b"\n");
    }
    let digest = hash.finalize();
    let first = u64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"));
    FIRST + u32::try_from(first % RANGE).expect("below the range, which fits in 32 bits")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn labels(list: &[&str]) -> Vec<String> {
        list.iter().map(|label| (*label).to_owned()).collect()
    }

    #[test]
    fn the_same_labels_give_the_same_number_everywhere() {
        let web = labels(&["k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"]);
        // Fixed: a change of hash or range would split a mixed-version fleet.
        assert_eq!(identity_of(&web), identity_of(&web.clone()));
        assert_eq!(identity_of(&web), 307_980_297);
        assert_ne!(identity_of(&web), identity_of(&labels(&["k8s:app=db", "k8s:io.kubernetes.pod.namespace=shop"])));
        // The newline keeps label boundaries apart.
        assert_ne!(identity_of(&labels(&["k8s:a", "b"])), identity_of(&labels(&["k8s:ab"])));
    }

    #[test]
    fn never_reserved_nor_cilium_range() {
        let mut seen = HashSet::new();
        for i in 0..10_000 {
            let identity = identity_of(&[format!("k8s:app=app-{i}")]);
            assert!(identity >= FIRST, "{identity}");
            seen.insert(identity);
        }
        // 10,000 label sets: 1.2 % chance of one shared number, so this
        // fixed set of labels is checked to have none.
        assert_eq!(seen.len(), 10_000);
    }
}
