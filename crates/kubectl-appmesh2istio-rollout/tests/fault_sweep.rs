//! A fault at every request (issue 15): `rollout` rerun with one fault (500, 503, 429 with
//! Retry-After, dropped connection, 409, lost reply) at each request of a clean run (a sample
//! of the reads: the wait for the rollout makes the sequence long); each run ends as the clean
//! run did, or fails and `rollout --undo` of the record it left gives back the start state
//! exactly (see `test_cluster::sweep`). Run with `--nocapture` for the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};
use support::*;
use test_cluster::TestCluster;
use test_cluster::sweep::{self, CommandRun, Scenario};

/// A namespace App Mesh injected, relabelled for Istio, with one Deployment whose pods run
/// App Mesh's Envoy and whose template carries an App Mesh annotation rollout translates.
struct Start {
    dir: tempfile::TempDir,
    ns: String,
    mesh: String,
}

impl Start {
    fn undo_file(&self) -> PathBuf {
        self.dir.path().join("undo.yaml")
    }
}

fn run_rollout(dir: &Path, kubeconfig: &Path, args: &[&str]) -> CommandRun {
    let run = rollout(dir, kubeconfig, args);
    CommandRun {
        code: run.code,
        stdout: run.stdout,
        stderr: run.stderr,
    }
}

struct Rollout;

impl Scenario for Rollout {
    type Start = Start;

    fn name(&self) -> &str {
        "rollout"
    }

    fn prepare(&self, cluster: &TestCluster) -> Result<Start> {
        let mesh = cluster.unique_name("sweep-mesh");
        let ns = cluster.fresh_namespace_with_labels(
            "sweep",
            &[
                ("mesh", &mesh),
                ("appmesh.k8s.aws/sidecarInjectorWebhook", "enabled"),
            ],
        )?;
        let (ns_, mesh_) = (ns.clone(), mesh.clone());
        cluster.block_on(move |client| async move {
            create_appmesh(
                &client,
                None,
                json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": {"name": mesh_},
                       "spec": {"namespaceSelector": {"matchLabels": {"mesh": mesh_}}}}),
            )
            .await;
            meshed_deployment(
                &client,
                &ns_,
                "cart",
                1,
                json!({"appmesh.k8s.aws/ports": "8080", "team": "cart"}),
                json!({}),
            )
            .await;
            wait_available(&client, &ns_, "cart").await;
            relabel_for_istio(&client, &ns_).await;
            Ok(())
        })?;
        Ok(Start {
            dir: tempfile::tempdir()?,
            ns,
            mesh,
        })
    }

    fn names(&self, start: &Start) -> Vec<(String, String)> {
        sweep::placeholders(&[(&start.ns, "NS"), (&start.mesh, "MESH")])
    }

    fn snapshot(&self, cluster: &TestCluster, start: &Start) -> Result<Vec<Value>> {
        let mut objects = sweep::snapshot(cluster, None, &format!("namespace/{}", start.ns))?;
        objects.extend(sweep::snapshot(
            cluster,
            Some(&start.ns),
            "deployments.apps",
        )?);
        Ok(objects)
    }

    fn run(&self, start: &Start, kubeconfig: &Path) -> Result<CommandRun> {
        let undo = start.undo_file();
        Ok(run_rollout(
            start.dir.path(),
            kubeconfig,
            &[
                "-n",
                &start.ns,
                "--yes",
                "--timeout",
                "60s",
                "--undo-file",
                undo.to_str().unwrap(),
            ],
        ))
    }

    fn recover(&self, cluster: &TestCluster, start: &Start) -> Result<Option<CommandRun>> {
        let undo = start.undo_file();
        Ok(undo.exists().then(|| {
            run_rollout(
                start.dir.path(),
                cluster.kubeconfig_path(),
                &["--undo", undo.to_str().unwrap(), "--yes", "--timeout", "60s"],
            )
        }))
    }
}

#[test]
fn rollout_survives_a_fault_at_every_request() {
    sweep::check(&Rollout);
}
