//! The dynamic flow log file: Cilium's `flowlogs.yaml` schema, parsed and
//! validated without touching any other file.
//!
//! ```yaml
//! flowLogs:
//!   - name: drops                        # required, unique: the exporter's identity
//!     filePath: /var/log/flowlog/drops.log  # required, unique; or `stdout`
//!     includeFilters: [{verdict: [DROPPED]}]
//!     excludeFilters: []
//!     fieldMask: [time, verdict, source.pod_name]
//!     fieldAggregate: []
//!     aggregationInterval: 0s
//!     fileMaxSizeMb: 10                  # 0 means 10
//!     fileMaxBackups: 5                  # 0 means 5
//!     fileCompress: false
//!     end: "2026-12-01T00:00:00Z"        # optional: stop writing then
//! ```
//!
//! Problems come in two kinds. A problem with the file as a whole (not YAML,
//! unknown top-level key, a missing or repeated name or path) rejects the
//! whole file: nothing changes. A problem inside one entry (a typo in a key,
//! a bad filter, mask or time) rejects that entry only: its previous exporter,
//! if any, keeps running and the other entries apply. Unlike Cilium, which
//! silently ignores unknown keys (so a typo such as `includeFilter` exports
//! everything), an unknown key is an error that names the closest known key.
//! Keys match case-insensitively, as Go's JSON decoding lets them in Cilium.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use flowlog_config::value::Kind;
use serde_yaml_ng::{Mapping, Value};

use crate::exporter::config::ExportOption;
use crate::exporter::config::{ExporterConfig, OPTIONS};
use crate::exporter::spec::ExporterSpec;
use crate::option::OptionError;
use crate::option::Origin;

/// The one top-level key.
const FLOW_LOGS: &str = "flowLogs";

/// A parsed dynamic flow log file.
#[derive(Debug, Default)]
pub struct DynamicConfig {
    /// Problems that reject the whole file. When there are any, nothing applies.
    pub file_errors: Vec<FileError>,
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

/// One `flowLogs` entry.
#[derive(Debug)]
pub struct Entry {
    /// The entry's position in the list.
    pub index: usize,
    /// The entry's name (may be empty when the file has errors).
    pub name: String,
    /// The entry's `filePath` as written.
    pub file_path: String,
    /// The validated exporter, or every problem with the entry.
    pub spec: Result<ExporterSpec, Vec<EntryError>>,
}

/// A problem that rejects the whole file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Not UTF-8.
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    /// Not YAML.
    #[error("not valid YAML: {0}")]
    NotYaml(serde_yaml_ng::Error),
    /// The top level is not a map.
    #[error("the file must be a map with a flowLogs list")]
    NotAMap,
    /// A top-level key other than `flowLogs`.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// `flowLogs` is not a list.
    #[error("flowLogs: must be a list of flow logs")]
    NotAList,
    /// An entry that is not a map.
    #[error("flowLogs[{index}]: invalid flowlog: must be a map")]
    EntryNotAMap {
        /// The entry's position.
        index: usize,
    },
    /// An entry without a name.
    #[error("flowLogs[{index}]: name is required")]
    NameRequired {
        /// The entry's position.
        index: usize,
    },
    /// A name used twice.
    #[error("flowLogs[{index}]: duplicated flowlog name {name:?}")]
    DuplicateName {
        /// The second entry's position.
        index: usize,
        /// The name.
        name: String,
    },
    /// A path used twice, or the static exporter's.
    #[error("flowLogs[{index}]: duplicated flowlog path {path:?}{}", if *static_exporter { " (the static exporter writes there)" } else { "" })]
    DuplicatePath {
        /// The second entry's position.
        index: usize,
        /// The path.
        path: String,
        /// True when the other writer is the static exporter.
        static_exporter: bool,
    },
}

/// A key that is not a string or not known.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key that is a number, a list…
    #[error("keys must be strings, found {0}")]
    NotAString(&'static str),
    /// A key no setting has.
    #[error("unknown key {key:?}{}", suggestion.map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    Unknown {
        /// The key as written.
        key: String,
        /// The closest known key.
        suggestion: Option<&'static str>,
    },
}

