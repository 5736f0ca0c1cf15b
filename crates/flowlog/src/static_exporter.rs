//! The static exporter's options, from flags to a validated spec, with
//! Cilium's static-exporter semantics for zero values.

use flowlog_export::writer::RotationPolicy;
use flowlog_export::{ExporterOptions, ExporterSpec};
use flowlog_filter::{parse_filters, split_paths};

use crate::cli::StaticExportArgs;

/// Lumberjack's default, which Cilium's static exporter passes a size of 0 through to.
const DEFAULT_MAX_SIZE_MB: u64 = 100;

/// The static exporter's spec, or `None` when no file path is set. Every
/// problem is reported at once, each naming its flag.
pub fn spec(args: &StaticExportArgs) -> Result<Option<ExporterSpec>, Vec<String>> {
    let Some(file_path) = args.export_file_path.clone().filter(|p| !p.trim().is_empty()) else {
        return Ok(None);
    };
    let mut errors = Vec::new();
    let mut filters = |flag: &str, text: &str| {
        parse_filters(text).unwrap_or_else(|e| {
            errors.push(format!("--{flag}: {e}"));
            Vec::new()
        })
    };
    let allow = filters("export-allowlist", &args.export_allowlist);
    let deny = filters("export-denylist", &args.export_denylist);
    let max_size_mb = match args.export_file_max_size_mb {
        0 => DEFAULT_MAX_SIZE_MB,
        mb => mb,
    };
    let options = ExporterOptions {
        name: "static".to_owned(),
        file_path,
        rotation: RotationPolicy {
            max_size_bytes: max_size_mb << 20,
            max_backups: args.export_file_max_backups,
            compress: args.export_file_compress,
            ..RotationPolicy::default()
        },
        allow,
        deny,
        field_mask: split_paths(&args.export_fieldmask),
        field_aggregate: split_paths(&args.export_fieldaggregate),
        aggregation_interval: args.export_aggregation_interval,
        end: None,
    };
    match ExporterSpec::new(options) {
        Ok(spec) if errors.is_empty() => Ok(Some(spec)),
        Ok(_) => Err(errors),
        Err(spec_errors) => {
            errors.extend(spec_errors.iter().map(|e| format!("{}: {}", static_flag(e.key), e.reason)));
            Err(errors)
        }
    }
}

/// The flag a spec error's key corresponds to.
fn static_flag(key: &str) -> &'static str {
    use flowlog_export::spec::keys;
    match key {
        keys::FILE_PATH => "--export-file-path",
        keys::ALLOW => "--export-allowlist/--export-denylist",
        keys::FIELD_MASK => "--export-fieldmask",
        keys::FIELD_AGGREGATE => "--export-fieldaggregate",
        keys::MAX_SIZE => "--export-file-max-size-mb",
        _ => "export option",
    }
}
