//! cleanup's safety on a real API server: unknown outcomes and 503s are retried by the shared
//! policy and end in the same state; two clean-ups at once both succeed; a user with exactly
//! the documented rights can clean up, one without `delete` is told every missing right and
//! nothing is changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http::Method;
use serde_json::Value;
use support::*;
use test_cluster::{Fault, FaultRule, cluster_or_skip, rule};

const APPMESH_PLURALS: [&str; 7] = [
    "meshes",
    "virtualnodes",
    "virtualservices",
    "virtualrouters",
    "virtualgateways",
    "gatewayroutes",
    "backendgroups",
];

#[test]
fn a_lost_reply_and_a_503_on_deletes_are_retried_and_the_run_ends_clean() {
    let Some(cluster) = cluster_or_skip("faults") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ns, mesh) = small_migrated(cluster, dir.path(), "faults", 3);
    let proxy = cluster.start_fault_proxy().unwrap();
    // The server deletes web-0 but the reply is lost; web-1's first DELETE gets a 503.
    proxy.add_rule(
        FaultRule::new(Fault::DropAfterForwarding)
            .method(Method::DELETE)
            .path_contains(&format!("/namespaces/{ns}/virtualnodes/web-0"))
            .times(1),
    );
    proxy.add_rule(
        FaultRule::new(Fault::Status(503))
            .method(Method::DELETE)
            .path_contains(&format!("/namespaces/{ns}/virtualnodes/web-1"))
            .times(1),
    );
    let run = cleanup(
        dir.path(),
        proxy.kubeconfig_path(),
        &["-n", &ns, "--yes", "-v", "--timeout", "20s"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("virtualnode.appmesh.k8s.aws/web-0 deleted"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("virtualnode.appmesh.k8s.aws/web-1 deleted (after 1 retries)"),
        "{}",
        run.stderr
    );
    assert_eq!(appmesh_objects(cluster, &ns), Vec::<Value>::new());
    let (mesh_left, _) = try_kubectl(cluster, &["get", "meshes.appmesh.k8s.aws", &mesh]);
    assert!(!mesh_left, "the Mesh had nothing left in it");
    let deletes: Vec<Option<u16>> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::DELETE && r.uri.contains("/virtualnodes/web-1"))
        .map(|r| r.status)
        .collect();
    assert_eq!(deletes, vec![Some(503), Some(200)]);
}

#[test]
fn two_clean_ups_at_once_both_succeed_and_everything_is_deleted_once() {
    let Some(cluster) = cluster_or_skip("concurrent") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ns, _) = small_migrated(cluster, dir.path(), "twice", 6);
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path().to_owned();
    let (ns_a, ns_b) = (ns.clone(), ns.clone());
    let (ka, kb) = (kubeconfig.clone(), kubeconfig.clone());
    let pa = a.path().to_owned();
    let pb = b.path().to_owned();
    let first =
        std::thread::spawn(move || cleanup(&pa, &ka, &["-n", &ns_a, "--yes", "--timeout", "20s"]));
    let second =
        std::thread::spawn(move || cleanup(&pb, &kb, &["-n", &ns_b, "--yes", "--timeout", "20s"]));
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(appmesh_objects(cluster, &ns), Vec::<Value>::new());
    // Each VirtualNode was deleted by exactly one run (the uid precondition refuses the
    // other, which then finds it gone: "already deleted").
    for i in 0..6 {
        let line = format!("virtualnode.appmesh.k8s.aws/web-{i} deleted");
        let by = [&first, &second]
            .iter()
            .filter(|r| r.stderr.lines().any(|l| l == line))
            .count();
        assert_eq!(by, 1, "web-{i}:\n{}\n{}", first.stderr, second.stderr);
    }
}

#[test]
fn the_documented_rights_are_enough_and_a_missing_one_is_listed_before_anything_changes() {
    let Some(cluster) = cluster_or_skip("rights") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ns, _) = small_migrated(cluster, dir.path(), "rights", 2);
    let user = cluster.restricted_identity(&ns, "cleaner").unwrap();
    // docs/cleanup.md, "Rights": cluster-wide reads, namespace reads, then deletes.
    cluster
        .grant(
            &user,
            None,
            vec![
                rule("appmesh.k8s.aws", &APPMESH_PLURALS, &["list"]),
                rule("appmesh.k8s.aws", &["meshes"], &["delete"]),
                rule("", &["namespaces"], &["get"]),
                rule(
                    "admissionregistration.k8s.io",
                    &[
                        "mutatingwebhookconfigurations",
                        "validatingwebhookconfigurations",
                    ],
                    &["list"],
                ),
            ],
        )
        .unwrap();
    cluster
        .grant(
            &user,
            Some(&ns),
            vec![
                rule("", &["pods", "services"], &["list"]),
                rule(
                    "apps",
                    &["deployments", "statefulsets", "daemonsets"],
                    &["list"],
                ),
                rule(
                    "networking.istio.io",
                    &[
                        "virtualservices",
                        "destinationrules",
                        "gateways",
                        "serviceentries",
                        "sidecars",
                    ],
                    &["list"],
                ),
                rule(
                    "security.istio.io",
                    &["peerauthentications", "authorizationpolicies"],
                    &["list"],
                ),
                rule("telemetry.istio.io", &["telemetries"], &["list"]),
            ],
        )
        .unwrap();
    let before = appmesh_objects(cluster, &ns).len();
    // Without delete on the namespace's App Mesh kinds: every missing right listed, no change.
    let refused = cleanup(dir.path(), user.kubeconfig_path(), &["-n", &ns, "--yes"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("lacks rights the plan needs; nothing was changed"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!(
            "not allowed to delete virtualnodes.appmesh.k8s.aws in namespace {ns}"
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!(
            "not allowed to delete virtualservices.appmesh.k8s.aws in namespace {ns}"
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(appmesh_objects(cluster, &ns).len(), before);

    cluster
        .grant(
            &user,
            Some(&ns),
            vec![rule(
                "appmesh.k8s.aws",
                &APPMESH_PLURALS,
                &["delete", "patch"],
            )],
        )
        .unwrap();
    let run = cleanup(
        dir.path(),
        user.kubeconfig_path(),
        &["-n", &ns, "--yes", "--timeout", "20s"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(appmesh_objects(cluster, &ns), Vec::<Value>::new());
}
