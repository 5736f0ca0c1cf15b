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
use std::path::Path;
use std::time::SystemTime;

use flowlog_filter::filter_from_json;
use serde_yaml_ng::{Mapping, Value};

use crate::duration::parse_go_duration;
use crate::spec::{ExporterOptions, ExporterSpec};
use crate::writer::RotationPolicy;

/// Cilium's fallbacks for entries that leave size and backups at 0.
const DEFAULT_MAX_SIZE_MB: u64 = 10;
const DEFAULT_MAX_BACKUPS: usize = 5;

const TOP_LEVEL_KEYS: &[&str] = &["flowLogs"];
const ENTRY_KEYS: &[&str] = &[
    "name",
    "filePath",
    "fieldMask",
    "fieldAggregate",
    "aggregationInterval",
    "includeFilters",
    "excludeFilters",
    "fileMaxSizeMb",
    "fileMaxBackups",
    "fileCompress",
    "end",
];

/// A parsed dynamic flow log file.
#[derive(Debug, Default)]
pub struct DynamicConfig {
    /// Problems that reject the whole file. When there are any, nothing applies.
    pub file_errors: Vec<String>,
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

/// One `flowLogs` entry.
#[derive(Debug)]
pub struct Entry {
    /// The entry's name (may be empty when the file has errors).
    pub name: String,
    /// The entry's `filePath` as written.
    pub file_path: String,
    /// The validated exporter, or every problem with the entry.
    pub spec: Result<ExporterSpec, Vec<String>>,
}

impl DynamicConfig {
    /// True when the file and every entry are valid.
    pub fn is_valid(&self) -> bool {
        self.file_errors.is_empty() && self.entries.iter().all(|e| e.spec.is_ok())
    }

    /// Every problem, file-level first, each naming the entry and key.
    pub fn errors(&self) -> Vec<String> {
        let entry_errors = self.entries.iter().filter_map(|e| e.spec.as_ref().err()).flatten();
        self.file_errors.iter().chain(entry_errors).cloned().collect()
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
            config.file_errors.push("the file must be a map with a flowLogs list".into());
            return config;
        }
        Err(error) => {
            config.file_errors.push(format!("not valid YAML: {error}"));
            return config;
        }
    };
    let mut flow_logs = None;
    for (key, value) in top {
        match canonical_key(&key, TOP_LEVEL_KEYS) {
            Ok(_) => flow_logs = Some(value),
            Err(error) => config.file_errors.push(error),
        }
    }
    let entries = match flow_logs {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(entries)) => entries,
        Some(_) => {
            config.file_errors.push("flowLogs: must be a list of flow logs".into());
            return config;
        }
    };

    let mut names = HashSet::new();
    let mut paths: HashSet<String> = reserved_path.map(str::to_owned).into_iter().collect();
    for (index, value) in entries.into_iter().enumerate() {
        let Value::Mapping(map) = value else {
            config.file_errors.push(format!("flowLogs[{index}]: invalid flowlog: must be a map"));
            continue;
        };
        let entry = parse_entry(index, map);
        let at = format!("flowLogs[{index}]");
        match entry.name.as_str() {
            "" => config.file_errors.push(format!("{at}: name is required")),
            name if !names.insert(name.to_owned()) => {
                config.file_errors.push(format!("{at}: duplicated flowlog name {name:?}"))
            }
            _ => {}
        }
        let path = entry.file_path.trim();
        if !path.is_empty() && path != "stdout" && !paths.insert(path.to_owned()) {
            let owner = if reserved_path == Some(path) { " (the static exporter writes there)" } else { "" };
            config.file_errors.push(format!("{at}: duplicated flowlog path {path:?}{owner}"));
        }
        config.entries.push(entry);
    }
    config
}

fn parse_entry(index: usize, map: Mapping) -> Entry {
    let mut fields = Fields::default();
    let mut errors = Vec::new();
    for (key, value) in map {
        match canonical_key(&key, ENTRY_KEYS) {
            Ok(key) => fields.set(key, value, &mut errors),
            Err(error) => errors.push(error),
        }
    }
    let name = fields.name.clone().unwrap_or_default();
    let file_path = fields.file_path.clone().unwrap_or_default();
    let label = if name.is_empty() { format!("flowLogs[{index}]") } else { format!("flowLogs[{index}] {name:?}") };

    let options = ExporterOptions {
        name: name.clone(),
        file_path: fields.file_path.unwrap_or_default(),
        rotation: RotationPolicy {
            max_size_bytes: match fields.max_size_mb.unwrap_or(0) {
                0 => DEFAULT_MAX_SIZE_MB,
                mb => mb,
            } << 20,
            max_backups: match fields.max_backups.unwrap_or(0) {
                0 => DEFAULT_MAX_BACKUPS,
                n => n,
            },
            compress: fields.compress.unwrap_or(false),
            ..RotationPolicy::default()
        },
        allow: fields.include,
        deny: fields.exclude,
        field_mask: fields.field_mask,
        field_aggregate: fields.field_aggregate,
        aggregation_interval: fields.aggregation_interval.unwrap_or_default(),
        end: fields.end,
    };
    // The spec is validated even when keys were wrong, so that every problem
    // of the entry is reported at once.
    let spec = match ExporterSpec::new(options) {
        Ok(spec) if errors.is_empty() => Ok(spec),
        Ok(_) => Err(errors),
        Err(spec_errors) => Err(errors.into_iter().chain(spec_errors.iter().map(ToString::to_string)).collect()),
    };
    Entry {
        name,
        file_path,
        spec: spec.map_err(|errors| errors.into_iter().map(|e| format!("{label}: {e}")).collect()),
    }
}

