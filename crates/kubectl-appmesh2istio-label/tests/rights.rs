//! label under a restricted identity that holds exactly the verbs `--help` documents, and
//! under one that lacks `patch`: every missing right listed, nothing changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::json;
use support::*;
use test_cluster::{cluster_or_skip, rule};

/// The rights `kubectl appmesh2istio label --help` documents; `namespace_verbs` varies.
fn documented(namespace_verbs: &[&str]) -> Vec<PolicyRule> {
    vec![
        rule("", &["namespaces"], namespace_verbs),
        rule("", &["pods"], &["list"]),
        rule(
            "apps",
            &["deployments", "statefulsets", "daemonsets"],
            &["list"],
        ),
        rule(
            "admissionregistration.k8s.io",
            &["mutatingwebhookconfigurations"],
            &["list"],
        ),
        rule("appmesh.k8s.aws", &["meshes", "virtualgateways"], &["list"]),
    ]
}

#[test]
fn the_documented_verbs_are_enough_and_without_patch_nothing_changes() {
    let Some(cluster) = cluster_or_skip("restricted_identity") else {
        return;
    };
    let home = cluster.fresh_namespace("label-ids").unwrap();
    let team = cluster.unique_name("rbac");
    let mesh_key = cluster.unique_name("in-mesh");
    let ns = cluster
        .fresh_namespace_with_labels(
            "rbac",
            &[
                ("team", &team),
                (&mesh_key, "yes"),
                (APPMESH_INJECT, "enabled"),
            ],
        )
        .unwrap();
    create(
        cluster,
        &json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh",
            "metadata": {"name": cluster.unique_name("rbac-mesh")},
            "spec": {"namespaceSelector": {"matchLabels": {mesh_key.clone(): "yes"}}}}),
    );
    let before = metadata_maps(cluster, &ns);
    let dir = tempfile::tempdir().unwrap();
    let selector = format!("team={team}");

    // Without patch: the plan is shown, the missing right listed, nothing written.
    let reader = cluster.restricted_identity(&home, "label-reader").unwrap();
    cluster
        .grant(&reader, None, documented(&["get", "list"]))
        .unwrap();
    let refused = label_in(
        dir.path(),
        reader.kubeconfig_path(),
        &["--all-meshed", "-l", &selector, "--yes"],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(": 1 to label"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("lacks rights the plan needs; nothing was changed"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("not allowed to patch namespaces"),
        "{}",
        refused.stderr
    );
    assert_eq!(metadata_maps(cluster, &ns), before);
    assert!(undo_files(dir.path()).is_empty());

    // With exactly the documented verbs: label, then undo from the annotations.
    let labeller = cluster.restricted_identity(&home, "labeller").unwrap();
    cluster
        .grant(&labeller, None, documented(&["get", "list", "patch"]))
        .unwrap();
    let run = label_in(
        dir.path(),
        labeller.kubeconfig_path(),
        &["--all-meshed", "-l", &selector, "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stderr.contains("warning:"),
        "no read was refused: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("namespace/{ns} labeled")),
        "{}",
        run.stderr
    );
    assert_eq!(
        labels(cluster, &ns)
            .get("istio-injection")
            .map(String::as_str),
        Some("enabled")
    );
    let undo = label_in(
        dir.path(),
        labeller.kubeconfig_path(),
        &["--undo", "-n", &ns, "--yes"],
    );
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert_eq!(metadata_maps(cluster, &ns), before);
}
