//! `label --undo [FILE]`: put back the labels (and our annotation) exactly as they were, from
//! the undo file a run wrote, or without a file from the namespaces' own
//! [`PREVIOUS_ANNOTATION`]s. Either way the restore is [`crate::change::revert`]'s, so it is
//! idempotent (a second undo finds everything `unchanged`) and never overwrites a change made
//! since (each write tests the resourceVersion it planned against).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::LabelCommand;
use super::change::{PREVIOUS_ANNOTATION, recorded_previous};
use super::select::list_namespaces;
use crate::change::record::KeyChanges;
use crate::change::{
    self as engine, Change, ChangeError, CommandSpec, ObjectKey, Plan, UndoRecord, revert,
};
use crate::cluster::Cluster;
use crate::exit;

fn nothing_blocks(_: usize) -> String {
    "undo cannot go on".into()
}

const UNDO: CommandSpec = CommandSpec {
    name: "label --undo",
    plan_kind: "LabelUndoPlan",
    plan_title: "undo plan",
    question: "Undo",
    verified: "restored",
    undo_command: None,
    nothing_to_do: Some("nothing to undo"),
    blocked_message: nothing_blocks,
    blocked_exit: exit::FAILURE,
};

/// Run the undo; returns the exit code.
pub async fn run(
    command: &LabelCommand,
    cluster: &Cluster,
    file: Option<&Path>,
) -> Result<i32, ChangeError> {
    let mut options = super::run_options(command);
    options.undo_file = None;
    let mut header = Map::new();
    let plan = match file {
        Some(file) => {
            let record = UndoRecord::read(file)?;
            if record.server != cluster.server {
                eprintln!(
                    "warning: {} was written for the cluster at {}; this is {}",
                    file.display(),
                    record.server,
                    engine::engine::cluster_name(cluster)
                );
            }
            options.field_manager = record.field_manager.clone();
            header.insert("undoFile".into(), json!(file.display().to_string()));
            Plan::read(cluster, revert::changes(&record), revert::VOCABULARY, 16).await?
        }
        None => {
            header.insert("from".into(), json!(PREVIOUS_ANNOTATION));
            match from_annotations(command, cluster).await? {
                Ok(plan) => plan,
                Err(message) => {
                    eprintln!("error: {message}; nothing was changed");
                    return Ok(exit::FAILURE);
                }
            }
        }
    };
    let report = engine::run(cluster, &UNDO, &plan, &options, header).await?;
    Ok(report.exit_code)
}

/// The namespaces in scope (`-n`, `-l`, or all) that carry [`PREVIOUS_ANNOTATION`], each with
/// the restore it records. An annotation that cannot be read stops the whole undo before any
/// write (`Ok(Err(message))`, naming the namespace).
async fn from_annotations(
    command: &LabelCommand,
    cluster: &Cluster,
) -> Result<Result<Plan<revert::Revert>, String>, ChangeError> {
    let listed = list_namespaces(cluster, command.selector.as_deref()).await?;
    let mut record = UndoRecord::new(cluster, "label", "", &command.change.field_manager);
    let mut live: BTreeMap<ObjectKey, Value> = BTreeMap::new();
    for ns in listed {
        let Some(name) = ns.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        if !command.namespaces.is_empty() && !command.namespaces.iter().any(|n| n == name) {
            continue;
        }
        if ns
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(PREVIOUS_ANNOTATION))
            .is_none()
        {
            continue;
        }
        let previous = match recorded_previous(&ns) {
            Ok(previous) => previous,
            Err(why) => return Ok(Err(format!("namespace {name}: {why}"))),
        };
        let key = ObjectKey::new("v1", "Namespace", None, name);
        let mut changes = KeyChanges::new(&key, &ns, "/metadata", [], [PREVIOUS_ANNOTATION]);
        // The annotation itself goes too: before the first run there was none.
        changes
            .annotations
            .insert(PREVIOUS_ANNOTATION.to_owned(), None);
        changes.labels = previous;
        record.metadata_changes.push(changes);
        live.insert(key, ns);
    }
    for name in &command.namespaces {
        if !live.keys().any(|k| &k.name == name) {
            eprintln!(
                "note: namespace {name} carries no {PREVIOUS_ANNOTATION} annotation: nothing to undo there"
            );
        }
    }
    let pairs = revert::changes(&record)
        .into_iter()
        .map(|change| {
            let value = live.get(change.key()).cloned();
            (change, Ok(value))
        })
        .collect();
    Ok(Ok(Plan::decide(pairs, revert::VOCABULARY)))
}