/// A problem inside one entry, which rejects that entry only.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", Label { index: *index, name })]
pub struct EntryError {
    /// The entry's position.
    pub index: usize,
    /// The entry's name, when it has one.
    pub name: String,
    /// What is wrong.
    pub problem: EntryProblem,
}

/// What is wrong inside an entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryProblem {
    /// A key that is not a string or not known.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A setting whose value is refused.
    #[error(transparent)]
    Option(#[from] OptionError),
    /// The entry is valid, but its exporter could not be started.
    #[error("cannot start: {0}")]
    CannotStart(std::io::Error),
}

/// `flowLogs[N]`, with the entry's name when it has one.
struct Label<'a> {
    index: usize,
    name: &'a str,
}

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            "" => write!(f, "flowLogs[{}]", self.index),
            name => write!(f, "flowLogs[{}] {name:?}", self.index),
        }
    }
}

impl DynamicConfig {
    /// True when the file and every entry are valid.
    pub fn is_valid(&self) -> bool {
        self.file_errors.is_empty() && self.entries.iter().all(|e| e.spec.is_ok())
    }

    /// Every problem, file-level first, each naming the entry and key.
    pub fn errors(&self) -> Vec<String> {
        let entry_errors = self.entries.iter().filter_map(|e| e.spec.as_ref().err()).flatten();
        self.file_errors.iter().map(ToString::to_string).chain(entry_errors.map(ToString::to_string)).collect()
    }
}

/// Parses and validates the file's `text`. `reserved_path` is a path another
/// exporter (the static one) already writes to, which no entry may claim.
pub fn parse(text: &str, reserved_path: Option<&str>) -> DynamicConfig {
    let mut config = DynamicConfig::default();
    let top = match serde_yaml_ng::from_str::<Value>(text) {
        Ok(Value::Null) => return config,
        Ok(Value::Mapping(map)) => map,
        Ok(_) => {
            config.file_errors.push(FileError::NotAMap);
            return config;
        }
        Err(error) => {
            config.file_errors.push(FileError::NotYaml(error));
            return config;
        }
    };
    let mut flow_logs = None;
    for (key, value) in top {
        match canonical_key(&key, [FLOW_LOGS]) {
            Ok(_) => flow_logs = Some(value),
            Err(error) => config.file_errors.push(error.into()),
        }
    }
    let entries = match flow_logs {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(entries)) => entries,
        Some(_) => {
            config.file_errors.push(FileError::NotAList);
            return config;
        }
    };

    let mut names = HashSet::new();
    let mut paths: HashSet<String> = reserved_path.map(str::to_owned).into_iter().collect();
    for (index, value) in entries.into_iter().enumerate() {
        let Value::Mapping(map) = value else {
            config.file_errors.push(FileError::EntryNotAMap { index });
            continue;
        };
        let entry = parse_entry(index, map);
        match entry.name.as_str() {
            "" => config.file_errors.push(FileError::NameRequired { index }),
            name if !names.insert(name.to_owned()) => {
                config.file_errors.push(FileError::DuplicateName { index, name: name.to_owned() })
            }
            _ => {}
        }
        let path = entry.file_path.trim();
        if !path.is_empty() && path != "stdout" && !paths.insert(path.to_owned()) {
            let static_exporter = reserved_path == Some(path);
            config.file_errors.push(FileError::DuplicatePath { index, path: path.to_owned(), static_exporter });
        }
        config.entries.push(entry);
    }
    config
}

