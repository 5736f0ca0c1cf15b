//! Field masks: which fields of a flow an exporter writes.
//!
//! Paths are proto field names joined by dots (`source.pod_name`,
//! `l4.TCP.destination_port`), validated against the `flow.Flow` descriptor
//! as Cilium does with `fieldmaskpb.New`: every segment must exist, and only a
//! singular message field may be descended into. The compiled
//! [`Selection`] lists fields in declaration order, the order the encoder
//! writes them in, so masked lines keep Cilium's key order.

use std::collections::BTreeSet;
use std::fmt;

use flowlog_flow::descriptors;
use flowlog_flow::json::{SelectedField, Selection};
use prost_reflect::{Kind, MessageDescriptor};

/// A path that is not a valid field mask path of `flow.Flow`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field mask path {path:?}: {reason}")]
pub struct MaskError {
    /// The path as written.
    pub path: String,
    /// Why it is invalid.
    pub reason: String,
}

/// A validated, normalised field mask over `flow.Flow`. Empty means "whole flow".
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldMask {
    paths: Vec<String>,
    selection: Option<Selection>,
}

impl fmt::Debug for FieldMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FieldMask").field(&self.paths).finish()
    }
}

impl FieldMask {
    /// Validates `paths` and compiles them. Like Cilium, the paths are sorted
    /// and deduplicated, and a path under another selected path is dropped
    /// (`source` already keeps `source.identity`).
    pub fn new<I, S>(paths: I) -> Result<Self, MaskError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let flow = descriptors::message("flow.Flow");
        let mut unique = BTreeSet::new();
        for path in paths {
            let path = path.as_ref();
            validate(&flow, path)?;
            unique.insert(path.to_owned());
        }
        let paths: Vec<String> = unique.iter().filter(|path| !has_selected_ancestor(&unique, path)).cloned().collect();
        let selection = (!paths.is_empty()).then(|| {
            let split: Vec<Vec<&str>> = paths.iter().map(|p| p.split('.').collect()).collect();
            compile(&flow, &split.iter().map(Vec::as_slice).collect::<Vec<_>>())
        });
        Ok(Self { paths, selection })
    }

    /// The compiled selection, or `None` when the mask is empty (whole flow).
    pub fn selection(&self) -> Option<&Selection> {
        self.selection.as_ref()
    }

    /// The normalised paths.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// True when no path is selected, so flows are written whole.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

/// Splits a list of paths as Cilium splits a string-slice setting: by commas,
/// and if that gives a single element, by whitespace. So `"time source.pod_name"`
/// and `"time,source.pod_name"` are the same mask.
pub fn split_paths(text: &str) -> Vec<String> {
    let by_comma: Vec<&str> = text.split(',').collect();
    let parts: Vec<&str> = if by_comma.len() == 1 { text.split_whitespace().collect() } else { by_comma };
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

fn has_selected_ancestor(paths: &BTreeSet<String>, path: &str) -> bool {
    path.match_indices('.').any(|(dot, _)| paths.contains(&path[..dot]))
}

fn validate(flow: &MessageDescriptor, path: &str) -> Result<(), MaskError> {
    let error = |reason: String| MaskError { path: path.to_owned(), reason };
    if path.is_empty() {
        return Err(error("empty path".to_owned()));
    }
    let mut message = flow.clone();
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let Some(field) = message.get_field_by_name(segment) else {
            return Err(error(unknown_field(&message, segment)));
        };
        if segments.peek().is_none() {
            return Ok(());
        }
        message = match field.kind() {
            Kind::Message(_) if field.is_list() || field.is_map() => {
                return Err(error(format!("cannot select inside repeated field `{segment}`; select it whole")));
            }
            // Well-known types are written as JSON scalars (a timestamp string,
            // a bare wrapper value), so selecting inside them means nothing.
            Kind::Message(inner) if inner.package_name() == "google.protobuf" => {
                return Err(error(format!(
                    "cannot select inside `{segment}` ({}); select it whole",
                    inner.full_name()
                )));
            }
            Kind::Message(inner) => inner,
            _ => return Err(error(format!("`{segment}` is not a message, so it has no sub-fields"))),
        };
    }
    Ok(())
}

