//! What one exporter does, validated: where it writes, which events it keeps,
//! how it shapes them. Validation is pure (no file is touched); every problem
//! is collected and reported at once, each naming its key.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flowlog_filter::{FieldMask, Filters};
use flowlog_flow::FlowFilter;

use crate::writer::{LineOutput, RotatingFile, RotationPolicy, StdoutOutput};

/// An exporter's settings as flags or a config file give them, before validation.
#[derive(Debug, Clone, Default)]
pub struct ExporterOptions {
    /// The exporter's name: `static`, or the dynamic entry's `name`.
    pub name: String,
    /// A file path, or `stdout`.
    pub file_path: String,
    /// Rotation settings for a file.
    pub rotation: RotationPolicy,
    /// Events must match one of these, unless there are none.
    pub allow: Vec<FlowFilter>,
    /// Events matching any of these are left out.
    pub deny: Vec<FlowFilter>,
    /// Field-mask paths; empty keeps whole flows.
    pub field_mask: Vec<String>,
    /// Field paths to aggregate flows on; empty disables aggregation.
    pub field_aggregate: Vec<String>,
    /// The aggregation window; zero disables aggregation.
    pub aggregation_interval: Duration,
    /// When the exporter stops writing, if ever.
    pub end: Option<SystemTime>,
}

/// Where an exporter's lines go.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The process's standard output.
    Stdout,
    /// A file, rotated by size.
    File {
        /// The live file's path.
        path: PathBuf,
        /// Size, backups, compression, mode.
        rotation: RotationPolicy,
    },
}

impl Target {
    /// Opens the output. Files are created lazily, on their first line.
    pub fn open(&self) -> Box<dyn LineOutput> {
        match self {
            Target::Stdout => Box::new(StdoutOutput::default()),
            Target::File { path, rotation } => Box::new(RotatingFile::new(path.clone(), rotation.clone())),
        }
    }

    /// The path as a user wrote it: a file path or `stdout`.
    pub fn describe(&self) -> String {
        match self {
            Target::Stdout => "stdout".to_owned(),
            Target::File { path, .. } => path.display().to_string(),
        }
    }
}

/// Flow aggregation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    /// The fields flows are grouped by.
    pub fields: FieldMask,
    /// The window after which groups are written.
    pub interval: Duration,
}

/// A validated exporter configuration. Two specs are equal when they would
/// export the same lines to the same place: filters compare as sets, masks
/// by their normalised paths.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterSpec {
    /// The exporter's name.
    pub name: String,
    /// Where lines go.
    pub target: Target,
    /// Which events are kept.
    pub filters: Arc<Filters>,
    /// Which flow fields are kept.
    pub mask: FieldMask,
    /// Flow aggregation, when enabled.
    pub aggregation: Option<Aggregation>,
    /// When the exporter stops writing, if ever.
    pub end: Option<SystemTime>,
}

/// A problem with one setting of one exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The setting, by its config-file key (e.g. `fieldMask`).
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl std::error::Error for SpecError {}

/// Names of the settings as [`SpecError::key`] reports them. Static and
/// dynamic configs spell keys differently; each front end maps these.
pub mod keys {
    /// The output path.
    pub const FILE_PATH: &str = "filePath";
    /// The allow list.
    pub const ALLOW: &str = "includeFilters";
    /// The deny list.
    pub const DENY: &str = "excludeFilters";
    /// The field mask.
    pub const FIELD_MASK: &str = "fieldMask";
    /// The aggregation fields.
    pub const FIELD_AGGREGATE: &str = "fieldAggregate";
    /// The maximum file size.
    pub const MAX_SIZE: &str = "fileMaxSizeMb";
}

impl ExporterSpec {
    /// Validates `options`, reporting every problem found.
    pub fn new(options: ExporterOptions) -> Result<Self, Vec<SpecError>> {
        let mut errors = Vec::new();
        let target = check(&mut errors, keys::FILE_PATH, target(&options));
        // Each list is compiled alone first so that an error names the list it is in.
        let allow = check(&mut errors, keys::ALLOW, Filters::new(options.allow.clone(), Vec::new()));
        let deny = check(&mut errors, keys::DENY, Filters::new(Vec::new(), options.deny.clone()));
        let mask = check(&mut errors, keys::FIELD_MASK, FieldMask::new(&options.field_mask));
        let aggregate = check(&mut errors, keys::FIELD_AGGREGATE, FieldMask::new(&options.field_aggregate));
        if options.rotation.max_size_bytes == 0 {
            errors.push(SpecError { key: keys::MAX_SIZE, reason: "must be greater than zero".to_owned() });
        }
        let (Some(target), Some(_), Some(_), Some(mask), Some(aggregate)) = (target, allow, deny, mask, aggregate)
        else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let filters = Filters::new(options.allow, options.deny).expect("both lists compiled on their own");
        let aggregation = match (aggregate.is_empty(), options.aggregation_interval.is_zero()) {
            (false, false) => Some(Aggregation { fields: aggregate, interval: options.aggregation_interval }),
            (false, true) => {
                tracing::warn!(exporter = %options.name, "fieldAggregate is set but aggregationInterval is 0s: exporting flows unaggregated");
                None
            }
            (true, _) => None,
        };
        Ok(Self { name: options.name, target, filters: Arc::new(filters), mask, aggregation, end: options.end })
    }

    /// True when the exporter's `end` has not yet come.
    pub fn is_active_at(&self, now: SystemTime) -> bool {
        self.end.is_none_or(|end| now < end)
    }
}

fn check<T, E: fmt::Display>(errors: &mut Vec<SpecError>, key: &'static str, result: Result<T, E>) -> Option<T> {
    result.map_err(|e| errors.push(SpecError { key, reason: e.to_string() })).ok()
}

fn target(options: &ExporterOptions) -> Result<Target, String> {
    match options.file_path.trim() {
        "" => Err("is required".to_owned()),
        "stdout" => Ok(Target::Stdout),
        path => Ok(Target::File { path: PathBuf::from(path), rotation: options.rotation.clone() }),
    }
}
