//! precheck against the real test API server (kube-apiserver 1.20 + etcd + controller-manager,
//! with the App Mesh and Istio CRDs and both injectors): one test per check, each in its own
//! namespaces, asserting the exact finding (code, severity, object). Cluster-scoped state
//! (webhook configurations, Meshes) is shared, so every test looks for the control planes in
//! namespaces of its own (`--appmesh-namespace`, `--istio-namespace`) and asserts on its own
//! objects only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;
use test_cluster::{Fault, FaultRule, cluster_or_skip};

// ---------------------------------------------------------------------------------------------
// cluster-access

#[test]
fn clean_namespace_passes_and_exits_zero() {
    let Some(cluster) = cluster_or_skip("clean_namespace_passes_and_exits_zero") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster.fresh_namespace("clean").unwrap();
    // Kubernetes 1.20 is older than Istio 1.30 supports: the one error a clean namespace of the
    // test cluster has, skipped here to see everything else pass.
    let run = precheck_ns(
        cluster.kubeconfig_path(),
        &ns,
        &planes,
        &["--skip", "AMI3002"],
    );
    let report = run.json();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(report["apiVersion"], "appmesh2istio.io/v1alpha1");
    assert_eq!(report["kind"], "PrecheckReport");
    assert_eq!(report["success"], true);
    assert_eq!(report["completed"], true);
    assert_eq!(report["source"]["mode"], "cluster");
    assert_eq!(report["source"]["namespace"], ns.as_str());
    assert_eq!(report["source"]["kubernetesVersion"], "v1.20.2");
    for category in report["categories"].as_array().unwrap() {
        for check in category["checks"].as_array().unwrap() {
            let status = check["status"].as_str().unwrap();
            assert!(
                matches!(status, "pass" | "info" | "skipped"),
                "{} is {status}: {:#}",
                check["code"],
                check["findings"]
            );
        }
    }
    for code in [
        "AMI3001", "AMI3004", "AMI3005", "AMI3006", "AMI3101", "AMI3103", "AMI3105", "AMI3201",
        "AMI3205", "AMI3206", "AMI3301",
    ] {
        assert_eq!(
            check(&report, code)["status"],
            "pass",
            "{code}: {:#}",
            check(&report, code)
        );
    }
    // The version check ran; its only finding was dropped, so it shows as skipped (not as
    // passed), and the report says why.
    let version = check(&report, "AMI3002");
    assert_eq!(version["status"], "skipped");
    assert_eq!(
        version["skippedReason"], "what it found (1 finding) is excluded with --skip",
        "{version:#}"
    );
    assert_eq!(
        version["details"][1], "1 finding not shown (--skip)",
        "{version:#}"
    );
    // The controller and istiod were found, with versions from their images.
    let details = check(&report, "AMI3103")["details"].to_string();
    assert!(
        details.contains("v1.13.3") && details.contains(&planes.appmesh),
        "{details}"
    );
    let details = check(&report, "AMI3201")["details"].to_string();
    assert!(
        details.contains("1.30.3") && details.contains("revision default"),
        "{details}"
    );
    // Paginated reads: a fixed number of requests, whatever the cluster holds.
    let requests = report["api"]["requests"].as_u64().unwrap();
    assert!(requests > 10 && requests < 120, "{requests} requests");
}

#[test]
fn old_kubernetes_is_an_error_and_exit_code_5() {
    let Some(cluster) = cluster_or_skip("old_kubernetes_is_an_error_and_exit_code_5") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster.fresh_namespace("version").unwrap();
    let run = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["success"], false);
    let all = findings(&report, "AMI3002");
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["severity"], "error");
    assert_eq!(all[0]["subject"]["kind"], "Cluster");
    assert!(
        all[0]["message"]
            .as_str()
            .unwrap()
            .contains("Kubernetes v1.20.2 is older than Istio 1.30 supports")
    );
    // Only AMI3002 fails: --fail-on error counts exactly it.
    assert_eq!(
        report["summary"]["findings"]["error"], 1,
        "{:#}",
        report["summary"]
    );
}

#[test]
fn fail_on_warning_and_info_change_the_exit_code() {
    let Some(cluster) = cluster_or_skip("fail_on_warning_and_info_change_the_exit_code") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    // A warning (AMI3304) and nothing else above info.
    let ns = cluster
        .fresh_namespace_with_labels(
            "failon",
            &[("istio-injection", "enabled"), ("istio.io/rev", "default")],
        )
        .unwrap();
    let base = ["--skip", "AMI3002"];
    assert_eq!(
        precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &base).code,
        0
    );
    let run = precheck_ns(
        cluster.kubeconfig_path(),
        &ns,
        &planes,
        &["--skip", "AMI3002", "--fail-on", "warning"],
    );
    assert_eq!(run.code, 5, "{}", run.stdout);
    assert_eq!(run.json()["failOn"], "warning");
    // Skipping the warning's code brings it back to 0.
    let run = precheck_ns(
        cluster.kubeconfig_path(),
        &ns,
        &planes,
        &["--skip", "AMI3002,AMI3304", "--fail-on", "warning"],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(check(&run.json(), "AMI3304")["status"], "skipped");
}

