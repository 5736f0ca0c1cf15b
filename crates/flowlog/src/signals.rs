//! Signals: SIGINT and SIGTERM stop the agent (the first starts an orderly
//! stop within the grace period, a second exits at once); SIGHUP reads the
//! config files again, as a change to them would.

use flowlog_config::Requester;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::error::RuntimeError;

/// SIGINT and SIGTERM, as they arrive.
#[derive(Debug)]
pub struct Stops {
    interrupt: Signal,
    terminate: Signal,
}

/// SIGHUP, as it arrives.
#[derive(Debug)]
pub struct Hangups(Signal);

/// Takes over SIGINT, SIGTERM and SIGHUP. From now on none of them takes
/// its default action (for SIGHUP: ending the process), so this comes
/// before anything that may wait. Must be called on the tokio runtime.
pub fn install() -> Result<(Stops, Hangups), RuntimeError> {
    let handler = |kind| signal(kind).map_err(|error| RuntimeError::Start { what: "the signal handlers", error });
    let stops = Stops { interrupt: handler(SignalKind::interrupt())?, terminate: handler(SignalKind::terminate())? };
    Ok((stops, Hangups(handler(SignalKind::hangup())?)))
}

impl Stops {
    /// Waits for the next SIGINT or SIGTERM; returns its name.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

impl Hangups {
    /// Asks every one of `reloads` for a reload on each SIGHUP, from a task
    /// of its own, for as long as the process runs.
    pub fn forward(mut self, reloads: Vec<Requester>) {
        tokio::spawn(async move {
            while self.0.recv().await.is_some() {
                tracing::info!(signal = "SIGHUP", "reading the config files again");
                reloads.iter().for_each(Requester::request);
            }
        });
    }
}
