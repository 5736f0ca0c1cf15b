//! A file rotated by size, between whole lines.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::backup_name::BackupNames;
use super::mill::Mill;
use super::{LineOutput, RotationPolicy, WriteError, WriteReport, line_count};

/// Writes lines to a file and rotates it before a line would take it past
/// [`RotationPolicy::max_size_bytes`], the way Cilium's exporter does (see the
/// [module docs](super) for names and the differences).
///
/// - The file is opened on the first write, not by [`RotatingFile::new`]:
///   missing directories are created (mode `0755`), an existing file is
///   appended to (a restarted agent continues its file), and a new file gets
///   exactly [`RotationPolicy::file_mode`].
/// - Lines go out in runs, one `write` per run of whole lines that fits, and
///   are never split between files. A line longer than the maximum size is
///   refused and reported.
/// - A write that fails (a full disk) is undone back to the last whole line
///   and its lines reported lost; the file stays open and the next call tries
///   again, so writing resumes by itself once there is room.
/// - Backups are pruned and compressed by a background thread, never by
///   `write_lines`. Dropping the file waits for that thread to finish its
///   pending work.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    policy: RotationPolicy,
    names: BackupNames,
    /// The open file; `None` before the first write and after a failure that
    /// left the handle unusable.
    live: Option<Live>,
    /// The timestamp of the newest backup this writer made, so rotations
    /// within one millisecond get distinct names.
    last_backup: Option<i64>,
    /// Dropped after `live`, so the live file is closed before the mill's
    /// thread is joined.
    mill: Mill,
}

/// The open live file.
#[derive(Debug)]
struct Live {
    /// Opened with `O_APPEND`: every write lands at the current end, even after
    /// an undo shortened the file or another process appended.
    file: File,
    /// The size at open plus what was written since: what rotation goes by.
    size: u64,
}

impl RotatingFile {
    /// A writer for `path`. Touches nothing until the first write, so it cannot
    /// fail; problems show up as write errors.
    pub fn new(path: PathBuf, policy: RotationPolicy) -> Self {
        let names = BackupNames::for_file(&path);
        let mill = Mill::new(names.clone(), policy.max_backups, policy.compress);
        Self { path, policy, names, live: None, last_backup: None, mill }
    }

    /// Waits until the background pruning and compression requested so far is
    /// done: for tests, and for callers that want backups settled.
    pub fn wait_for_mill(&self) {
        self.mill.wait_idle();
    }

    /// The live file's size, opening it first if need be.
    fn open(&mut self) -> Result<u64, WriteError> {
        if let Some(live) = &self.live {
            return Ok(live.size);
        }
        let live = Live::open(&self.path, self.policy.file_mode)?;
        let size = live.size;
        self.live = Some(live);
        // Backups left from before (a restart, a change of policy) are pruned
        // and compressed too, as lumberjack does on open.
        self.mill.request();
        Ok(size)
    }

    /// Appends `run`, whole lines that fit. On failure, undoes any part of it
    /// that reached the file.
    fn append(&mut self, run: &[u8], report: &mut WriteReport) -> Result<(), WriteError> {
        let live = self.live.as_mut().expect("append follows open");
        let Err(io_error) = live.file.write_all(run) else {
            live.size += run.len() as u64;
            report.lines_written += line_count(run);
            report.bytes_written += run.len() as u64;
            return Ok(());
        };
        // A short write leaves part of a line at the end of the file, which the
        // next successful write would glue to another line.
        if let Err(error) = live.truncate_to_size() {
            tracing::warn!(file = %self.path.display(), %error, "cannot undo a partial write; the file may end in part of a line");
            // Reopen next time, and take the file's real size then.
            self.live = None;
        }
        Err(WriteError::file("write", &self.path, io_error))
    }