#[test]
fn restricted_identity_gets_one_finding_per_missing_right() {
    let Some(cluster) = cluster_or_skip("restricted_identity_gets_one_finding_per_missing_right")
    else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster.fresh_namespace("rbac").unwrap();
    let identity = cluster.restricted_identity(&ns, "precheck-user").unwrap();
    // It may read pods, services and the workloads in its namespace, and nothing else.
    cluster
        .grant(
            &identity,
            Some(&ns),
            vec![
                test_cluster::rule("", &["pods", "services"], &["get", "list", "watch"]),
                test_cluster::rule(
                    "apps",
                    &["deployments", "statefulsets", "daemonsets"],
                    &["get", "list", "watch"],
                ),
            ],
        )
        .unwrap();
    let run = precheck_ns(identity.kubeconfig_path(), &ns, &planes, &[]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    let report = run.json();
    // Reads: App Mesh kinds (list each), namespaces, webhooks. Granted ones absent.
    let f = expect_finding(
        &report,
        "AMI3004",
        "error",
        &format!("Permission {ns}/list virtualnodes.appmesh.k8s.aws"),
    );
    assert_eq!(
        f["message"],
        format!(
            "cannot list virtualnodes.appmesh.k8s.aws in namespace {ns} (needed by precheck, convert)"
        )
    );
    // No command watches App Mesh objects, so that right is not asked for.
    assert!(!run.stdout.contains("watch virtualnodes"), "{}", run.stdout);
    expect_finding(
        &report,
        "AMI3004",
        "error",
        "Permission list meshes.appmesh.k8s.aws",
    );
    expect_finding(&report, "AMI3004", "error", "Permission list namespaces");
    expect_finding(
        &report,
        "AMI3004",
        "error",
        "Permission list mutatingwebhookconfigurations.admissionregistration.k8s.io",
    );
    no_finding(&report, "AMI3004", &format!("Permission {ns}/list pods"));
    no_finding(
        &report,
        "AMI3004",
        &format!("Permission {ns}/list deployments.apps"),
    );
    // The dashboard's lists of the eight Istio kinds convert writes.
    expect_finding(
        &report,
        "AMI3004",
        "error",
        &format!("Permission {ns}/list virtualservices.networking.istio.io"),
    );
    assert_eq!(
        findings(&report, "AMI3004").len(),
        7 + 1 + 2 + 8,
        "{:#?}",
        findings(&report, "AMI3004")
    );
    // Writes the later steps need: every one missing.
    expect_finding(&report, "AMI3005", "error", "Permission patch namespaces");
    expect_finding(
        &report,
        "AMI3005",
        "error",
        &format!("Permission {ns}/patch deployments.apps"),
    );
    let f = expect_finding(
        &report,
        "AMI3005",
        "error",
        &format!("Permission {ns}/create virtualservices.networking.istio.io"),
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("(needed by convert --apply)"),
        "{f:#}"
    );
    assert_eq!(findings(&report, "AMI3005").len(), 2 + 3 + 16);
    // What could not be read is reported once per resource, and its checks are skipped.
    let f = expect_finding(
        &report,
        "AMI3006",
        "error",
        "Resource virtualnodes.appmesh.k8s.aws",
    );
    assert!(f["message"].as_str().unwrap().contains("403"), "{f:#}");
    expect_finding(
        &report,
        "AMI3006",
        "error",
        "Resource mutatingwebhookconfigurations.admissionregistration.k8s.io",
    );
    no_finding(&report, "AMI3006", "Resource pods");
    let webhooks = check(&report, "AMI3105");
    assert_eq!(webhooks["status"], "skipped");
    assert!(
        webhooks["skippedReason"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{webhooks:#}"
    );
    // Checks on what it could read still ran.
    assert_eq!(check(&report, "AMI3303")["status"], "pass");
}

// ---------------------------------------------------------------------------------------------
// appmesh

#[test]
fn appmesh_objects_without_controller_and_their_webhook() {
    let Some(cluster) = cluster_or_skip("appmesh_objects_without_controller_and_their_webhook")
    else {
        return;
    };
    let planes = planes(cluster, false, None);
    let mesh_name = cluster.unique_name("nocontroller");
    apply(cluster, &mesh(&mesh_name, ""));
    let ns = meshed_namespace(cluster, "nocontroller", &mesh_name, &[]);
    apply(
        cluster,
        &format!(
            r#"apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {{name: cart, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: cart}}}}
  listeners: [{{portMapping: {{port: 8080, protocol: http}}}}]
  serviceDiscovery: {{dns: {{hostname: cart.{ns}.svc.cluster.local}}}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {{name: cart, namespace: {ns}}}
spec:
  provider: {{virtualNode: {{virtualNodeRef: {{name: cart}}}}}}
"#
        ),
    );
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(
        &report,
        "AMI3103",
        "warning",
        &format!("Deployment {}/appmesh-controller", planes.appmesh),
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("but 3 App Mesh objects exist"),
        "{f:#}"
    );
    // The test cluster's App Mesh webhooks (failurePolicy Fail) have no controller behind them.
    let f = expect_finding(
        &report,
        "AMI3105",
        "error",
        &format!(
            "MutatingWebhookConfiguration {}",
            test_cluster::APPMESH_WEBHOOK_CONFIGURATION
        ),
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("pod creation fails"),
        "{f:#}"
    );
    // The inventory: the Mesh (cluster-scoped, relevant because it selects the namespace) and
    // the namespace's objects.
    let f = expect_finding(&report, "AMI3106", "info", &format!("Namespace {ns}"));
    assert_eq!(f["message"], "1 VirtualNode, 1 VirtualService");
    let f = expect_finding(&report, "AMI3106", "info", &format!("Mesh {mesh_name}"));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .ends_with(&format!("selects {ns}")),
        "{f:#}"
    );
    assert_eq!(check(&report, "AMI3101")["status"], "pass");
}

#[test]
fn appmesh_controller_without_available_replica() {
    let Some(cluster) = cluster_or_skip("appmesh_controller_without_available_replica") else {
        return;
    };
    let planes = planes(cluster, false, None);
    apply(
        cluster,
        &deployment(
            &planes.appmesh,
            "appmesh-controller",
            "public.ecr.aws/appmesh/appmesh-controller:v1.13.3",
            0,
        ),
    );
    let ns = cluster.fresh_namespace("unavailable").unwrap();
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(
        &report,
        "AMI3104",
        "warning",
        &format!("Deployment {}/appmesh-controller", planes.appmesh),
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("no available replica (0/0)"),
        "{f:#}"
    );
    assert!(
        check(&report, "AMI3103")["details"][0]
            .as_str()
            .unwrap()
            .contains("v1.13.3")
    );
    // Not available counts as not running for the webhook.
    findings(&report, "AMI3105")
        .iter()
        .find(|f| subject(f).contains(test_cluster::APPMESH_WEBHOOK_CONFIGURATION))
        .unwrap();
}

#[test]
fn appmesh_object_stuck_in_deletion_and_finalizers() {
    let Some(cluster) = cluster_or_skip("appmesh_object_stuck_in_deletion_and_finalizers") else {
        return;
    };
    let mesh_name = cluster.unique_name("stuck");
    apply(cluster, &mesh(&mesh_name, ""));
    let ns = meshed_namespace(cluster, "stuck", &mesh_name, &[]);
    let vn = |name: &str| {
        format!(
            r#"apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: {name}
  namespace: {ns}
  finalizers: [finalizers.appmesh.k8s.aws/aws-appmesh-resources]
spec: {{podSelector: {{matchLabels: {{app: {name}}}}}}}
"#
        )
    };
    apply(cluster, &(vn("gone") + "---\n" + &vn("kept")));
    kubectl(
        cluster,
        &["delete", "virtualnode", "gone", "-n", &ns, "--wait=false"],
    );

    // No controller: the deletion hangs, and the other object's finalizer cannot be released.
    let planes_without = planes(cluster, false, None);
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes_without, &[]).json();
    let f = expect_finding(
        &report,
        "AMI3107",
        "warning",
        &format!("VirtualNode {ns}/gone"),
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("finalizers finalizers.appmesh.k8s.aws/aws-appmesh-resources"),
        "{f:#}"
    );
    assert_eq!(f["field"], "metadata.finalizers");
    no_finding(&report, "AMI3107", &format!("VirtualNode {ns}/kept"));
    let f = expect_finding(&report, "AMI3602", "warning", &format!("Namespace {ns}"));
    assert_eq!(
        f["message"],
        "1 object carries App Mesh finalizers (finalizers.appmesh.k8s.aws/aws-appmesh-resources) and no App Mesh controller is available: deleting them will hang"
    );

    // With a running controller the same finalizer is guidance, not a warning.
    let planes_with = planes(cluster, true, None);
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes_with, &[]).json();
    let f = expect_finding(&report, "AMI3601", "info", &format!("Namespace {ns}"));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("delete them in the order GatewayRoute, VirtualGateway"),
        "{f:#}"
    );
    assert!(
        findings(&report, "AMI3602")
            .iter()
            .all(|f| subject(f) != format!("Namespace {ns}"))
    );
    // Let the namespace go when the test cluster is torn down.
    kubectl(
        cluster,
        &[
            "patch",
            "virtualnode",
            "gone",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    );
}

#[test]
fn shared_mesh_and_arn_references() {
    let Some(cluster) = cluster_or_skip("shared_mesh_and_arn_references") else {
        return;
    };
    let planes = planes(cluster, true, None);
    let mesh_name = cluster.unique_name("shared");
    apply(
        cluster,
        &mesh(&mesh_name, "  meshOwner: \"111122223333\"\n"),
    );
    let ns = meshed_namespace(cluster, "shared", &mesh_name, &[]);
    apply(
        cluster,
        &format!(
            r#"apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {{name: client, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: client}}}}
  backends:
    - virtualService: {{virtualServiceARN: "arn:aws:appmesh:us-west-2:444455556666:mesh/{mesh_name}/virtualService/pay.example.com"}}
"#
        ),
    );
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let all = findings(&report, "AMI3108");
    assert_eq!(all.len(), 2, "{all:#?}");
    let owner = all.iter().find(|f| f["field"] == "spec.meshOwner").unwrap();
    assert_eq!(subject(owner), format!("Mesh {mesh_name}"));
    assert_eq!(owner["severity"], "warning");
    assert!(
        owner["message"]
            .as_str()
            .unwrap()
            .contains("owned by AWS account 111122223333")
    );
    let arn = all.iter().find(|f| f["field"].is_null()).unwrap();
    assert_eq!(subject(arn), format!("Mesh {mesh_name}"));
    assert!(
        arn["message"].as_str().unwrap().contains(&format!(
            "of AWS account 444455556666 is referenced by ARN from VirtualNode {ns}/client"
        )),
        "{arn:#}"
    );
    // Cleanup: deleting this Mesh acts on another account's mesh.
    let f = expect_finding(&report, "AMI3604", "warning", &format!("Mesh {mesh_name}"));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("belongs to AWS account 111122223333")
    );
}

