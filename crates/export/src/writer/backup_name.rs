//! Backup file names, lumberjack's: `<stem>-<YYYY-MM-DDTHH-MM-SS.mmm><ext>`
//! in UTC, then `.gz` once compressed.
//!
//! `events.log` → `events-2023-08-21T12-12-13.517.log` →
//! `events-2023-08-21T12-12-13.517.log.gz`; `events` →
//! `events-2023-08-21T12-12-13.517`. The timestamp in the name, not the file's
//! mtime, orders backups, so copying them around does not reorder them.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime};

/// Go's `2006-01-02T15-04-05.000`: colons would need quoting in some shells
/// and are not allowed in Windows file names, hence the dashes.
const LAYOUT: &str = "%Y-%m-%dT%H-%M-%S%.3f";
/// The suffix of a compressed backup.
pub(super) const GZ: &str = ".gz";
/// The suffix of a compressed backup being written; renamed to `.gz` when complete.
pub(super) const GZ_TMP: &str = ".gz.tmp";

/// The backup names of one live file.
#[derive(Debug, Clone)]
pub(super) struct BackupNames {
    dir: PathBuf,
    /// `<stem>-`: the file name without its extension, and a dash.
    prefix: Vec<u8>,
    /// The extension with its dot (`.log`), or nothing.
    ext: Vec<u8>,
}

/// What a file in the directory is, as far as rotation is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A backup as rotation left it.
    Plain,
    /// A compressed backup.
    Gzip,
    /// A compressed backup still being written, or left by a crash.
    GzipTemp,
}

/// A backup file recognised by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Backup {
    /// The rotation time in the name, in milliseconds since the epoch (UTC).
    pub(super) millis: i64,
    /// Plain, compressed, or being compressed.
    pub(super) kind: Kind,
}

impl BackupNames {
    /// The names of the backups of the live file `path`.
    ///
    /// The extension is what [`Path::extension`] says (the part after the last
    /// dot), like Go's `filepath.Ext` except for dot files: `.flows` has no
    /// extension here, so its backups are `.flows-<timestamp>`.
    pub(super) fn for_file(path: &Path) -> Self {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut prefix = path.file_stem().unwrap_or_default().as_bytes().to_vec();
        prefix.push(b'-');
        let ext = match path.extension() {
            Some(ext) => [b".", ext.as_bytes()].concat(),
            None => Vec::new(),
        };
        Self { dir, prefix, ext }
    }

    /// The directory the live file and its backups are in.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the backup made at `millis`.
    pub(super) fn path(&self, millis: i64) -> PathBuf {
        self.dir.join(self.file_name(millis))
    }

    fn file_name(&self, millis: i64) -> OsString {
        let time = DateTime::from_timestamp_millis(millis).unwrap_or_default();
        let stamp = time.format(LAYOUT).to_string();
        OsString::from_vec([&self.prefix, stamp.as_bytes(), &self.ext].concat())
    }

    /// The first millisecond from `earliest` on whose backup name is free,
    /// compressed or not.
    ///
    /// Taking an existing name would overwrite a backup; taking the name of a
    /// compressed one would make the mill delete the new backup as "already
    /// compressed". Rotations within one millisecond therefore get successive
    /// milliseconds.
    pub(super) fn unused(&self, earliest: i64) -> i64 {
        let taken = |path: &Path| path.symlink_metadata().is_ok();
        let mut millis = earliest;
        loop {
            let plain = self.path(millis);
            if !taken(&plain) && !taken(&with_suffix(&plain, GZ)) {
                return millis;
            }
            millis += 1;
        }
    }

    /// Recognises a backup of this file by its name; `None` for anything else,
    /// the live file included.
    pub(super) fn parse(&self, name: &OsStr) -> Option<Backup> {
        let rest = name.as_bytes().strip_prefix(self.prefix.as_slice())?;
        let (rest, kind) = if let Some(rest) = rest.strip_suffix(GZ_TMP.as_bytes()) {
            (rest, Kind::GzipTemp)
        } else if let Some(rest) = rest.strip_suffix(GZ.as_bytes()) {
            (rest, Kind::Gzip)
        } else {
            (rest, Kind::Plain)
        };
        let stamp = std::str::from_utf8(rest.strip_suffix(self.ext.as_slice())?).ok()?;
        Some(Backup { millis: parse_stamp(stamp)?, kind })
    }
}

