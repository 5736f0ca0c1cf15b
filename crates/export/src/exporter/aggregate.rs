//! Flow aggregation: Cilium 1.19's `fieldAggregate` with `aggregationInterval`.
//!
//! Within each interval, flows that agree on the aggregation fields are folded
//! into one. At the end of the interval each group is written as one flow
//! holding only those fields, the `time` of its first flow, and an `aggregate`
//! with per-direction counts:
//!
//! ```text
//! {"flow":{"time":"…","verdict":"DROPPED","aggregate":{"ingress_flow_count":12}},"time":"…"}
//! ```
//!
//! The exporter's field mask does not apply to these lines; other events are
//! not aggregated. Groups come out in the order they were first seen.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use flowlog_filter::{FieldMask, MaskError};
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::json::write_selection;
use flowlog_flow::{Aggregate, ExportEvent, Flow, TrafficDirection};

/// A window holding more groups than this is written out early, so memory
/// stays bounded whatever fields a user aggregates on.
pub const MAX_GROUPS: usize = 100_000;

/// Folds flows into groups over a time window.
#[derive(Debug)]
pub struct Aggregator {
    key: FieldMask,
    output: FieldMask,
    interval: Duration,
    window_end: Instant,
    groups: HashMap<Vec<u8>, usize>,
    flows: Vec<Flow>,
    key_buffer: Vec<u8>,
}

impl Aggregator {
    /// Groups flows by `fields` over windows of `interval`, the first ending at `now + interval`.
    pub fn new(fields: &FieldMask, interval: Duration, now: Instant) -> Result<Self, MaskError> {
        let output = FieldMask::new(fields.paths().iter().map(String::as_str).chain(["time", "aggregate"]))?;
        Ok(Self {
            key: fields.clone(),
            output,
            interval,
            window_end: now + interval,
            groups: HashMap::new(),
            flows: Vec::new(),
            key_buffer: Vec::new(),
        })
    }

    /// The mask that shapes aggregated flows: the aggregation fields, `time` and `aggregate`.
    pub fn output_mask(&self) -> &FieldMask {
        &self.output
    }

    /// When the current window ends.
    pub fn window_end(&self) -> Instant {
        self.window_end
    }

    /// Adds a flow to its group. Returns true when the window is full and
    /// should be drained now.
    pub fn add(&mut self, flow: &Flow) -> bool {
        self.key_buffer.clear();
        if let Some(selection) = self.key.selection() {
            // The key is the flow's JSON restricted to the aggregation fields:
            // deterministic, and equal exactly when those fields are equal.
            // A flow that cannot be encoded cannot be written either; it
            // falls into the group of the empty key rather than vanish.
            let _ = write_selection(flow, selection, &mut self.key_buffer);
        }
        let index = match self.groups.get(self.key_buffer.as_slice()) {
            Some(&index) => index,
            None => {
                self.groups.insert(self.key_buffer.clone(), self.flows.len());
                self.flows.push(Flow { aggregate: Some(Aggregate::default()), ..flow.clone() });
                self.flows.len() - 1
            }
        };
        let counts = self.flows[index].aggregate.get_or_insert_default();
        let direction = TrafficDirection::try_from(flow.traffic_direction).unwrap_or(TrafficDirection::Unknown);
        let count = match direction {
            TrafficDirection::Ingress => &mut counts.ingress_flow_count,
            TrafficDirection::Egress => &mut counts.egress_flow_count,
            TrafficDirection::Unknown => &mut counts.unknown_direction_flow_count,
        };
        *count = count.saturating_add(1);
        self.flows.len() >= MAX_GROUPS
    }

