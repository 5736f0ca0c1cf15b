//! Applying a dynamic config to the running flow logs, entry by entry, by name.
//!
//! - unchanged (equal specs: filters as sets, masks by normalised paths) → untouched;
//! - changed, same sink → reconfigured in place: file handle, queue and counters kept;
//! - changed sink → a new exporter is started, the old one retired;
//! - gone from the file → retired: it writes what it holds, then closes its file;
//! - new → started;
//! - invalid → rejected: the exporter of that name, if any, keeps running as it was.
//!
//! Nothing here waits: retired exporters finish on their writers' threads,
//! and an exporter taking over a retired one's file waits for it there.

use crate::context::ExportContext;
use crate::dynamic::config::{Entry, EntryError, EntryProblem};
use crate::exporter::Exporter;
use crate::option::Origin;
use crate::sinks::WriterDone;

/// What a reload did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Entries started.
    pub added: Vec<String>,
    /// Entries changed.
    pub updated: Vec<String>,
    /// Entries removed.
    pub removed: Vec<String>,
    /// Entries left as they were.
    pub unchanged: Vec<String>,
    /// Entries refused, with why; any previous exporter of that name still runs.
    pub rejected: Vec<(String, Vec<EntryError>)>,
}

/// Applies `entries` to `exporters`, the running flow logs. The writers of
/// the exporters it retires, still finishing, are added to `retiring`.
pub(crate) fn reconcile(
    exporters: &mut Vec<Exporter>,
    entries: Vec<Entry>,
    context: &ExportContext,
    retiring: &mut Vec<WriterDone>,
) -> Outcome {
    let mut outcome = Outcome::default();
    // Retire what the file no longer names first, so its files are free for newcomers.
    let named = |exporter: &Exporter| entries.iter().any(|entry| entry.name == exporter.spec().name);
    let (mut running, gone): (Vec<Exporter>, Vec<Exporter>) = std::mem::take(exporters).into_iter().partition(named);
    for exporter in gone {
        outcome.removed.push(exporter.spec().name.clone());
        retiring.extend(exporter.retire());
    }

    for entry in entries {
        let current = running.iter().position(|e| e.spec().name == entry.name).map(|i| running.swap_remove(i));
        let spec = match entry.spec {
            Ok(spec) => spec,
            Err(errors) => {
                for error in &errors {
                    tracing::error!(exporter = %entry.name, %error, "flow log entry rejected; its previous exporter, if any, keeps running");
                }
                outcome.rejected.push((entry.name, errors));
                exporters.extend(current);
                continue;
            }
        };
        match current {
            Some(current) if *current.spec() == spec => {
                outcome.unchanged.push(entry.name);
                exporters.push(current);
            }
            Some(mut current) if current.spec().sink == spec.sink => match current.reconfigure(spec) {
                Ok(()) => {
                    tracing::info!(exporter = %entry.name, "flow log updated");
                    outcome.updated.push(entry.name);
                    exporters.push(current);
                }
                Err(error) => reject_start(&mut outcome, (entry.index, entry.name), error, exporters, Some(current)),
            },
            current => {
                // The new exporter starts first, so a failure keeps the old one.
                let (index, name) = (entry.index, entry.name);
                match Exporter::start(spec, Origin::Dynamic, context) {
                    Ok(exporter) => {
                        exporters.push(exporter);
                        if let Some(old) = current {
                            retiring.extend(old.retire());
                            tracing::info!(exporter = %name, "flow log updated: new target");
                            outcome.updated.push(name);
                        } else {
                            tracing::info!(exporter = %name, "flow log added");
                            outcome.added.push(name);
                        }
                    }
                    Err(error) => reject_start(&mut outcome, (index, name), error, exporters, current),
                }
            }
        }
    }
    for name in &outcome.removed {
        tracing::info!(exporter = %name, "flow log removed");
    }
    outcome
}

