//! Hubble's DNS metrics, counted from the L7 DNS flows as Cilium's
//! `pkg/hubble/metrics/dns` handler counts them, and flowlog's own about
//! the DNS stage.
//!
//! | metric | labels | counts |
//! |---|---|---|
//! | `hubble_dns_queries_total` | `rcode`, `qtypes`, `ips_returned` | queries (`rcode` empty, `ips_returned` 0), and DNS flows with verdict `DROPPED` (`rcode="Policy denied"`) |
//! | `hubble_dns_responses_total` | `rcode`, `qtypes`, `ips_returned` | responses (`rcode` as `"Non-Existent Domain"`) |
//! | `hubble_dns_response_types_total` | `type`, `qtypes` | each answer record of a response, by its type |
//! | `flowlog_dns_skipped_total` | `reason` | DNS payloads that gave no flow (see `flowlog_dns::Skipped`) |
//! | `flowlog_dns_cache_addresses` | | addresses the DNS cache names |
//!
//! `qtypes` is the questions' types joined by commas (`A`, `AAAA`),
//! `ips_returned` the number of addresses answered. Cilium's three share
//! one help text, "Number of DNS queries observed"; so do flowlog's.

use std::borrow::Cow;

use flowlog_dns::names::rcode_metric_name;
use flowlog_flow::layer7::Record;
use flowlog_flow::{Flow, Verdict};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A label set: (name, value) pairs in Hubble's label order.
type Labels<const N: usize> = [(&'static str, Cow<'static, str>); N];

/// The DNS counters. Cloning shares them; counting takes `&self`.
#[derive(Debug, Clone, Default)]
pub struct DnsMetrics {
    queries: Family<Labels<3>, Counter>,
    responses: Family<Labels<3>, Counter>,
    response_types: Family<Labels<2>, Counter>,
    skipped: Family<[(&'static str, &'static str); 1], Counter>,
    cache_addresses: Gauge,
}

impl DnsMetrics {
    /// Counts one flow, if it is a DNS flow.
    pub fn observe(&self, flow: &Flow) {
        let Some(Record::Dns(dns)) = flow.l7.as_ref().and_then(|l7| l7.record.as_ref()) else { return };
        let qtypes: Cow<'static, str> = dns.qtypes.join(",").into();
        let ips_returned: Cow<'static, str> = dns.ips.len().to_string().into();
        if flow.verdict == Verdict::Dropped as i32 {
            self.queries
                .get_or_create(&[("rcode", "Policy denied".into()), ("qtypes", qtypes), ("ips_returned", ips_returned)])
                .inc();
        } else if flow.is_reply != Some(true) {
            self.queries
                .get_or_create(&[("rcode", "".into()), ("qtypes", qtypes), ("ips_returned", ips_returned)])
                .inc();
        } else {
            let rcode = u16::try_from(dns.rcode).ok().and_then(rcode_metric_name).unwrap_or("");
            self.responses
                .get_or_create(&[("rcode", rcode.into()), ("qtypes", qtypes.clone()), ("ips_returned", ips_returned)])
                .inc();
            for rrtype in &dns.rrtypes {
                self.response_types.get_or_create(&[("type", rrtype.clone().into()), ("qtypes", qtypes.clone())]).inc();
            }
        }
    }

    /// Counts a DNS payload that gave no flow, under `reason`.
    pub fn skipped(&self, reason: &'static str) {
        self.skipped.get_or_create(&[("reason", reason)]).inc();
    }

    /// Sets how many addresses the DNS cache names.
    pub fn cache_addresses(&self, addresses: usize) {
        self.cache_addresses.set(i64::try_from(addresses).unwrap_or(i64::MAX));
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register("hubble_dns_queries", "Number of DNS queries observed", self.queries.clone());
        registry.register("hubble_dns_responses", "Number of DNS queries observed", self.responses.clone());
        registry.register("hubble_dns_response_types", "Number of DNS queries observed", self.response_types.clone());
        registry.register(
            "flowlog_dns_skipped",
            "DNS payloads on DNS ports that gave no flow, by reason",
            self.skipped.clone(),
        );
        registry.register(
            "flowlog_dns_cache_addresses",
            "Addresses the DNS cache names from the answers seen",
            self.cache_addresses.clone(),
        );
    }
}