#[test]
fn cloud_map_virtual_node_and_mesh_deletion() {
    let Some(cluster) = cluster_or_skip("cloud_map_virtual_node_and_mesh_deletion") else {
        return;
    };
    let planes = planes(cluster, true, None);
    let mesh_name = cluster.unique_name("cloudmap");
    apply(cluster, &mesh(&mesh_name, ""));
    let ns = meshed_namespace(cluster, "cloudmap", &mesh_name, &[]);
    apply(
        cluster,
        &format!(
            r#"apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {{name: orders, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: orders}}}}
  listeners: [{{portMapping: {{port: 8080, protocol: http}}}}]
  serviceDiscovery: {{awsCloudMap: {{namespaceName: shop.local, serviceName: orders}}}}
"#
        ),
    );
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(
        &report,
        "AMI3603",
        "warning",
        &format!("VirtualNode {ns}/orders"),
    );
    assert_eq!(f["field"], "spec.serviceDiscovery.awsCloudMap");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("Cloud Map service orders in namespace shop.local")
    );
    let f = expect_finding(&report, "AMI3605", "info", &format!("Mesh {mesh_name}"));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains(&format!("deletes App Mesh mesh {mesh_name} in AWS"))
    );
    no_finding(&report, "AMI3604", &format!("Mesh {mesh_name}"));
}