/// `path` with `suffix` appended to its file name.
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Parses a timestamp written with exactly [`LAYOUT`]; anything chrono would
/// also accept but we would not have written (fewer digits, say) is rejected,
/// so the mill never touches files that merely look similar.
fn parse_stamp(stamp: &str) -> Option<i64> {
    let time = NaiveDateTime::parse_from_str(stamp, LAYOUT).ok()?;
    let exact = time.format(LAYOUT).to_string() == stamp;
    exact.then(|| time.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-08-21T12:12:13.517Z, the example in lumberjack's docs.
    const T: i64 = 1_692_619_933_517;

    fn name(names: &BackupNames, millis: i64) -> String {
        names.path(millis).file_name().unwrap().to_str().unwrap().to_owned()
    }

    #[test]
    fn names_put_the_utc_timestamp_before_the_extension() {
        let names = BackupNames::for_file(Path::new("/var/run/cilium/hubble/events.log"));
        assert_eq!(names.dir(), Path::new("/var/run/cilium/hubble"));
        assert_eq!(name(&names, T), "events-2023-08-21T12-12-13.517.log");
        assert_eq!(name(&names, T - 517), "events-2023-08-21T12-12-13.000.log");
    }

    #[test]
    fn a_file_without_extension_gets_none_after_the_timestamp() {
        let names = BackupNames::for_file(Path::new("events"));
        assert_eq!(names.dir(), Path::new("."));
        assert_eq!(name(&names, T), "events-2023-08-21T12-12-13.517");
    }

    #[test]
    fn only_the_last_extension_moves_behind_the_timestamp() {
        let names = BackupNames::for_file(Path::new("/tmp/flows.v1.json"));
        assert_eq!(name(&names, T), "flows.v1-2023-08-21T12-12-13.517.json");
    }

    #[test]
    fn recognises_its_own_backups_and_nothing_else() {
        let names = BackupNames::for_file(Path::new("/x/events.log"));
        let parse = |s: &str| names.parse(OsStr::new(s));
        let at = |kind| Some(Backup { millis: T, kind });
        assert_eq!(parse("events-2023-08-21T12-12-13.517.log"), at(Kind::Plain));
        assert_eq!(parse("events-2023-08-21T12-12-13.517.log.gz"), at(Kind::Gzip));
        assert_eq!(parse("events-2023-08-21T12-12-13.517.log.gz.tmp"), at(Kind::GzipTemp));
        for other in [
            "events.log",
            "events-2023-08-21T12-12-13.51.log",
            "events-2023-08-21T12-12-13.5170.log",
            "events-2023-08-21T12:12:13.517.log",
            "events-2023-08-21T12-12-13.517.txt",
            "events-2023-08-21T12-12-13.517",
            "other-2023-08-21T12-12-13.517.log",
            "events-2023-02-30T12-12-13.517.log",
            "events-2023-08-21T12-12-13.517.log.1",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
        let bare = BackupNames::for_file(Path::new("/x/events"));
        assert_eq!(bare.parse(OsStr::new("events-2023-08-21T12-12-13.517.gz")), at(Kind::Gzip));
        assert_eq!(bare.parse(OsStr::new("events.log")), None);
    }

    #[test]
    fn unused_skips_names_taken_by_plain_or_compressed_backups() {
        let dir = tempfile::tempdir().unwrap();
        let names = BackupNames::for_file(&dir.path().join("events.log"));
        assert_eq!(names.unused(T), T);
        std::fs::write(names.path(T), "a\n").unwrap();
        std::fs::write(with_suffix(&names.path(T + 1), GZ), "").unwrap();
        assert_eq!(names.unused(T), T + 2);
    }
}
