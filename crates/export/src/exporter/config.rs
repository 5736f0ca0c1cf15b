//! An exporter's settings as a user writes them, and their validation into
//! an [`ExporterSpec`].
//!
//! | dynamic key | static flag (Cilium's name: `hubble-` + flag) | |
//! |---|---|---|
//! | `name` | (the static exporter is `static`) | required, unique |
//! | `filePath` | `--export-file-path` | a file, or `stdout`; required |
//! | `includeFilters` | `--export-allowlist` | FlowFilters; events must match one |
//! | `excludeFilters` | `--export-denylist` | FlowFilters; events matching one are left out |
//! | `fieldMask` | `--export-fieldmask` | flow field paths to keep |
//! | `fieldAggregate` | `--export-fieldaggregate` | flow field paths to aggregate on |
//! | `aggregationInterval` | `--export-aggregation-interval` | the aggregation window; `0s` disables it |
//! | `end` | (none) | an RFC 3339 time after which nothing is written |
//!
//! and the file sink's own settings ([`crate::sinks::file::config`]).
//! Validation touches no file: every problem is collected and reported at
//! once, each naming its setting.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flowlog_filter::{FieldMask, Filters};
use flowlog_flow::FlowFilter;

use super::spec::{Aggregation, ExporterSpec};
use crate::option::{self, Flag, FlagKind, OptionError, Origin, Setting, ValueError};
use crate::sinks::SinkConfig;
use crate::sinks::file::config::{self as file_config, FileConfig};

/// An exporter's settings, before validation.
#[derive(Debug, Clone)]
pub struct ExporterConfig {
    /// The exporter's name: `static`, or the dynamic entry's `name`.
    pub name: String,
    /// Where the settings come from.
    pub origin: Origin,
    /// A file path, or `stdout`.
    pub file_path: String,
    /// The file sink's settings, used when `file_path` is a file.
    pub file: FileConfig,
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

/// The entry's name.
pub static NAME: Setting<ExporterConfig> = Setting {
    key: "name",
    flag: None,
    set: |config, value| {
        config.name = option::string(value)?;
        Ok(())
    },
};

/// Where lines go.
pub static FILE_PATH: Setting<ExporterConfig> = Setting {
    key: "filePath",
    flag: Some(Flag {
        long: "export-file-path",
        cilium: "hubble-export-file-path",
        help: "Where the static exporter writes: a file, or `stdout`. Unset: no static exporter",
        value_name: "PATH",
        default: None,
        kind: FlagKind::Text,
    }),
    set: |config, value| {
        config.file_path = option::string(value)?;
        Ok(())
    },
};

/// The allowlist.
pub static ALLOW: Setting<ExporterConfig> = Setting {
    key: "includeFilters",
    flag: Some(Flag {
        long: "export-allowlist",
        cilium: "hubble-export-allowlist",
        help: "Export only events matching one of these FlowFilters: JSON objects separated by spaces (Cilium's form), by commas, or in a JSON array",
        value_name: "FILTERS",
        default: Some(""),
        kind: FlagKind::Text,
    }),
    set: |config, value| {
        config.allow = option::filters(value)?;
        Ok(())
    },
};

/// The denylist.
pub static DENY: Setting<ExporterConfig> = Setting {
    key: "excludeFilters",
    flag: Some(Flag {
        long: "export-denylist",
        cilium: "hubble-export-denylist",
        help: "Leave out events matching any of these FlowFilters (same forms as the allowlist)",
        value_name: "FILTERS",
        default: Some(""),
        kind: FlagKind::Text,
    }),
    set: |config, value| {
        config.deny = option::filters(value)?;
        Ok(())
    },
};

/// The field mask.
pub static FIELD_MASK: Setting<ExporterConfig> = Setting {
    key: "fieldMask",
    flag: Some(Flag {
        long: "export-fieldmask",
        cilium: "hubble-export-fieldmask",
        help: "Keep only these flow fields: proto field paths separated by spaces or commas (`time source.namespace l4`). Empty keeps whole flows",
        value_name: "PATHS",
        default: Some(""),
        kind: FlagKind::Text,
    }),
    set: |config, value| {
        config.field_mask = option::strings(value)?;
        Ok(())
    },
};

/// The aggregation fields.
pub static FIELD_AGGREGATE: Setting<ExporterConfig> = Setting {
    key: "fieldAggregate",
    flag: Some(Flag {
        long: "export-fieldaggregate",
        cilium: "hubble-export-fieldaggregate",
        help: "Aggregate flows on these fields (same syntax as the field mask)",
        value_name: "PATHS",
        default: Some(""),
        kind: FlagKind::Text,
    }),
    set: |config, value| {
        config.field_aggregate = option::strings(value)?;
        Ok(())
    },
};

/// The aggregation window.
pub static AGGREGATION_INTERVAL: Setting<ExporterConfig> = Setting {
    key: "aggregationInterval",
    flag: Some(Flag {
        long: "export-aggregation-interval",
        cilium: "hubble-export-aggregation-interval",
        help: "The aggregation window, e.g. `30s`; 0 disables aggregation",
        value_name: "DURATION",
        default: Some("0s"),
        kind: FlagKind::Duration,
    }),
    set: |config, value| {
        config.aggregation_interval = option::duration(value)?;
        Ok(())
    },
};

/// When the exporter stops writing.
pub static END: Setting<ExporterConfig> = Setting {
    key: "end",
    flag: None,
    set: |config, value| {
        config.end = Some(option::time(value)?);
        Ok(())
    },
};

/// A setting of an exporter: its own, or its file sink's.
pub trait ExportOption: Sync + std::fmt::Debug {
    /// The dynamic flow log key.
    fn key(&self) -> &'static str;
    /// The static exporter flag, if it has one.
    fn flag(&self) -> Option<&Flag>;
    /// Reads `value` into `config`.
    fn set(&self, config: &mut ExporterConfig, value: &serde_yaml_ng::Value) -> Result<(), OptionError>;
}

/// A config struct that exporter settings fill: the exporter's own, or a
/// part of it (a sink's).
pub trait Part: Sized + std::fmt::Debug + 'static {
    /// This part of `config`.
    fn of(config: &mut ExporterConfig) -> &mut Self;
}

