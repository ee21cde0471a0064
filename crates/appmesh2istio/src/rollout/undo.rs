//! `rollout --undo [FILE]`: the pod-template keys a rollout changed put back, canary copies
//! left behind deleted, the workloads waited for.

use std::path::{Path, PathBuf};

use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};

use super::RolloutCommand;
use super::run::{APPMESH_EOS_WARNING, SPEC, UNDO, options};
use super::wait::rolled_out;
use crate::change::engine::{self};
use crate::change::plan::Plan;
use crate::change::{self, Change, DryRun, ObjectKey, UndoRecord, revert};
use crate::cluster::Cluster;
use crate::exit;

/// The newest undo file `rollout` wrote in the current directory.
fn newest_undo_file() -> Result<PathBuf, String> {
    let mut best: Option<(String, PathBuf)> = None;
    let entries =
        std::fs::read_dir(".").map_err(|e| format!("cannot read the current directory: {e}"))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("appmesh2istio-undo-") && name.ends_with(".yaml")) {
            continue;
        }
        if let Ok(record) = UndoRecord::read(&path)
            && record.command == SPEC.name
            && best.as_ref().is_none_or(|(at, _)| record.created_at > *at)
        {
            best = Some((record.created_at, path));
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| {
        "no undo file of rollout (appmesh2istio-undo-*.yaml) in the current directory: give one with --undo FILE".into()
    })
}

/// `rollout --undo [FILE]`: put back the pod-template keys a rollout changed (which restarts
/// those workloads), delete canary copies left behind, and wait for the workloads to roll out.
pub(super) async fn run_undo(
    command: &RolloutCommand,
    cluster: &Cluster,
    file: Option<&Path>,
) -> i32 {
    let path = match file {
        Some(p) => p.to_owned(),
        None => match newest_undo_file() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        },
    };
    let record = match UndoRecord::read(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if record.server != cluster.server {
        eprintln!(
            "warning: {} was written for the cluster at {}; this is {}",
            path.display(),
            record.server,
            engine::cluster_name(cluster)
        );
    }
    let plan = match Plan::read(cluster, revert::changes(&record), revert::VOCABULARY, 8).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if plan.items.iter().any(|i| {
        i.decision.writes()
            && matches!(
                i.change.key().kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet"
            )
    }) {
        eprintln!("{APPMESH_EOS_WARNING}");
    }
    let mut options = options(command);
    options.field_manager = record.field_manager.clone();
    options.undo_file = None;
    let mut header = Map::new();
    header.insert("undoFile".into(), json!(path.display().to_string()));
    let report = match change::run(cluster, &UNDO, &plan, &options, header).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if report.exit_code != exit::SUCCESS || options.dry_run != DryRun::None {
        return report.exit_code;
    }
    // The restored templates restart the workloads: wait for them as kubectl would.
    let restored: Vec<(ObjectKey, Value)> = plan
        .items
        .iter()
        .zip(&report.results)
        .filter(|(i, r)| {
            r.wrote
                && i.decision.action.id == change::Action::RESTORE.id
                && matches!(
                    i.change.key().kind.as_str(),
                    "Deployment" | "StatefulSet" | "DaemonSet"
                )
        })
        .filter_map(|(i, r)| Some((i.change.key().clone(), r.answer.clone()?)))
        .collect();
    let failures: Vec<String> = stream::iter(restored)
        .map(|(key, answer)| async move {
            let quiet = |_: &str| {};
            match rolled_out(cluster, &key, answer, command.timeout, &quiet).await {
                Ok(_) => {
                    eprintln!("{} rolled out", key.kubectl_name());
                    None
                }
                Err(e) => Some(format!("{key}: {e}")),
            }
        })
        .buffer_unordered(command.max_concurrent.max(1))
        .filter_map(|f| async move { f })
        .collect()
        .await;
    for f in &failures {
        eprintln!("error: rollout after undo: {f}");
    }
    if failures.is_empty() {
        exit::SUCCESS
    } else {
        exit::FAILURE
    }
}
