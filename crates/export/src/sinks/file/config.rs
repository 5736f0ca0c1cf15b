//! The file sink's settings: Cilium's size, backup and compression options.
//!
//! | dynamic key | static flag | static default | 0 means (static) | 0 means (dynamic) |
//! |---|---|---|---|---|
//! | `fileMaxSizeMb` | `--export-file-max-size-mb` | 10 | 100 MiB (lumberjack's default) | 10 MiB |
//! | `fileMaxBackups` | `--export-file-max-backups` | 5 | keep them all | 5 |
//! | `fileCompress` | `--export-file-compress` | false | | |
//!
//! The zeros mean what they mean in Cilium, whose static exporter passes
//! them through to lumberjack and whose dynamic exporter replaces them with
//! its defaults. These settings apply to regular files only; a device,
//! FIFO or socket is written as it is (see [`super`]).

use crate::option::{self, Flag, FlagKind, OptionError, Origin, Setting, ValueError};
use crate::writer::RotationPolicy;

/// Lumberjack's default size, which Cilium's static exporter passes 0 through to.
const STATIC_ZERO_SIZE_MB: u64 = 100;
/// Cilium's dynamic exporter's fallbacks for entries that leave size and backups at 0.
const DYNAMIC_ZERO_SIZE_MB: u64 = 10;
const DYNAMIC_ZERO_BACKUPS: usize = 5;

/// How a file sink rotates, as the user wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileConfig {
    /// Rotate before a line would take the file past this many MiB; see the
    /// module docs for 0.
    pub max_size_mb: u64,
    /// Rotated files to keep; see the module docs for 0.
    pub max_backups: usize,
    /// Gzip rotated files, in the background.
    pub compress: bool,
}

/// The size at which a file is rotated.
pub static MAX_SIZE: Setting<FileConfig> = Setting {
    key: "fileMaxSizeMb",
    flag: Some(Flag {
        long: "export-file-max-size-mb",
        cilium: "hubble-export-file-max-size-mb",
        help: "Rotate the file when it would grow past this many MiB; 0 means 100",
        value_name: "MB",
        default: Some("10"),
        kind: FlagKind::Count,
    }),
    set: |config, value| {
        config.max_size_mb = option::count(value)?;
        Ok(())
    },
};

/// How many rotated files are kept.
pub static MAX_BACKUPS: Setting<FileConfig> = Setting {
    key: "fileMaxBackups",
    flag: Some(Flag {
        long: "export-file-max-backups",
        cilium: "hubble-export-file-max-backups",
        help: "Rotated files to keep; 0 keeps them all",
        value_name: "N",
        default: Some("5"),
        kind: FlagKind::Count,
    }),
    set: |config, value| {
        config.max_backups = option::size(value)?;
        Ok(())
    },
};

/// Whether rotated files are gzipped.
pub static COMPRESS: Setting<FileConfig> = Setting {
    key: "fileCompress",
    flag: Some(Flag {
        long: "export-file-compress",
        cilium: "hubble-export-file-compress",
        help: "Gzip rotated files",
        value_name: "BOOL",
        default: Some("false"),
        kind: FlagKind::Bool,
    }),
    set: |config, value| {
        config.compress = option::boolean(value)?;
        Ok(())
    },
};

impl FileConfig {
    /// The rotation these settings ask for, with zeros read as `origin`'s
    /// exporter reads them.
    pub fn rotation(&self, origin: Origin) -> Result<RotationPolicy, OptionError> {
        let (size_mb, max_backups) = match (origin, self.max_size_mb, self.max_backups) {
            (Origin::Static, size, backups) => (if size == 0 { STATIC_ZERO_SIZE_MB } else { size }, backups),
            (Origin::Dynamic, size, backups) => (
                if size == 0 { DYNAMIC_ZERO_SIZE_MB } else { size },
                if backups == 0 { DYNAMIC_ZERO_BACKUPS } else { backups },
            ),
        };
        let max_size_bytes =
            size_mb.checked_mul(1 << 20).ok_or_else(|| MAX_SIZE.error(ValueError::TooLarge(self.max_size_mb)))?;
        Ok(RotationPolicy { max_size_bytes, max_backups, compress: self.compress, ..RotationPolicy::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_mean_what_they_mean_in_cilium() {
        let zeros = FileConfig::default();
        let static_policy = zeros.rotation(Origin::Static).unwrap();
        assert_eq!((static_policy.max_size_bytes, static_policy.max_backups), (100 << 20, 0));
        let dynamic_policy = zeros.rotation(Origin::Dynamic).unwrap();
        assert_eq!((dynamic_policy.max_size_bytes, dynamic_policy.max_backups), (10 << 20, 5));
        let huge = FileConfig { max_size_mb: u64::MAX, ..FileConfig::default() };
        assert_eq!(
            huge.rotation(Origin::Static).unwrap_err().to_string(),
            format!("fileMaxSizeMb: {} is too large", u64::MAX)
        );
    }
}