// ---------------------------------------------------------------------------------------------
// istio

#[test]
fn istio_not_installed_is_information() {
    let Some(cluster) = cluster_or_skip("istio_not_installed_is_information") else {
        return;
    };
    let planes = planes(cluster, true, None);
    let ns = cluster.fresh_namespace("noistio").unwrap();
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(
        &report,
        "AMI3201",
        "info",
        &format!("Deployment {}/istiod", planes.istio),
    );
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains("Istio is not installed") && message.contains("convert --install"),
        "{message}"
    );
    // The test cluster has Istio's CRDs and injector webhook: said, not hidden.
    assert!(message.contains("left over"), "{message}");
    assert_eq!(check(&report, "AMI3204")["status"], "skipped");
    assert_eq!(
        check(&report, "AMI3205")["skippedReason"],
        "Istio is not installed"
    );
}

#[test]
fn istio_versions() {
    let Some(cluster) = cluster_or_skip("istio_versions") else {
        return;
    };
    let ns = cluster.fresh_namespace("istioversion").unwrap();
    let old = planes(cluster, true, Some("1.20.8"));
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &old, &[]).json();
    let f = expect_finding(
        &report,
        "AMI3202",
        "error",
        &format!("Deployment {}/istiod", old.istio),
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("Istio 1.20.8 does not serve the networking.istio.io/v1")
    );
    no_finding(
        &report,
        "AMI3203",
        &format!("Deployment {}/istiod", old.istio),
    );

    let other = planes(cluster, true, Some("1.28.1-distroless"));
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &other, &[]).json();
    let f = expect_finding(
        &report,
        "AMI3203",
        "info",
        &format!("Deployment {}/istiod", other.istio),
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("Istio 1.28.1-distroless is installed")
    );
    assert!(findings(&report, "AMI3202").is_empty());
}

#[test]
fn namespace_with_unknown_istio_revision() {
    let Some(cluster) = cluster_or_skip("namespace_with_unknown_istio_revision") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster
        .fresh_namespace_with_labels("badrev", &[("istio.io/rev", "canary-1-31")])
        .unwrap();
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(&report, "AMI3204", "warning", &format!("Namespace {ns}"));
    assert_eq!(f["field"], "metadata.labels.istio.io/rev");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("istio.io/rev=canary-1-31 names no installed revision or tag")
    );
    // A revision that exists is fine.
    let good = cluster
        .fresh_namespace_with_labels("goodrev", &[("istio.io/rev", "default")])
        .unwrap();
    let report = precheck_ns(cluster.kubeconfig_path(), &good, &planes, &[]).json();
    assert_eq!(check(&report, "AMI3204")["status"], "pass");
}

// ---------------------------------------------------------------------------------------------
// coexistence

