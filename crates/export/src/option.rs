//! Exporter settings, each declared once for every front end.
//!
//! A setting is a [`Setting`] of the config struct it fills: its key in a
//! dynamic flow log entry (`fileMaxSizeMb`), and, when the static exporter
//! has it, its flag (`--export-file-max-size-mb`, Cilium's
//! `hubble-export-file-max-size-mb`), which is also its `--config` key. Both
//! front ends read values through the setting's one setter, so adding a
//! setting is one field in the config struct of the part it configures
//! ([`crate::exporter::config`], or a sink's `config.rs`) and one
//! `Setting` beside it, listed in the exporter's `OPTIONS`.
//!
//! Values arrive as YAML values: a dynamic entry's as written, a flag's as
//! the string the command line gave. The readers here accept both forms
//! (`20` and `"20"`, `true` and `"true"`) and name what they found when a
//! value is wrong.

use std::fmt;
use std::time::{Duration, SystemTime};

use flowlog_config::value::Kind;
use flowlog_config::{DurationError, parse_go_duration};
use flowlog_filter::{FilterError, MaskError, filter_from_json, parse_filters, split_paths};
use flowlog_flow::FlowFilter;
use serde_yaml_ng::Value;

/// Where an exporter's settings come from. The two read the same settings
/// and differ, as in Cilium, in what a zero file size or backup count means
/// ([`crate::sinks::file::config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The `--export-*` flags: fixed for the life of the process.
    Static,
    /// An entry of the dynamic flow log file: added, changed and removed by reloads.
    Dynamic,
}

/// One setting of the config struct `C`.
#[derive(Debug)]
pub struct Setting<C: 'static> {
    /// Its key in a dynamic flow log entry, as Cilium spells it.
    pub key: &'static str,
    /// Its static exporter flag, when the static exporter has it.
    pub flag: Option<Flag>,
    /// Reads a value into the config.
    pub set: fn(&mut C, &Value) -> Result<(), ValueError>,
}

impl<C> Setting<C> {
    /// `error`, as this setting's.
    pub fn error(&self, error: ValueError) -> OptionError {
        OptionError { key: self.key, flag: self.flag.as_ref().map(|flag| flag.long), error }
    }
}

/// How a setting is written as a static exporter flag.
#[derive(Debug)]
pub struct Flag {
    /// The long flag, without `--`: `export-file-max-size-mb`.
    pub long: &'static str,
    /// Cilium's name for it, accepted as an alias: `hubble-export-file-max-size-mb`.
    pub cilium: &'static str,
    /// The help text, which states what the default means.
    pub help: &'static str,
    /// What the value is called in the help: `MB`.
    pub value_name: &'static str,
    /// The default, as it would be written on the command line; `None`
    /// when unset means "absent".
    pub default: Option<&'static str>,
    /// The kind of value, for the command line's own checking.
    pub kind: FlagKind,
}

/// What a flag's value is, so the command line can check it as it parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// Any text.
    Text,
    /// A whole number, 0 or more.
    Count,
    /// `true` or `false`; the flag alone means `true`.
    Bool,
    /// A Go duration: `30s`, `1m30s`.
    Duration,
}

/// A setting that was refused: which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {error}")]
pub struct OptionError {
    /// The setting's dynamic flow log key.
    pub key: &'static str,
    /// The setting's static exporter flag, without `--`, if it has one.
    pub flag: Option<&'static str>,
    /// What is wrong with its value.
    pub error: ValueError,
}

/// What is wrong with a value.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// A value of the wrong kind.
    #[error("expected {expected}, found {found}")]
    WrongKind {
        /// What the setting takes.
        expected: &'static str,
        /// What the value is (`a list`).
        found: &'static str,
    },
    /// Not a whole number of 0 or more.
    #[error("expected a whole number of 0 or more, found {found}")]
    NotCount {
        /// The value as written.
        found: String,
    },
    /// A number too large for the setting.
    #[error("{0} is too large")]
    TooLarge(u64),
    /// A required setting is missing or empty.
    #[error("is required")]
    Required,
    /// A setting that must be positive is zero.
    #[error("must be greater than zero")]
    Zero,
    /// One item of a list is wrong.
    #[error("item {index}: {error}")]
    Item {
        /// Its position.
        index: usize,
        /// What is wrong with it.
        error: Box<ValueError>,
    },
    /// Not a duration.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// Not an RFC 3339 time.
    #[error("{text:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z: {error}")]
    Time {
        /// The text.
        text: String,
        /// What the parser said.
        error: chrono::ParseError,
    },
    /// A FlowFilter that does not parse; `index` is its position in a list.
    #[error("{}{error}", index.map(|i| format!("[{i}]: ")).unwrap_or_default())]
    Filter {
        /// Its position in a YAML list; `None` for a list given as text.
        index: Option<usize>,
        /// What is wrong with it.
        error: FilterError,
    },
    /// A filter in a YAML list that JSON cannot express (a map with a
    /// non-string key, say).
    #[error("[{index}]: {error}")]
    NotJson {
        /// Its position in the list.
        index: usize,
        /// What the conversion said.
        error: serde_json::Error,
    },
    /// A field mask path that does not exist.
    #[error(transparent)]
    Mask(#[from] MaskError),
}