    /// Renames the live file to a new backup, creates a new live file, and
    /// wakes the mill.
    fn rotate(&mut self) -> Result<(), WriteError> {
        // Close first: the mill may compress the backup as soon as it exists.
        // There is nothing to flush; lines are written straight to the file.
        self.live = None;
        // Only a regular file is ours to rename: the path was one when the
        // sink started (see `sinks::file`), but anyone may have replaced it.
        match fs::symlink_metadata(&self.path) {
            Ok(metadata) if !metadata.file_type().is_file() => {
                return Err(WriteError::NotRegular { path: self.path.clone() });
            }
            _ => {}
        }
        let now = chrono::Utc::now().timestamp_millis();
        let earliest = self.last_backup.map_or(now, |last| now.max(last + 1));
        let millis = self.names.unused(earliest);
        match fs::rename(&self.path, self.names.path(millis)) {
            Ok(()) => {
                self.last_backup = Some(millis);
                self.mill.request();
            }
            // Deleted behind our back: there is nothing to back up.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(WriteError::file("rename", &self.path, error)),
        }
        self.live = Some(Live::open(&self.path, self.policy.file_mode)?);
        Ok(())
    }
}

impl LineOutput for RotatingFile {
    fn write_lines(&mut self, lines: &[u8]) -> WriteReport {
        let mut report = WriteReport::default();
        let max = self.policy.max_size_bytes;
        let mut rest = lines;
        while !rest.is_empty() {
            let size = match self.open() {
                Ok(size) => size,
                Err(error) => {
                    report.lose(line_count(rest), error);
                    break;
                }
            };
            let room = max.saturating_sub(size);
            // Usually everything left fits, and needs no search for line ends.
            let fit = if rest.len() as u64 <= room { rest.len() } else { lines_fitting(rest, room) };
            if fit > 0 {
                let (run, after) = rest.split_at(fit);
                if let Err(error) = self.append(run, &mut report) {
                    // The rest would fail the same way (a full disk); the next
                    // batch tries again.
                    report.lose(line_count(rest), error);
                    break;
                }
                rest = after;
                continue;
            }
            // The next line does not fit in what is left of this file.
            let len = first_line_len(rest);
            if len as u64 > max {
                // It would not fit in any file.
                report.lose(1, WriteError::LineTooLong { path: self.path.clone(), len, max });
                rest = &rest[len..];
                continue;
            }
            // Here size > 0: an empty file has room for any line up to `max`.
            if let Err(error) = self.rotate() {
                report.lose(line_count(rest), error);
                break;
            }
            report.rotations += 1;
        }
        report
    }

    /// Nothing to do: lines are not buffered, batches are large enough already.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Live {
    /// Opens `path` for appending, creating it (and its directory) if missing.
    fn open(path: &Path, mode: u32) -> Result<Self, WriteError> {
        // `create_new` tells whether this call created the file, and so whether
        // its mode is ours to set.
        let create = || OpenOptions::new().append(true).create_new(true).mode(mode).open(path);
        let created = match create() {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                    DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(dir)
                        .map_err(|error| WriteError::file("create directory", dir, error))?;
                }
                create()
            }
            result => result,
        };
        match created {
            Ok(file) => {
                // The umask may have taken bits off `mode`; set it exactly.
                if let Err(error) = file.set_permissions(Permissions::from_mode(mode)) {
                    tracing::warn!(file = %path.display(), %error, mode = format_args!("{mode:o}"), "cannot set file mode");
                }
                Ok(Self { file, size: 0 })
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                // Continue an existing file, keeping whatever mode it has.
                let file = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|error| WriteError::file("open", path, error))?;
                let size = file.metadata().map_err(|error| WriteError::file("stat", path, error))?.len();
                Ok(Self { file, size })
            }
            Err(error) => Err(WriteError::file("create", path, error)),
        }
    }

    /// Cuts the file back to the size before the failed write.
    fn truncate_to_size(&self) -> io::Result<()> {
        let real = self.file.metadata()?.len();
        if real < self.size {
            // Someone truncated the file meanwhile: `size` is not a line
            // boundary of this file, and cutting to it would grow the file.
            return Err(io::Error::other("the file shrank while open"));
        }
        self.file.set_len(self.size)
    }
}

/// The length of the longest run of whole lines at the start of `lines` that
/// fits in `room` bytes.
fn lines_fitting(lines: &[u8], room: u64) -> usize {
    let mut end = 0;
    while end < lines.len() {
        let next = end + first_line_len(&lines[end..]);
        if next as u64 > room {
            break;
        }
        end = next;
    }
    end
}

