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
            &format!(
                "namespace/{} meshes.appmesh.k8s.aws/{}",
                start.ns, start.mesh
            ),
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

/// Another writer changes the namespace's labels and annotations (the object whose App Mesh
/// labels `cleanup --labels` removes) after cleanup planned: cleanup's write carries a stale
/// resourceVersion and is refused; it re-reads and removes only its keys, and `--restore`
/// puts back only those.
#[test]
fn a_concurrent_namespace_label_change_is_never_overwritten() {
    let Some(cluster) =
        test_cluster::cluster_or_skip("a_concurrent_namespace_label_change_is_never_overwritten")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ns, mesh) = small_migrated(cluster, dir.path(), "racer", 1);
    let proxy = cluster.start_fault_proxy().unwrap();
    let path = format!("/api/v1/namespaces/{ns}");
    proxy.add_rule(
        test_cluster::FaultRule::new(test_cluster::Fault::Delay(std::time::Duration::from_secs(
            3,
        )))
        .method(http::Method::PATCH)
        .path_contains(&path),
    );
    let backup = dir.path().join("backup.yaml");
    let (run_dir, kubeconfig, run_ns, run_backup) = (
        dir.path().to_owned(),
        proxy.kubeconfig_path().to_owned(),
        ns.clone(),
        backup.clone(),
    );
    let run = std::thread::spawn(move || {
        cleanup(
            &run_dir,
            &kubeconfig,
            &[
                "-n",
                &run_ns,
                "--labels",
                "--yes",
                "--timeout",
                "20s",
                "--undo-file",
                run_backup.to_str().unwrap(),
            ],
        )
    });
    // The backup is complete before the first write, after the plan.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !backup.exists() {
        assert!(std::time::Instant::now() < deadline, "no backup");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    kubectl(
        cluster,
        &["label", "namespace", &ns, "racer=yes", "team=racer"],
    );
    kubectl(cluster, &["annotate", "namespace", &ns, "owner=racer"]);
    let run = run.join().unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let namespace = get_json(cluster, &["namespace", &ns]);
    let labels = &namespace["metadata"]["labels"];
    assert_eq!(labels["racer"], "yes", "{labels}");
    assert_eq!(labels["team"], "racer", "{labels}");
    assert_eq!(labels["istio-injection"], "enabled", "{labels}");
    assert!(labels.get("mesh").is_none(), "{labels}");
    assert!(
        labels
            .get("appmesh.k8s.aws/sidecarInjectorWebhook")
            .is_none(),
        "{labels}"
    );
    assert_eq!(namespace["metadata"]["annotations"]["owner"], "racer");
    assert_eq!(
        proxy.count(&http::Method::PATCH, &path),
        2,
        "the stale write was refused and sent again after re-reading: {}",
        run.stderr
    );

    let restore = cleanup(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--restore", backup.to_str().unwrap(), "--yes"],
    );
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    let labels = get_json(cluster, &["namespace", &ns])["metadata"]["labels"].clone();
    assert_eq!(
        labels,
        serde_json::json!({"mesh": mesh, "istio-injection": "enabled",
            "appmesh.k8s.aws/sidecarInjectorWebhook": "disabled", "racer": "yes", "team": "racer"}),
    );
}