impl fmt::Display for Flag {
    /// `--long`, as error messages name the flag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{}", self.long)
    }
}

/// A string; a number is taken as the text it was written as.
pub fn string(value: &Value) -> Result<String, ValueError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(ValueError::WrongKind { expected: "a string", found: other.kind() }),
    }
}

/// A list of strings; one string is a list split as Cilium splits one
/// (by commas, else by white space).
pub fn strings(value: &Value) -> Result<Vec<String>, ValueError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| string(item).map_err(|error| ValueError::Item { index, error: Box::new(error) }))
            .collect(),
        Value::String(s) => Ok(split_paths(s)),
        other => Err(ValueError::WrongKind { expected: "a list of strings", found: other.kind() }),
    }
}

/// A whole number of 0 or more; absent is 0.
pub fn count(value: &Value) -> Result<u64, ValueError> {
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_u64().ok_or_else(|| ValueError::NotCount { found: n.to_string() }),
        Value::String(s) => s.trim().parse().map_err(|_| ValueError::NotCount { found: format!("{s:?}") }),
        other => Err(ValueError::WrongKind { expected: "a number", found: other.kind() }),
    }
}

/// [`count`], as a `usize`.
pub fn size(value: &Value) -> Result<usize, ValueError> {
    let n = count(value)?;
    usize::try_from(n).map_err(|_| ValueError::TooLarge(n))
}

/// `true` or `false`, as YAML or as text; absent is false.
pub fn boolean(value: &Value) -> Result<bool, ValueError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(ValueError::WrongKind { expected: "true or false", found: other.kind() }),
    }
}

/// A Go duration (`30s`).
pub fn duration(value: &Value) -> Result<Duration, ValueError> {
    Ok(parse_go_duration(&string(value)?)?)
}

/// An RFC 3339 time.
pub fn time(value: &Value) -> Result<SystemTime, ValueError> {
    let text = string(value)?;
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(SystemTime::from)
        .map_err(|error| ValueError::Time { text, error })
}

/// FlowFilters: a YAML list of filter objects, or text in any of the forms
/// of Cilium's allow/deny list strings (objects separated by white space or
/// commas, or a JSON array).
pub fn filters(value: &Value) -> Result<Vec<FlowFilter>, ValueError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => parse_filters(text).map_err(|error| ValueError::Filter { index: None, error }),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let json = serde_json::to_value(item).map_err(|error| ValueError::NotJson { index, error })?;
                filter_from_json(&json).map_err(|error| ValueError::Filter { index: Some(index), error })
            })
            .collect(),
        other => Err(ValueError::WrongKind { expected: "a list of FlowFilters", found: other.kind() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn values_are_read_from_yaml_and_from_flag_text_alike() {
        assert_eq!(count(&yaml("20")).unwrap(), 20);
        assert_eq!(count(&Value::String("20".into())).unwrap(), 20);
        assert_eq!(count(&yaml("-1")).unwrap_err().to_string(), "expected a whole number of 0 or more, found -1");
        assert!(boolean(&Value::String("true".into())).unwrap());
        assert_eq!(boolean(&yaml("yes")).unwrap_err().to_string(), "expected true or false, found a string");
        assert_eq!(strings(&yaml("time source.namespace")).unwrap(), ["time", "source.namespace"]);
        assert_eq!(strings(&yaml("[time, [x]]")).unwrap_err().to_string(), "item 1: expected a string, found a list");
        assert_eq!(filters(&Value::String(r#"{"verdict":["DROPPED"]} {}"#.into())).unwrap().len(), 2);
        assert_eq!(filters(&yaml("[{verdict: [DROPPED]}]")).unwrap().len(), 1);
        assert!(filters(&yaml("[{}, {verdikt: []}]")).unwrap_err().to_string().starts_with("[1]: "));
        assert!(time(&yaml("tomorrow")).unwrap_err().to_string().starts_with(r#""tomorrow" is not an RFC 3339 time"#));
    }
}
