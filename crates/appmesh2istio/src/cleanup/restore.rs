//! `cleanup --restore FILE`: what the backup holds created again, its keys put back, CRDs
//! waited for until established before the objects of their kinds.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::steps::{self, Step};
use super::{CleanupCommand, Failure, RESTORE, backup, run_options};
use crate::change::{self, DryRun, Plan, PlanItem};
use crate::cluster::Cluster;
use crate::exit;

/// `cleanup --restore FILE`: create again what the backup holds and put its keys back.
pub(super) async fn restore(
    command: &CleanupCommand,
    cluster: &Cluster,
    file: &Path,
) -> Result<i32, Failure> {
    let documents = match backup::read(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    let steps = match backup::restore_steps(&documents) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return Ok(exit::FAILURE);
        }
    };
    let plan = Plan::read(cluster, steps, steps::RESTORE_VOCABULARY, 8).await?;
    let mut options = run_options(command);
    options.stop_on_failure = true;
    let mut header = Map::new();
    header.insert("backup".into(), json!(file.display().to_string()));
    // Phases run one after the other inside the engine (CRDs, namespaces, Meshes, …, each
    // finished before the next starts); a CRD just created needs a moment before its objects
    // can be created, so CRDs go first in a run of their own.
    let (crds, rest): (Vec<PlanItem<Step>>, Vec<PlanItem<Step>>) = plan
        .items
        .into_iter()
        .partition(|i| i.change.key.kind == "CustomResourceDefinition");
    let mut code = exit::SUCCESS;
    if crds.iter().any(|i| i.decision.writes()) {
        let crd_plan = Plan {
            items: crds,
            forbidden: plan.forbidden.clone(),
            vocabulary: steps::RESTORE_VOCABULARY,
        };
        let report = change::run(cluster, &RESTORE, &crd_plan, &options, header.clone()).await?;
        code = report.exit_code;
        if code == exit::SUCCESS && options.dry_run == DryRun::None {
            wait_established(cluster, &crd_plan).await;
        }
        options.yes = true;
    }
    if code == exit::SUCCESS {
        let rest_plan = Plan {
            items: rest,
            forbidden: plan.forbidden,
            vocabulary: steps::RESTORE_VOCABULARY,
        };
        let report = change::run(cluster, &RESTORE, &rest_plan, &options, header).await?;
        code = report.exit_code;
    }
    eprintln!(
        "note: AWS-side resources (meshes, virtual nodes, Cloud Map instances) are not re-created by --restore; \
         the App Mesh controller creates them again when it runs"
    );
    Ok(code)
}

/// Wait (at most 30 s) until the CRDs created are served.
async fn wait_established(cluster: &Cluster, plan: &Plan<Step>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for item in &plan.items {
        loop {
            let established = change::object::get_value(cluster, &item.change.key)
                .await
                .ok()
                .flatten()
                .and_then(|crd| {
                    crd.pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .map(|c| {
                            c.iter().any(|c| {
                                c.get("type").and_then(Value::as_str) == Some("Established")
                                    && c.get("status").and_then(Value::as_str) == Some("True")
                            })
                        })
                })
                .unwrap_or(false);
            if established || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