#[test]
fn namespaces_selected_by_both_injectors() {
    let Some(cluster) = cluster_or_skip("namespaces_selected_by_both_injectors") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let both = cluster
        .fresh_namespace_with_labels(
            "both",
            &[
                ("appmesh.k8s.aws/sidecarInjectorWebhook", "enabled"),
                ("istio-injection", "enabled"),
            ],
        )
        .unwrap();
    let report = precheck_ns(cluster.kubeconfig_path(), &both, &planes, &[]).json();
    let f = expect_finding(&report, "AMI3301", "error", &format!("Namespace {both}"));
    assert!(f["message"].as_str().unwrap().starts_with(
        "labelled appmesh.k8s.aws/sidecarInjectorWebhook=enabled and istio-injection=enabled: every new pod gets both"
    ));

    let optin = cluster
        .fresh_namespace_with_labels(
            "optin",
            &[
                ("appmesh.k8s.aws/sidecarInjectorWebhook", "disabled"),
                ("istio.io/rev", "default"),
            ],
        )
        .unwrap();
    let report = precheck_ns(cluster.kubeconfig_path(), &optin, &planes, &[]).json();
    let f = expect_finding(&report, "AMI3302", "warning", &format!("Namespace {optin}"));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("istio.io/rev=default")
    );
    assert!(findings(&report, "AMI3301").is_empty());
}

#[test]
fn namespace_with_both_istio_labels() {
    let Some(cluster) = cluster_or_skip("namespace_with_both_istio_labels") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster
        .fresh_namespace_with_labels(
            "twolabels",
            &[("istio-injection", "enabled"), ("istio.io/rev", "default")],
        )
        .unwrap();
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(&report, "AMI3304", "warning", &format!("Namespace {ns}"));
    assert_eq!(
        f["message"],
        "labelled istio-injection=enabled and istio.io/rev=default: istio-injection wins and istio.io/rev is ignored"
    );
}

/// A pod template (or pod spec) carrying App Mesh's Envoy, as the injector leaves it.
fn appmesh_envoy() -> String {
    format!(
        r#"{{name: envoy, image: "{}", env: [{{name: APPMESH_VIRTUAL_NODE_NAME, value: "mesh/m/virtualNode/x"}}], securityContext: {{runAsUser: 1337}}}}"#,
        test_cluster::APPMESH_ENVOY_IMAGE
    )
}

#[test]
fn pod_with_both_sidecars_and_workloads_with_appmesh_sidecars() {
    let Some(cluster) =
        cluster_or_skip("pod_with_both_sidecars_and_workloads_with_appmesh_sidecars")
    else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    // No injection labels: the pods are created exactly as written.
    let ns = cluster.fresh_namespace("sidecars").unwrap();
    apply(
        cluster,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: double, namespace: {ns}}}
spec:
  containers:
    - {{name: app, image: "registry.example/app:1"}}
    - {envoy}
    - {{name: istio-proxy, image: "{istio}"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - {{name: app, image: "registry.example/web:1"}}
        - {envoy}
"#,
            envoy = appmesh_envoy(),
            istio = test_cluster::ISTIO_PROXY_IMAGE
        ),
    );
    wait_available(cluster, &ns, "web");
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(&report, "AMI3303", "error", &format!("Pod {ns}/double"));
    assert_eq!(
        f["message"],
        "runs App Mesh's Envoy and istio-proxy side by side"
    );
    // Pods are traced to the workload to restart (through the ReplicaSet's pod-template-hash).
    let f = expect_finding(&report, "AMI3401", "info", &format!("Deployment {ns}/web"));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("2 pods carry App Mesh's Envoy sidecar: restart it"),
        "{f:#}"
    );
    let f = expect_finding(&report, "AMI3401", "info", &format!("Pod {ns}/double"));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("1 pod carries App Mesh's Envoy sidecar: recreate it"),
        "{f:#}"
    );
    // The Envoy sidecar's own UID 1337 is not an application container's.
    assert!(
        findings(&report, "AMI3404")
            .iter()
            .all(|f| !subject(f).contains(&ns))
    );
}

// ---------------------------------------------------------------------------------------------
// workloads

#[test]
fn fargate_pods_in_the_mesh() {
    let Some(cluster) = cluster_or_skip("fargate_pods_in_the_mesh") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster.fresh_namespace("fargate").unwrap();
    apply(
        cluster,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: on-fargate
  namespace: {ns}
  labels: {{eks.amazonaws.com/fargate-profile: fp-default}}
spec:
  containers:
    - {{name: app, image: "registry.example/app:1"}}
    - {envoy}
---
apiVersion: v1
kind: Pod
metadata:
  name: on-ec2
  namespace: {ns}
spec:
  containers:
    - {{name: app, image: "registry.example/app:1"}}
    - {envoy}
"#,
            envoy = appmesh_envoy()
        ),
    );
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let f = expect_finding(&report, "AMI3402", "error", &format!("Pod {ns}/on-fargate"));
    assert!(f["message"].as_str().unwrap().starts_with(
        "1 pod runs on AWS Fargate (label eks.amazonaws.com/fargate-profile=fp-default): Fargate grants neither NET_ADMIN"
    ));
    no_finding(&report, "AMI3402", &format!("Pod {ns}/on-ec2"));
}