fn parse_entry(index: usize, map: Mapping) -> Entry {
    let mut exporter = ExporterConfig::new("", Origin::Dynamic);
    let mut problems: Vec<EntryProblem> = Vec::new();
    for (key, value) in map {
        match canonical_key(&key, OPTIONS.iter().map(|option| option.key())) {
            Ok(key) => {
                if let Err(error) = option_for(key).set(&mut exporter, &value) {
                    problems.push(error.into());
                }
            }
            Err(error) => problems.push(error.into()),
        }
    }
    let (name, file_path) = (exporter.name.clone(), exporter.file_path.clone());
    // The spec is validated even when keys were wrong, so that every problem
    // of the entry is reported at once.
    let spec = match exporter.validate() {
        Ok(spec) if problems.is_empty() => Ok(spec),
        Ok(_) => Err(problems),
        Err(errors) => Err(problems.into_iter().chain(errors.into_iter().map(EntryProblem::from)).collect()),
    };
    let spec = spec.map_err(|problems| {
        problems.into_iter().map(|problem| EntryError { index, name: name.clone(), problem }).collect()
    });
    Entry { index, name, file_path, spec }
}

fn option_for(key: &str) -> &'static dyn ExportOption {
    OPTIONS.iter().copied().find(|option| option.key() == key).expect("canonical_key returns a known key")
}

