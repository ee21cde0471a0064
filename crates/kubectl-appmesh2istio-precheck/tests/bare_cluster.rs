//! Checks that need a cluster without App Mesh or Istio installed (no CRDs, no injector
//! webhooks): a private, minimal test API server, so the shared one keeps its CRDs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;
use test_cluster::{ClusterOptions, TestCluster, cluster_required, unavailable_reason};

fn bare_cluster(test: &str) -> Option<TestCluster> {
    if let Some(reason) = unavailable_reason() {
        assert!(
            !cluster_required(),
            "{test}: test cluster unavailable ({reason}) and CI requires it"
        );
        eprintln!("skipped {test}: test cluster unavailable ({reason})");
        return None;
    }
    Some(TestCluster::start(ClusterOptions::minimal()).unwrap())
}

#[test]
fn appmesh_and_istio_crds_missing_or_wrong() {
    let Some(cluster) = bare_cluster("appmesh_and_istio_crds_missing_or_wrong") else {
        return;
    };
    let ns = cluster.fresh_namespace("bare").unwrap();
    let planes = Planes {
        appmesh: "appmesh-system".into(),
        istio: "istio-system".into(),
    };

    // Nothing installed: App Mesh absent is information, Istio absent too.
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(&report, "AMI3101", "info", "APIGroup appmesh.k8s.aws");
    assert_eq!(
        f["message"],
        "the App Mesh API group is not served: App Mesh is not installed in this cluster"
    );
    assert_eq!(
        check(&report, "AMI3103")["skippedReason"],
        "App Mesh is not in use here (no controller, no App Mesh objects)"
    );
    expect_finding(&report, "AMI3201", "info", "Deployment istio-system/istiod");
    assert_eq!(
        check(&report, "AMI3206")["skippedReason"],
        "Istio is not installed"
    );

    // istiod without its injector webhook and without CRDs.
    kubectl(&cluster, &["create", "namespace", "istio-system"]);
    apply(
        &cluster,
        &deployment("istio-system", "istiod", "docker.io/istio/pilot:1.30.3", 1),
    );
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(
        &report,
        "AMI3205",
        "error",
        "MutatingWebhookConfiguration istio-sidecar-injector",
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("istiod runs but no MutatingWebhookConfiguration")
    );
    let missing = findings(&report, "AMI3206");
    assert_eq!(missing.len(), 8, "{missing:#?}");
    let f = expect_finding(
        &report,
        "AMI3206",
        "error",
        "CustomResourceDefinition virtualservices.networking.istio.io",
    );
    assert_eq!(
        f["message"],
        "networking.istio.io/v1 VirtualService is not served: convert's VirtualService objects cannot be applied"
    );
    expect_finding(
        &report,
        "AMI3206",
        "error",
        "CustomResourceDefinition telemetries.telemetry.istio.io",
    );

    // An App Mesh CRD that serves only v1beta1 (a pre-GA controller).
    apply(
        &cluster,
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: meshes.appmesh.k8s.aws}
spec:
  group: appmesh.k8s.aws
  scope: Cluster
  names: {kind: Mesh, plural: meshes, singular: mesh, listKind: MeshList}
  versions:
    - name: v1beta1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#,
    );
    kubectl(
        &cluster,
        &[
            "wait",
            "--for",
            "condition=established",
            "crd/meshes.appmesh.k8s.aws",
            "--timeout=60s",
        ],
    );
    let report = wait_report(&cluster, &ns, &planes, |r| {
        !findings(r, "AMI3102").is_empty()
    });
    let f = expect_finding(&report, "AMI3102", "error", "APIGroup appmesh.k8s.aws");
    assert_eq!(
        f["message"],
        "appmesh.k8s.aws/v1beta2 is not served (served: v1beta1); its objects cannot be read or converted"
    );
    assert!(findings(&report, "AMI3101").is_empty());
}

/// Discovery catches up with a new CRD within a second or two: poll.
fn wait_report(
    cluster: &TestCluster,
    ns: &str,
    planes: &Planes,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let report = precheck_ns(cluster.kubeconfig_path(), ns, planes, &[]).json();
        if done(&report) || std::time::Instant::now() > deadline {
            return report;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
