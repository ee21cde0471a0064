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
use test_cluster::sweep::{self, CommandRun, Recovery, Scenario};

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

impl Start {
    fn undo_file(&self) -> PathBuf {
        self.dir.path().join("undo.yaml")
    }
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

fn names(start: &Start) -> Vec<(String, String)> {
    sweep::placeholders(&[(&start.ns, "NS")])
}

fn snapshot(cluster: &TestCluster, start: &Start) -> Result<Vec<Value>> {
    sweep::snapshot(cluster, Some(&start.ns), ISTIO_KINDS)
}

fn convert(dir: &Path, kubeconfig: &Path, args: &[&str]) -> CommandRun {
    let run = support::convert_in(dir, kubeconfig, args);
    CommandRun {
        code: run.code,
        stdout: run.stdout,
        stderr: run.stderr,
    }
}

fn apply(start: &Start, kubeconfig: &Path) -> CommandRun {
    let undo = start.undo_file();
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

fn undo(start: &Start, kubeconfig: &Path) -> CommandRun {
    let undo = start.undo_file();
    convert(
        start.dir.path(),
        kubeconfig,
        &["--undo", undo.to_str().unwrap(), "--yes"],
    )
}

struct Apply;

impl Scenario for Apply {
    type Start = Start;

    fn name(&self) -> &str {
        "convert --apply"
    }

    fn prepare(&self, cluster: &TestCluster) -> Result<Start> {
        prepare(cluster)
    }

    fn names(&self, start: &Start) -> Vec<(String, String)> {
        names(start)
    }

    fn snapshot(&self, cluster: &TestCluster, start: &Start) -> Result<Vec<Value>> {
        snapshot(cluster, start)
    }

    fn run(&self, start: &Start, kubeconfig: &Path) -> Result<CommandRun> {
        Ok(apply(start, kubeconfig))
    }

    fn recover(&self, cluster: &TestCluster, start: &Start) -> Result<Option<CommandRun>> {
        Ok(start
            .undo_file()
            .exists()
            .then(|| undo(start, cluster.kubeconfig_path())))
    }
}

struct Undo;

impl Scenario for Undo {
    type Start = Start;

    fn name(&self) -> &str {
        "convert --undo"
    }

    /// The namespace as `convert --apply` left it (directly), with its undo file.
    fn prepare(&self, cluster: &TestCluster) -> Result<Start> {
        let start = prepare(cluster)?;
        let run = apply(&start, cluster.kubeconfig_path());
        anyhow::ensure!(run.code == 0, "convert --apply: {}", run.stderr);
        Ok(start)
    }

    fn names(&self, start: &Start) -> Vec<(String, String)> {
        names(start)
    }

    fn snapshot(&self, cluster: &TestCluster, start: &Start) -> Result<Vec<Value>> {
        snapshot(cluster, start)
    }

    fn run(&self, start: &Start, kubeconfig: &Path) -> Result<CommandRun> {
        Ok(undo(start, kubeconfig))
    }

    fn recover(&self, cluster: &TestCluster, start: &Start) -> Result<Option<CommandRun>> {
        Ok(Some(undo(start, cluster.kubeconfig_path())))
    }

    fn recovery(&self) -> Recovery {
        Recovery::RerunReachesClean
    }
}

#[test]
fn convert_apply_survives_a_fault_at_every_request() {
    sweep::check(&Apply);
}

#[test]
fn convert_undo_survives_a_fault_at_every_request() {
    sweep::check(&Undo);
}
