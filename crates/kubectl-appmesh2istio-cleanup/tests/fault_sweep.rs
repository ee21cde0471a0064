//! A fault at every request (issue 15): `cleanup --labels` rerun with one fault (500, 503, 429
//! with Retry-After, dropped connection, 409, lost reply) at each request of a clean run; each
//! run ends as the clean run did, or fails and `cleanup --restore` of the backup it wrote (its
//! undo record) gives back the start state exactly (see `test_cluster::sweep`). Run with
//! `--nocapture` for the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;
use support::*;
use test_cluster::TestCluster;
use test_cluster::sweep::{self, CommandRun, Scenario};

const APPMESH_KINDS: &str = "virtualnodes.appmesh.k8s.aws,virtualservices.appmesh.k8s.aws,\
virtualrouters.appmesh.k8s.aws,virtualgateways.appmesh.k8s.aws,gatewayroutes.appmesh.k8s.aws,\
backendgroups.appmesh.k8s.aws";

/// A migrated namespace (`small_migrated`: its own Mesh, two VirtualNodes with their
/// VirtualServices, the Istio configuration applied, labelled for Istio).
struct Start {
    dir: tempfile::TempDir,
    ns: String,
    mesh: String,
}

impl Start {
    fn backup(&self) -> PathBuf {
        self.dir.path().join("backup.yaml")
    }
}

fn run_cleanup(dir: &Path, kubeconfig: &Path, args: &[&str]) -> CommandRun {
    let run = cleanup(dir, kubeconfig, args);
    CommandRun {
        code: run.code,
        stdout: run.stdout,
        stderr: run.stderr,
    }
}

struct Cleanup;

impl Scenario for Cleanup {
    type Start = Start;

    fn name(&self) -> &str {
        "cleanup --labels"
    }

    fn prepare(&self, cluster: &TestCluster) -> Result<Start> {
        let dir = tempfile::tempdir()?;
        let (ns, mesh) = small_migrated(cluster, dir.path(), "sweep", 2);
        Ok(Start { dir, ns, mesh })
    }

    fn names(&self, start: &Start) -> Vec<(String, String)> {
        sweep::placeholders(&[(&start.ns, "NS"), (&start.mesh, "MESH")])
    }

    fn snapshot(&self, cluster: &TestCluster, start: &Start) -> Result<Vec<Value>> {
        let mut objects = sweep::snapshot(
            cluster,
            None,
            &format!("namespace/{} meshes.appmesh.k8s.aws/{}", start.ns, start.mesh),
        )?;
        objects.extend(sweep::snapshot(cluster, Some(&start.ns), APPMESH_KINDS)?);
        Ok(objects)
    }

    fn run(&self, start: &Start, kubeconfig: &Path) -> Result<CommandRun> {
        let backup = start.backup();
        Ok(run_cleanup(
            start.dir.path(),
            kubeconfig,
            &[
                "-n",
                &start.ns,
                "--labels",
                "--yes",
                "--timeout",
                "20s",
                "--undo-file",
                backup.to_str().unwrap(),
            ],
        ))
    }

    fn recover(&self, cluster: &TestCluster, start: &Start) -> Result<Option<CommandRun>> {
        let backup = start.backup();
        Ok(backup.exists().then(|| {
            run_cleanup(
                start.dir.path(),
                cluster.kubeconfig_path(),
                &["--restore", backup.to_str().unwrap(), "--yes"],
            )
        }))
    }
}

#[test]
fn cleanup_survives_a_fault_at_every_request() {
    sweep::check(&Cleanup);
}
