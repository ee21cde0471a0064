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
                &[
                    "--undo",
                    undo.to_str().unwrap(),
                    "--yes",
                    "--timeout",
                    "60s",
                ],
            )
        }))
    }
}

#[test]
fn rollout_survives_a_fault_at_every_request() {
    sweep::check(&Rollout);
}

/// Another writer changes the pod template's annotations (the map rollout's restart patch
/// writes whole) between rollout's plan and its write: rollout's write, held by the proxy,
/// carries a stale resourceVersion and is refused; rollout re-reads and writes again, and
/// neither the other writer's values nor, after undo, anything but rollout's own keys change.
#[tokio::test]
async fn a_concurrent_template_annotation_change_is_never_overwritten() {
    let Some(cluster) = test_cluster::cluster_or_skip(
        "a_concurrent_template_annotation_change_is_never_overwritten",
    ) else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "racer").await;
    meshed_deployment(
        &client,
        &ns,
        "cart",
        1,
        json!({"appmesh.k8s.aws/ports": "8080", "team": "cart"}),
        json!({}),
    )
    .await;
    wait_available(&client, &ns, "cart").await;
    relabel_for_istio(&client, &ns).await;
    let proxy = cluster.start_fault_proxy().unwrap();
    let path = format!("/namespaces/{ns}/deployments/cart");
    proxy.add_rule(
        test_cluster::FaultRule::new(test_cluster::Fault::Delay(std::time::Duration::from_secs(
            4,
        )))
        .method(http::Method::PATCH)
        .path_contains(&path),
    );
    let dir = tempfile::tempdir().unwrap();
    let undo = dir.path().join("undo.yaml");
    let (run_dir, kubeconfig, run_ns, run_undo) = (
        dir.path().to_owned(),
        proxy.kubeconfig_path().to_owned(),
        ns.clone(),
        undo.clone(),
    );
    let run = std::thread::spawn(move || {
        rollout(
            &run_dir,
            &kubeconfig,
            &[
                "-n",
                &run_ns,
                "--yes",
                "--undo-file",
                run_undo.to_str().unwrap(),
            ],
        )
    });
    // The undo file exists once the plan is confirmed, before the first write is sent.
    wait_for_file(&undo).await;
    let patched = cluster
        .kubectl()
        .args([
            "patch",
            "deployment",
            "cart",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"template":{"metadata":{"annotations":{"team":"racer","owner":"racer"}}}}}"#,
        ])
        .output()
        .unwrap();
    assert!(patched.status.success(), "{:?}", patched);
    let run = tokio::task::spawn_blocking(move || run.join().unwrap())
        .await
        .unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = template_annotations(&deployment(&client, &ns, "cart").await);
    assert_eq!(after["team"], "racer", "{after:?}");
    assert_eq!(after["owner"], "racer", "{after:?}");
    assert_eq!(
        after["traffic.sidecar.istio.io/includeInboundPorts"], "8080",
        "{after:?}"
    );
    assert!(after.contains_key("kubectl.kubernetes.io/restartedAt"));
    assert_eq!(
        proxy.count(&http::Method::PATCH, &path),
        2,
        "the stale write was refused and sent again after re-reading: {}",
        run.stderr
    );

    // Undo takes back rollout's keys only.
    let back = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--undo", undo.to_str().unwrap(), "--yes"],
    );
    assert_eq!(back.code, 0, "{}", back.stderr);
    let restored = template_annotations(&deployment(&client, &ns, "cart").await);
    assert_eq!(
        Value::Object(restored),
        json!({"appmesh.k8s.aws/ports": "8080", "team": "racer", "owner": "racer"})
    );
}

async fn wait_for_file(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
