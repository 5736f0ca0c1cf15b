//! The deployment examples in `examples/`, checked offline, as CI can:
//!
//! - every document of `examples/kubernetes/*.yaml` is read into its
//!   Kubernetes API type (k8s-openapi, Kubernetes 1.33) and written back: a
//!   field that does not come back is one the type does not have (unknown,
//!   misspelled, misplaced, or newer than 1.33), a value that comes back
//!   different was read as something else; each is reported with its path.
//!   `kustomization.yaml` applies exactly those files;
//! - every dynamic flow log file, on its own or inside a ConfigMap, passes
//!   the real `flowlog check`;
//! - every flag of the DaemonSet's command line and of the systemd unit's
//!   `ExecStart=`, and every key of their `--config` files, is an option
//!   that the real `flowlog run --help` lists;
//! - the DaemonSet's paths, mounts, ports and names fit together, and its
//!   ClusterRole grants exactly what the agent watches;
//! - the `endpoints-file` component's endpoints pass `flowlog check` and its
//!   flags are flags `flowlog run` knows;
//! - the `hubble` and `hubble-disable-tls` components fit together: the
//!   agent's Hubble flags, the peer Service, Relay's `peer-service`, the
//!   certificates' names and the cluster's name;
//! - the recipes of `examples/jq.md` run on the sample export and print the
//!   lines the document shows.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use flowlog_enrich::source::kubernetes::Kind;
use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use regex::Regex;
use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};
use serde_json::Value;
use support::Flowlog;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

fn example(relative: &str) -> PathBuf {
    Path::new(EXAMPLES).join(relative)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// The manifests

/// One YAML document of a manifest file, as JSON, and where it comes from.
struct Document {
    origin: String,
    value: Value,
}

impl Document {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    fn typed<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.value.clone()).unwrap_or_else(|e| panic!("{}: {e}", self.origin))
    }
}

/// What `kubectl apply -k examples/kubernetes` applies: every YAML file
/// there but the kustomization itself, by file name.
fn manifest_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(example("kubernetes"))
        .expect("examples/kubernetes exists")
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| (name.ends_with(".yaml") || name.ends_with(".yml")) && name != "kustomization.yaml")
        .collect();
    files.sort();
    files
}

fn documents() -> Vec<Document> {
    documents_of("kubernetes", &manifest_files())
}

/// The documents of `files` in `examples/<dir>`.
fn documents_of(dir: &str, files: &[String]) -> Vec<Document> {
    let mut documents = Vec::new();
    for file in files {
        let text = read(&example(&format!("{dir}/{file}")));
        for (index, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let origin = format!("{file} (document {})", index + 1);
            let value = Value::deserialize(document).unwrap_or_else(|e| panic!("{origin}: not YAML: {e}"));
            if !value.is_null() {
                documents.push(Document { origin, value });
            }
        }
    }
    assert!(!documents.is_empty(), "no manifest in examples/{dir}");
    documents
}

/// The only document of `kind`.
fn the<T: Resource + DeserializeOwned>(documents: &[Document]) -> T {
    let mut found = documents.iter().filter(|d| d.kind() == T::KIND);
    let document = found.next().unwrap_or_else(|| panic!("no {} in examples/kubernetes", T::KIND));
    assert!(found.next().is_none(), "more than one {} in examples/kubernetes", T::KIND);
    document.typed()
}

fn config_maps(documents: &[Document]) -> BTreeMap<String, ConfigMap> {
    documents
        .iter()
        .filter(|d| d.kind() == ConfigMap::KIND)
        .map(|d| d.typed::<ConfigMap>())
        .map(|map| (map.metadata.name.clone().unwrap_or_default(), map))
        .collect()
}

/// Checks one document against its API type; returns its problems.
type Check = fn(&Value) -> Vec<String>;

/// Every kind the examples use, by `apiVersion` and `kind`. A manifest of
/// another kind fails until its type is added here.
fn api_types() -> Vec<(&'static str, &'static str, Check)> {
    fn of<T: Resource + DeserializeOwned + Serialize>() -> (&'static str, &'static str, Check) {
        (T::API_VERSION, T::KIND, round_trip::<T>)
    }
    vec![
        of::<Namespace>(),
        of::<ServiceAccount>(),
        of::<ClusterRole>(),
        of::<ClusterRoleBinding>(),
        of::<ConfigMap>(),
        of::<DaemonSet>(),
        of::<Deployment>(),
        of::<Service>(),
    ]
}

/// Reads `value` as `T` and writes it back. Reading skips the fields `T`
/// does not have, so a field missing from what is written back is not one of
/// `T`'s; a value written back differently was read as something else.
fn round_trip<T: DeserializeOwned + Serialize>(value: &Value) -> Vec<String> {
    let typed: T = match serde_path_to_error::deserialize(value.clone()) {
        Ok(typed) => typed,
        Err(error) => return vec![format!("{}: {}", error.path(), error.inner())],
    };
    let written = serde_json::to_value(&typed).expect("API objects serialize");
    let mut problems = Vec::new();
    compare("", value, &written, &mut problems);
    problems
}

