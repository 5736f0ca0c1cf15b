//! The mill: prunes and compresses one file's backups on a thread of its own.
//!
//! The writer only renames and creates files; everything that can take a
//! while (listing the directory, deleting, gzipping 10 MiB) happens here, so a
//! rotation never holds up the writer thread. The writer wakes the mill after
//! each rotation; wake-ups that arrive while a pass is running are coalesced
//! into one more pass. Failures are logged and otherwise ignored: a backup
//! left uncompressed or undeleted is retried on the next pass.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::backup_name::{BackupNames, GZ, GZ_TMP, Kind, with_suffix};

/// The mill of one rotating file. Starts its thread on the first request;
/// dropping it finishes the pending pass and joins the thread.
#[derive(Debug)]
pub(super) struct Mill {
    work: Work,
    worker: Option<Worker>,
}

/// What a pass does.
#[derive(Debug, Clone)]
struct Work {
    names: BackupNames,
    /// Backups kept; 0 keeps all.
    max_backups: usize,
    compress: bool,
}

#[derive(Debug)]
struct Worker {
    wake: SyncSender<()>,
    thread: JoinHandle<()>,
    progress: Arc<Progress>,
}

/// How far the mill has got, for [`Mill::wait_idle`].
#[derive(Debug, Default)]
struct Progress {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Passes asked for so far.
    requested: u64,
    /// The value of `requested` when the last finished pass started: every
    /// request up to it has been served.
    done: u64,
    /// The thread has ended (it panicked, or the mill is being dropped).
    stopped: bool,
}

impl Progress {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Mill {
    /// A mill for the backups `names` describes. Starts nothing yet.
    pub(super) fn new(names: BackupNames, max_backups: usize, compress: bool) -> Self {
        Self { work: Work { names, max_backups, compress }, worker: None }
    }

    /// Asks for a pass over the backups and returns at once.
    pub(super) fn request(&mut self) {
        if self.worker.as_ref().is_some_and(|worker| worker.thread.is_finished()) {
            // The thread panicked; reap it and start another.
            self.stop();
        }
        if self.worker.is_none() {
            match Worker::start(self.work.clone()) {
                Ok(worker) => self.worker = Some(worker),
                Err(error) => {
                    let dir = self.work.names.dir().display();
                    tracing::warn!(%dir, %error, "cannot start the thread that prunes and compresses backups");
                    return;
                }
            }
        }
        let Some(worker) = &self.worker else { return };
        worker.progress.lock().requested += 1;
        // Full: a wake-up is already pending, and its pass will see this
        // request. Disconnected: the thread ended; the next request restarts it.
        let _ = worker.wake.try_send(());
    }

    /// Waits until every pass requested so far has finished.
    pub(super) fn wait_idle(&self) {
        let Some(worker) = &self.worker else { return };
        let mut state = worker.progress.lock();
        while !state.stopped && state.done < state.requested {
            state = worker.progress.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Lets the thread finish what was requested, then joins it.
    fn stop(&mut self) {
        if let Some(Worker { wake, thread, .. }) = self.worker.take() {
            drop(wake);
            if thread.join().is_err() {
                tracing::warn!(dir = %self.work.names.dir().display(), "the backup mill thread panicked");
            }
        }
    }
}

impl Drop for Mill {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Worker {
    fn start(work: Work) -> io::Result<Self> {
        // Capacity one: a pending wake-up stands for any number of requests.
        let (wake, woken) = mpsc::sync_channel(1);
        let progress = Arc::new(Progress::default());
        let thread = std::thread::Builder::new().name("flowlog-mill".into()).spawn({
            let progress = Arc::clone(&progress);
            move || run(&work, &woken, &progress)
        })?;
        Ok(Self { wake, thread, progress })
    }
}

fn run(work: &Work, woken: &Receiver<()>, progress: &Progress) {
    /// Marks the mill stopped however the thread ends, panics included, so
    /// that `wait_idle` cannot wait forever.
    struct Stopped<'a>(&'a Progress);
    impl Drop for Stopped<'_> {
        fn drop(&mut self) {
            self.0.lock().stopped = true;
            self.0.changed.notify_all();
        }
    }
    let _stopped = Stopped(progress);
    // Ends once the sender is dropped and the pending wake-up, if any, is served.
    while woken.recv().is_ok() {
        let serving = progress.lock().requested;
        work.pass();
        progress.lock().done = serving;
        progress.changed.notify_all();
    }
}

/// What the directory holds for one backup.
#[derive(Debug, Default)]
struct Found {
    plain: bool,
    gzip: bool,
}

impl Work {
    /// One pass: delete stale temporary files, keep the newest `max_backups`
    /// backups, compress the kept ones.
    fn pass(&self) {
        let dir = self.names.dir();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "cannot list backups");
                return;
            }
        };
        // Keyed by the time in the name: the order rotation made them in.
        let mut backups: BTreeMap<i64, Found> = BTreeMap::new();
        for entry in entries.filter_map(Result::ok) {
            // Only regular files can be backups this mill made: a device, a
            // FIFO, a socket or a symlink that happens to match the name
            // pattern is never touched.
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let Some(backup) = self.names.parse(&entry.file_name()) else {
                continue;
            };
            let found = backups.entry(backup.millis);
            match backup.kind {
                Kind::Plain => found.or_default().plain = true,
                Kind::Gzip => found.or_default().gzip = true,
                // Only this thread writes these, and it is between two
                // compressions: this one was left by a crash. Its backup is
                // still there (or was pruned) and gets compressed again.
                Kind::GzipTemp => remove(&entry.path()),
            }
        }
        for (index, (millis, found)) in backups.into_iter().rev().enumerate() {
            let plain = self.names.path(millis);
            if self.max_backups > 0 && index >= self.max_backups {
                if found.plain {
                    remove(&plain);
                }
                if found.gzip {
                    remove(&with_suffix(&plain, GZ));
                }
            } else if self.compress && found.plain {
                if found.gzip {
                    // A crash came between renaming the `.gz` into place and
                    // removing the source; the `.gz` is complete.
                    remove(&plain);
                } else if let Err(error) = compress(&plain) {
                    tracing::warn!(backup = %plain.display(), %error, "cannot compress backup");
                }
            }
        }
    }
}