#[test]
fn meshed_workload_problems() {
    let Some(cluster) = cluster_or_skip("meshed_workload_problems") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    // App Mesh injection opt-in: meshed, but these pods (not annotated enabled) get no sidecar.
    let ns = cluster
        .fresh_namespace_with_labels(
            "workloads",
            &[("appmesh.k8s.aws/sidecarInjectorWebhook", "disabled")],
        )
        .unwrap();
    let workload = |name: &str, spec_extra: &str, pod_extra: &str, annotations: &str| {
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: 1
{spec_extra}  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{{annotations}}}
    spec:
{pod_extra}      containers:
        - {{name: app, image: "registry.example/{name}:1"}}
---
"#
        )
    };
    let yaml = workload("hostnet", "", "      hostNetwork: true\n", "")
        + &workload("uid", "", "      securityContext: {runAsUser: 1337}\n", "")
        + &workload("paused", "  paused: true\n", "", "")
        + &workload(
            "annotated",
            "",
            "",
            r#"appmesh.k8s.aws/egressIgnoredPorts: "22", appmesh.k8s.aws/cpuRequest: 20m, appmesh.k8s.aws/sds: disabled"#,
        );
    apply(cluster, &yaml);
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();

    let f = expect_finding(
        &report,
        "AMI3403",
        "warning",
        &format!("Deployment {ns}/hostnet"),
    );
    assert_eq!(f["field"], "spec.template.spec.hostNetwork");

    let f = expect_finding(&report, "AMI3404", "error", &format!("Deployment {ns}/uid"));
    assert_eq!(f["field"], "spec.template.spec.securityContext.runAsUser");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("container app runs as UID 1337")
    );

    let f = expect_finding(
        &report,
        "AMI3405",
        "warning",
        &format!("Deployment {ns}/paused"),
    );
    assert_eq!(f["field"], "spec.paused");

    let f = expect_finding(
        &report,
        "AMI3406",
        "info",
        &format!("Deployment {ns}/annotated"),
    );
    assert_eq!(
        f["message"],
        "appmesh.k8s.aws/cpuRequest → sidecar.istio.io/proxyCPU; appmesh.k8s.aws/egressIgnoredPorts → traffic.sidecar.istio.io/excludeOutboundPorts"
    );
    assert_eq!(f["field"], "spec.template.metadata.annotations");
    let f = expect_finding(
        &report,
        "AMI3407",
        "warning",
        &format!("Deployment {ns}/annotated"),
    );
    assert_eq!(
        f["message"],
        "appmesh.k8s.aws/sds (App Mesh-specific: no Istio counterpart)"
    );

    // Only where they are: the other workloads are clean.
    no_finding(&report, "AMI3403", &format!("Deployment {ns}/uid"));
    no_finding(&report, "AMI3405", &format!("Deployment {ns}/hostnet"));
}

#[test]
fn host_network_outside_the_mesh_is_not_reported() {
    let Some(cluster) = cluster_or_skip("host_network_outside_the_mesh_is_not_reported") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster.fresh_namespace("notmeshed").unwrap();
    let yaml = deployment(&ns, "agent", "registry.example/agent:1", 1)
        .replace("    spec:\n", "    spec:\n      hostNetwork: true\n");
    apply(cluster, &yaml);
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    assert_eq!(
        check(&report, "AMI3403")["status"],
        "pass",
        "{:#}",
        check(&report, "AMI3403")
    );
}

// ---------------------------------------------------------------------------------------------
// reading: pagination, -v, retries

#[test]
fn lists_are_paginated_and_v_shows_the_requests() {
    let Some(cluster) = cluster_or_skip("lists_are_paginated_and_v_shows_the_requests") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster.fresh_namespace("paginated").unwrap();
    two_pages_of_services(cluster, &ns);
    let run = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &["-v"]);
    let report = run.json();
    let service_lists: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with(&format!("GET /api/v1/namespaces/{ns}/services?")))
        .collect();
    assert_eq!(service_lists.len(), 2, "{}", run.stderr);
    assert!(
        service_lists
            .iter()
            .all(|l| l.contains("limit=500") && l.contains(" 200 in ")),
        "{service_lists:#?}"
    );
    assert!(service_lists[1].contains("continue="), "{service_lists:#?}");
    // No GET per object anywhere: every GET is a list, discovery or /version.
    let gets: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("GET "))
        .collect();
    assert!(
        gets.iter().all(|l| l.contains("limit=500")
            || l.starts_with("GET /version")
            || l.starts_with("GET /apis")
            || l.starts_with(&format!("GET /api/v1/namespaces/{ns} "))),
        "{gets:#?}"
    );
    // The summary line matches the report's count.
    let requests = report["api"]["requests"].as_u64().unwrap();
    assert!(
        run.stderr
            .contains(&format!("{requests} API requests (0 retries) in ")),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.contains(" in ") && l.ends_with(" ms"))
            .count() as u64,
        requests,
        "{}",
        run.stderr
    );
}