/// The length of the first line of `lines`, its `\n` included.
fn first_line_len(lines: &[u8]) -> usize {
    lines.iter().position(|&b| b == b'\n').map_or(lines.len(), |i| i + 1)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;

    use flate2::read::GzDecoder;

    use super::*;

    /// Lines `from..to`, numbered, of varying lengths (20 to 50 bytes).
    fn numbered(from: usize, to: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for n in from..to {
            out.extend_from_slice(format!("{{\"n\":{n:06},\"pad\":\"{}\"}}\n", "x".repeat(n * 7 % 31)).as_bytes());
        }
        out
    }

    fn policy(max_size_bytes: u64, max_backups: usize, compress: bool) -> RotationPolicy {
        RotationPolicy { max_size_bytes, max_backups, compress, ..RotationPolicy::default() }
    }

    /// Writes `lines` in batches of about `batch` bytes (cut between lines), as a sink would.
    fn write_in_batches(file: &mut RotatingFile, lines: &[u8], batch: usize) -> WriteReport {
        let mut total = WriteReport::default();
        let mut rest = lines;
        while !rest.is_empty() {
            let cut = rest[..batch.min(rest.len())].iter().rposition(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
            let report = file.write_lines(&rest[..cut]);
            total.lines_written += report.lines_written;
            total.bytes_written += report.bytes_written;
            total.rotations += report.rotations;
            total.lines_lost += report.lines_lost;
            total.error = total.error.or(report.error);
            rest = &rest[cut..];
        }
        total
    }

    /// The backups in `dir`, oldest first (the timestamps sort as text).
    fn backups(dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.file_name().unwrap().to_str().unwrap().starts_with("events-"))
            .collect();
        found.sort();
        found
    }

    fn read(path: &Path) -> Vec<u8> {
        let bytes = fs::read(path).unwrap();
        if path.extension().is_some_and(|ext| ext == "gz") {
            let mut plain = Vec::new();
            GzDecoder::new(bytes.as_slice()).read_to_end(&mut plain).unwrap();
            plain
        } else {
            bytes
        }
    }

    /// Everything written, as a reader of the backups and then the live file sees it.
    fn all_content(live: &Path) -> Vec<u8> {
        let mut content: Vec<u8> = backups(live.parent().unwrap()).iter().flat_map(|path| read(path)).collect();
        content.extend(fs::read(live).unwrap_or_default());
        content
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn rotation_never_splits_a_line_nor_passes_the_maximum_size() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("events.log");
        let mut file = RotatingFile::new(live.clone(), policy(1000, 0, false));
        let input = numbered(0, 2000);
        let report = write_in_batches(&mut file, &input, 700);
        assert_eq!((report.lines_written, report.lines_lost), (2000, 0));
        assert!(report.error.is_none());
        assert_eq!(report.bytes_written, input.len() as u64);

        let backups = backups(dir.path());
        assert_eq!(report.rotations, backups.len() as u64);
        assert!(backups.len() > 50, "{} backups", backups.len());
        for path in backups.iter().chain([&live]) {
            let content = fs::read(path).unwrap();
            assert!(content.len() <= 1000, "{}: {} bytes", path.display(), content.len());
            assert!(content.ends_with(b"\n"), "{} ends mid-line", path.display());
            // Files are filled: the next line would not have fit.
            assert!(content.len() > 1000 - 50 || path == &live, "{}: {} bytes", path.display(), content.len());
        }
        assert_eq!(all_content(&live), input);
    }

    #[test]
    fn backups_made_within_one_millisecond_get_distinct_names() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("events.log");
        // Room for one or two lines per file: one batch rotates many times a millisecond.
        let mut file = RotatingFile::new(live.clone(), policy(60, 0, false));
        let input = numbered(0, 300);
        let report = file.write_lines(&input);
        assert_eq!(report.lines_written, 300);
        assert!(report.rotations > 150, "{} rotations", report.rotations);

        let backups = backups(dir.path());
        assert_eq!(backups.len() as u64, report.rotations);
        let names: BTreeSet<_> = backups.iter().map(|path| path.file_name().unwrap()).collect();
        assert_eq!(names.len(), backups.len());
        let parsed = BackupNames::for_file(&live);
        assert!(backups.iter().all(|path| parsed.parse(path.file_name().unwrap()).is_some()));
        // Each line exactly once, in order: no backup overwrote another.
        assert_eq!(all_content(&live), input);
    }

    #[test]
    fn a_file_without_extension_rotates_to_names_without_extension() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("events");
        let mut file = RotatingFile::new(live.clone(), policy(60, 0, false));
        assert!(file.write_lines(&numbered(0, 10)).rotations > 0);
        let backup = backups(dir.path()).pop().unwrap();
        let name = backup.file_name().unwrap().to_str().unwrap();
        // events-YYYY-MM-DDTHH-MM-SS.mmm
        assert_eq!(name.len(), "events-".len() + 23, "{name}");
        assert_eq!(&name[name.len() - 4..name.len() - 3], ".", "{name}");
    }

    #[test]
    fn keeps_the_newest_max_backups() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("events.log");
        let mut file = RotatingFile::new(live.clone(), policy(200, 3, false));
        let input = numbered(0, 100);
        let report = write_in_batches(&mut file, &input, 150);
        assert!(report.rotations > 10);
        file.wait_for_mill();

        assert_eq!(backups(dir.path()).len(), 3);
        // What is left is the end of the input: the oldest backups went.
        let kept = all_content(&live);
        assert!(input.ends_with(&kept));
        assert!(kept.len() > 3 * 150);
    }

    #[test]
    fn max_backups_zero_keeps_all() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("events.log");
        let mut file = RotatingFile::new(live.clone(), policy(200, 0, false));
        let input = numbered(0, 100);
        let report = write_in_batches(&mut file, &input, 150);
        file.wait_for_mill();
        assert_eq!(backups(dir.path()).len() as u64, report.rotations);
        assert_eq!(all_content(&live), input);
    }

    #[test]
    fn compressed_backups_hold_what_was_rotated_with_the_same_mode() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("events.log");
        let mut file = RotatingFile::new(live.clone(), policy(2000, 0, true));
        let input = numbered(0, 500);
        let report = write_in_batches(&mut file, &input, 900);
        file.wait_for_mill();

        let backups = backups(dir.path());
        assert_eq!(backups.len() as u64, report.rotations);
        for backup in &backups {
            assert!(backup.to_str().unwrap().ends_with(".log.gz"), "{}", backup.display());
            assert_eq!(mode(backup), 0o600, "{}", backup.display());
        }
        assert_eq!(mode(&live), 0o600);
        assert_eq!(all_content(&live), input);
        drop(file);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name.to_str().unwrap().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn new_files_get_exactly_the_policy_mode_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("sub/dir/events.log");
        let mut file = RotatingFile::new(live.clone(), RotationPolicy { file_mode: 0o644, ..policy(60, 0, false) });
        // SAFETY: umask only sets the process's file creation mask. Other tests
        // running meanwhile may create files with fewer permission bits; none
        // depends on them.
        let before = unsafe { libc::umask(0o077) };
        let report = file.write_lines(&numbered(0, 10));
        // SAFETY: as above.
        unsafe { libc::umask(before) };
        assert!(report.rotations > 0);
        assert_eq!(mode(&live), 0o644);
        assert_eq!(mode(&backups(live.parent().unwrap())[0]), 0o644);
    }

    #[test]
    fn nothing_is_created_before_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("a/b/events.log");
        let mut file = RotatingFile::new(live.clone(), RotationPolicy::default());
        assert!(!live.parent().unwrap().exists());
        let report = file.write_lines(b"{}\n");
        assert_eq!(report.lines_written, 1);
        assert_eq!(fs::read(&live).unwrap(), b"{}\n");
    }

    #[test]
    fn a_restarted_writer_appends_to_the_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("events.log");
        let mut first = RotatingFile::new(live.clone(), policy(1000, 0, false));
        first.write_lines(&numbered(0, 5));
        drop(first);
        let mut second = RotatingFile::new(live.clone(), policy(1000, 0, false));
        let report = second.write_lines(&numbered(5, 10));
        assert_eq!((report.lines_written, report.rotations), (5, 0));
        assert_eq!(fs::read(&live).unwrap(), numbered(0, 10));
        assert!(backups(dir.path()).is_empty());
    }

    #[test]
    fn a_restarted_writer_rotates_a_full_file_first() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("events.log");
        let old = numbered(0, 5);
        fs::write(&live, &old).unwrap();
        let mut file = RotatingFile::new(live.clone(), policy(old.len() as u64, 0, false));
        let report = file.write_lines(&numbered(5, 6));
        assert_eq!((report.lines_written, report.rotations), (1, 1));
        assert_eq!(fs::read(&backups(dir.path())[0]).unwrap(), old);
        assert_eq!(fs::read(&live).unwrap(), numbered(5, 6));
    }

    #[test]
    fn a_line_larger_than_a_file_may_be_is_refused_and_the_rest_written() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("events.log");
        let mut file = RotatingFile::new(live.clone(), policy(50, 0, false));
        let long = format!("{}\n", "y".repeat(59));
        let batch = [b"{\"a\":1}\n".as_slice(), long.as_bytes(), b"{\"b\":2}\n"].concat();
        let report = file.write_lines(&batch);
        assert_eq!((report.lines_written, report.lines_lost, report.rotations), (2, 1, 0));
        let error = report.error.unwrap().to_string();
        assert!(error.contains("line of 60 bytes exceeds the maximum file size 50"), "{error}");
        assert!(error.contains(live.to_str().unwrap()), "{error}");
        assert_eq!(fs::read(&live).unwrap(), b"{\"a\":1}\n{\"b\":2}\n");
    }

    /// A tmpfs mounted for one test, unmounted when dropped.
    struct Tmpfs(PathBuf);

    impl Tmpfs {
        fn mount(dir: &Path, size: &str) -> Tmpfs {
            let status = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir)
                .status()
                .unwrap();
            assert!(status.success(), "mount tmpfs: {status}");
            Tmpfs(dir.to_owned())
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            match Command::new("umount").arg(&self.0).status() {
                Ok(status) if status.success() => {}
                other => eprintln!("cannot unmount the test tmpfs at {}: {other:?}", self.0.display()),
            }
        }
    }

    /// Fills the file system `path` is on, writing `path`.
    fn fill(path: &Path) {
        let mut filler = File::create(path).unwrap();
        let chunk = [0u8; 4096];
        loop {
            match filler.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    assert_eq!(error.raw_os_error(), Some(libc::ENOSPC), "{error}");
                    break;
                }
            }
        }
    }

    #[test]
    fn writing_resumes_by_itself_once_a_full_disk_has_room() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: full-disk test needs root to mount tmpfs");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // Dropped in reverse order: the file is closed, then the tmpfs
        // unmounted, then the directory removed.
        let tmpfs = Tmpfs::mount(dir.path(), "256k");
        let live = tmpfs.0.join("events.log");
        let mut file = RotatingFile::new(live.clone(), policy(1 << 20, 0, false));

        let before = numbered(0, 10);
        assert_eq!(file.write_lines(&before).lines_written, 10);
        let inode = fs::metadata(&live).unwrap().ino();
        let filler = tmpfs.0.join("filler");
        fill(&filler);

        // The first lines fit in the rest of the live file's last page, the
        // others do not: a short write, undone.
        let refused = numbered(10, 400);
        let report = file.write_lines(&refused);
        assert_eq!((report.lines_written, report.lines_lost), (0, 390));
        let error = report.error.unwrap().to_string();
        assert!(error.contains("No space left"), "{error}");
        assert!(error.contains(live.to_str().unwrap()), "{error}");
        assert_eq!(fs::read(&live).unwrap(), before, "the file must hold only whole lines");

        fs::remove_file(&filler).unwrap();
        let after = numbered(400, 500);
        let report = file.write_lines(&after);
        assert!(report.error.is_none(), "{:?}", report.error);
        assert_eq!((report.lines_written, report.lines_lost), (100, 0));
        assert_eq!(fs::metadata(&live).unwrap().ino(), inode, "the same file, not a new one");
        assert_eq!(fs::read(&live).unwrap(), [before, after].concat());
        drop(file);
    }
}
