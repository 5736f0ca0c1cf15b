//! Stopping with a bound: the first SIGINT or SIGTERM stops the source and
//! gives everything pending the grace period to be written; a second
//! signal, or the end of the grace period, ends the waiting at once. What
//! was not written by then is named, exporter by exporter.

use std::future::Future;
use std::time::Duration;

use flowlog_export::SinkRegistry;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::RuntimeError;
use crate::signals::Stops;

/// The agent's stop: unbounded until the first signal, the grace period
/// from then on, and over at the second.
#[derive(Debug)]
pub struct Shutdown {
    stops: Stops,
    grace: Duration,
    /// Tells the source to stop, on the first signal.
    stop_source: watch::Sender<bool>,
    /// When the waiting ends, once a signal has come.
    deadline: Option<Instant>,
}

impl Shutdown {
    /// A stop that tells `stop_source` on the first of `stops`, then waits
    /// `grace` at most.
    pub fn new(stops: Stops, grace: Duration, stop_source: watch::Sender<bool>) -> Self {
        Self { stops, grace, stop_source, deadline: None }
    }

    /// `task`'s result, unless the stop runs out of time first (`None`).
    pub async fn wait<T>(&mut self, task: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(task);
        loop {
            let out_of_time = async {
                match self.deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                value = &mut task => return Some(value),
                () = out_of_time => {
                    tracing::warn!(grace = ?self.grace, "the shutdown grace period is over: exiting");
                    return None;
                }
                signal = self.stops.next() => {
                    if self.deadline.is_some() {
                        tracing::warn!(signal, "second signal: exiting now");
                        return None;
                    }
                    tracing::info!(signal, grace = ?self.grace, "stopping: writing what is pending");
                    self.deadline = Some(Instant::now() + self.grace);
                    let _ = self.stop_source.send(true);
                }
            }
        }
    }
}

impl Shutdown {
    /// Returns at the first signal (at once if it has come), which tells
    /// the source to stop and starts the grace period.
    pub async fn until_signal(&mut self) {
        if self.deadline.is_none() {
            let signal = self.stops.next().await;
            tracing::info!(signal, "stopping");
            self.deadline = Some(Instant::now() + self.grace);
            let _ = self.stop_source.send(true);
        }
    }
}

/// Logs each exporter that has lines it did not write, and how many; an
/// error when there are any or the pipeline did not finish (`drained`).
pub fn report_unwritten(sinks: &SinkRegistry, drained: bool) -> Result<(), RuntimeError> {
    let unwritten = sinks.unwritten();
    for (sink, lines) in &unwritten {
        tracing::error!(exporter = %sink.name, target = %sink.target, lines, "lines not written: the exporter's output did not take them in time");
    }
    let lines: u64 = unwritten.iter().map(|(_, lines)| lines).sum();
    match (lines, drained) {
        (0, true) => Ok(()),
        (lines, _) => Err(RuntimeError::Unwritten { lines }),
    }
}
