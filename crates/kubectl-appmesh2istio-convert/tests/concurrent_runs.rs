//! Two runs of `convert --apply` or `--undo` at the same time (issue 16, item 9 and the minor
//! items): the second finds the first one's work done, says so in the plan's words, and exits
//! 0; no object is reported created twice, no message is longer than a line.
//!
//! To make the race certain, run A goes through a fault proxy that holds its first write for a
//! few seconds; run B starts once A has printed its plan and finishes while A's write waits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use http::Method;
use pretty_assertions::assert_eq;
use support::*;
use test_cluster::{Fault, FaultRule, cluster_or_skip};

const HOLD: Duration = Duration::from_secs(4);

fn undo_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("appmesh2istio-undo") || n.ends_with("undo.yaml"))
        .collect()
}

#[test]
fn two_concurrent_applies_create_each_object_once() {
    let Some(cluster) = cluster_or_skip("two_concurrent_applies_create_each_object_once") else {
        return;
    };
    let ns = cluster.fresh_namespace("twoapply").unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    proxy.add_rule(
        FaultRule::new(Fault::Delay(HOLD))
            .method(Method::POST)
            .path_contains(&format!("/namespaces/{ns}/")),
    );
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let file = manifest(dir_a.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir_a.path(), cluster.kubeconfig_path(), &file);
    let args = ["-f", file.to_str().unwrap(), "--apply", "--yes", "-q"];

    let mut a = start_convert(dir_a.path(), proxy.kubeconfig_path(), &args);
    a.wait_for("plan for ");
    let b = convert_in(dir_b.path(), cluster.kubeconfig_path(), &args);
    let (a_code, a_stderr) = a.finish();

    assert_eq!(b.code, 0, "{}", b.stderr);
    assert_eq!(a_code, 0, "{a_stderr}");
    for object in expected.values() {
        let name = kubectl_name(object);
        assert!(
            b.stderr.contains(&format!("{name} created\n")),
            "{}",
            b.stderr
        );
        assert!(
            a_stderr.contains(&format!("{name} unchanged\n")),
            "A found it created by B: {a_stderr}"
        );
        assert!(get(cluster, object).is_some());
    }
    assert!(
        a_stderr.contains(&format!(": {} to create\n", expected.len())),
        "A planned to create them all: {a_stderr}"
    );
    assert!(!a_stderr.contains(" created"), "{a_stderr}");
    assert!(
        a_stderr.contains("nothing was applied; removed the empty undo file"),
        "A changed nothing, so it leaves no undo file: {a_stderr}"
    );
    assert_eq!(undo_files(dir_a.path()), Vec::<String>::new());
    assert_eq!(undo_files(dir_b.path()).len(), 1);
}

#[test]
fn two_concurrent_undos_both_succeed_and_say_what_they_found() {
    let Some(cluster) =
        cluster_or_skip("two_concurrent_undos_both_succeed_and_say_what_they_found")
    else {
        return;
    };
    let ns = cluster.fresh_namespace("twoundo").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    // One object taken over (undo restores it), the others created (undo deletes them).
    kubectl(
        cluster,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: cart, namespace: {ns}}}\n\
             spec: {{hosts: [cart.example.com], exportTo: ['.'], http: [{{route: [{{destination: {{host: legacy}}}}]}}]}}\n"
        )),
    );
    let cart = find(&expected, "VirtualService", "cart").clone();
    let before = get(cluster, &cart).unwrap();
    let undo = dir.path().join("undo.yaml");
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--yes",
            "--force-conflicts",
            "-q",
            "--undo-file",
            undo.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let proxy = cluster.start_fault_proxy().unwrap();
    proxy.add_rule(
        FaultRule::new(Fault::Delay(HOLD))
            .method(Method::DELETE)
            .path_contains(&format!("/namespaces/{ns}/")),
    );
    let args = ["--undo", undo.to_str().unwrap(), "--yes"];
    let mut a = start_convert(dir.path(), proxy.kubeconfig_path(), &args);
    a.wait_for("undo plan for ");
    let b = convert_in(dir.path(), cluster.kubeconfig_path(), &args);
    let (a_code, a_stderr) = a.finish();

    assert_eq!(b.code, 0, "{}", b.stderr);
    assert_eq!(
        a_code, 0,
        "an object already deleted is success for undo: {a_stderr}"
    );
    for object in expected.values().filter(|o| key(o) != key(&cart)) {
        let name = kubectl_name(object);
        assert!(
            b.stderr.contains(&format!("{name} deleted\n")),
            "{}",
            b.stderr
        );
        assert!(
            a_stderr.contains(&format!("{name} already deleted\n")),
            "the plan's words: {a_stderr}"
        );
        assert!(get(cluster, object).is_none());
    }
    assert!(
        b.stderr
            .contains("virtualservice.networking.istio.io/cart restored\n"),
        "{}",
        b.stderr
    );
    assert!(
        a_stderr.contains("virtualservice.networking.istio.io/cart unchanged\n"),
        "B restored it first: {a_stderr}"
    );
    assert!(!a_stderr.contains("error"), "{a_stderr}");
    assert!(
        a_stderr.lines().all(|l| l.chars().count() < 400),
        "short messages: {a_stderr}"
    );
    assert_eq!(get(cluster, &cart).unwrap()["spec"], before["spec"]);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.method == Method::DELETE && r.status == Some(404)),
        "A's held delete met an object B had deleted: {:#?}",
        proxy.requests()
    );
}