/// An entry's values, as far as they could be read.
#[derive(Default)]
struct Fields {
    name: Option<String>,
    file_path: Option<String>,
    field_mask: Vec<String>,
    field_aggregate: Vec<String>,
    aggregation_interval: Option<std::time::Duration>,
    include: Vec<flowlog_flow::FlowFilter>,
    exclude: Vec<flowlog_flow::FlowFilter>,
    max_size_mb: Option<u64>,
    max_backups: Option<usize>,
    compress: Option<bool>,
    end: Option<SystemTime>,
}

impl Fields {
    fn set(&mut self, key: &'static str, value: Value, errors: &mut Vec<String>) {
        let mut fail = |reason: String| errors.push(format!("{key}: {reason}"));
        match key {
            "name" => self.name = string(&value).map_err(&mut fail).ok(),
            "filePath" => self.file_path = string(&value).map_err(&mut fail).ok(),
            "fieldMask" => self.field_mask = strings(&value).map_err(&mut fail).unwrap_or_default(),
            "fieldAggregate" => self.field_aggregate = strings(&value).map_err(&mut fail).unwrap_or_default(),
            "aggregationInterval" => {
                self.aggregation_interval = string(&value).and_then(|s| parse_go_duration(&s)).map_err(&mut fail).ok();
            }
            "includeFilters" => self.include = filters(value).map_err(&mut fail).unwrap_or_default(),
            "excludeFilters" => self.exclude = filters(value).map_err(&mut fail).unwrap_or_default(),
            "fileMaxSizeMb" => self.max_size_mb = number(&value).map_err(&mut fail).ok(),
            "fileMaxBackups" => {
                self.max_backups = number(&value)
                    .and_then(|n| usize::try_from(n).map_err(|_| format!("{n} is too large")))
                    .map_err(&mut fail)
                    .ok();
            }
            "fileCompress" => match value {
                Value::Bool(b) => self.compress = Some(b),
                Value::Null => {}
                other => fail(format!("expected true or false, found {}", describe(&other))),
            },
            "end" => self.end = string(&value).and_then(|s| rfc3339(&s)).map_err(&mut fail).ok(),
            _ => unreachable!("ENTRY_KEYS lists every key handled here"),
        }
    }
}

/// Maps a key to its spelling in `known`, ignoring case; else an error that
/// suggests the closest known key.
fn canonical_key(key: &Value, known: &[&'static str]) -> Result<&'static str, String> {
    let Value::String(key) = key else {
        return Err(format!("keys must be strings, found {}", describe(key)));
    };
    if let Some(exact) = known.iter().find(|k| k.eq_ignore_ascii_case(key)) {
        return Ok(exact);
    }
    let suggestion = known
        .iter()
        .map(|k| (strsim::jaro_winkler(&key.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    Err(format!("unknown key {key:?}{suggestion}"))
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

fn string(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(format!("expected a string, found {}", describe(other))),
    }
}

/// A list of strings; a single string is accepted as a one-item list.
fn strings(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => {
            items.iter().enumerate().map(|(i, item)| string(item).map_err(|e| format!("item {i}: {e}"))).collect()
        }
        Value::String(s) => Ok(flowlog_filter::split_paths(s)),
        other => Err(format!("expected a list of strings, found {}", describe(other))),
    }
}

fn number(value: &Value) -> Result<u64, String> {
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_u64().ok_or_else(|| format!("expected a whole number of 0 or more, found {n}")),
        Value::String(s) => s.trim().parse().map_err(|_| format!("expected a whole number of 0 or more, found {s:?}")),
        other => Err(format!("expected a number, found {}", describe(other))),
    }
}

fn filters(value: Value) -> Result<Vec<flowlog_flow::FlowFilter>, String> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(items) => items,
        other => return Err(format!("expected a list of FlowFilters, found {}", describe(&other))),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let json = serde_json::to_value(&item).map_err(|e| format!("[{i}]: {e}"))?;
            filter_from_json(&json).map_err(|e| format!("[{i}]: {e}"))
        })
        .collect()
}

fn rfc3339(text: &str) -> Result<SystemTime, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(SystemTime::from)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z: {e}"))
}

/// Reads and parses the file at `path`.
pub fn load(path: &Path, reserved_path: Option<&str>) -> Result<(Vec<u8>, DynamicConfig), std::io::Error> {
    let bytes = std::fs::read(path)?;
    let config = match std::str::from_utf8(&bytes) {
        Ok(text) => parse(text, reserved_path),
        Err(_) => DynamicConfig { file_errors: vec!["the file is not UTF-8 text".into()], entries: Vec::new() },
    };
    Ok((bytes, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Target;

    fn only_entry(text: &str) -> Entry {
        let mut config = parse(text, None);
        assert!(config.file_errors.is_empty(), "{:?}", config.file_errors);
        assert_eq!(config.entries.len(), 1);
        config.entries.remove(0)
    }

    fn entry_errors(text: &str) -> Vec<String> {
        only_entry(text).spec.expect_err("the entry is rejected")
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
        let Target::File { path, rotation } = &spec.target else { panic!("{:?}", spec.target) };
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
        assert_eq!(spec.target, Target::Stdout);
        let entry = only_entry("flowLogs:\n  - name: all\n    filePath: /x.log\n    fileMaxBackups: 0\n");
        let Target::File { rotation, .. } = entry.spec.unwrap().target else { panic!() };
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
            assert!(config.file_errors.iter().any(|e| e.contains(expected)), "{text:?}: {:?}", config.file_errors);
        }
    }

    #[test]
    fn the_static_exporters_file_cannot_be_claimed() {
        let config = parse("flowLogs:\n  - name: a\n    filePath: /static.log\n", Some("/static.log"));
        assert!(config.file_errors[0].contains("the static exporter writes there"), "{:?}", config.file_errors);
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
