//! A bounded map whose entries count only for a while: the messages seen
//! in the last seconds, the queries still waiting for their response.

use std::hash::Hash;

use foldhash::HashMap;

/// Entries younger than `lifetime_ns`, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct Recent<K, V> {
    entries: HashMap<K, (u64, V)>,
    capacity: usize,
    lifetime_ns: u64,
}

impl<K: Eq + Hash, V> Recent<K, V> {
    pub(crate) fn new(capacity: usize, lifetime_ns: u64) -> Self {
        Recent { entries: HashMap::default(), capacity, lifetime_ns }
    }

    /// Keeps `value` under `key` from `now_ns`; false when the map is full
    /// of entries still alive, and the entry is not kept.
    pub(crate) fn insert(&mut self, key: K, value: V, now_ns: u64) -> bool {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let lifetime = self.lifetime_ns;
            self.entries.retain(|_, (since, _)| now_ns.saturating_sub(*since) < lifetime);
            if self.entries.len() >= self.capacity {
                return false;
            }
        }
        self.entries.insert(key, (now_ns, value));
        true
    }

    /// The value under `key`, if it is still alive at `now_ns`.
    pub(crate) fn get(&self, key: &K, now_ns: u64) -> Option<&V> {
        self.entries.get(key).filter(|(since, _)| self.alive(*since, now_ns)).map(|(_, value)| value)
    }

    /// Takes the entry under `key` out: when it was kept and its value, if
    /// it is still alive at `now_ns`.
    pub(crate) fn remove(&mut self, key: &K, now_ns: u64) -> Option<(u64, V)> {
        let (since, value) = self.entries.remove(key)?;
        self.alive(since, now_ns).then_some((since, value))
    }

    fn alive(&self, since: u64, now_ns: u64) -> bool {
        now_ns.saturating_sub(since) < self.lifetime_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_their_lifetime_and_fill_up() {
        let mut recent = Recent::new(2, 10);
        assert!(recent.insert(1, "a", 0));
        assert!(recent.insert(2, "b", 5));
        assert!(!recent.insert(3, "c", 9), "full of live entries");
        assert_eq!(recent.get(&1, 9), Some(&"a"));
        assert_eq!(recent.get(&1, 10), None);
        assert!(recent.insert(3, "c", 10), "the dead entry made room");
        assert_eq!(recent.remove(&2, 14), Some((5, "b")));
        assert_eq!(recent.remove(&2, 14), None);
        assert_eq!(recent.remove(&3, 100), None, "too old");
    }
}
