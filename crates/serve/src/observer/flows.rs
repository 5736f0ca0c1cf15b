//! `GetFlows`: which events a request selects, and reading them from the
//! ring, with Hubble's semantics (`pkg/hubble/observer/local_observer.go`).
//!
//! - Where reading starts: with `since`, at the first event from then on;
//!   with `first`, at the oldest event; following with no `number`, after
//!   the newest; otherwise back from the newest until `number` flows that
//!   pass the filters are found (so `--last 5` is five matching flows).
//! - Reading forward: flows that pass the filters and the time range, up to
//!   `number` (0: no limit; following: no limit either), then either the
//!   end (the newest event) or, following, each new flow as it comes. A
//!   flow after `until` ends the stream.
//! - Lost events pass every filter and count for nothing. Events the ring
//!   dropped before this reader read them are reported as one
//!   `HUBBLE_RING_BUFFER` lost event per second at most, with the count
//!   and the times of the first and last loss (Hubble since v1.19).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flowlog_filter::{FieldMask, FilterError, Filters, MaskError};
use flowlog_flow::export_event::ResponseTypes;
use flowlog_flow::proto::observer::{GetFlowsRequest, GetFlowsResponse, get_flows_response};
use flowlog_flow::{ExportEvent, LostEvent, LostEventSource};
use futures::Stream;
use tokio::time::Instant;

use super::{Observer, event_time, is_flow, timestamp};
use crate::ring::Read;

/// The shortest time between two lost-event reports to one reader
/// (Hubble's `LostEventSendInterval`).
pub const LOST_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A `GetFlowsRequest`, checked and compiled.
#[derive(Debug)]
pub struct FlowQuery {
    number: u64,
    first: bool,
    follow: bool,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    filters: Filters,
    mask: FieldMask,
}

/// A request that cannot be answered, with what is wrong in it.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// `first` asks for the oldest flows, `follow` for the newest.
    #[error("first cannot be specified with follow")]
    FirstWithFollow,
    /// A filter does not compile.
    #[error("invalid filter: {0}")]
    Filter(#[from] FilterError),
    /// A field mask path is not a field of `flow.Flow`.
    #[error("invalid field mask: {0}")]
    Mask(#[from] MaskError),
    /// `since` or `until` is not a time.
    #[error("invalid {which} timestamp: {seconds} s {nanos} ns")]
    Time {
        /// `since` or `until`.
        which: &'static str,
        /// Its seconds.
        seconds: i64,
        /// Its nanoseconds.
        nanos: i32,
    },
}

impl FlowQuery {
    /// Checks and compiles `request`.
    pub fn new(request: GetFlowsRequest) -> Result<Self, QueryError> {
        let GetFlowsRequest {
            number,
            first,
            follow,
            blacklist,
            whitelist,
            since,
            until,
            field_mask,
            experimental: _,
            extensions: _,
        } = request;
        if first && follow {
            return Err(QueryError::FirstWithFollow);
        }
        let time = |which, timestamp: Option<prost_types::Timestamp>| {
            timestamp
                .map(|t| {
                    SystemTime::try_from(t).map_err(|_| QueryError::Time { which, seconds: t.seconds, nanos: t.nanos })
                })
                .transpose()
        };
        Ok(FlowQuery {
            number,
            first,
            follow,
            since: time("since", since)?,
            until: time("until", until)?,
            filters: Filters::new(whitelist, blacklist)?,
            mask: FieldMask::new(field_mask.map(|mask| mask.paths).unwrap_or_default())?,
        })
    }

    /// Where `event` falls in the time range (an event without a time is
    /// within it).
    fn place(&self, event: &ExportEvent) -> Place {
        match event_time(event) {
            Some(time) if self.until.is_some_and(|until| time > until) => Place::After,
            Some(time) if self.since.is_some_and(|since| time < since) => Place::Before,
            _ => Place::Within,
        }
    }
}

/// Where an event falls in a request's time range.
enum Place {
    Before,
    Within,
    After,
}

impl Observer {
    /// The responses `query` asks for, read from the ring as the stream is
    /// polled: a reader that is not polled (its client is slow) falls
    /// behind, never the pipeline.
    pub fn flows(self: &Arc<Self>, query: FlowQuery) -> impl Stream<Item = GetFlowsResponse> + Send + 'static {
        let position = self.start(&query);
        let reader = FlowReader { observer: Arc::clone(self), query, position, sent: 0, lost: PendingLoss::default() };
        futures::stream::unfold(reader, |mut reader| async move { reader.next().await.map(|item| (item, reader)) })
    }

    /// Where reading starts (see the module's documentation).
    fn start(&self, query: &FlowQuery) -> u64 {
        let ring = &self.ring;
        let oldest = ring.oldest();
        let newest_end = ring.written();
        if query.since.is_none() {
            if query.first {
                return oldest;
            }
            if query.follow && query.number == 0 {
                return newest_end;
            }
        }
        let mut position = newest_end;
        let mut found = 0;
        while position > oldest {
            let Read::Event(event) = ring.read(position - 1) else { break };
            if let Some(since) = query.since {
                if event_time(&event).is_some_and(|time| time < since) {
                    break;
                }
            } else if is_flow(&event) && query.filters.apply(&event) {
                found += 1;
                if found == query.number {
                    position -= 1;
                    break;
                }
            }
            position -= 1;
        }
        position
    }
}

