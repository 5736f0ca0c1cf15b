//! Signals: SIGINT and SIGTERM start an orderly stop, so everything pending
//! is written, every file flushed and closed and every program detached;
//! SIGHUP reads the config files again (as a change to them would).

use tokio::signal::unix::{SignalKind, signal};

/// Calls `stop` on the first SIGINT or SIGTERM, and `reload` on every SIGHUP.
///
/// The handlers are in place when this returns, so a signal sent right after
/// cannot take its default action (for SIGHUP: ending the process).
pub fn handle(stop: impl FnOnce() + Send + 'static, mut reload: impl FnMut() + Send + 'static) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let (mut interrupt, mut terminate, mut hangup) = {
        let _context = runtime.enter();
        (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?, signal(SignalKind::hangup())?)
    };
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        runtime.block_on(async {
            let name = loop {
                tokio::select! {
                    _ = interrupt.recv() => break "SIGINT",
                    _ = terminate.recv() => break "SIGTERM",
                    _ = hangup.recv() => {
                        tracing::info!(signal = "SIGHUP", "reading the config files again");
                        reload();
                    }
                }
            };
            tracing::info!(signal = name, "stopping: writing what is pending");
            stop();
        });
    })?;
    Ok(())
}
