//! The `--config` YAML file: a flat map of options keyed by their Cilium names,
//! as in the `cilium-config` ConfigMap:
//!
//! ```yaml
//! hubble-export-file-path: /var/run/flowlog/events.log
//! hubble-export-file-max-size-mb: "10"     # strings, as in a ConfigMap, or YAML values
//! hubble-export-fieldmask: [time, verdict] # a list, or "time verdict"
//! node-name: worker-1
//! ```
//!
//! Each key is turned into the command-line argument of the same name and
//! placed before the real arguments, so the file is checked, defaulted and
//! documented by the flag definitions themselves and flags given on the
//! command line win. A key may be written as the flag (`export-file-path`) or
//! with its Cilium name (`hubble-export-file-path`). Keys that belong to
//! another command (capture options when replaying) are skipped.

use std::ffi::OsString;
use std::path::Path;

use serde_yaml_ng::Value;

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What reading reported.
        source: std::io::Error,
    },
    /// The file is not YAML.
    #[error("config file {path} is not a YAML map of options: {error}")]
    NotYaml {
        /// The file.
        path: String,
        /// What the YAML parser reported.
        error: serde_yaml_ng::Error,
    },
    /// The file is YAML, but not a map.
    #[error("config file {path} is not a YAML map of options: the top level is not a map")]
    NotAMap {
        /// The file.
        path: String,
    },
    /// A key no command knows.
    #[error("config file {path}: unknown key {key:?}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    UnknownKey {
        /// The file.
        path: String,
        /// The key.
        key: String,
        /// The closest known key.
        suggestion: Option<String>,
    },
    /// A value that is neither a scalar nor a list of scalars.
    #[error("config file {path}: {key}: expected a string, number, boolean or list of those")]
    BadValue {
        /// The file.
        path: String,
        /// The key.
        key: String,
    },
}

/// Reads `path` and returns the arguments it stands for, for the subcommand
/// `command` of the full command line definition `cli`.
pub fn arguments(path: &Path, cli: &clap::Command, command: &str) -> Result<Vec<OsString>, ConfigFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read { path: shown.clone(), source })?;
    let map = match serde_yaml_ng::from_str::<Value>(&text) {
        Ok(Value::Mapping(map)) => map,
        Ok(Value::Null) => return Ok(Vec::new()),
        Ok(_) => return Err(ConfigFileError::NotAMap { path: shown }),
        Err(error) => return Err(ConfigFileError::NotYaml { path: shown, error }),
    };

    let target = cli.find_subcommand(command).expect("the command being run is defined");
    let mut arguments = Vec::new();
    for (key, value) in map {
        let key =
            scalar(&key).ok_or_else(|| ConfigFileError::BadValue { path: shown.clone(), key: format!("{key:?}") })?;
        // Global options (log level and format) belong to every command.
        let Some(long) = long_name(target, &key).or_else(|| long_name(cli, &key)) else {
            if !cli.get_subcommands().any(|c| long_name(c, &key).is_some()) {
                return Err(unknown_key(&shown, &key, cli));
            }
            tracing::debug!(key, "config key is for another command; skipped");
            continue;
        };
        let values = match &value {
            Value::Null => continue,
            Value::Sequence(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
            other => scalar(other).map(|v| vec![v]),
        };
        let values = values.ok_or_else(|| ConfigFileError::BadValue { path: shown.clone(), key: key.clone() })?;
        // List-valued options are one string of comma-separated items.
        arguments.push(OsString::from(format!("--{long}={}", values.join(","))));
    }
    Ok(arguments)
}

/// The long flag that `key` names in `command`: the flag itself, or one of its aliases.
fn long_name(command: &clap::Command, key: &str) -> Option<String> {
    command.get_arguments().find_map(|arg| {
        let long = arg.get_long()?;
        let aliases = arg.get_all_aliases().unwrap_or_default();
        (long == key || aliases.contains(&key)).then(|| long.to_owned())
    })
}

/// The keys a file may use, spelled the way Cilium's ConfigMap spells them.
fn preferred_keys(cli: &clap::Command) -> Vec<String> {
    cli.get_subcommands()
        .flat_map(|c| c.get_arguments())
        .filter_map(|arg| {
            let aliases = arg.get_all_aliases().unwrap_or_default();
            let cilium = aliases.into_iter().find(|a| a.starts_with("hubble-"));
            cilium.or(arg.get_long()).map(str::to_owned)
        })
        .filter(|key| key != "config")
        .collect()
}

fn unknown_key(path: &str, key: &str, cli: &clap::Command) -> ConfigFileError {
    let known = preferred_keys(cli);
    let suggestion = flowlog_config::closest(key, known.iter().map(String::as_str)).map(str::to_owned);
    ConfigFileError::UnknownKey { path: path.to_owned(), key: key.to_owned(), suggestion }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    fn args_of(yaml: &str) -> Result<Vec<String>, ConfigFileError> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), yaml).unwrap();
        arguments(file.path(), &Cli::command(), "replay")
            .map(|args| args.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    #[test]
    fn cilium_keys_strings_and_lists_become_flags() {
        let args = args_of(
            "hubble-export-file-path: /tmp/x.log\n\
             hubble-export-file-max-size-mb: \"20\"\n\
             export-file-max-backups: 3\n\
             hubble-export-file-compress: true\n\
             hubble-export-fieldmask: [time, verdict]\n\
             hubble-export-allowlist: '{\"verdict\":[\"DROPPED\"]}'\n\
             node-name: worker-1\n",
        )
        .unwrap();
        assert_eq!(
            args,
            [
                "--export-file-path=/tmp/x.log",
                "--export-file-max-size-mb=20",
                "--export-file-max-backups=3",
                "--export-file-compress=true",
                "--export-fieldmask=time,verdict",
                "--export-allowlist={\"verdict\":[\"DROPPED\"]}",
                "--node-name=worker-1",
            ]
        );
    }

    #[test]
    fn global_options_are_keys_too() {
        assert_eq!(
            args_of("log-format: json\nlog-level: debug\n").unwrap(),
            ["--log-format=json", "--log-level=debug"]
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_the_closest_known_one() {
        let error = args_of("hubble-export-file-pth: /tmp/x.log\n").unwrap_err().to_string();
        assert!(error.contains("unknown key \"hubble-export-file-pth\""), "{error}");
        assert!(error.contains("did you mean \"hubble-export-file-path\"?"), "{error}");
    }

    #[test]
    fn an_empty_file_sets_nothing_and_a_list_at_top_level_is_refused() {
        assert!(args_of("").unwrap().is_empty());
        assert!(matches!(args_of("- a\n"), Err(ConfigFileError::NotAMap { .. })));
        assert!(matches!(args_of("node-name: {a: 1}\n"), Err(ConfigFileError::BadValue { .. })));
    }
}
