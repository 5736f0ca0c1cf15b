//! Noticing that a config file may have changed.
//!
//! The watcher watches the file's directory, not the file: editors replace a
//! file by renaming a new one over it, and the kubelet updates a ConfigMap
//! volume by swapping the `..data` symlink the file points through, so the
//! file's own inode never sees a write. Every change in the directory that
//! concerns the file counts; a burst of them is debounced into one signal,
//! and the owner of the file compares contents, so noise costs a read at
//! most. A slow poll remains for filesystems without inotify. The watcher
//! only signals; it never reads the file.
//!
//! ```text
//! inotify (notify's thread) ─┐
//! Requester (SIGHUP) ────────┼─▶ debounce task ─▶ Watcher::next() ─▶ the file's owner reads it
//! poll timer ────────────────┘
//! ```
//!
//! The debouncing runs as a task on the tokio runtime [`Watcher::start`] is
//! called on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

/// How often a watched file is read even when no change was seen: the
/// safety net for filesystems without inotify (Cilium polls every 5 s and
/// has nothing else).
pub const POLL: Duration = Duration::from_secs(30);

/// Events closer together than this are one change.
const QUIET: Duration = Duration::from_millis(20);
/// A stream of events still signals at least this often.
const MAX_DELAY: Duration = Duration::from_millis(100);

/// Why a reload is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Something changed in the file's directory.
    Changed,
    /// The safety-net poll.
    Poll,
    /// Asked for explicitly (SIGHUP).
    Requested,
}

/// Watches one config file and says when to read it again; dropping it
/// stops the watching.
#[derive(Debug)]
pub struct Watcher {
    _inotify: Option<notify::RecommendedWatcher>,
    requests: mpsc::UnboundedSender<()>,
    signals: mpsc::Receiver<Trigger>,
}

/// Asks a [`Watcher`] for a reload; does nothing once the watcher is gone.
#[derive(Debug, Clone)]
pub struct Requester(mpsc::UnboundedSender<()>);

impl Requester {
    /// Asks for a reload now.
    pub fn request(&self) {
        let _ = self.0.send(());
    }
}

impl Watcher {
    /// Starts watching `path`: [`next`](Self::next) returns after each
    /// change to it (debounced), on request ([`requester`](Self::requester)), and every
    /// `poll` regardless. Without inotify only the poll remains, which is
    /// logged.
    ///
    /// Must be called on a tokio runtime, which runs the debouncing.
    pub fn start(path: &Path, poll: Duration) -> Self {
        let (events, changes) = mpsc::unbounded_channel();
        let (requests, requested) = mpsc::unbounded_channel();
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path.file_name().map(ToOwned::to_owned);
        let inotify = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reading the file (its owner's reads included) raises access
            // events: only changes count. An error may hide a change.
            if event.is_err() || event.is_ok_and(|event| concerns_config(&event, file_name.as_deref())) {
                let _ = events.send(());
            }
        })
        .and_then(|mut watcher| watcher.watch(&directory, RecursiveMode::NonRecursive).map(|()| watcher));
        let (inotify, changes) = match inotify {
            Ok(watcher) => (Some(watcher), Some(changes)),
            Err(error) => {
                tracing::warn!(directory = %directory.display(), %error, "cannot watch for changes; polling every {poll:?} instead");
                (None, None)
            }
        };
        // One pending signal stands for any number: the owner reads the
        // whole file each time.
        let (signals, signalled) = mpsc::channel(1);
        tokio::spawn(signal_changes(changes, requested, poll, signals));
        Self { _inotify: inotify, requests, signals: signalled }
    }

    /// Waits for the next reason to read the file.
    ///
    /// Signals that arrive while the owner is still busy with the previous
    /// one are folded into one: a single read catches up with all of them.
    pub async fn next(&mut self) -> Trigger {
        match self.signals.recv().await {
            Some(trigger) => trigger,
            // The task ends only when `requests` is dropped, which is with `self`.
            None => std::future::pending().await,
        }
    }

    /// A handle that asks for reloads from elsewhere (a SIGHUP handler).
    pub fn requester(&self) -> Requester {
        Requester(self.requests.clone())
    }
}