/// 501 headless Services: the service list is two pages of 500.
fn two_pages_of_services(cluster: &test_cluster::TestCluster, ns: &str) {
    cluster.create_headless_services(ns, 501).unwrap();
}

/// The report without what differs between two runs of the same read (request counts, time).
fn without_api(mut report: serde_json::Value) -> serde_json::Value {
    if let Some(map) = report.as_object_mut() {
        map.remove("api");
    }
    report
}

#[test]
fn an_expired_continue_token_restarts_the_list_from_the_beginning() {
    let Some(cluster) =
        cluster_or_skip("an_expired_continue_token_restarts_the_list_from_the_beginning")
    else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster.fresh_namespace("expired").unwrap();
    two_pages_of_services(cluster, &ns);
    let proxy = cluster.start_fault_proxy().unwrap();
    let unfaulted = precheck_ns(proxy.kubeconfig_path(), &ns, &planes, &[]);
    proxy.clear_journal();
    // The apiserver's answer once etcd compacted the revision the token points at.
    proxy.add_rule(FaultRule::expired_continue(&format!(
        "/namespaces/{ns}/services"
    )));
    let faulted = precheck_ns(proxy.kubeconfig_path(), &ns, &planes, &[]);
    assert_eq!(proxy.faults_applied(), 1);
    assert_eq!(faulted.code, unfaulted.code, "{}", faulted.stderr);
    assert_eq!(
        without_api(faulted.json()),
        without_api(unfaulted.json()),
        "{}",
        faulted.stderr
    );
    // The service list: page 1, page 2 (410), then page 1 and page 2 again.
    let lists: Vec<(bool, Option<u16>)> = proxy
        .requests()
        .iter()
        .filter(|r| {
            r.uri
                .starts_with(&format!("/api/v1/namespaces/{ns}/services?"))
        })
        .map(|r| (r.uri.contains("continue="), r.status))
        .collect();
    assert_eq!(
        lists,
        vec![
            (false, Some(200)),
            (true, Some(410)),
            (false, Some(200)),
            (true, Some(200)),
        ]
    );
}

#[test]
fn a_continue_token_that_keeps_expiring_is_a_read_error_naming_the_list() {
    let Some(cluster) =
        cluster_or_skip("a_continue_token_that_keeps_expiring_is_a_read_error_naming_the_list")
    else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster.fresh_namespace("expiring").unwrap();
    two_pages_of_services(cluster, &ns);
    let proxy = cluster.start_fault_proxy().unwrap();
    proxy.add_rule(FaultRule::expired_continue(&format!("/namespaces/{ns}/services")).always());
    let run = precheck_ns(proxy.kubeconfig_path(), &ns, &planes, &[]);
    let report = run.json();
    // The first try and two restarts, then precheck gives up on that list (and only that one).
    assert_eq!(proxy.faults_applied(), 3);
    assert_ne!(run.code, 0, "{}", run.stderr);
    let unread = findings(&report, "AMI3006");
    assert_eq!(unread.len(), 1, "{unread:#?}");
    let message = unread[0]["message"].as_str().unwrap();
    assert!(
        message
            .contains("cannot list services: the list's continue token expired 3 times in a row")
            && message.contains("410 (Expired): The provided continue parameter is too old"),
        "{message}"
    );
}

#[test]
fn reads_are_retried_writes_are_not() {
    let Some(cluster) = cluster_or_skip("reads_are_retried_writes_are_not") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let ns = cluster.fresh_namespace("retries").unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    // Two 503s on the pod list, one 429 (Retry-After 1 s) on discovery: both are retried.
    proxy.add_rule(
        FaultRule::new(Fault::Status(503))
            .method(http::Method::GET)
            .path_contains("/pods")
            .times(2),
    );
    proxy.add_rule(
        FaultRule::new(Fault::TooManyRequests {
            retry_after_seconds: 1,
        })
        .method(http::Method::GET)
        .path_contains("/apis")
        .times(1),
    );
    // A 500 on one access review (a POST) is not retried: that right is reported as unknown.
    proxy.add_rule(
        FaultRule::new(Fault::Status(500))
            .method(http::Method::POST)
            .path_contains("selfsubjectaccessreviews")
            .times(1),
    );
    let started = std::time::Instant::now();
    let run = precheck_ns(proxy.kubeconfig_path(), &ns, &planes, &[]);
    let report = run.json();
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(report["completed"], true, "{}", run.stderr);
    assert_eq!(report["api"]["retries"], 3, "{:#}", report["api"]);
    assert_eq!(
        check(&report, "AMI3303")["status"],
        "pass",
        "pods were read after the retries"
    );
    assert_eq!(
        check(&report, "AMI3006")["status"],
        "pass",
        "{:#}",
        check(&report, "AMI3006")
    );
    let unknown: Vec<_> = findings(&report, "AMI3004")
        .into_iter()
        .chain(findings(&report, "AMI3005"))
        .filter(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .starts_with("could not check whether it may")
        })
        .collect();
    assert_eq!(unknown.len(), 1, "{unknown:#?}");
    assert!(
        unknown[0]["message"].as_str().unwrap().contains("500"),
        "{:#}",
        unknown[0]
    );
    // 44 reviews asked, 44 POSTs sent: none resent.
    assert_eq!(
        proxy.count(&http::Method::POST, "selfsubjectaccessreviews"),
        44
    );
}