impl Part for ExporterConfig {
    fn of(config: &mut ExporterConfig) -> &mut Self {
        config
    }
}

impl Part for FileConfig {
    fn of(config: &mut ExporterConfig) -> &mut Self {
        &mut config.file
    }
}

impl<C: Part> ExportOption for Setting<C> {
    fn key(&self) -> &'static str {
        self.key
    }

    fn flag(&self) -> Option<&Flag> {
        self.flag.as_ref()
    }

    fn set(&self, config: &mut ExporterConfig, value: &serde_yaml_ng::Value) -> Result<(), OptionError> {
        (self.set)(C::of(config), value).map_err(|error| self.error(error))
    }
}

/// Every exporter setting, in the order flags are listed and entries documented.
pub static OPTIONS: [&dyn ExportOption; 11] = [
    &NAME,
    &FILE_PATH,
    &file_config::MAX_SIZE,
    &file_config::MAX_BACKUPS,
    &file_config::COMPRESS,
    &ALLOW,
    &DENY,
    &FIELD_MASK,
    &FIELD_AGGREGATE,
    &AGGREGATION_INTERVAL,
    &END,
];

impl ExporterConfig {
    /// A config named `name` with every setting absent.
    pub fn new(name: &str, origin: Origin) -> Self {
        Self {
            name: name.to_owned(),
            origin,
            file_path: String::new(),
            file: FileConfig::default(),
            allow: Vec::new(),
            deny: Vec::new(),
            field_mask: Vec::new(),
            field_aggregate: Vec::new(),
            aggregation_interval: Duration::ZERO,
            end: None,
        }
    }

    /// Validates the settings, reporting every problem found.
    pub fn validate(self) -> Result<ExporterSpec, Vec<OptionError>> {
        let mut errors = Vec::new();
        let sink = self.sink().map_err(|error| errors.push(error)).ok();
        // Each list is compiled alone so that an error names the list it is in.
        let allow = check(&mut errors, &ALLOW, compile(self.allow.clone(), Vec::new()));
        let deny = check(&mut errors, &DENY, compile(Vec::new(), self.deny.clone()));
        let mask = check(&mut errors, &FIELD_MASK, FieldMask::new(&self.field_mask));
        let aggregate = check(&mut errors, &FIELD_AGGREGATE, FieldMask::new(&self.field_aggregate));
        let (Some(sink), Some(_), Some(_), Some(mask), Some(aggregate)) = (sink, allow, deny, mask, aggregate) else {
            return Err(errors);
        };
        let filters = Filters::new(self.allow, self.deny).expect("both lists compiled on their own");
        let aggregation = match (aggregate.is_empty(), self.aggregation_interval.is_zero()) {
            (false, false) => Some(Aggregation { fields: aggregate, interval: self.aggregation_interval }),
            (false, true) => {
                tracing::warn!(exporter = %self.name, "fieldAggregate is set but aggregationInterval is 0s: exporting flows unaggregated");
                None
            }
            (true, _) => None,
        };
        Ok(ExporterSpec { name: self.name, sink, filters: Arc::new(filters), mask, aggregation, end: self.end })
    }

    /// The sink `file_path` names.
    fn sink(&self) -> Result<SinkConfig, OptionError> {
        match self.file_path.trim() {
            "" => Err(FILE_PATH.error(ValueError::Required)),
            "stdout" => Ok(SinkConfig::Stdout),
            path => Ok(SinkConfig::File { path: path.into(), rotation: self.file.rotation(self.origin)? }),
        }
    }
}

/// The value of `result`, or `None` with its error, as `setting`'s, added to `errors`.
fn check<T>(
    errors: &mut Vec<OptionError>,
    setting: &Setting<ExporterConfig>,
    result: Result<T, impl Into<ValueError>>,
) -> Option<T> {
    result.map_err(|error| errors.push(setting.error(error.into()))).ok()
}

fn compile(allow: Vec<FlowFilter>, deny: Vec<FlowFilter>) -> Result<Filters, ValueError> {
    Filters::new(allow, deny).map_err(|error| ValueError::Filter { index: None, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_flag_is_declared_once() {
        let mut keys: Vec<&str> = OPTIONS.iter().map(|option| option.key()).collect();
        let mut flags: Vec<&str> = OPTIONS.iter().filter_map(|option| option.flag()).map(|f| f.long).collect();
        let (key_count, flag_count) = (keys.len(), flags.len());
        keys.dedup();
        flags.sort_unstable();
        flags.dedup();
        assert_eq!((keys.len(), flags.len()), (key_count, flag_count));
        for flag in OPTIONS.iter().filter_map(|option| option.flag()) {
            assert_eq!(flag.cilium, format!("hubble-{}", flag.long), "Cilium's name is hubble- and the flag");
        }
    }

    #[test]
    fn problems_are_reported_together_each_naming_its_setting() {
        let mut config = ExporterConfig::new("x", Origin::Static);
        config.field_mask = vec!["nope".into()];
        let errors: Vec<String> = config.validate().unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(errors[0], "filePath: is required");
        assert!(errors[1].starts_with("fieldMask: invalid field mask path \"nope\""), "{errors:?}");
    }
}
