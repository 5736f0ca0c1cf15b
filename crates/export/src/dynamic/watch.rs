//! Noticing that the dynamic config file may have changed.
//!
//! The watcher watches the file's directory, not the file: editors replace a
//! file by renaming a new one over it, and the kubelet updates a ConfigMap
//! volume by swapping the `..data` symlink the file points through, so the
//! file's own inode never sees a write. Every event in the directory counts;
//! a burst of them is debounced into one signal, and the reloader compares
//! contents, so noise costs a read at most. A slow poll remains for
//! filesystems without inotify. The watcher only signals; it never loads.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use notify::{RecursiveMode, Watcher as _};

/// Events closer together than this are one change.
const QUIET: Duration = Duration::from_millis(20);
/// A stream of events still signals at least this often.
const MAX_DELAY: Duration = Duration::from_millis(100);

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Something changed in the file's directory.
    Changed,
    /// The safety-net poll.
    Poll,
    /// Asked for explicitly (SIGHUP).
    Requested,
}

/// Watches a config file; dropping it stops the watching.
#[derive(Debug)]
pub struct Watcher {
    _inotify: Option<notify::RecommendedWatcher>,
    requests: Sender<()>,
}

impl Watcher {
    /// Calls `on_change` after each change to `path` (debounced), on request,
    /// and every `poll` regardless. Without inotify, only the poll remains.
    pub fn start(
        path: &Path,
        poll: Duration,
        on_change: impl FnMut(Trigger) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (events, changes) = crossbeam_channel::unbounded();
        let (requests, requested) = crossbeam_channel::unbounded();
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => Path::new(".").to_path_buf(),
        };
        let file_name = path.file_name().map(ToOwned::to_owned);
        let inotify = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reading the file (ours included) raises access events: only changes count.
            let changed = |event: &notify::Event| !matches!(event.kind, notify::EventKind::Access(_));
            if event.is_err()
                || event.is_ok_and(|event| changed(&event) && concerns_config(&event, file_name.as_deref()))
            {
                let _ = events.send(());
            }
        })
        .and_then(|mut watcher| watcher.watch(&directory, RecursiveMode::NonRecursive).map(|()| watcher));
        let (inotify, changes) = match inotify {
            Ok(watcher) => (Some(watcher), changes),
            Err(error) => {
                tracing::warn!(directory = %directory.display(), %error, "cannot watch for changes; polling every {poll:?} instead");
                (None, crossbeam_channel::never())
            }
        };
        std::thread::Builder::new()
            .name("config-watch".into())
            .spawn(move || signal_changes(&changes, &requested, poll, on_change))?;
        Ok(Self { _inotify: inotify, requests })
    }

    /// Asks for a reload now.
    pub fn request(&self) {
        let _ = self.requests.send(());
    }

    /// A handle that asks for reloads from elsewhere (a SIGHUP handler).
    pub fn requester(&self) -> Requester {
        Requester(self.requests.clone())
    }
}

/// Asks a [`Watcher`] for a reload; does nothing once the watcher is gone.
#[derive(Debug, Clone)]
pub struct Requester(Sender<()>);

impl Requester {
    /// Asks for a reload now.
    pub fn request(&self) {
        let _ = self.0.send(());
    }
}

/// True when `event` may change what the config path reads: the file itself,
/// or the kubelet's `..data` links and `..<timestamp>` directories that a
/// ConfigMap mount swaps. Other files in the directory (say, flow logs
/// written next to the config) are not worth a reload.
fn concerns_config(event: &notify::Event, file_name: Option<&std::ffi::OsStr>) -> bool {
    event.paths.iter().any(|path| match path.file_name() {
        Some(name) => Some(name) == file_name || name.as_encoded_bytes().starts_with(b".."),
        None => true,
    })
}

fn signal_changes(
    changes: &Receiver<()>,
    requested: &Receiver<()>,
    poll: Duration,
    mut on_change: impl FnMut(Trigger),
) {
    loop {
        let trigger = crossbeam_channel::select! {
            recv(changes) -> event => match event {
                Ok(()) => Trigger::Changed,
                Err(_) => return,
            },
            recv(requested) -> request => match request {
                Ok(()) => Trigger::Requested,
                Err(_) => return,
            },
            default(poll) => Trigger::Poll,
        };
        if trigger == Trigger::Changed && !debounce(changes) {
            return;
        }
        on_change(trigger);
    }
}

/// Waits for a burst of events to end; false when the watcher is gone.
fn debounce(changes: &Receiver<()>) -> bool {
    let give_up = Instant::now() + MAX_DELAY;
    loop {
        match changes.recv_timeout(QUIET.min(give_up.saturating_duration_since(Instant::now()))) {
            Ok(()) if Instant::now() < give_up => continue,
            Ok(()) | Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}