fn remove(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(file = %path.display(), %error, "cannot remove old backup"),
    }
}

/// Gzips `source` into `<source>.gz`, then removes `source`.
///
/// The compressed copy is written as `<source>.gz.tmp`, synced, and renamed,
/// so a `.gz` is always complete: a crash leaves at worst the source and a
/// temporary file, which the next pass cleans up and redoes.
fn compress(source: &Path) -> io::Result<()> {
    let temp = with_suffix(source, GZ_TMP);
    let result = compress_via(source, &temp);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn compress_via(source: &Path, temp: &Path) -> io::Result<()> {
    let mut input = File::open(source)?;
    // The same mode as the backup: a `0600` log must not become readable once compressed.
    let mode = input.metadata()?.permissions().mode() & 0o7777;
    let output = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(temp)?;
    // `mode` above went through the umask; set it exactly.
    output.set_permissions(Permissions::from_mode(mode))?;
    let mut encoder = GzEncoder::new(output, Compression::default());
    io::copy(&mut input, &mut encoder)?;
    let output = encoder.finish()?;
    output.sync_all()?;
    fs::rename(temp, with_suffix(source, GZ))?;
    fs::remove_file(source)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

    const T: i64 = 1_692_619_933_517;

    fn setup(max_backups: usize, compress: bool) -> (tempfile::TempDir, BackupNames, Work) {
        let dir = tempfile::tempdir().unwrap();
        let names = BackupNames::for_file(&dir.path().join("events.log"));
        let work = Work { names: names.clone(), max_backups, compress };
        (dir, names, work)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn counts_a_backup_and_its_compressed_copy_once() {
        let (dir, names, work) = setup(2, false);
        fs::write(names.path(T), "1\n").unwrap();
        fs::write(with_suffix(&names.path(T), GZ), "").unwrap();
        fs::write(names.path(T + 1000), "2\n").unwrap();
        fs::write(names.path(T + 2000), "3\n").unwrap();
        work.pass();
        assert_eq!(listing(dir.path()), ["events-2023-08-21T12-12-14.517.log", "events-2023-08-21T12-12-15.517.log"]);
    }

    #[test]
    fn leaves_unrelated_files_alone() {
        let (dir, names, work) = setup(1, true);
        for other in ["events.log", "events.log.1", "events-old.log", "other-2023-08-21T12-12-13.517.log"] {
            fs::write(dir.path().join(other), "x\n").unwrap();
        }
        fs::write(names.path(T), "1\n").unwrap();
        fs::write(names.path(T + 1), "2\n").unwrap();
        work.pass();
        assert_eq!(
            listing(dir.path()),
            [
                "events-2023-08-21T12-12-13.518.log.gz",
                "events-old.log",
                "events.log",
                "events.log.1",
                "other-2023-08-21T12-12-13.517.log"
            ]
        );
    }

    #[test]
    fn redoes_a_compression_a_crash_interrupted() {
        let (dir, names, work) = setup(0, true);
        fs::write(names.path(T), "whole\n").unwrap();
        fs::write(with_suffix(&names.path(T), GZ_TMP), "half a gzip").unwrap();
        // Pruned since; its temporary file must not stay behind either.
        fs::write(with_suffix(&names.path(T - 1), GZ_TMP), "half a gzip").unwrap();
        work.pass();
        assert_eq!(listing(dir.path()), ["events-2023-08-21T12-12-13.517.log.gz"]);
        let mut text = String::new();
        GzDecoder::new(File::open(with_suffix(&names.path(T), GZ)).unwrap()).read_to_string(&mut text).unwrap();
        assert_eq!(text, "whole\n");
    }

    #[test]
    fn wait_idle_returns_once_requested_passes_are_done() {
        let (dir, names, work) = setup(1, false);
        let mut mill = Mill::new(work.names, work.max_backups, work.compress);
        mill.wait_idle(); // Never started: nothing to wait for.
        for i in 0..5 {
            fs::write(names.path(T + i), "x\n").unwrap();
            mill.request();
        }
        mill.wait_idle();
        assert_eq!(listing(dir.path()), ["events-2023-08-21T12-12-13.521.log"]);
    }
}