/// True when `event` may change what the config path reads: the file itself,
/// or the kubelet's `..data` links and `..<timestamp>` directories that a
/// ConfigMap mount swaps. Other files in the directory (say, flow logs
/// written next to the config) are not worth a reload.
fn concerns_config(event: &notify::Event, file_name: Option<&std::ffi::OsStr>) -> bool {
    if matches!(event.kind, notify::EventKind::Access(_)) {
        return false;
    }
    event.paths.iter().any(|path| match path.file_name() {
        Some(name) => Some(name) == file_name || name.as_encoded_bytes().starts_with(b".."),
        None => true,
    })
}

async fn signal_changes(
    mut changes: Option<mpsc::UnboundedReceiver<()>>,
    mut requested: mpsc::UnboundedReceiver<()>,
    poll: Duration,
    signals: mpsc::Sender<Trigger>,
) {
    loop {
        let trigger = tokio::select! {
            event = next_change(&mut changes) => match event {
                Some(()) => Trigger::Changed,
                None => return,
            },
            request = requested.recv() => match request {
                Some(()) => Trigger::Requested,
                None => return,
            },
            () = tokio::time::sleep(poll) => Trigger::Poll,
        };
        if trigger == Trigger::Changed && !debounce(changes.as_mut()).await {
            return;
        }
        match signals.try_send(trigger) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// The next inotify event; never, without inotify.
async fn next_change(changes: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match changes {
        Some(changes) => changes.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits for a burst of events to end; false when the watcher is gone.
async fn debounce(changes: Option<&mut mpsc::UnboundedReceiver<()>>) -> bool {
    let Some(changes) = changes else { return true };
    let give_up = Instant::now() + MAX_DELAY;
    loop {
        let quiet_until = (Instant::now() + QUIET).min(give_up);
        match timeout_at(quiet_until, changes.recv()).await {
            Ok(Some(())) if Instant::now() < give_up => continue,
            Ok(Some(())) | Err(_) => return true,
            Ok(None) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn next_within(watcher: &mut Watcher, limit: Duration) -> Option<Trigger> {
        tokio::time::timeout(limit, watcher.next()).await.ok()
    }

    #[tokio::test]
    async fn a_rename_over_the_file_a_request_and_the_poll_each_signal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flowlogs.yaml");
        std::fs::write(&path, "a").unwrap();
        let mut changes = Watcher::start(&path, Duration::from_secs(3600));

        // As an editor saves: a new file renamed over the old one.
        let temporary = dir.path().join(".flowlogs.yaml.swp");
        std::fs::write(&temporary, "b").unwrap();
        std::fs::rename(&temporary, &path).unwrap();
        assert_eq!(next_within(&mut changes, Duration::from_secs(5)).await, Some(Trigger::Changed));

        // Another file in the directory is not worth a reload.
        std::fs::write(dir.path().join("events.log"), "flows").unwrap();
        assert_eq!(next_within(&mut changes, Duration::from_millis(300)).await, None);

        changes.requester().request();
        assert_eq!(next_within(&mut changes, Duration::from_secs(5)).await, Some(Trigger::Requested));

        let mut polled = Watcher::start(&path, Duration::from_millis(50));
        assert_eq!(next_within(&mut polled, Duration::from_secs(5)).await, Some(Trigger::Poll));
    }

    #[tokio::test]
    async fn a_kubelet_data_swap_signals() {
        // A ConfigMap volume: flowlogs.yaml -> ..data/flowlogs.yaml, ..data -> ..<timestamp>.
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("..2026_01_01");
        std::fs::create_dir(&first).unwrap();
        std::fs::write(first.join("flowlogs.yaml"), "a").unwrap();
        std::os::unix::fs::symlink("..2026_01_01", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/flowlogs.yaml", dir.path().join("flowlogs.yaml")).unwrap();
        let mut changes = Watcher::start(&dir.path().join("flowlogs.yaml"), Duration::from_secs(3600));

        let second = dir.path().join("..2026_01_02");
        std::fs::create_dir(&second).unwrap();
        std::fs::write(second.join("flowlogs.yaml"), "b").unwrap();
        std::os::unix::fs::symlink("..2026_01_02", dir.path().join("..data_tmp")).unwrap();
        std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
        assert_eq!(next_within(&mut changes, Duration::from_secs(5)).await, Some(Trigger::Changed));
    }
}
