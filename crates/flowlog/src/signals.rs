//! Graceful shutdown: SIGINT and SIGTERM start an orderly stop, so
//! everything pending is written and every file flushed and closed.

/// Calls `stop` on the first SIGINT or SIGTERM.
pub fn on_stop_signal(stop: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut interrupt), Ok(mut terminate)) =
                (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
            else {
                tracing::error!("cannot install signal handlers; SIGINT/SIGTERM will not flush on exit");
                return;
            };
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            tracing::info!(signal = name, "stopping: writing what is pending");
            stop();
        });
    })?;
    Ok(())
}