#[test]
fn unreachable_api_server_is_exit_code_1_with_a_report() {
    let Some(cluster) = cluster_or_skip("unreachable_api_server_is_exit_code_1_with_a_report")
    else {
        return;
    };
    let planes = planes(cluster, false, None);
    let proxy = cluster.start_fault_proxy().unwrap();
    proxy.add_rule(FaultRule::new(Fault::DropConnection).always());
    let run = precheck_ns(
        proxy.kubeconfig_path(),
        "default",
        &planes,
        &["--request-timeout", "5s"],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["completed"], false);
    assert_eq!(report["success"], false);
    let f = &findings(&report, "AMI3001")[0];
    assert_eq!(f["severity"], "error");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cannot reach the API server at {}", proxy.url())),
        "{f:#}"
    );
    // /version was tried five times (connection errors on a GET are retried), then nothing else.
    assert_eq!(report["api"]["requests"], 5, "{:#}", report["api"]);
    let others: Vec<_> = report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["checks"].as_array().unwrap())
        .filter(|c| c["code"] != "AMI3001")
        .filter(|c| c["status"] != "skipped")
        .collect();
    assert!(others.is_empty(), "{others:#?}");
}

// ---------------------------------------------------------------------------------------------
// conversion-readiness

#[test]
fn conversion_readiness_is_converts_report_on_the_same_objects() {
    let Some(cluster) =
        cluster_or_skip("conversion_readiness_is_converts_report_on_the_same_objects")
    else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let mesh_name = cluster.unique_name("convert");
    apply(cluster, &mesh(&mesh_name, ""));
    let ns = meshed_namespace(cluster, "convert", &mesh_name, &[]);
    apply(
        cluster,
        &format!(
            r#"apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {{name: cart-v1, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: cart, version: v1}}}}
  listeners: [{{portMapping: {{port: 8080, protocol: http}}}}]
  serviceDiscovery: {{dns: {{hostname: cart-v1.{ns}.svc.cluster.local}}}}
  backends:
    - virtualService: {{virtualServiceARN: "arn:aws:appmesh:us-west-2:444455556666:mesh/other/virtualService/pay.example.com"}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {{name: cart, namespace: {ns}}}
spec:
  listeners: [{{portMapping: {{port: 8080, protocol: http}}}}]
  routes:
    - name: all
      httpRoute:
        match: {{prefix: /}}
        action: {{weightedTargets: [{{virtualNodeRef: {{name: cart-v1}}, weight: 1}}]}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {{name: cart, namespace: {ns}}}
spec:
  awsName: cart.{ns}.svc.cluster.local
  provider: {{virtualRouter: {{virtualRouterRef: {{name: cart}}}}}}
"#
        ),
    );
    let report = precheck_ns(cluster.kubeconfig_path(), &ns, &planes, &[]).json();
    let readiness = check(&report, "AMI3501");
    assert_ne!(readiness["status"], "skipped", "{readiness:#}");
    let ours: Vec<serde_json::Value> = readiness["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.as_object_mut().unwrap().remove("origin");
            f
        })
        .collect();
    assert!(
        !ours.is_empty(),
        "the default timeout and retries are at least reported"
    );
    assert!(ours.iter().all(|f| f["code"] != "AMI3501"), "{ours:#?}");

    // convert on the same live objects, dumped with kubectl.
    let dump = kubectl(cluster, &["get", "namespace", &ns, "-o", "json"]);
    let objects = kubectl(
        cluster,
        &[
            "get",
            "virtualnodes.appmesh.k8s.aws,virtualrouters.appmesh.k8s.aws,virtualservices.appmesh.k8s.aws",
            "-n",
            &ns,
            "-o",
            "json",
        ],
    );
    let meshes = kubectl(
        cluster,
        &["get", "meshes.appmesh.k8s.aws", &mesh_name, "-o", "json"],
    );
    // Concatenated JSON, as `kubectl apply -f -` reads it (a `---` between JSON values is
    // what kubectl refuses).
    let input = format!("{dump}\n{objects}\n{meshes}");
    let inventory = appmesh2istio::load::load_str(
        "dump.json",
        &input,
        &appmesh2istio::load::LoadOptions::default(),
    )
    .unwrap();
    let resolved = appmesh2istio::resolve::resolve(&inventory);
    let conversion = appmesh2istio::convert::convert(
        &inventory,
        &resolved,
        &appmesh2istio::convert::ConvertOptions::default(),
    )
    .unwrap();
    let mut theirs: Vec<serde_json::Value> = conversion
        .report
        .findings()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap();
            v.as_object_mut().unwrap().remove("origin");
            v
        })
        .collect();
    let mut ours = ours;
    let key = |v: &serde_json::Value| v.to_string();
    ours.sort_by_key(key);
    theirs.sort_by_key(key);
    theirs.dedup();
    pretty_assertions::assert_eq!(ours, theirs);
}