fn compare(path: &str, original: &Value, written: &Value, problems: &mut Vec<String>) {
    let at = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match (original, written) {
        (Value::Object(original), Value::Object(written)) => {
            for (key, value) in original {
                match written.get(key) {
                    Some(back) => compare(&at(key), value, back, problems),
                    None if value.is_null() => problems.push(format!("{}: empty (null): leave it out", at(key))),
                    None => problems.push(format!(
                        "{}: no such field here (misspelled, misplaced, or newer than Kubernetes 1.33)",
                        at(key)
                    )),
                }
            }
            for key in written.keys().filter(|key| !original.contains_key(*key)) {
                problems.push(format!("{}: appears when read back, as {}", at(key), written[key]));
            }
        }
        (Value::Array(original), Value::Array(written)) if original.len() == written.len() => {
            for (index, (value, back)) in original.iter().zip(written).enumerate() {
                compare(&format!("{path}[{index}]"), value, back, problems);
            }
        }
        _ if original == written => {}
        _ => problems.push(format!("{path}: {original} is read as {written}")),
    }
}

/// The problems of one document: it must be of a known kind and match its type exactly.
fn api_problems(document: &Value) -> Vec<String> {
    let api_version = document["apiVersion"].as_str().unwrap_or_default();
    let kind = document["kind"].as_str().unwrap_or_default();
    match api_types().into_iter().find(|(v, k, _)| *v == api_version && *k == kind) {
        Some((_, _, check)) => check(document),
        None => vec![format!(
            "apiVersion {api_version:?}, kind {kind:?}: no API type to check it with (add it to api_types)"
        )],
    }
}

#[test]
fn every_manifest_matches_its_kubernetes_api_type_exactly() {
    let mut problems = Vec::new();
    for document in documents() {
        problems.extend(api_problems(&document.value).into_iter().map(|p| format!("{}: {p}", document.origin)));
    }
    assert!(problems.is_empty(), "manifests that Kubernetes would read differently:\n  {}", problems.join("\n  "));
}

#[test]
fn the_api_check_names_unknown_fields_and_wrong_types_by_path() {
    let documents = documents();
    let daemonset = documents.iter().find(|d| d.kind() == DaemonSet::KIND).expect("a DaemonSet");
    let mut broken = daemonset.value.clone();
    let container = &mut broken["spec"]["template"]["spec"]["containers"][0];
    container["imagePullPolcy"] = "Always".into();
    let problems = api_problems(&broken).join("\n");
    assert!(problems.contains("spec.template.spec.containers[0].imagePullPolcy: no such field"), "{problems}");

    broken = daemonset.value.clone();
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9965".into();
    let problems = api_problems(&broken).join("\n");
    assert!(problems.contains("spec.template.spec.containers[0].ports[0].containerPort: invalid type"), "{problems}");

    let unknown = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}});
    assert!(api_problems(&unknown)[0].contains("no API type"));
}

#[test]
fn the_kustomization_applies_every_manifest_and_only_those() {
    let text = read(&example("kubernetes/kustomization.yaml"));
    let kustomization: Value = serde_yaml_ng::from_str(&text).expect("kustomization.yaml is YAML");
    let map = kustomization.as_object().expect("kustomization.yaml is a map");
    // Kustomization fields an example may use; anything else is a typo.
    let known = [
        "apiVersion",
        "kind",
        "namespace",
        "namePrefix",
        "nameSuffix",
        "resources",
        "components",
        "labels",
        "commonAnnotations",
        "images",
        "patches",
        "replicas",
        "configMapGenerator",
        "secretGenerator",
        "generatorOptions",
    ];
    let mut problems: Vec<String> =
        map.keys().filter(|key| !known.contains(&key.as_str())).map(|key| format!("unknown key {key:?}")).collect();
    if map.get("apiVersion") != Some(&"kustomize.config.k8s.io/v1beta1".into())
        || map.get("kind") != Some(&"Kustomization".into())
    {
        problems.push("not a kustomize.config.k8s.io/v1beta1 Kustomization".into());
    }

    let listed: Vec<&str> =
        map["resources"].as_array().expect("resources is a list").iter().filter_map(Value::as_str).collect();
    let files = manifest_files();
    for resource in &listed {
        if !example(&format!("kubernetes/{resource}")).is_file() {
            problems.push(format!("resource {resource} does not exist"));
        }
    }
    for file in &files {
        if listed.iter().filter(|r| **r == file.as_str()).count() != 1 {
            problems.push(format!("{file} is not listed in resources exactly once"));
        }
    }

    let namespace = map["namespace"].as_str().expect("a namespace");
    let documents = documents();
    // Cluster-scoped kinds have no namespace.
    let cluster_scoped = [Namespace::KIND, ClusterRole::KIND, ClusterRoleBinding::KIND];
    for document in documents.iter().filter(|d| !cluster_scoped.contains(&d.kind())) {
        if document.value["metadata"]["namespace"].as_str() != Some(namespace) {
            problems.push(format!("{}: not in namespace {namespace}", document.origin));
        }
    }
    let images: Vec<String> = documents
        .iter()
        .filter(|d| d.kind() == DaemonSet::KIND)
        .flat_map(|d| pod_spec(&d.typed()).containers)
        .filter_map(|c| c.image)
        .map(|image| image.rsplit_once(':').map_or(image.clone(), |(name, _)| name.to_owned()))
        .collect();
    for image in map.get("images").and_then(Value::as_array).into_iter().flatten() {
        let name = image["name"].as_str().unwrap_or_default();
        if !images.iter().any(|i| i == name) {
            problems.push(format!("images: {name} is no container's image, so the override does nothing"));
        }
    }
    assert!(problems.is_empty(), "kustomization.yaml:\n  {}", problems.join("\n  "));
}

