//! `convert` reads Argo Rollouts from a real cluster (issue 13): the test API server with a
//! Rollout CRD (the kind only, its schema open: Argo's published CRD is not needed to store a
//! Rollout) holds Argo's own App Mesh example (`tests/fixtures/argo/`), and convert of the
//! namespace gives the same Rollout (moved to `trafficRouting.istio`), VirtualService and
//! findings as convert of the same manifests from files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::kubectl;
use test_cluster::cluster_or_skip;

const ROLLOUT_CRD: &str = "
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: rollouts.argoproj.io}
spec:
  group: argoproj.io
  names: {kind: Rollout, listKind: RolloutList, plural: rollouts, singular: rollout}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

/// The example's documents with its namespace (and mesh) renamed to `ns`, without the
/// Namespace (the test makes it) and the AnalysisTemplate (no CRD for it here; convert does
/// not read it).
fn example(ns: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/argo");
    let mut documents = Vec::new();
    for name in ["canary-service.yaml", "canary-rollout.yaml"] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        for document in text.split("\n---\n") {
            let kind = document
                .lines()
                .find_map(|l| l.strip_prefix("kind: "))
                .unwrap_or("");
            if kind != "Namespace" && kind != "AnalysisTemplate" {
                documents.push(document.replace("argo-examples", ns));
            }
        }
    }
    documents.join("\n---\n")
}

/// convert with `args`: exit code, the objects on stdout, and the report's findings as
/// (code, subject) pairs.
fn convert(dir: &std::path::Path, args: &[&str]) -> (i32, Vec<Value>, Vec<(String, String)>) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-convert"))
        .args(args)
        .args(["-o", "json", "--report", "report.json"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let list: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let mut findings: Vec<(String, String)> = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["findings"].as_array().unwrap())
        .map(|f| {
            let subject = &f["subject"];
            (
                f["code"].as_str().unwrap().to_owned(),
                format!(
                    "{} {}",
                    subject["kind"].as_str().unwrap_or(""),
                    subject["name"].as_str().unwrap_or("")
                ),
            )
        })
        .collect();
    findings.sort();
    (
        out.status.code().unwrap_or(-1),
        list["items"].as_array().unwrap().clone(),
        findings,
    )
}

fn find<'a>(items: &'a [Value], kind: &str, name: &str) -> &'a Value {
    items
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {items:#?}"))
}

#[test]
fn rollouts_are_read_from_the_cluster_as_from_files() {
    let Some(cluster) = cluster_or_skip("rollouts_are_read_from_the_cluster_as_from_files") else {
        return;
    };
    kubectl(cluster, &["apply", "-f", "-"], Some(ROLLOUT_CRD));
    kubectl(
        cluster,
        &[
            "wait",
            "--for",
            "condition=established",
            "--timeout=60s",
            "crd/rollouts.argoproj.io",
        ],
        None,
    );
    // The example's Mesh, renamed after the namespace, selects it by this label.
    let ns = cluster.fresh_namespace("argo").unwrap();
    kubectl(
        cluster,
        &["label", "namespace", &ns, &format!("mesh={ns}")],
        None,
    );
    let manifests = example(&ns);
    kubectl(cluster, &["apply", "-f", "-"], Some(&manifests));

    let dir = tempfile::tempdir().unwrap();
    // The files also carry the Namespace, as the cluster read does.
    let namespace = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{mesh: {ns}}}}}\n"
    );
    std::fs::write(
        dir.path().join("example.yaml"),
        format!("{namespace}---\n{manifests}"),
    )
    .unwrap();
    let (file_code, from_files, file_findings) =
        convert(dir.path(), &["-f", "example.yaml", "-n", &ns]);
    let kubeconfig = cluster.kubeconfig_path().to_str().unwrap().to_owned();
    let (code, from_cluster, findings) =
        convert(dir.path(), &["--kubeconfig", &kubeconfig, "-n", &ns]);
    assert_eq!(code, file_code);

    let rollout = find(&from_cluster, "Rollout", "my-rollout");
    let canary = &rollout["spec"]["strategy"]["canary"];
    assert_eq!(canary["trafficRouting"].get("appMesh"), None, "{rollout:#}");
    let istio = &canary["trafficRouting"]["istio"];
    let vs_name = istio["virtualService"]["name"].as_str().unwrap();
    let vs = find(&from_cluster, "VirtualService", vs_name);
    let route_names: Vec<&str> = vs["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for route in istio["virtualService"]["routes"].as_array().unwrap() {
        assert!(
            route_names.contains(&route.as_str().unwrap()),
            "{route} not among {route_names:?}"
        );
    }
    // The same objects as from the files: the Rollout, its VirtualService, and what was found.
    assert_eq!(
        rollout["spec"],
        find(&from_files, "Rollout", "my-rollout")["spec"]
    );
    assert_eq!(
        vs["spec"],
        find(&from_files, "VirtualService", vs_name)["spec"]
    );
    assert_eq!(findings, file_findings);
    assert!(
        findings.iter().any(|(code, _)| code.starts_with("AMI27")),
        "{findings:?}"
    );
}
