//! cleanup's cluster-wide effects, in a test binary (and so a test cluster) of their own: an
//! orphaned App Mesh webhook configuration is removed first whatever else is chosen, and
//! `--controller --crds` removes the controller, its webhooks and the CRDs. One test, in order,
//! because the second removes what every other test would need.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;
use test_cluster::cluster_or_skip;

fn pod_yaml(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  containers:\n  - name: app\n    image: registry.example.com/app:1\n"
    )
}

fn create_pod(cluster: &test_cluster::TestCluster, ns: &str, name: &str) -> (bool, String) {
    let path = std::env::temp_dir().join(format!("{ns}-{name}.yaml"));
    std::fs::write(&path, pod_yaml(ns, name)).unwrap();
    try_kubectl(cluster, &["create", "-f", path.to_str().unwrap()])
}

#[test]
fn orphaned_webhooks_go_first_then_controller_webhooks_and_crds_go_when_asked() {
    let Some(cluster) = cluster_or_skip("cluster_wide") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();

    // 1. A webhook configuration of App Mesh's whose service is gone, failurePolicy Fail.
    let ns = cluster.fresh_namespace("orphan").unwrap();
    kubectl(cluster, &["label", "ns", &ns, &format!("orphan-test={ns}")]);
    let webhook = format!("appmesh-{ns}-mutating-webhook-configuration");
    apply(
        cluster,
        &format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata:\n  name: {webhook}\n\
             webhooks:\n- name: mpod.appmesh.k8s.aws\n  clientConfig:\n    service:\n      namespace: {ns}\n      name: appmesh-controller-webhook-service\n      path: /mutate-v1-pod\n\
             \x20 rules:\n  - operations: [CREATE]\n    apiGroups: ['']\n    apiVersions: [v1]\n    resources: [pods]\n\
             \x20 namespaceSelector:\n    matchLabels:\n      orphan-test: {ns}\n\
             \x20 failurePolicy: Fail\n  sideEffects: None\n  admissionReviewVersions: [v1]\n  timeoutSeconds: 5\n"
        ),
    );
    let (created, message) = create_pod(cluster, &ns, "before");
    assert!(
        !created,
        "the orphaned webhook must block pod creation: {message}"
    );
    assert!(
        message.contains("appmesh-controller-webhook-service"),
        "{message}"
    );

    // precheck sees it (AMI3610) ...
    let findings = precheck_findings(cluster, appmesh2istio::cluster::NamespaceScope::All);
    assert!(
        findings.contains(&format!("AMI3610 MutatingWebhookConfiguration {webhook}")),
        "{findings:?}"
    );

    // Nothing else is chosen (the namespace has no App Mesh object): the webhook still goes.
    let run = cleanup(dir.path(), kubeconfig, &["-n", &ns, "--yes", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("AMI4212"), "{}", run.stderr);
    let (exists, _) = try_kubectl(cluster, &["get", "mutatingwebhookconfiguration", &webhook]);
    assert!(!exists, "the orphaned webhook configuration is deleted");
    let (created, message) = create_pod(cluster, &ns, "after");
    assert!(created, "pods are created again: {message}");
    let findings = precheck_findings(cluster, appmesh2istio::cluster::NamespaceScope::All);
    assert!(
        !findings.iter().any(|f| f.contains(&webhook)),
        "{findings:?}"
    );
    let items = run.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["kind"], "MutatingWebhookConfiguration");
    assert_eq!(items[0]["result"], "deleted");

    // 2. Everything: the controller (found by the chart's labels and names), its webhooks, the
    //    CRDs. The gates would block (the app still runs App Mesh sidecars): --force, said loudly.
    let state = cluster.load_before_state_as("shop").unwrap();
    apply(
        cluster,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: appmesh-controller-role\nrules: []\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: appmesh-controller-rolebinding\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: appmesh-controller-role\n\
         subjects:\n- kind: ServiceAccount\n  name: appmesh-controller\n  namespace: appmesh-system\n",
    );
    let run = cleanup(
        dir.path(),
        kubeconfig,
        &[
            "-A",
            "--labels",
            "--controller",
            "--crds",
            "--force",
            "--yes",
            "--timeout",
            "30s",
            "-o",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("SKIPPED"), "{}", run.stderr);
    let document = run.json();
    let phase_of = |kind: &str| {
        document["items"]
            .as_array()
            .unwrap()
            .iter()
            .position(|i| i["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {document}"))
    };
    assert!(phase_of("VirtualNode") < phase_of("Mesh"));
    assert!(phase_of("Mesh") < phase_of("Deployment"));
    assert!(phase_of("Deployment") < phase_of("CustomResourceDefinition"));
    for gone in [
        vec!["deployment", "appmesh-controller", "-n", "appmesh-system"],
        vec![
            "serviceaccount",
            "appmesh-controller",
            "-n",
            "appmesh-system",
        ],
        vec![
            "service",
            "appmesh-controller-webhook-service",
            "-n",
            "appmesh-system",
        ],
        vec!["clusterrole", "appmesh-controller-role"],
        vec!["clusterrolebinding", "appmesh-controller-rolebinding"],
        vec![
            "mutatingwebhookconfiguration",
            test_cluster::APPMESH_WEBHOOK_CONFIGURATION,
        ],
        vec!["crd", "virtualnodes.appmesh.k8s.aws"],
        vec!["crd", "meshes.appmesh.k8s.aws"],
    ] {
        let mut args = vec!["get"];
        args.extend(gone.iter().copied());
        let (exists, out) = try_kubectl(cluster, &args);
        assert!(!exists, "{gone:?} should be gone: {out}");
    }
    // Istio's injector is not App Mesh's.
    let (istio, _) = try_kubectl(
        cluster,
        &[
            "get",
            "mutatingwebhookconfiguration",
            test_cluster::ISTIO_WEBHOOK_CONFIGURATION,
        ],
    );
    assert!(istio);
    let namespace = get_json(cluster, &["ns", &state.meshed_namespaces[0]]);
    let labels = namespace["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        !labels.contains_key("appmesh.k8s.aws/sidecarInjectorWebhook"),
        "{labels:?}"
    );
    assert!(
        !labels.contains_key("mesh"),
        "the deleted Mesh's selector label goes: {labels:?}"
    );

    // A second run finds nothing to do.
    let again = cleanup(
        dir.path(),
        kubeconfig,
        &["-A", "--labels", "--controller", "--crds", "--yes"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to clean up"),
        "{}",
        again.stderr
    );
}
