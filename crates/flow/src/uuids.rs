//! Flow UUIDs: every event flowlog emits gets its own, as Hubble's do.

/// A random (version 4) UUID, hyphenated and lowercase.
///
/// The bits come from `uuid`'s `fast-rng`: `rand`'s per-thread generator,
/// seeded from the operating system, rather than one `getrandom(2)` call per
/// flow (the syscall was a quarter of the capture decoder's time). The text
/// is encoded on the stack and copied once into the `String`.
pub fn random_uuid() -> String {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::random_uuid;

    #[test]
    fn uuids_are_random_v4_and_distinct() {
        let uuids: std::collections::HashSet<String> = (0..10_000).map(|_| random_uuid()).collect();
        assert_eq!(uuids.len(), 10_000);
        for text in uuids.iter().take(100) {
            let uuid = uuid::Uuid::parse_str(text).unwrap();
            assert_eq!(uuid.get_version_num(), 4);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(text, &uuid.hyphenated().to_string());
        }
        let other_thread = std::thread::spawn(random_uuid).join().unwrap();
        assert!(!uuids.contains(&other_thread), "threads are seeded apart");
    }
}
