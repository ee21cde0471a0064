//! A fault at every request (issue 15): `label` and `label --undo` rerun with one fault (500,
//! 503, 429 with Retry-After, dropped connection, 409, lost reply) at each request of a clean
//! run; each run ends as the clean run did, or fails and its recovery gives back exactly the
//! state it must (see `test_cluster::sweep`). Run with `--nocapture` to see the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;
use support::APPMESH_INJECT;
use test_cluster::TestCluster;
use test_cluster::sweep::{self, Change, CommandRun, UndoOf, Undoable};

/// Two meshed namespaces (one with Istio's label set the other way), each with a label and an
/// annotation label does not touch.
struct Start {
    dir: tempfile::TempDir,
    a: String,
    b: String,
}

fn prepare(cluster: &TestCluster) -> Result<Start> {
    let a = cluster
        .fresh_namespace_with_labels("sweep-a", &[(APPMESH_INJECT, "enabled"), ("team", "a")])?;
    let b = cluster.fresh_namespace_with_labels(
        "sweep-b",
        &[
            (APPMESH_INJECT, "enabled"),
            ("istio-injection", "disabled"),
            ("team", "b"),
        ],
    )?;
    support::kubectl(cluster, &["annotate", "namespace", &a, &b, "owner=team"]);
    Ok(Start {
        dir: tempfile::tempdir()?,
        a,
        b,
    })
}

fn label(dir: &Path, kubeconfig: &Path, args: &[&str]) -> CommandRun {
    let run = support::label_in(dir, kubeconfig, args);
    CommandRun {
        code: run.code,
        stdout: run.stdout,
        stderr: run.stderr,
    }
}

/// `label` of the start's two namespaces, and its `--undo`.
struct Label;

impl Undoable for Label {
    type Start = Start;

    fn name(&self) -> &str {
        "label"
    }

    fn undo_name(&self) -> &str {
        "label --undo"
    }

    fn prepare(&self, cluster: &TestCluster) -> Result<Start> {
        prepare(cluster)
    }

    fn names(&self, start: &Start) -> Vec<(String, String)> {
        sweep::placeholders(&[(&start.a, "NS-A"), (&start.b, "NS-B")])
    }

    fn snapshot(&self, cluster: &TestCluster, start: &Start) -> Result<Vec<Value>> {
        sweep::snapshot(
            cluster,
            None,
            &format!("namespace/{} namespace/{}", start.a, start.b),
        )
    }

    fn undo_file(&self, start: &Start) -> PathBuf {
        start.dir.path().join("undo.yaml")
    }

    fn change(&self, start: &Start, kubeconfig: &Path) -> CommandRun {
        let names = format!("{},{}", start.a, start.b);
        let undo = self.undo_file(start);
        label(
            start.dir.path(),
            kubeconfig,
            &["-n", &names, "--yes", "--undo-file", undo.to_str().unwrap()],
        )
    }

    fn undo(&self, start: &Start, kubeconfig: &Path) -> CommandRun {
        let undo = self.undo_file(start);
        label(
            start.dir.path(),
            kubeconfig,
            &["--undo", undo.to_str().unwrap(), "--yes"],
        )
    }
}

#[test]
fn label_survives_a_fault_at_every_request() {
    sweep::check(&Change(Label));
}

#[test]
fn label_undo_survives_a_fault_at_every_request() {
    sweep::check(&UndoOf(Label));
}