/// One request's position in the ring and what it still owes its client.
struct FlowReader {
    observer: Arc<Observer>,
    query: FlowQuery,
    position: u64,
    /// Flows sent, towards `number`.
    sent: u64,
    lost: PendingLoss,
}

impl FlowReader {
    /// The next response, or `None` at the end of the stream.
    async fn next(&mut self) -> Option<GetFlowsResponse> {
        loop {
            if let Some(report) = self.lost.due(Instant::now()) {
                return Some(self.lost_response(report));
            }
            let limited = self.query.number > 0 && !self.query.follow;
            if limited && self.sent >= self.query.number {
                return self.final_report();
            }
            match self.observer.ring.read(self.position) {
                Read::Event(event) => {
                    self.position += 1;
                    match &event.response_types {
                        Some(ResponseTypes::Flow(flow)) => {
                            match self.query.place(&event) {
                                Place::After => return self.final_report(),
                                Place::Before => continue,
                                Place::Within => {}
                            }
                            if !self.query.filters.apply(&event) {
                                continue;
                            }
                            self.sent += 1;
                            return Some(GetFlowsResponse {
                                response_types: Some(get_flows_response::ResponseTypes::Flow(
                                    self.query.mask.apply(flow),
                                )),
                                node_name: flow.node_name.clone(),
                                time: flow.time.or(event.time),
                            });
                        }
                        Some(ResponseTypes::LostEvents(lost)) => {
                            return Some(GetFlowsResponse {
                                response_types: Some(get_flows_response::ResponseTypes::LostEvents(*lost)),
                                node_name: event.node_name.clone(),
                                time: event.time,
                            });
                        }
                        // Agent, debug and node status events are not flows.
                        _ => continue,
                    }
                }
                Read::Lapped { missed, next } => {
                    self.lost.add(missed, SystemTime::now());
                    self.position = next;
                }
                Read::Ahead if !self.query.follow => {
                    return self.final_report();
                }
                Read::Ahead => {
                    let written = self.observer.ring.written_beyond(self.position);
                    match self.lost.deadline() {
                        Some(deadline) => {
                            tokio::select! {
                                () = written => {}
                                () = tokio::time::sleep_until(deadline) => {}
                            }
                        }
                        None => written.await,
                    }
                }
            }
        }
    }

    /// What is still to report when the stream ends, if anything.
    fn final_report(&mut self) -> Option<GetFlowsResponse> {
        self.lost.take().map(|report| self.lost_response(report))
    }

    fn lost_response(&self, lost: LostEvent) -> GetFlowsResponse {
        GetFlowsResponse {
            response_types: Some(get_flows_response::ResponseTypes::LostEvents(lost)),
            node_name: self.observer.node_name.clone(),
            time: Some(timestamp(SystemTime::now())),
        }
    }
}

/// Events this reader missed and has not reported yet.
#[derive(Debug, Default)]
struct PendingLoss {
    count: u64,
    first: Option<SystemTime>,
    last: Option<SystemTime>,
    last_report: Option<Instant>,
}

impl PendingLoss {
    fn add(&mut self, count: u64, at: SystemTime) {
        self.count += count;
        self.first.get_or_insert(at);
        self.last = Some(at);
    }

    /// The report, if there is something to report and the last one was
    /// long enough ago.
    fn due(&mut self, now: Instant) -> Option<LostEvent> {
        match self.last_report {
            Some(last) if now < last + LOST_REPORT_INTERVAL => None,
            _ => self.take(),
        }
    }

    /// The report of what is pending, now.
    fn take(&mut self) -> Option<LostEvent> {
        if self.count == 0 {
            return None;
        }
        self.last_report = Some(Instant::now());
        Some(LostEvent {
            source: LostEventSource::HubbleRingBuffer as i32,
            num_events_lost: std::mem::take(&mut self.count),
            cpu: None,
            first: self.first.take().map(timestamp),
            last: self.last.take().map(timestamp),
        })
    }

    /// When the pending report may be sent.
    fn deadline(&self) -> Option<Instant> {
        (self.count > 0).then(|| self.last_report.map_or_else(Instant::now, |last| last + LOST_REPORT_INTERVAL))
    }
}
