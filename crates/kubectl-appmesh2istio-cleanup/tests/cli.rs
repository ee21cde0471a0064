//! cleanup's command line without a cluster: help, usage errors (exit 2), bad files and an
//! unreachable server (exit 1, with the file or server named, nothing on stdout).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use predicates::prelude::*;

fn cleanup() -> Command {
    let mut command = Command::cargo_bin("kubectl-appmesh2istio-cleanup").unwrap();
    command.env("NO_COLOR", "1").env_remove("KUBECONFIG");
    command
}

#[test]
fn help_names_the_flags_the_examples_and_the_exit_codes() {
    cleanup()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("kubectl appmesh2istio cleanup"))
        .stdout(predicate::str::contains("--remove-finalizers"))
        .stdout(predicate::str::contains("--aws-script"))
        .stdout(predicate::str::contains("--restore"))
        .stdout(predicate::str::contains("--dry-run"))
        .stdout(predicate::str::contains("-l, --selector"))
        .stdout(predicate::str::contains("5  a gate failed"));
}

#[test]
fn contradictory_flags_are_usage_errors() {
    for (args, message) in [
        (vec!["--restart"], "--restart needs --labels"),
        (
            vec!["--aws-script", "x.sh"],
            "--aws-script needs --remove-finalizers",
        ),
        (
            vec!["--restore", "b.yaml", "--crds"],
            "--restore re-creates",
        ),
        (vec!["--timeout", "5x"], "unknown unit"),
    ] {
        cleanup()
            .args(&args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(message));
    }
}

#[test]
fn an_unreachable_cluster_and_a_bad_backup_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    cleanup()
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "-n",
            "shop",
            "--yes",
        ])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("127.0.0.1:1"));
    let backup = dir.path().join("backup.yaml");
    std::fs::write(&backup, "kind: VirtualNode\nmetadata: {name: x}\n").unwrap();
    cleanup()
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--restore",
            backup.to_str().unwrap(),
            "--yes",
        ])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "backup.yaml: document 1 has no apiVersion",
        ));
}
