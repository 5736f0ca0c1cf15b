//! The DNS cache: which names the answers flowlog saw gave each address,
//! and until when.
//!
//! Fed by every DNS response ([`DnsCache::learn`]), read for every flow
//! ([`DnsCache::names_of`]) to fill `source_names` and `destination_names`
//! as Cilium's FQDN cache does. Unlike Cilium's, which is kept per
//! endpoint, it is one table for the node: an address is named by what any
//! pod on the node was told it is.
//!
//! Bounds, all in [`CacheLimits`]:
//!
//! - an answer's TTL is raised to `min_ttl` and cut to `max_ttl`: a
//!   connection outlives the 0- to 30-second TTLs of load-balanced names,
//!   and its later flows should keep the name they were opened for;
//! - at most `max_addresses` addresses. When full, expired entries go
//!   first, then the eighth that expires soonest;
//! - at most [`MAX_NAMES_PER_ADDRESS`] names an address (a shared CDN
//!   address can answer for thousands): the one that expires soonest goes.
//!
//! Names are kept as Cilium writes them in flows: lower case, without the
//! trailing dot.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use foldhash::HashMap;

use crate::message::{AnswerData, Message};

/// The most names kept for one address.
pub const MAX_NAMES_PER_ADDRESS: usize = 32;

/// How long names are kept, and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// The most addresses kept. Default: 65,536. 0 turns the cache off.
    pub max_addresses: usize,
    /// The shortest time a name is kept, whatever its TTL. Default: 60 s.
    pub min_ttl: Duration,
    /// The longest time a name is kept, whatever its TTL. Default: 1 day.
    pub max_ttl: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_addresses: 65_536,
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// One name of an address, and when it expires (Unix nanoseconds).
#[derive(Clone, Debug)]
struct Entry {
    name: Arc<str>,
    expires_ns: u64,
}

/// Addresses and the names answers gave them.
#[derive(Debug, Default)]
pub struct DnsCache {
    limits: CacheLimits,
    addresses: HashMap<IpAddr, Vec<Entry>>,
}

impl DnsCache {
    /// An empty cache with `limits`.
    pub fn new(limits: CacheLimits) -> Self {
        DnsCache { limits, addresses: HashMap::default() }
    }

    /// How many addresses have names.
    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    /// Whether no address has a name.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    /// Learns the addresses a successful response at `now_ns` (Unix
    /// nanoseconds) gave: each A and AAAA answer names its address by the
    /// query and by every alias the CNAME chain went through, so a flow to
    /// the address matches the name the client asked for as well as the
    /// canonical one.
    pub fn learn(&mut self, message: &Message, now_ns: u64) {
        if !message.is_response || message.rcode != 0 || self.limits.max_addresses == 0 {
            return;
        }
        let Some(question) = message.questions.first() else { return };
        let mut names: Vec<Arc<str>> = vec![cache_name(&question.name).into()];
        for answer in &message.answers {
            match &answer.data {
                AnswerData::Alias(target) => names.push(cache_name(target).into()),
                AnswerData::Address(address) => {
                    let ttl = Duration::from_secs(answer.ttl.into()).max(self.limits.min_ttl).min(self.limits.max_ttl);
                    let expires_ns = now_ns.saturating_add(u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX));
                    for name in &names {
                        self.insert(*address, name, expires_ns, now_ns);
                    }
                }
                AnswerData::Other => {}
            }
        }
    }

    /// The names of `address` at `now_ns`, sorted; empty when it has none.
    pub fn names_of(&self, address: IpAddr, now_ns: u64) -> Vec<String> {
        let Some(entries) = self.addresses.get(&address) else { return Vec::new() };
        let mut names: Vec<String> =
            entries.iter().filter(|entry| entry.expires_ns > now_ns).map(|entry| entry.name.to_string()).collect();
        names.sort_unstable();
        names
    }

    fn insert(&mut self, address: IpAddr, name: &Arc<str>, expires_ns: u64, now_ns: u64) {
        if !self.addresses.contains_key(&address) && self.addresses.len() >= self.limits.max_addresses {
            self.make_room(now_ns);
        }
        let entries = self.addresses.entry(address).or_default();
        if let Some(entry) = entries.iter_mut().find(|entry| entry.name == *name) {
            entry.expires_ns = entry.expires_ns.max(expires_ns);
            return;
        }
        if entries.len() >= MAX_NAMES_PER_ADDRESS {
            let soonest = (0..entries.len()).min_by_key(|&at| entries[at].expires_ns).unwrap_or(0);
            entries.swap_remove(soonest);
        }
        entries.push(Entry { name: Arc::clone(name), expires_ns });
    }

    /// Drops what has expired, and when that frees nothing, the eighth of
    /// the addresses whose names expire soonest: one full pass buys room
    /// for many inserts.
    fn make_room(&mut self, now_ns: u64) {
        self.addresses.retain(|_, entries| {
            entries.retain(|entry| entry.expires_ns > now_ns);
            !entries.is_empty()
        });
        if self.addresses.len() < self.limits.max_addresses {
            return;
        }
        let mut expiries: Vec<(u64, IpAddr)> = self
            .addresses
            .iter()
            .map(|(address, entries)| (entries.iter().map(|entry| entry.expires_ns).max().unwrap_or(0), *address))
            .collect();
        let evict = (expiries.len() / 8).max(1);
        expiries.select_nth_unstable(evict - 1);
        for (_, address) in &expiries[..evict] {
            self.addresses.remove(address);
        }
    }
}

