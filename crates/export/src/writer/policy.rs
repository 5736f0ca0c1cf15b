//! When a file is rotated and what happens to its backups.

/// How a [`RotatingFile`](super::RotatingFile) rotates: Cilium's
/// `--hubble-export-file-max-size-mb`, `…-max-backups` and `…-compress`, plus
/// the mode of the files it creates.
///
/// Compared with [`PartialEq`] so a reload can tell whether a sink changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPolicy {
    /// The live file is rotated before a line would take it past this size.
    /// Default: 10 MiB.
    pub max_size_bytes: u64,
    /// Backups kept, newest first; `0` keeps all. A backup and its compressed
    /// copy count once. Default: 5.
    pub max_backups: usize,
    /// Gzip backups (`<backup>.gz`) in the background. Default: `false`.
    pub compress: bool,
    /// Permission bits of the files created (live files and compressed
    /// backups), set exactly, whatever the umask. Default: `0o600`, since flows
    /// name workloads and addresses. Cilium's lumberjack uses `0o644`.
    pub file_mode: u32,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self { max_size_bytes: 10 << 20, max_backups: 5, compress: false, file_mode: 0o600 }
    }
}