// ---------------------------------------------------------------------------
// Dynamic flow log files

/// Whether `text` is a dynamic flow log file: a map with a `flowLogs` key
/// (keys match case-insensitively, as in Cilium).
fn is_flow_log_file(text: &str) -> bool {
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map.keys().any(|key| key.eq_ignore_ascii_case("flowlogs")),
        _ => false,
    }
}

fn yaml_files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files_under(&path, found);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            found.push(path);
        }
    }
}

/// Runs the real `flowlog check` on `path`; returns what it printed if it failed.
fn flowlog_check(path: &Path) -> Result<(), String> {
    let output = Flowlog::run(&["check", "--flowlogs-config-path", path.to_str().unwrap()])
        .command()
        .output()
        .expect("flowlog runs");
    if output.status.success() {
        return Ok(());
    }
    Err(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn every_dynamic_flow_log_file_in_the_examples_passes_flowlog_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for (name, map) in config_maps(&documents()) {
        for (key, text) in map.data.iter().flatten().filter(|(_, text)| is_flow_log_file(text)) {
            let file = dir.path().join(format!("{name}-{key}"));
            std::fs::write(&file, text).unwrap();
            checked.push(format!("ConfigMap {name}, key {key}"));
            problems.extend(flowlog_check(&file).err().map(|e| format!("ConfigMap {name}, key {key}:\n{e}")));
        }
    }
    let mut files = Vec::new();
    yaml_files_under(Path::new(EXAMPLES), &mut files);
    for file in files.iter().filter(|file| is_flow_log_file(&read(file))) {
        let shown = file.strip_prefix(EXAMPLES).unwrap().display().to_string();
        checked.push(shown.clone());
        problems.extend(flowlog_check(file).err().map(|e| format!("{shown}:\n{e}")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for expected in ["ConfigMap flowlog-flowlogs, key flowlogs.yaml", "systemd/flowlogs.yaml"] {
        assert!(checked.iter().any(|c| c == expected), "{expected} was not checked; checked: {checked:?}");
    }
}

/// Every dynamic flow log file the project ships, by where it is.
fn shipped_flow_log_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = config_maps(&documents())
        .into_iter()
        .flat_map(|(name, map)| {
            map.data.into_iter().flatten().map(move |(key, text)| (format!("ConfigMap {name}, key {key}"), text))
        })
        .filter(|(_, text)| is_flow_log_file(text))
        .collect();
    let mut paths = Vec::new();
    yaml_files_under(Path::new(EXAMPLES), &mut paths);
    paths.push(Path::new(EXAMPLES).join("../config/flowlogs.yaml"));
    files.extend(
        paths.iter().map(|path| (path.display().to_string(), read(path))).filter(|(_, text)| is_flow_log_file(text)),
    );
    files
}

/// A flow log of drops that masks fields keeps both reasons: Hubble's
/// `drop_reason_desc`, and the kernel's own in `Summary`, which is the only
/// one when Hubble has no name for it (`NO_SOCKET` on a real node).
#[test]
fn every_drops_flow_log_keeps_both_drop_reasons() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for (origin, text) in shipped_flow_log_files() {
        let file: Value = serde_yaml_ng::from_str(&text).unwrap();
        for entry in file["flowLogs"].as_array().into_iter().flatten() {
            let drops_only = entry["includeFilters"].as_array().is_some_and(|filters| {
                !filters.is_empty()
                    && filters.iter().all(|f| f["verdict"].as_array().is_some_and(|v| v == &[Value::from("DROPPED")]))
            });
            let mask: Vec<&str> =
                entry["fieldMask"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if !drops_only || mask.is_empty() {
                continue;
            }
            checked += 1;
            for field in ["drop_reason_desc", "Summary"] {
                if !mask.contains(&field) {
                    problems.push(format!("{origin}: flow log {} masks out {field}", entry["name"]));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 3, "the shipped drops flow logs were not found ({checked})");
}

// ---------------------------------------------------------------------------
// Flags and config keys against `flowlog run --help`

/// The long options `flowlog run --help` lists, with their visible aliases.
fn run_help_options() -> Result<BTreeSet<String>, String> {
    let output = Flowlog::run(&["run", "--help"]).command().output().expect("flowlog runs");
    if !output.status.success() {
        return Err(format!("`flowlog run --help` failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let help = String::from_utf8(output.stdout).unwrap();
    let option = Regex::new(r"^\s*(?:-[[:alnum:]], )?--([a-z0-9][a-z0-9-]*)").unwrap();
    let aliases = Regex::new(r"\[aliases?: ([^\]]*)\]").unwrap();
    let mut options = BTreeSet::new();
    for line in help.lines() {
        options.extend(option.captures(line).map(|c| c[1].to_owned()));
        for listed in aliases.captures_iter(line) {
            options.extend(listed[1].split(',').map(|alias| alias.trim().trim_start_matches("--").to_owned()));
        }
    }
    Ok(options)
}

/// A flag (`--name` or `--name=value`) or config key, and where it is used.
struct Used {
    origin: String,
    name: String,
}

/// Fails, naming each one, unless `flowlog run --help` lists every name of `used`.
fn assert_run_knows(used: &[Used], known: impl Fn(&str, &BTreeSet<String>) -> bool) {
    assert!(!used.is_empty(), "nothing to check");
    let (options, failure) = match run_help_options() {
        Ok(options) => (options, String::new()),
        Err(failure) => (BTreeSet::new(), format!("\n{failure}")),
    };
    let unknown: Vec<String> = used
        .iter()
        .filter(|used| !known(&used.name, &options))
        .map(|used| format!("{}: {}", used.origin, used.name))
        .collect();
    assert!(unknown.is_empty(), "not options of `flowlog run`:\n  {}{failure}", unknown.join("\n  "));
}

fn is_flag(name: &str, options: &BTreeSet<String>) -> bool {
    options.contains(name.trim_start_matches("--"))
}

/// Whether a `--config` file key is an option of `flowlog run`: a flag it
/// lists, or a Cilium name of one. clap leaves hidden aliases out of
/// `--help`, and flowlog names each flag after its Cilium option less the
/// `hubble-` prefix (`hubble-export-file-path` is `--export-file-path`), so
/// that is how a Cilium name is found.
fn is_config_key(key: &str, options: &BTreeSet<String>) -> bool {
    options.contains(key) || key.strip_prefix("hubble-").is_some_and(|flag| options.contains(flag))
}

/// The flags of a command line after its subcommand, which must be `run`.
fn run_flags(origin: &str, words: &[String]) -> Vec<Used> {
    let subcommand = words.iter().find(|w| !w.starts_with('-'));
    assert_eq!(subcommand.map(String::as_str), Some("run"), "{origin}: the command is not `flowlog run`: {words:?}");
    words
        .iter()
        .filter(|w| w.starts_with("--"))
        .map(|w| Used { origin: origin.to_owned(), name: w.split('=').next().unwrap().to_owned() })
        .collect()
}

/// The value of `--name VALUE` or `--name=VALUE` in `words`.
fn flag_value<'a>(words: &'a [String], name: &str) -> Option<&'a str> {
    let flag = format!("--{name}");
    words.iter().enumerate().find_map(|(index, word)| match word.strip_prefix(&flag)? {
        "" => words.get(index + 1).map(String::as_str),
        rest => rest.strip_prefix('='),
    })
}

fn daemonset_container(documents: &[Document]) -> Container {
    let containers = pod_spec(&the::<DaemonSet>(documents)).containers;
    assert_eq!(containers.len(), 1, "the DaemonSet runs one container");
    containers.into_iter().next().unwrap()
}

fn pod_spec(daemonset: &DaemonSet) -> PodSpec {
    daemonset.spec.clone().expect("a spec").template.spec.expect("a pod spec")
}

/// The container's `args`; its `command` must be flowlog itself.
fn daemonset_args(container: &Container) -> Vec<String> {
    let command = container.command.clone().unwrap_or_default();
    assert!(
        matches!(command.as_slice(), [binary] if binary.ends_with("flowlog")),
        "the command {command:?} is not flowlog alone"
    );
    container.args.clone().unwrap_or_default()
}

/// The words of the systemd unit's `ExecStart=`, continuation lines joined.
fn exec_start() -> Vec<String> {
    let unit = read(&example("systemd/flowlog.service")).replace("\\\n", " ");
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("the unit has an ExecStart=");
    let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    assert!(words[0].ends_with("/flowlog"), "ExecStart= does not run flowlog: {line}");
    words[1..].to_vec()
}

#[test]
fn the_daemonset_and_the_systemd_unit_pass_only_flags_flowlog_run_knows() {
    let mut used = run_flags("daemonset.yaml args", &Agent::load().args);
    used.extend(run_flags("systemd/flowlog.service ExecStart=", &exec_start()));
    assert_run_knows(&used, is_flag);
}

/// The keys of a `--config` file.
fn config_keys(origin: &str, text: &str) -> Vec<Used> {
    let map: serde_yaml_ng::Mapping =
        serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{origin}: not a YAML map: {e}"));
    map.keys()
        .map(|key| Used { origin: origin.to_owned(), name: key.as_str().expect("keys are strings").to_owned() })
        .collect()
}

#[test]
fn the_agent_config_files_use_only_options_flowlog_run_knows() {
    let agent = Agent::load();
    let (path, in_cluster) = agent.config_text();
    let in_cluster = in_cluster.unwrap_or_else(|e| panic!("--config {path}: {e}"));
    let mut used = config_keys(&format!("--config {path} (daemonset.yaml)"), &in_cluster);

    let words = exec_start();
    let path = flag_value(&words, "config").expect("the unit passes --config");
    let name = Path::new(path).file_name().unwrap().to_str().unwrap();
    let on_host = read(&example(&format!("systemd/{name}")));
    used.extend(config_keys(&format!("--config {path} (systemd/{name})"), &on_host));
    assert_run_knows(&used, is_config_key);
}

// ---------------------------------------------------------------------------
// The DaemonSet's wiring

/// The files a container sees through its ConfigMap volumes.
struct Files {
    pod: PodSpec,
    container: Container,
    maps: BTreeMap<String, ConfigMap>,
}

/// Where a file of the container comes from.
struct Source {
    config_map: String,
    key: String,
    /// Mounted with `subPath`: frozen at container start.
    sub_path: bool,
}

impl Files {
    fn source(&self, path: &str) -> Result<Source, String> {
        for mount in self.container.volume_mounts.iter().flatten() {
            let Some(volume) = self.pod.volumes.iter().flatten().find(|v| v.name == mount.name) else { continue };
            let Some(config_map) = &volume.config_map else { continue };
            let key = match &mount.sub_path {
                Some(sub_path) if path == mount.mount_path => sub_path.clone(),
                None => match path.strip_prefix(&format!("{}/", mount.mount_path.trim_end_matches('/'))) {
                    Some(file) => file.to_owned(),
                    None => continue,
                },
                Some(_) => continue,
            };
            let key = match &config_map.items {
                Some(items) => match items.iter().find(|item| item.path == key) {
                    Some(item) => item.key.clone(),
                    None => return Err(format!("volume {} has no item with path {key}", volume.name)),
                },
                None => key,
            };
            return Ok(Source { config_map: config_map.name.clone(), key, sub_path: mount.sub_path.is_some() });
        }
        Err("no ConfigMap volume is mounted there".into())
    }

    fn text(&self, path: &str) -> Result<String, String> {
        let source = self.source(path)?;
        let map =
            self.maps.get(&source.config_map).ok_or(format!("no ConfigMap {} in the manifests", source.config_map))?;
        let data = map.data.as_ref().and_then(|data| data.get(&source.key));
        data.cloned().ok_or(format!("ConfigMap {} has no key {}", source.config_map, source.key))
    }

    /// The mount `path` is written through, if it is a hostPath volume's.
    fn host_path_mount(&self, path: &str) -> Option<&str> {
        let mount = self
            .container
            .volume_mounts
            .iter()
            .flatten()
            .filter(|m| Path::new(path).starts_with(&m.mount_path))
            .max_by_key(|m| m.mount_path.len())?;
        let volume = self.pod.volumes.iter().flatten().find(|v| v.name == mount.name)?;
        volume.host_path.as_ref().map(|host| host.path.as_str())
    }
}

fn string_at<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    config.get(key).and_then(Value::as_str)
}

/// The DaemonSet, with the files its container sees.
struct Agent {
    documents: Vec<Document>,
    daemonset: DaemonSet,
    pod: PodSpec,
    /// The container's `args`, after its command, flowlog.
    args: Vec<String>,
    files: Files,
}

impl Agent {
    fn load() -> Agent {
        let documents = documents();
        let daemonset = the::<DaemonSet>(&documents);
        let pod = pod_spec(&daemonset);
        let container = daemonset_container(&documents);
        let args = daemonset_args(&container);
        let files = Files { pod: pod.clone(), container, maps: config_maps(&documents) };
        Agent { documents, daemonset, pod, args, files }
    }

    fn container(&self) -> &Container {
        &self.files.container
    }

    fn template_metadata(&self) -> ObjectMeta {
        self.daemonset.spec.as_ref().and_then(|spec| spec.template.metadata.clone()).unwrap_or_default()
    }

    /// The `--config` file's path, and its text from the ConfigMap mounted there.
    fn config_text(&self) -> (&str, Result<String, String>) {
        let path = flag_value(&self.args, "config").expect("the DaemonSet passes --config");
        (path, self.files.text(path))
    }

    /// The `--config` file, as YAML.
    fn config(&self) -> Value {
        let (path, text) = self.config_text();
        let text = text.unwrap_or_else(|e| panic!("--config {path}: {e}"));
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("--config {path}: {e}"))
    }
}

fn assert_no_problems(problems: Vec<String>) {
    assert!(problems.is_empty(), "daemonset.yaml:\n  {}", problems.join("\n  "));
}

#[test]
fn the_daemonset_runs_on_every_node_in_the_node_network() {
    let agent = Agent::load();
    let mut problems = Vec::new();
    if agent.pod.host_network != Some(true) {
        problems.push("hostNetwork is not true: flowlog would see the pod's own interface only".to_owned());
    }
    if !agent.pod.tolerations.iter().flatten().any(|t| t.operator.as_deref() == Some("Exists") && t.key.is_none()) {
        problems.push("no toleration of every taint (operator: Exists without key)".to_owned());
    }
    let labels = agent.template_metadata().labels.unwrap_or_default();
    for (key, value) in agent.daemonset.spec.as_ref().unwrap().selector.match_labels.iter().flatten() {
        if labels.get(key) != Some(value) {
            problems.push(format!("the selector's {key}={value} is not a label of the pod template"));
        }
    }
    let account = agent.pod.service_account_name.clone().unwrap_or_default();
    let accounts = agent.documents.iter().filter(|d| d.kind() == ServiceAccount::KIND);
    if !accounts.map(|d| d.typed::<ServiceAccount>()).any(|a| a.metadata.name.as_ref() == Some(&account)) {
        problems.push(format!("serviceAccountName {account:?} is not in the manifests"));
    }
    let node_name = agent.container().env.iter().flatten().find(|e| e.name == "K8S_NODE_NAME");
    let field = node_name.and_then(|e| e.value_from.as_ref()?.field_ref.as_ref()).map(|f| f.field_path.as_str());
    if field != Some("spec.nodeName") {
        problems.push("K8S_NODE_NAME does not come from spec.nodeName".to_owned());
    }
    for mount in agent.container().volume_mounts.iter().flatten() {
        match agent.pod.volumes.iter().flatten().find(|v| v.name == mount.name) {
            None => problems.push(format!("volumeMount {} has no volume", mount.name)),
            Some(volume) => {
                if let Some(config_map) = &volume.config_map
                    && !agent.files.maps.contains_key(&config_map.name)
                {
                    problems.push(format!(
                        "volume {} names ConfigMap {}, not in the manifests",
                        volume.name, config_map.name
                    ));
                }
            }
        }
    }
    assert_no_problems(problems);
}

#[test]
fn the_files_flowlog_reads_come_from_the_config_maps_and_the_watched_ones_get_updates() {
    let agent = Agent::load();
    let config = agent.config();
    let mut problems = Vec::new();
    // flowlog watches this one: only a directory mount receives the
    // ConfigMap's updates (the kubelet swaps a symlink inside it).
    for key in ["hubble-flowlogs-config-path"] {
        let Some(path) = string_at(&config, key) else {
            problems.push(format!("the agent config sets no {key}"));
            continue;
        };
        match agent.files.source(path) {
            Err(e) => problems.push(format!("{key} {path}: {e}")),
            Ok(source) if source.sub_path => problems.push(format!(
                "{key} {path}: mounted with subPath, which never receives the ConfigMap's updates: mount the directory"
            )),
            Ok(_) => {}
        }
    }
    let flow_logs = string_at(&config, "hubble-flowlogs-config-path").and_then(|path| agent.files.text(path).ok());
    if !flow_logs.is_some_and(|text| is_flow_log_file(&text)) {
        problems.push("hubble-flowlogs-config-path is not a dynamic flow log file".to_owned());
    }
    assert_no_problems(problems);
}

#[test]
fn the_cluster_role_grants_exactly_what_the_agent_watches_to_its_account() {
    let documents = documents();
    let role: ClusterRole = the(&documents);
    let mut problems = Vec::new();
    let watched: BTreeSet<&str> = Kind::ALL.iter().map(|kind| kind.resource()).collect();
    let mut granted = BTreeSet::new();
    for rule in role.rules.iter().flatten() {
        let verbs: BTreeSet<&str> = rule.verbs.iter().map(String::as_str).collect();
        if verbs != BTreeSet::from(["get", "list", "watch"]) {
            problems.push(format!("verbs {verbs:?}: the agent only gets, lists and watches"));
        }
        if rule.api_groups.as_deref() != Some(&[String::new()][..]) {
            problems.push(format!("apiGroups {:?}: everything watched is in the core group", rule.api_groups));
        }
        granted.extend(rule.resources.iter().flatten().map(String::as_str));
    }
    for resource in watched.difference(&granted) {
        problems.push(format!("{resource} is watched but not granted: its watch would be refused (403)"));
    }
    for resource in granted.difference(&watched) {
        problems.push(format!("{resource} is granted but never watched"));
    }
    let binding: ClusterRoleBinding = the(&documents);
    if binding.role_ref.kind != ClusterRole::KIND || Some(&binding.role_ref.name) != role.metadata.name.as_ref() {
        problems.push(format!("the binding refers to {:?}, not the ClusterRole", binding.role_ref));
    }
    let daemonset: DaemonSet = the(&documents);
    let pod = pod_spec(&daemonset);
    let account = pod.service_account_name.clone().unwrap_or_default();
    let namespace = daemonset.metadata.namespace.clone().unwrap_or_default();
    let bound = binding.subjects.iter().flatten().any(|subject| {
        subject.kind == "ServiceAccount" && subject.name == account && subject.namespace.as_ref() == Some(&namespace)
    });
    if !bound {
        problems.push(format!("the ClusterRole is not bound to the DaemonSet's account {namespace}/{account}"));
    }
    if pod.automount_service_account_token == Some(false) {
        problems.push("the DaemonSet mounts no token: the agent cannot reach the API server".to_owned());
    }
    let accounts = documents.iter().filter(|d| d.kind() == ServiceAccount::KIND).map(|d| d.typed::<ServiceAccount>());
    if accounts
        .filter(|a| a.metadata.name.as_ref() == Some(&account))
        .any(|a| a.automount_service_account_token == Some(false))
    {
        problems.push(format!("the account {account} mounts no token: the agent cannot reach the API server"));
    }
    assert_no_problems(problems);
}

#[test]
fn the_endpoints_file_component_names_flows_without_the_api() {
    let files = ["configmap-endpoints.yaml".to_owned(), "daemonset-patch.yaml".to_owned()];
    let documents = documents_of("kubernetes/endpoints-file", &files);
    let mut problems = Vec::new();
    let maps = config_maps(&documents);
    let endpoints = maps["flowlog-endpoints"].data.as_ref().and_then(|data| data.get("endpoints.yaml"));
    problems.extend(endpoint_problems(endpoints.expect("the ConfigMap has endpoints.yaml")));
    let patch = documents.iter().find(|d| d.kind() == DaemonSet::KIND).expect("the component patches the DaemonSet");
    let args: Vec<String> =
        serde_json::from_value(patch.value["spec"]["template"]["spec"]["containers"][0]["args"].clone()).unwrap();
    assert_run_knows(&run_flags("endpoints-file/daemonset-patch.yaml args", &args), is_flag);
    if flag_value(&args, "endpoints-file") != Some("/etc/flowlog/endpoints/endpoints.yaml")
        || flag_value(&args, "enable-k8s") != Some("false")
    {
        problems.push(format!("the patch's args {args:?} do not read the mounted endpoints file instead of the API"));
    }
    let text = read(&example("kubernetes/endpoints-file/kustomization.yaml"));
    let kustomization: Value = serde_yaml_ng::from_str(&text).unwrap();
    if kustomization["kind"] != "Component" {
        problems.push("endpoints-file/kustomization.yaml is not a Component".to_owned());
    }
    assert_no_problems(problems);
}

/// The Kubernetes documents of a Hubble component: every one but
/// cert-manager's (which k8s-openapi has no types for), with `dir`'s
/// patches.
fn hubble_documents(dir: &str) -> Vec<Document> {
    let files: Vec<String> = std::fs::read_dir(example(&format!("kubernetes/{dir}")))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    let documents = documents_of(&format!("kubernetes/{dir}"), &files);
    documents
        .into_iter()
        .filter(|d| !d.value["apiVersion"].as_str().unwrap_or_default().starts_with("cert-manager.io/"))
        .collect()
}

#[test]
fn the_hubble_components_connect_relay_to_every_agent() {
    let mut problems = Vec::new();
    let cluster = Agent::load().config()["cluster-name"].as_str().unwrap_or("default").to_owned();
    let hubble = hubble_documents("hubble");
    let without_tls = hubble_documents("hubble-disable-tls");
    for document in hubble.iter().chain(&without_tls).filter(|d| d.kind() != DaemonSet::KIND) {
        // Patches of the DaemonSet are partial; every other document is whole.
        if !document.origin.contains("patch") {
            problems.extend(api_problems(&document.value).into_iter().map(|p| format!("{}: {p}", document.origin)));
        }
    }
    for (dir, documents, tls) in [("hubble", &hubble, true), ("hubble-disable-tls", &without_tls, false)] {
        let patch =
            documents.iter().find(|d| d.kind() == DaemonSet::KIND).expect("the component patches the DaemonSet");
        let args: Vec<String> =
            serde_json::from_value(patch.value["spec"]["template"]["spec"]["containers"][0]["args"].clone()).unwrap();
        assert_run_knows(&run_flags(&format!("{dir}/daemonset-patch.yaml args"), &args), is_flag);
        let port = flag_value(&args, "hubble-listen-address").and_then(|a| a.rsplit_once(':')?.1.parse::<i32>().ok());
        if port != Some(4244) || (flag_value(&args, "hubble-disable-tls") == Some("true")) == tls {
            problems.push(format!(
                "{dir}: the agent does not serve :4244 {}: {args:?}",
                if tls { "with TLS" } else { "in plaintext" }
            ));
        }
        if tls && flag_value(&args, "hubble-tls-client-ca-files").is_none() {
            problems.push(format!("{dir}: the agent does not require Relay's client certificate"));
        }
        let relay = documents
            .iter()
            .find(|d| d.kind() == ConfigMap::KIND && d.value["metadata"]["name"] == "hubble-relay-config");
        let relay = relay.map(|d| d.typed::<ConfigMap>()).and_then(|map| map.data?.get("config.yaml").cloned());
        let relay: Value = relay.map(|text| serde_yaml_ng::from_str(&text).unwrap()).unwrap_or_default();
        let peer_port = if tls { 443 } else { 80 };
        if relay["peer-service"].as_str() != Some(&format!("hubble-peer.flowlog.svc.cluster.local:{peer_port}")) {
            problems.push(format!(
                "{dir}: Relay's peer-service {} is not the hubble-peer Service's port {peer_port}",
                relay["peer-service"]
            ));
        }
        if relay["cluster-name"].as_str() != Some(&cluster)
            || relay["disable-client-tls"].as_bool().unwrap_or(false) == tls
        {
            problems.push(format!("{dir}: Relay's cluster-name or client TLS does not match the agents': {relay}"));
        }
    }
    let peer: Service = hubble
        .iter()
        .find(|d| d.kind() == Service::KIND && d.value["metadata"]["name"] == "hubble-peer")
        .unwrap()
        .typed();
    let spec = peer.spec.unwrap_or_default();
    let ports: Vec<_> = spec.ports.iter().flatten().map(|p| (p.port, p.target_port.clone())).collect();
    if spec.internal_traffic_policy.as_deref() != Some("Local") || ports != [(443, Some(IntOrString::Int(4244)))] {
        problems.push(format!("the hubble-peer Service does not send to the agent on Relay's node: {ports:?}"));
    }
    let certificates = read(&example("kubernetes/hubble/certificates.yaml"));
    if !certificates.contains(&format!("\"*.{cluster}.hubble-grpc.cilium.io\"")) {
        problems
            .push(format!("the agents' certificate is not for *.{cluster}.hubble-grpc.cilium.io, which Relay checks"));
    }
    for dir in ["hubble", "hubble-disable-tls"] {
        let text = read(&example(&format!("kubernetes/{dir}/kustomization.yaml")));
        if serde_yaml_ng::from_str::<Value>(&text).unwrap()["kind"] != "Component" {
            problems.push(format!("{dir}/kustomization.yaml is not a Component"));
        }
    }
    assert_no_problems(problems);
}

#[test]
fn the_files_flowlog_writes_land_on_the_node_for_a_log_shipper() {
    let agent = Agent::load();
    let config = agent.config();
    let flow_logs = string_at(&config, "hubble-flowlogs-config-path").and_then(|path| agent.files.text(path).ok());
    let flow_logs: Value = flow_logs.map(|text| serde_yaml_ng::from_str(&text).unwrap()).unwrap_or_default();
    let mut outputs: Vec<&str> = string_at(&config, "hubble-export-file-path").into_iter().collect();
    outputs.extend(flow_logs["flowLogs"].as_array().into_iter().flatten().filter_map(|e| e["filePath"].as_str()));
    assert!(outputs.len() >= 2, "expected the static exporter's and the dynamic flow logs' files, found {outputs:?}");
    let problems = outputs
        .into_iter()
        .filter(|output| agent.files.host_path_mount(output).is_none())
        .map(|output| format!("{output} is not written to a hostPath volume: it would be lost with the pod"))
        .collect();
    assert_no_problems(problems);
}

#[test]
fn the_metrics_address_port_probes_and_scrape_annotation_agree() {
    let agent = Agent::load();
    let container = agent.container();
    let mut problems = Vec::new();
    let port = flag_value(&agent.args, "metrics-address").and_then(|a| a.rsplit_once(':')?.1.parse::<i32>().ok());
    let named = container.ports.iter().flatten().find(|p| p.name.as_deref() == Some("metrics"));
    if port.is_none() || named.map(|p| p.container_port) != port {
        problems.push(format!("--metrics-address port {port:?} is not the container port named metrics"));
    }
    for (probe, name) in [
        (&container.liveness_probe, "liveness"),
        (&container.readiness_probe, "readiness"),
        (&container.startup_probe, "startup"),
    ] {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref());
        let aimed = get.is_some_and(|get| {
            get.path.as_deref() == Some("/healthz")
                && match &get.port {
                    IntOrString::String(name) => name == "metrics",
                    IntOrString::Int(number) => Some(*number) == port,
                }
        });
        if !aimed {
            problems.push(format!("the {name} probe does not GET /healthz on the metrics port"));
        }
    }
    let annotations = agent.template_metadata().annotations.unwrap_or_default();
    let annotated = annotations.get("prometheus.io/port").and_then(|p| p.parse().ok());
    if annotated != port {
        problems.push(format!("the prometheus.io/port annotation {annotated:?} is not the metrics port {port:?}"));
    }
    assert_no_problems(problems);
}

/// The endpoints file, checked by the real `flowlog check --endpoints-file`.
fn endpoint_problems(text: &str) -> Vec<String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let output = Flowlog::run(&["check", "--endpoints-file", file.path().to_str().unwrap()])
        .command()
        .output()
        .expect("flowlog runs");
    if output.status.success() {
        return Vec::new();
    }
    vec![format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))]
}

// ---------------------------------------------------------------------------
// examples/jq.md

/// Each ```sh block of a Markdown text, with the lines of the ```text block
/// that follows it, before the next ```sh block.
fn shell_blocks_and_their_output(markdown: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let fence = line.trim();
        if fence == "```sh" || fence == "```text" {
            let body: Vec<String> = lines.by_ref().take_while(|l| l.trim() != "```").map(str::to_owned).collect();
            match (fence, blocks.last_mut()) {
                ("```sh", _) => blocks.push((body.join("\n"), Vec::new())),
                (_, Some(last)) => last.1 = body,
                (_, None) => {}
            }
        }
    }
    blocks
}

#[test]
fn the_jq_recipes_run_on_the_sample_and_print_what_the_doc_shows() {
    let doc = read(&example("jq.md"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(support::SAMPLE, dir.path().join("events.log")).unwrap();
    let recipes = shell_blocks_and_their_output(&doc);
    assert!(recipes.len() >= 6, "found only {} recipes in examples/jq.md", recipes.len());
    for (recipe, shown) in recipes {
        let output = Command::new("bash")
            .arg("-c")
            .arg(&recipe)
            .current_dir(dir.path())
            .env("LC_ALL", "C")
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stderr.is_empty(),
            "this recipe failed (is jq installed?):\n{recipe}\n{stderr}"
        );
        assert!(!shown.is_empty(), "this recipe shows no output (a ```text block after it):\n{recipe}");
        let printed: Vec<&str> = stdout.lines().collect();
        for line in &shown {
            assert!(printed.contains(&line.as_str()), "this recipe:\n{recipe}\ndoes not print\n{line}\nbut:\n{stdout}");
        }
    }
}