fn unknown_field(message: &MessageDescriptor, name: &str) -> String {
    let fields: Vec<String> = message.fields().map(|field| field.name().to_owned()).collect();
    match flowlog_config::closest(name, fields.iter().map(String::as_str)) {
        Some(suggestion) => format!("{} has no field `{name}` (did you mean `{suggestion}`?)", message.full_name()),
        None => format!("{} has no field `{name}`", message.full_name()),
    }
}

/// Builds the selection for `message` from validated, normalised paths
/// (already split into segments) relative to it.
fn compile(message: &MessageDescriptor, paths: &[&[&str]]) -> Selection {
    // `fields()` iterates by field number; the encoder writes in declaration
    // order (`uuid`, field 34, right after `time`), which the descriptor proto keeps.
    let declared = message.descriptor_proto().field.iter().filter_map(|f| message.get_field_by_name(f.name()));
    let fields = declared
        .filter_map(|field| {
            let below: Vec<&[&str]> = paths.iter().filter(|p| p[0] == field.name()).map(|p| &p[1..]).collect();
            if below.is_empty() {
                return None;
            }
            let sub = if below.iter().any(|rest| rest.is_empty()) {
                None
            } else {
                let Kind::Message(inner) = field.kind() else {
                    unreachable!("validated paths only descend into messages")
                };
                Some(compile(&inner, &below))
            };
            Some(SelectedField { number: field.number(), sub })
        })
        .collect();
    Selection::new(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_cilium_string_slices() {
        assert_eq!(split_paths("time source.namespace  l4"), ["time", "source.namespace", "l4"]);
        assert_eq!(split_paths("time,source.namespace, l4"), ["time", "source.namespace", "l4"]);
        assert!(split_paths("  ").is_empty());
    }

    #[test]
    fn normalises_sorted_unique_without_children_of_selected_parents() {
        let mask = FieldMask::new(["source.identity", "time", "source", "time"]).unwrap();
        assert_eq!(mask.paths(), ["source", "time"]);
    }

    #[test]
    fn selection_follows_declaration_order() {
        // uuid (34) is declared right after time (1); IP (5) before l4 (6).
        let mask = FieldMask::new(["l4", "IP", "uuid", "time"]).unwrap();
        let numbers: Vec<u32> = mask.selection().unwrap().fields().iter().map(|f| f.number).collect();
        assert_eq!(numbers, [1, 34, 5, 6]);
    }

    #[test]
    fn sub_paths_compile_to_nested_selections() {
        let mask = FieldMask::new(["source.pod_name", "source.namespace", "l4.TCP.destination_port"]).unwrap();
        let selection = mask.selection().unwrap();
        let source = selection.get(8).unwrap().sub.as_ref().unwrap();
        // namespace (3) is declared before pod_name (5).
        assert_eq!(source.fields().iter().map(|f| f.number).collect::<Vec<_>>(), [3, 5]);
        let tcp = selection.get(6).unwrap().sub.as_ref().unwrap().get(1).unwrap();
        assert_eq!(tcp.sub.as_ref().unwrap().fields()[0].number, 2);
    }

    #[test]
    fn empty_mask_selects_the_whole_flow() {
        let mask = FieldMask::new(Vec::<String>::new()).unwrap();
        assert!(mask.is_empty());
        assert!(mask.selection().is_none());
    }

    #[test]
    fn rejects_invalid_paths_naming_them() {
        let cases = [
            ("sourc.namespace", "has no field `sourc` (did you mean `source`?)"),
            ("source.podname", "flow.Endpoint has no field `podname` (did you mean `pod_name`?)"),
            ("source.labels.key", "`labels` is not a message"),
            ("source.workloads.name", "cannot select inside repeated field `workloads`"),
            ("time.seconds", "cannot select inside `time` (google.protobuf.Timestamp)"),
            ("verdict.x", "`verdict` is not a message"),
            ("Ip", "did you mean `IP`?"),
            ("", "empty path"),
        ];
        for (path, reason) in cases {
            let error = FieldMask::new([path]).unwrap_err();
            assert_eq!(error.path, path);
            assert!(error.to_string().contains(reason), "{path}: {error}");
        }
    }

    #[test]
    fn repeated_fields_can_be_leaves() {
        assert!(FieldMask::new(["source.labels", "egress_allowed_by", "source.workloads"]).is_ok());
    }
}