/// Maps a key to its spelling among `known`, ignoring case (as Go's JSON
/// decoding lets Cilium); else an error that suggests the closest known key.
fn canonical_key(key: &Value, known: impl IntoIterator<Item = &'static str> + Clone) -> Result<&'static str, KeyError> {
    let Value::String(key) = key else {
        return Err(KeyError::NotAString(key.kind()));
    };
    if let Some(exact) = known.clone().into_iter().find(|k| k.eq_ignore_ascii_case(key)) {
        return Ok(exact);
    }
    Err(KeyError::Unknown { key: key.clone(), suggestion: flowlog_config::closest(key, known) })
}

/// Reads and parses the file at `path`.
pub fn load(path: &Path, reserved_path: Option<&str>) -> Result<(Vec<u8>, DynamicConfig), std::io::Error> {
    let bytes = std::fs::read(path)?;
    let config = parse_bytes(&bytes, reserved_path);
    Ok((bytes, config))
}

/// Parses the file's `bytes`, which must be UTF-8.
pub fn parse_bytes(bytes: &[u8], reserved_path: Option<&str>) -> DynamicConfig {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, reserved_path),
        Err(_) => DynamicConfig { file_errors: vec![FileError::NotUtf8], entries: Vec::new() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::SinkConfig;

    fn only_entry(text: &str) -> Entry {
        let mut config = parse(text, None);
        assert!(config.file_errors.is_empty(), "{:?}", config.file_errors);
        assert_eq!(config.entries.len(), 1);
        config.entries.remove(0)
    }

    fn entry_errors(text: &str) -> Vec<String> {
        only_entry(text).spec.expect_err("the entry is rejected").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_entry_with_every_key_becomes_a_spec() {
        let entry = only_entry(
            r#"
flowLogs:
  - name: drops
    filePath: /var/log/drops.log
    fieldMask: [time, verdict]
    fieldAggregate: "verdict"
    aggregationInterval: 30s
    includeFilters: [{verdict: [DROPPED]}]
    excludeFilters: [{sourcePod: ["kube-system/"]}]
    fileMaxSizeMb: 20
    fileMaxBackups: 3
    fileCompress: true
    end: "2030-01-01T00:00:00Z"
"#,
        );
        let spec = entry.spec.unwrap();
        assert_eq!(spec.name, "drops");
        let SinkConfig::File { path, rotation } = &spec.sink else { panic!("{:?}", spec.sink) };
        assert_eq!(path.to_str(), Some("/var/log/drops.log"));
        assert_eq!((rotation.max_size_bytes, rotation.max_backups, rotation.compress), (20 << 20, 3, true));
        assert_eq!(spec.mask.paths(), ["time", "verdict"]);
        let aggregation = spec.aggregation.unwrap();
        assert_eq!(aggregation.fields.paths(), ["verdict"]);
        assert_eq!(aggregation.interval, std::time::Duration::from_secs(30));
        assert!(spec.end.is_some());
    }

    #[test]
    fn zero_sizes_and_backups_mean_cilium_defaults_and_keys_ignore_case() {
        let entry = only_entry("FlowLogs:\n  - NAME: all\n    filepath: stdout\n    fileMaxSizeMb: 0\n");
        let spec = entry.spec.unwrap();
        assert_eq!(spec.sink, SinkConfig::Stdout);
        let entry = only_entry("flowLogs:\n  - name: all\n    filePath: /x.log\n    fileMaxBackups: 0\n");
        let SinkConfig::File { rotation, .. } = entry.spec.unwrap().sink else { panic!() };
        assert_eq!((rotation.max_size_bytes, rotation.max_backups), (10 << 20, 5));
    }

    #[test]
    fn an_empty_file_means_no_flow_logs() {
        for text in ["", "flowLogs: []", "flowLogs:"] {
            let config = parse(text, None);
            assert!(config.is_valid() && config.entries.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn file_level_problems_reject_the_whole_file() {
        let cases = [
            ("flowLogs: [ {name: a\n", "not valid YAML"),
            ("- name: a\n", "must be a map with a flowLogs list"),
            ("flowLog: []\n", r#"unknown key "flowLog" (did you mean "flowLogs"?)"#),
            ("flowLogs: {name: a}\n", "must be a list"),
            ("flowLogs:\n  - filePath: /a.log\n", "flowLogs[0]: name is required"),
            (
                "flowLogs:\n  - name: a\n    filePath: /a.log\n  - name: a\n    filePath: /b.log\n",
                r#"flowLogs[1]: duplicated flowlog name "a""#,
            ),
            (
                "flowLogs:\n  - name: a\n    filePath: /a.log\n  - name: b\n    filePath: /a.log\n",
                r#"flowLogs[1]: duplicated flowlog path "/a.log""#,
            ),
            ("flowLogs:\n  - 3\n", "flowLogs[0]: invalid flowlog"),
        ];
        for (text, expected) in cases {
            let config = parse(text, None);
            assert!(!config.is_valid(), "{text:?}");
            assert!(config.errors().iter().any(|e| e.contains(expected)), "{text:?}: {:?}", config.file_errors);
        }
    }

    #[test]
    fn the_static_exporters_file_cannot_be_claimed() {
        let config = parse("flowLogs:\n  - name: a\n    filePath: /static.log\n", Some("/static.log"));
        assert!(config.errors()[0].contains("the static exporter writes there"), "{:?}", config.file_errors);
    }

    #[test]
    fn entry_problems_name_the_entry_the_key_and_the_reason_all_at_once() {
        let errors = entry_errors(
            r#"
flowLogs:
  - name: bad
    filePath: /bad.log
    includeFilter: []
    fieldMask: [sourc.pod_name]
    aggregationInterval: 30
    fileMaxSizeMb: -1
    fileCompress: "yes"
    end: tomorrow
"#,
        );
        let expected = [
            r#"flowLogs[0] "bad": unknown key "includeFilter" (did you mean "includeFilters"?)"#,
            r#"flowLogs[0] "bad": fieldMask: invalid field mask path "sourc.pod_name""#,
            r#"flowLogs[0] "bad": aggregationInterval:"#,
            r#"flowLogs[0] "bad": fileMaxSizeMb: expected a whole number of 0 or more, found -1"#,
            r#"flowLogs[0] "bad": fileCompress: expected true or false, found a string"#,
            r#"flowLogs[0] "bad": end: "tomorrow" is not an RFC 3339 time"#,
        ];
        for expected in expected {
            assert!(errors.iter().any(|e| e.starts_with(expected)), "{expected}\nin {errors:#?}");
        }
    }

    #[test]
    fn a_bad_filter_names_its_list_and_position() {
        let errors = entry_errors(
            "flowLogs:\n  - name: f\n    filePath: /f.log\n    excludeFilters: [{}, {verdikt: [DROPPED]}]\n",
        );
        assert!(errors[0].starts_with(r#"flowLogs[0] "f": excludeFilters: [1]"#), "{errors:?}");
        assert!(errors[0].contains("verdikt"), "{errors:?}");
    }
}