    /// Ends the window: hands every group to `emit` as an export event (to be
    /// encoded with [`Aggregator::output_mask`]) and starts the next window.
    pub fn drain(&mut self, now: Instant, mut emit: impl FnMut(&ExportEvent)) {
        self.window_end = now + self.interval;
        self.groups.clear();
        for flow in self.flows.drain(..) {
            let event = ExportEvent {
                node_name: flow.node_name.clone(),
                time: flow.time,
                response_types: Some(ResponseTypes::Flow(flow)),
            };
            emit(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use flowlog_flow::json::encode_line;
    use flowlog_flow::{Timestamp, Verdict};

    use super::*;

    fn flow(second: i64, verdict: Verdict, direction: TrafficDirection, pod: &str) -> Flow {
        Flow {
            time: Some(Timestamp { seconds: second, nanos: 0 }),
            verdict: verdict as i32,
            traffic_direction: direction as i32,
            node_name: "node-1".into(),
            source: Some(flowlog_flow::Endpoint { pod_name: pod.into(), namespace: "ns".into(), ..Default::default() }),
            ..Default::default()
        }
    }

    fn drain_lines(aggregator: &mut Aggregator) -> Vec<String> {
        let mut lines = Vec::new();
        let mask = aggregator.output_mask().clone();
        aggregator.drain(Instant::now(), |event| {
            let mut out = Vec::new();
            encode_line(event, mask.selection(), &mut out).unwrap();
            lines.push(String::from_utf8(out).unwrap());
        });
        lines
    }

    #[test]
    fn flows_with_equal_fields_fold_into_one_line_with_direction_counts() {
        let fields = FieldMask::new(["verdict", "source.pod_name"]).unwrap();
        let mut aggregator = Aggregator::new(&fields, Duration::from_secs(5), Instant::now()).unwrap();
        aggregator.add(&flow(10, Verdict::Dropped, TrafficDirection::Ingress, "a"));
        aggregator.add(&flow(11, Verdict::Dropped, TrafficDirection::Ingress, "a"));
        aggregator.add(&flow(12, Verdict::Dropped, TrafficDirection::Egress, "a"));
        aggregator.add(&flow(13, Verdict::Forwarded, TrafficDirection::Unknown, "a"));
        aggregator.add(&flow(14, Verdict::Dropped, TrafficDirection::Ingress, "b"));

        assert_eq!(
            drain_lines(&mut aggregator),
            [
                "{\"flow\":{\"time\":\"1970-01-01T00:00:10Z\",\"verdict\":\"DROPPED\",\"source\":{\"pod_name\":\"a\"},\"aggregate\":{\"ingress_flow_count\":2,\"egress_flow_count\":1}},\"time\":\"1970-01-01T00:00:10Z\"}\n",
                "{\"flow\":{\"time\":\"1970-01-01T00:00:13Z\",\"verdict\":\"FORWARDED\",\"source\":{\"pod_name\":\"a\"},\"aggregate\":{\"unknown_direction_flow_count\":1}},\"time\":\"1970-01-01T00:00:13Z\"}\n",
                "{\"flow\":{\"time\":\"1970-01-01T00:00:14Z\",\"verdict\":\"DROPPED\",\"source\":{\"pod_name\":\"b\"},\"aggregate\":{\"ingress_flow_count\":1}},\"time\":\"1970-01-01T00:00:14Z\"}\n",
            ]
        );
        assert!(drain_lines(&mut aggregator).is_empty(), "a drained window starts empty");
    }

    #[test]
    fn node_name_reaches_the_top_level_only_when_aggregated_on() {
        let fields = FieldMask::new(["node_name"]).unwrap();
        let mut aggregator = Aggregator::new(&fields, Duration::from_secs(1), Instant::now()).unwrap();
        aggregator.add(&flow(1, Verdict::Forwarded, TrafficDirection::Egress, "a"));
        assert_eq!(
            drain_lines(&mut aggregator),
            [
                "{\"flow\":{\"time\":\"1970-01-01T00:00:01Z\",\"node_name\":\"node-1\",\"aggregate\":{\"egress_flow_count\":1}},\"node_name\":\"node-1\",\"time\":\"1970-01-01T00:00:01Z\"}\n"
            ]
        );
    }

    #[test]
    fn a_full_window_asks_to_be_drained() {
        let fields = FieldMask::new(["time"]).unwrap();
        let mut aggregator = Aggregator::new(&fields, Duration::from_secs(60), Instant::now()).unwrap();
        let full =
            (0..MAX_GROUPS as i64).map(|s| aggregator.add(&flow(s, Verdict::Forwarded, TrafficDirection::Egress, "a")));
        assert_eq!(full.filter(|&f| f).count(), 1, "only the add that fills the window reports it");
    }
}
