//! A fault at every request (issue 15): `convert --apply` and `convert --undo` rerun with one
//! fault (500, 503, 429 with Retry-After, dropped connection, 409, lost reply) at each request
//! of a clean run; each run ends as the clean run did, or fails and its recovery gives back
//! exactly the state it must (see `test_cluster::sweep`). The start state has one object to
//! take over (a hand-written VirtualService `cart`, `--force-conflicts`) besides the ones to
//! create, so that undo both deletes and restores. Run with `--nocapture` for the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;
use test_cluster::TestCluster;
use test_cluster::sweep::{self, Change, CommandRun, UndoOf, Undoable};

/// Every Istio kind convert may write in a namespace.
const ISTIO_KINDS: &str = "virtualservices.networking.istio.io,destinationrules.networking.istio.io,\
gateways.networking.istio.io,serviceentries.networking.istio.io,sidecars.networking.istio.io,\
authorizationpolicies.security.istio.io,peerauthentications.security.istio.io,\
telemetries.telemetry.istio.io";

struct Start {
    dir: tempfile::TempDir,
    ns: String,
    manifest: PathBuf,
}

fn prepare(cluster: &TestCluster) -> Result<Start> {
    let ns = cluster.fresh_namespace("sweep")?;
    let dir = tempfile::tempdir()?;
    let manifest = support::manifest(dir.path(), "shop.yaml", &ns);
    support::kubectl(
        cluster,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: cart, namespace: {ns}, labels: {{team: cart}}, annotations: {{owner: team-cart}}}}\n\
             spec: {{hosts: [cart.example.com], exportTo: ['.'], http: [{{route: [{{destination: {{host: legacy-cart}}}}]}}]}}\n"
        )),
    );
    Ok(Start { dir, ns, manifest })
}

fn convert(dir: &Path, kubeconfig: &Path, args: &[&str]) -> CommandRun {
    let run = support::convert_in(dir, kubeconfig, args);
    CommandRun {
        code: run.code,
        stdout: run.stdout,
        stderr: run.stderr,
    }
}

/// `convert --apply` of the start's manifest, and its `--undo`.
struct Apply;

impl Undoable for Apply {
    type Start = Start;

    fn name(&self) -> &str {
        "convert --apply"
    }

    fn undo_name(&self) -> &str {
        "convert --undo"
    }

    fn prepare(&self, cluster: &TestCluster) -> Result<Start> {
        prepare(cluster)
    }

    fn names(&self, start: &Start) -> Vec<(String, String)> {
        sweep::placeholders(&[(&start.ns, "NS")])
    }

    fn snapshot(&self, cluster: &TestCluster, start: &Start) -> Result<Vec<Value>> {
        sweep::snapshot(cluster, Some(&start.ns), ISTIO_KINDS)
    }

    fn undo_file(&self, start: &Start) -> PathBuf {
        start.dir.path().join("undo.yaml")
    }

    fn change(&self, start: &Start, kubeconfig: &Path) -> CommandRun {
        let undo = self.undo_file(start);
        convert(
            start.dir.path(),
            kubeconfig,
            &[
                "-f",
                start.manifest.to_str().unwrap(),
                "--apply",
                "--yes",
                "--force-conflicts",
                "-q",
                "--undo-file",
                undo.to_str().unwrap(),
            ],
        )
    }

    fn undo(&self, start: &Start, kubeconfig: &Path) -> CommandRun {
        let undo = self.undo_file(start);
        convert(
            start.dir.path(),
            kubeconfig,
            &["--undo", undo.to_str().unwrap(), "--yes"],
        )
    }
}

#[test]
fn convert_apply_survives_a_fault_at_every_request() {
    sweep::check(&Change(Apply));
}

#[test]
fn convert_undo_survives_a_fault_at_every_request() {
    sweep::check(&UndoOf(Apply));
}

/// Another writer changes the labels and annotations of the object `convert --apply` takes
/// over (`cart`), between the plan and the write: its first write, held by the proxy, carries
/// the stale resourceVersion and is refused (the takeover starts with a JSON patch of
/// `managedFields` whose `test` of the resourceVersion fails: 422; a server-side apply would
/// get 409); convert re-reads, writes again, keeps
/// the other writer's values, and its undo record holds them too (undo gives them back, not
/// the values seen when planning).
#[test]
fn a_concurrent_change_to_an_object_taken_over_is_never_overwritten() {
    let Some(cluster) = test_cluster::cluster_or_skip(
        "a_concurrent_change_to_an_object_taken_over_is_never_overwritten",
    ) else {
        return;
    };
    let start = prepare(cluster).unwrap();
    let ns = start.ns.clone();
    let proxy = cluster.start_fault_proxy().unwrap();
    let path = format!("/namespaces/{ns}/virtualservices/cart");
    proxy.add_rule(
        test_cluster::FaultRule::new(test_cluster::Fault::Delay(std::time::Duration::from_secs(
            4,
        )))
        .method(http::Method::PATCH)
        .path_contains(&path),
    );
    let undo_file = Apply.undo_file(&start);
    let mut run = support::start_convert(
        start.dir.path(),
        proxy.kubeconfig_path(),
        &[
            "-f",
            start.manifest.to_str().unwrap(),
            "--apply",
            "--yes",
            "--force-conflicts",
            "--undo-file",
            undo_file.to_str().unwrap(),
        ],
    );
    run.wait_for("plan for ");
    support::kubectl(
        cluster,
        &[
            "label",
            "virtualservices.networking.istio.io",
            "cart",
            "-n",
            &ns,
            "team=racer",
            "racer=yes",
            "--overwrite",
        ],
        None,
    );
    support::kubectl(
        cluster,
        &[
            "annotate",
            "virtualservices.networking.istio.io",
            "cart",
            "-n",
            &ns,
            "owner=racer",
            "--overwrite",
        ],
        None,
    );
    let (code, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
    let cart = sweep::snapshot(
        cluster,
        Some(&ns),
        "virtualservices.networking.istio.io/cart",
    )
    .unwrap()
    .remove(0);
    let labels = &cart["metadata"]["labels"];
    assert_eq!(labels["team"], "racer", "{labels}");
    assert_eq!(labels["racer"], "yes", "{labels}");
    assert_eq!(labels[support::MANAGED_BY], "appmesh2istio", "{labels}");
    assert_eq!(cart["metadata"]["annotations"]["owner"], "racer");
    let patches: Vec<Option<u16>> = proxy
        .requests()
        .iter()
        .filter(|r| r.method == http::Method::PATCH && r.uri.contains(&path))
        .map(|r| r.status)
        .collect();
    assert!(
        matches!(patches.first(), Some(Some(409 | 422))),
        "the held write was refused by its precondition: {patches:?}\n{stderr}"
    );

    let back = Apply.undo(&start, cluster.kubeconfig_path());
    assert_eq!(back.code, 0, "{}", back.stderr);
    let cart = sweep::snapshot(
        cluster,
        Some(&ns),
        "virtualservices.networking.istio.io/cart",
    )
    .unwrap()
    .remove(0);
    assert_eq!(
        cart["metadata"]["labels"],
        serde_json::json!({"team": "racer", "racer": "yes"})
    );
    assert_eq!(cart["metadata"]["annotations"]["owner"], "racer");
    assert_eq!(
        cart["spec"]["hosts"],
        serde_json::json!(["cart.example.com"]),
        "the hand-written spec is back"
    );
}