/// A name as flows carry it: lower case, without the trailing dot.
fn cache_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Answer, Question};

    const SECOND: u64 = 1_000_000_000;

    fn answer_for(query: &str, answers: &[(&str, u32, AnswerData)]) -> Message {
        Message {
            id: 1,
            is_response: true,
            rcode: 0,
            questions: vec![Question { name: query.into(), qtype: 1 }],
            answers: answers
                .iter()
                .map(|(name, ttl, data)| Answer { name: (*name).into(), rtype: 1, ttl: *ttl, data: data.clone() })
                .collect(),
        }
    }

    fn address(text: &str) -> AnswerData {
        AnswerData::Address(text.parse().unwrap())
    }

    #[test]
    fn names_through_a_cname_chain_until_the_ttl() {
        let limits = CacheLimits { min_ttl: Duration::from_secs(10), ..CacheLimits::default() };
        let mut cache = DnsCache::new(limits);
        let message = answer_for(
            "WWW.Example.COM.",
            &[
                ("www.example.com.", 300, AnswerData::Alias("web.example.com.".into())),
                ("web.example.com.", 120, address("10.0.0.1")),
            ],
        );
        cache.learn(&message, 1_000 * SECOND);
        let ip = "10.0.0.1".parse().unwrap();
        assert_eq!(cache.names_of(ip, 1_000 * SECOND), ["web.example.com", "www.example.com"]);
        assert_eq!(cache.names_of(ip, 1_119 * SECOND).len(), 2);
        assert!(cache.names_of(ip, 1_120 * SECOND).is_empty(), "expired with the A record's TTL");
        assert!(cache.names_of("10.0.0.2".parse().unwrap(), 1_000 * SECOND).is_empty());
    }

    #[test]
    fn ttls_are_held_within_bounds() {
        let limits = CacheLimits {
            min_ttl: Duration::from_secs(10),
            max_ttl: Duration::from_secs(100),
            ..CacheLimits::default()
        };
        let mut cache = DnsCache::new(limits);
        cache.learn(&answer_for("zero.", &[("zero.", 0, address("10.0.0.1"))]), 0);
        cache.learn(&answer_for("long.", &[("long.", 1_000_000, address("10.0.0.2"))]), 0);
        assert_eq!(cache.names_of("10.0.0.1".parse().unwrap(), 9 * SECOND), ["zero"]);
        assert!(cache.names_of("10.0.0.1".parse().unwrap(), 10 * SECOND).is_empty());
        assert_eq!(cache.names_of("10.0.0.2".parse().unwrap(), 99 * SECOND), ["long"]);
        assert!(cache.names_of("10.0.0.2".parse().unwrap(), 100 * SECOND).is_empty());
    }

    #[test]
    fn failures_and_queries_teach_nothing() {
        let mut cache = DnsCache::new(CacheLimits::default());
        let mut message = answer_for("a.", &[("a.", 60, address("10.0.0.1"))]);
        message.rcode = 2;
        cache.learn(&message, 0);
        message.rcode = 0;
        message.is_response = false;
        cache.learn(&message, 0);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_size_is_bounded() {
        let mut cache = DnsCache::new(CacheLimits { max_addresses: 64, ..CacheLimits::default() });
        for i in 0..1_000u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            cache.learn(&answer_for("many.", &[("many.", 60 + i, address(&ip))]), 0);
            assert!(cache.len() <= 64);
        }
        // The newest answers are kept.
        assert_eq!(cache.names_of("10.0.3.231".parse().unwrap(), 0), ["many"]);
        let mut one = DnsCache::new(CacheLimits::default());
        for i in 0..100 {
            one.learn(&answer_for(&format!("n{i}."), &[("x.", 60 + i, address("10.0.0.1"))]), 0);
        }
        assert_eq!(one.names_of("10.0.0.1".parse().unwrap(), 0).len(), MAX_NAMES_PER_ADDRESS);
    }
}
