//! label when the API server conflicts, throttles, fails or drops the connection (the test
//! cluster's fault proxy, and a real concurrent writer): never a lost update, retries where
//! safe, and an undo file covering every write that may have happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use http::Method;
use serde_json::Value;
use support::*;
use test_cluster::{Fault, FaultRule, cluster_or_skip};

#[test]
fn a_409_re_reads_and_re_plans_the_namespace() {
    let Some(cluster) = cluster_or_skip("conflict_409") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ns = cluster
        .fresh_namespace_with_labels("conflict", &[(APPMESH_INJECT, "enabled")])
        .unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let path = format!("/api/v1/namespaces/{ns}");
    proxy.add_rule(
        FaultRule::new(Fault::Status(409))
            .method(Method::PATCH)
            .path_contains(&path),
    );
    let run = label_in(dir.path(), proxy.kubeconfig_path(), &["-n", &ns, "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(proxy.faults_applied(), 1);
    let patches = proxy.count(&Method::PATCH, &path);
    assert_eq!(patches, 2, "one refused with 409, one after re-reading");
    assert!(
        proxy.count(&Method::GET, &path) >= 2,
        "planned, re-read after the 409, verified"
    );
    let labels = labels(cluster, &ns);
    assert_eq!(
        labels.get("istio-injection").map(String::as_str),
        Some("enabled")
    );
    assert!(!labels.contains_key(APPMESH_INJECT));
}

#[test]
fn a_concurrent_label_change_between_plan_and_write_is_never_lost() {
    let Some(cluster) = cluster_or_skip("racing_writer") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ns = cluster
        .fresh_namespace_with_labels("race", &[(APPMESH_INJECT, "enabled"), ("team", "a")])
        .unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    // Hold label's write while another writer changes the namespace: the held write then
    // carries a stale resourceVersion.
    proxy.add_rule(
        FaultRule::new(Fault::Delay(Duration::from_secs(3)))
            .method(Method::PATCH)
            .path_contains(&format!("/api/v1/namespaces/{ns}")),
    );
    let mut run = start_label(dir.path(), proxy.kubeconfig_path(), &["-n", &ns, "--yes"]);
    run.wait_for("plan for ");
    kubectl(
        cluster,
        &[
            "label",
            "namespace",
            &ns,
            "team=b",
            "racer=yes",
            "--overwrite",
        ],
    );
    let (code, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
    let labels = labels(cluster, &ns);
    assert_eq!(
        labels.get("racer").map(String::as_str),
        Some("yes"),
        "{labels:?}"
    );
    assert_eq!(
        labels.get("team").map(String::as_str),
        Some("b"),
        "{labels:?}"
    );
    assert_eq!(
        labels.get("istio-injection").map(String::as_str),
        Some("enabled")
    );
    assert!(!labels.contains_key(APPMESH_INJECT));
    assert_eq!(
        proxy.count(&Method::PATCH, &format!("/api/v1/namespaces/{ns}")),
        2,
        "the stale write was refused and sent again after re-planning: {stderr}"
    );
    // Undo restores our keys and leaves the other writer's change alone.
    let file = undo_files(dir.path()).remove(0);
    let undo = label_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--undo", file.to_str().unwrap(), "--yes"],
    );
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    let back = support::labels(cluster, &ns);
    assert_eq!(
        back.get(APPMESH_INJECT).map(String::as_str),
        Some("enabled")
    );
    assert!(!back.contains_key("istio-injection"));
    assert_eq!(back.get("racer").map(String::as_str), Some("yes"));
}

#[test]
fn throttling_and_unavailable_answers_are_retried() {
    let Some(cluster) = cluster_or_skip("retries") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = cluster
        .fresh_namespace_with_labels("busy-a", &[(APPMESH_INJECT, "enabled")])
        .unwrap();
    let b = cluster
        .fresh_namespace_with_labels("throttled-b", &[(APPMESH_INJECT, "enabled")])
        .unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    proxy.add_rule(
        FaultRule::new(Fault::Status(503))
            .method(Method::PATCH)
            .path_contains(&format!("/api/v1/namespaces/{a}")),
    );
    proxy.add_rule(
        FaultRule::new(Fault::TooManyRequests {
            retry_after_seconds: 1,
        })
        .method(Method::PATCH)
        .path_contains(&format!("/api/v1/namespaces/{b}")),
    );
    // The list of webhook configurations is throttled too.
    proxy.add_rule(
        FaultRule::new(Fault::TooManyRequests {
            retry_after_seconds: 1,
        })
        .method(Method::GET)
        .path_contains("mutatingwebhookconfigurations"),
    );
    let names = format!("{a},{b}");
    let run = label_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &["-n", &names, "--yes", "-v"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(proxy.faults_applied(), 3);
    for ns in [&a, &b] {
        assert_eq!(
            support::labels(cluster, ns)
                .get("istio-injection")
                .map(String::as_str),
            Some("enabled")
        );
        assert!(
            run.stderr.contains(&format!("namespace/{ns} labeled")),
            "{}",
            run.stderr
        );
    }
    let statuses: Vec<Option<u16>> = proxy
        .requests()
        .iter()
        .filter(|r| r.method == Method::PATCH)
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == Some(200)).count(),
        2,
        "{statuses:?}"
    );
}

#[test]
fn a_dropped_connection_leaves_an_undo_file_covering_every_write_that_may_have_happened() {
    let Some(cluster) = cluster_or_skip("dropped") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = cluster
        .fresh_namespace_with_labels("fine-a", &[(APPMESH_INJECT, "enabled")])
        .unwrap();
    let b = cluster
        .fresh_namespace_with_labels(
            "lost-b",
            &[(APPMESH_INJECT, "enabled"), ("istio-injection", "disabled")],
        )
        .unwrap();
    let before: Vec<(Value, Value)> = [&a, &b].iter().map(|n| metadata_maps(cluster, n)).collect();
    let proxy = cluster.start_fault_proxy().unwrap();
    let path_b = format!("/api/v1/namespaces/{b}");
    // b's write reaches the server but its answer never comes back, and b cannot be read
    // again: the outcome stays unknown. (The reads let through: the list of b's pods, and
    // the plan's read of b.)
    proxy.add_rule(
        FaultRule::new(Fault::DropAfterForwarding)
            .method(Method::PATCH)
            .path_contains(&path_b)
            .always(),
    );
    proxy.add_rule(
        FaultRule::new(Fault::DropConnection)
            .method(Method::GET)
            .path_contains(&path_b)
            .skip(2)
            .always(),
    );
    let names = format!("{a},{b}");
    let run = label_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &["-n", &names, "--yes", "-v"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("namespace/{a} labeled")),
        "{}",
        run.stderr
    );
    assert!(
        support::labels(cluster, &b)
            .get("istio-injection")
            .map(String::as_str)
            == Some("enabled"),
        "the server applied b's write"
    );
    let files = undo_files(dir.path());
    assert_eq!(files.len(), 1, "{}", run.stderr);
    let record: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let recorded: Vec<&str> = record["metadataChanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort();
    let mut recorded_sorted = recorded.clone();
    recorded_sorted.sort();
    assert_eq!(
        recorded_sorted, expected,
        "both writes may have happened: both are recorded"
    );

    // The undo file puts both back exactly (directly, without the proxy).
    let undo = label_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--undo", files[0].to_str().unwrap(), "--yes"],
    );
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    let after: Vec<(Value, Value)> = [&a, &b].iter().map(|n| metadata_maps(cluster, n)).collect();
    assert_eq!(after, before);
}