fn reject_start(
    outcome: &mut Outcome,
    (index, name): (usize, String),
    error: std::io::Error,
    exporters: &mut Vec<Exporter>,
    keep: Option<Exporter>,
) {
    tracing::error!(exporter = %name, %error, "cannot start flow log");
    let error = EntryError { index, name: name.clone(), problem: EntryProblem::CannotStart(error) };
    outcome.rejected.push((name, vec![error]));
    exporters.extend(keep);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use flowlog_flow::export_event::ResponseTypes;
    use flowlog_flow::{ExportEvent, Flow, Verdict};

    use super::*;
    use crate::context::ExportContext;
    use crate::dynamic::config::parse;
    use crate::dynamic::harness::FlowLogsHarness;
    use crate::sinks::WhenFull;

    fn flow(verdict: Verdict, uuid: &str) -> ExportEvent {
        let flow = Flow { verdict: verdict as i32, uuid: uuid.to_owned(), ..Default::default() };
        ExportEvent { response_types: Some(ResponseTypes::Flow(flow)), ..Default::default() }
    }

    fn entries(dir: &Path, yaml: &str) -> Vec<Entry> {
        parse(&yaml.replace("DIR", dir.to_str().unwrap()), None).entries
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    #[test]
    fn entries_are_added_kept_updated_rejected_and_removed_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let mut pipeline = FlowLogsHarness::new(&ExportContext::new("node", WhenFull::Wait));
        let two = "flowLogs:\n  - {name: a, filePath: DIR/a.log}\n  - {name: b, filePath: DIR/b.log}\n";

        let outcome = pipeline.reconfigure(entries(dir, two));
        assert_eq!(outcome.added, ["a", "b"]);
        pipeline.export(&flow(Verdict::Forwarded, "1"));

        let outcome = pipeline.reconfigure(entries(dir, two));
        assert_eq!(outcome.unchanged, ["a", "b"]);

        // b gets a mask (same file: reconfigured in place); a gets a bad mask
        // (rejected: the old a keeps running as it was).
        let changed = "flowLogs:\n  - {name: a, filePath: DIR/a.log, fieldMask: [nope]}\n  - {name: b, filePath: DIR/b.log, fieldMask: [uuid]}\n";
        let outcome = pipeline.reconfigure(entries(dir, changed));
        assert_eq!(outcome.updated, ["b"]);
        assert_eq!(outcome.rejected.len(), 1);
        assert_eq!(outcome.rejected[0].0, "a");
        pipeline.export(&flow(Verdict::Dropped, "2"));

        let outcome = pipeline.reconfigure(entries(dir, "flowLogs:\n  - {name: a, filePath: DIR/a.log}\n"));
        assert_eq!(outcome.removed, ["b"]);
        assert_eq!(outcome.unchanged, ["a"]);
        pipeline.export(&flow(Verdict::Forwarded, "3"));
        pipeline.stop();

        let a = lines(&dir.join("a.log"));
        assert_eq!(a.len(), 3, "a ran throughout, unmasked: {a:?}");
        assert!(a[1].contains(r#""verdict":"DROPPED""#));
        assert_eq!(
            lines(&dir.join("b.log")),
            [r#"{"flow":{"uuid":"1","verdict":"FORWARDED"}}"#.to_owned(), r#"{"flow":{"uuid":"2"}}"#.to_owned(),]
        );
    }

    #[test]
    fn a_new_target_moves_the_exporter_to_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let mut pipeline = FlowLogsHarness::new(&ExportContext::new("node", WhenFull::Wait));
        pipeline.reconfigure(entries(dir, "flowLogs:\n  - {name: a, filePath: DIR/old.log}\n"));
        pipeline.export(&flow(Verdict::Forwarded, "1"));
        let outcome = pipeline.reconfigure(entries(dir, "flowLogs:\n  - {name: a, filePath: DIR/new.log}\n"));
        assert_eq!(outcome.updated, ["a"]);
        pipeline.export(&flow(Verdict::Forwarded, "2"));
        pipeline.stop();
        assert_eq!(lines(&dir.join("old.log")).len(), 1);
        assert_eq!(lines(&dir.join("new.log")).len(), 1);
    }
}
