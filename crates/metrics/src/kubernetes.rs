//! `flowlog_k8s_*`: how the watches of the Kubernetes API are doing, per
//! kind (`pods`, `namespaces`, `services`, `nodes`), read at scrape time.
//!
//! A watch that cannot reach the API server does not make `/healthz`
//! unhealthy: flows are still exported, named from what is known. These
//! metrics are how to see it: errors rising, the seconds since the last
//! event growing, `flowlog_k8s_synced` at 0.

use std::sync::Arc;

use flowlog_enrich::source::kubernetes::KubernetesStatus;
use flowlog_enrich::source::kubernetes::status::KindStatus;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::exporters::{counters, gauges};

/// Reads the watches' state.
#[derive(Debug)]
pub(crate) struct Watches(pub(crate) Arc<KubernetesStatus>);

impl Collector for Watches {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let encoder = &mut encoder;
        let kinds: Vec<_> = self.0.kinds().map(|(kind, status)| ([("kind", kind.resource())], status)).collect();
        let each = |value: fn(&KindStatus) -> u64| kinds.iter().map(move |(labels, status)| (*labels, value(status)));
        let help = "Objects of a kind held, as slim records.";
        gauges(encoder, "flowlog_k8s_objects", help, each(KindStatus::objects))?;
        let help = "1 once a kind has been listed from the API server.";
        gauges(encoder, "flowlog_k8s_synced", help, each(|status| u64::from(status.listed())))?;
        let help = "Lists of a kind after the first (an expired or broken watch).";
        counters(encoder, "flowlog_k8s_relists", help, each(KindStatus::relists))?;
        let help = "Errors listing or watching a kind.";
        counters(encoder, "flowlog_k8s_watch_errors", help, each(KindStatus::errors))?;
        let since =
            kinds.iter().filter_map(|(labels, status)| Some((*labels, status.since_last_event()?.as_secs_f64())));
        gauges(encoder, "flowlog_k8s_seconds_since_last_event", "Seconds since a kind's last list or event.", since)
    }
}
