//! Each kind of path a file sink may be given, through a real sink (queue
//! and writer thread): only a regular file rotates; a device, a FIFO and a
//! symlink keep their node and get every line, whatever the size limit.

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use super::*;
use crate::context::ExportContext;
use crate::sinks::Sink;
use crate::sinks::{SinkConfig, WhenFull};

/// Lines of 100 bytes, `\n` included.
const LINE: &[u8; 100] = &{
    let mut line = [b'x'; 100];
    line[99] = b'\n';
    line
};
/// 10 KiB of lines through a sink whose files may hold 1 KiB.
const LINES: usize = 100;

fn rotation() -> RotationPolicy {
    RotationPolicy { max_size_bytes: 1024, max_backups: 2, ..RotationPolicy::default() }
}

/// Writes [`LINES`] lines to `path` through a sink and waits for its writer;
/// returns the lines it counts as written.
fn write_through_sink(path: &Path) -> u64 {
    let context = ExportContext::new("node", WhenFull::Wait);
    let counters = context.sinks.new_counters();
    let config = SinkConfig::File { path: path.to_path_buf(), rotation: rotation() };
    let mut sink = Sink::start("test", &config, &context, Arc::clone(&counters)).unwrap();
    for _ in 0..LINES {
        sink.push(LINE);
    }
    sink.close().wait();
    let stats = counters.snapshot();
    assert_eq!(stats.unwritten, 0);
    stats.events_written
}

/// The names in `dir` other than `keep`.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| !keep.contains(&name.as_str()))
        .collect();
    names.sort();
    names
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success(), "mkfifo {}", path.display());
}

/// Reads `fifo` to its end on a thread of its own.
fn read_fifo(fifo: PathBuf) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::fs::File::open(fifo).unwrap().read_to_end(&mut bytes).unwrap();
        bytes
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_regular_file_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    assert_eq!(write_through_sink(&path), LINES as u64);
    assert_eq!(std::fs::read(&path).unwrap().len() % LINE.len(), 0, "whole lines");
    assert!(std::fs::metadata(&path).unwrap().len() <= 1024);
    let backups = others(dir.path(), &["events.log"]);
    assert!(!backups.is_empty() && backups.iter().all(|name| name.starts_with("events-")), "{backups:?}");
}

#[test]
fn a_character_device_keeps_its_node() {
    if !is_root() {
        eprintln!("SKIPPED (needs root): mknod makes a character device");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("null");
    // The same device as /dev/null, in a directory of the test's own.
    let made = Command::new("mknod").arg(&path).args(["c", "1", "3"]).status().unwrap();
    assert!(made.success(), "mknod");
    assert_eq!(write_through_sink(&path), LINES as u64, "every line written");
    assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_char_device(), "still the device");
    assert!(others(dir.path(), &["null"]).is_empty(), "no backups, no new file");
}

#[test]
fn a_fifo_with_a_reader_gets_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("flows.fifo");
    mkfifo(&fifo);
    let reader = read_fifo(fifo.clone());
    assert_eq!(write_through_sink(&fifo), LINES as u64);
    assert_eq!(reader.join().unwrap(), LINE.repeat(LINES), "every line, in order, none split");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still the FIFO");
    assert!(others(dir.path(), &["flows.fifo"]).is_empty(), "no backups");
}

#[test]
fn a_symlink_to_a_fifo_is_followed_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("real.fifo");
    mkfifo(&fifo);
    let link = dir.path().join("stdout");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let reader = read_fifo(fifo.clone());
    assert_eq!(write_through_sink(&link), LINES as u64);
    assert_eq!(reader.join().unwrap(), LINE.repeat(LINES));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "still the symlink");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still the FIFO");
    assert!(others(dir.path(), &["real.fifo", "stdout"]).is_empty(), "no backups");
}

#[test]
fn the_mill_never_touches_what_is_not_a_regular_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    // Named like old backups, but a FIFO and a symlink: not ours.
    let fifo = dir.path().join("events-2020-01-01T00-00-00.000.log");
    mkfifo(&fifo);
    let link = dir.path().join("events-2020-01-01T00-00-00.001.log");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    assert_eq!(write_through_sink(&path), LINES as u64);
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn path_kinds() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(PathKind::of(&dir.path().join("missing")).unwrap(), PathKind::Regular);
    std::fs::write(dir.path().join("file"), "").unwrap();
    assert_eq!(PathKind::of(&dir.path().join("file")).unwrap(), PathKind::Regular);
    assert_eq!(PathKind::of(Path::new("/dev/null")).unwrap(), PathKind::AsItIs("a character device"));
    assert_eq!(PathKind::of(Path::new("/dev/stdout")).unwrap(), PathKind::AsItIs("a symlink"));
    assert_eq!(PathKind::of(dir.path()).unwrap(), PathKind::AsItIs("a directory"));
}
