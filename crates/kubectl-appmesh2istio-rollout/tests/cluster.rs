//! rollout against the real test cluster (kube-apiserver, controller-manager, the kubelet
//! stand-in, the App Mesh and Istio injector stand-ins): every behaviour observed on real
//! Deployment and Pod objects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use http::Method;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::*;
use test_cluster::{Fault, FaultRule, PodBehaviour, PodRule, cluster_or_skip, rule};

fn envoy() -> Vec<String> {
    vec!["app".into(), "envoy".into(), "proxyinit".into()]
}

fn istio() -> Vec<String> {
    vec!["app".into(), "istio-init".into(), "istio-proxy".into()]
}

#[tokio::test]
async fn in_place_moves_every_pod_to_istio_translates_annotations_and_skips_with_reasons() {
    let Some(cluster) = cluster_or_skip("in_place_moves_every_pod_to_istio") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "inplace").await;
    meshed_deployment(
        &client,
        &ns,
        "web",
        2,
        json!({"appmesh.k8s.aws/egressIgnoredPorts": "22,3306", "appmesh.k8s.aws/cpuRequest": "50m",
               "appmesh.k8s.aws/secretMounts": "certs:/certs"}),
        json!({}),
    )
    .await;
    meshed_deployment(&client, &ns, "api", 1, json!({}), json!({})).await;
    meshed_deployment(&client, &ns, "held", 1, json!({}), json!({})).await;
    for name in ["web", "api", "held"] {
        wait_available(&client, &ns, name).await;
    }
    assert_eq!(
        pod_containers(&client, &ns, "web").await,
        [envoy(), envoy()]
    );
    // A paused Deployment and a bare pod, both with App Mesh's Envoy.
    cluster
        .kubectl()
        .args(["rollout", "pause", "deployment/held", "-n", &ns])
        .output()
        .unwrap();
    let bare: Pod = serde_json::from_value(
        json!({"metadata": {"name": "bare", "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "app", "image": "x"}]}}),
    )
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &bare)
        .await
        .unwrap();
    relabel_for_istio(&client, &ns).await;

    let dir = tempfile::tempdir().unwrap();
    let run = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &["-n", &ns, "--yes", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // On the real Pod objects: istio-proxy everywhere, no envoy.
    assert_eq!(
        pod_containers(&client, &ns, "web").await,
        [istio(), istio()]
    );
    let api_pods = pod_containers(&client, &ns, "api").await;
    assert!(api_pods.contains(&istio()), "{api_pods:?}");
    assert!(
        api_pods.contains(&envoy()),
        "the bare pod is left alone: {api_pods:?}"
    );
    assert_eq!(
        pod_containers(&client, &ns, "held").await,
        [envoy()],
        "paused: skipped"
    );
    // The translation landed in the template, in the same patch as the restart.
    let web = template_annotations(&deployment(&client, &ns, "web").await);
    assert_eq!(
        web["traffic.sidecar.istio.io/excludeOutboundPorts"],
        "22,3306"
    );
    assert_eq!(
        web["traffic.sidecar.istio.io/excludeOutboundIPRanges"],
        "169.254.169.254/32"
    );
    assert_eq!(web["sidecar.istio.io/proxyCPU"], "50m");
    assert!(web.contains_key("kubectl.kubernetes.io/restartedAt"));
    assert!(
        run.stderr
            .contains("AMI4101 not translated: appmesh.k8s.aws/secretMounts"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("AMI4102: paused"), "{}", run.stderr);
    assert!(run.stderr.contains("AMI4104: bare pod"), "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["kind"], "RolloutPlan");
    let results: Vec<(String, String)> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["result"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("api".into(), "verified".into()),
            ("web".into(), "verified".into()),
            ("held".into(), "".into()),
            ("bare".into(), "".into())
        ]
    );
    assert!(
        run.stderr.contains("2 of 2 workload(s) verified on Istio"),
        "{}",
        run.stderr
    );

    // A second run changes nothing.
    let generation = deployment(&client, &ns, "web").await["metadata"]["generation"].clone();
    let again = rollout(dir.path(), cluster.kubeconfig_path(), &["-n", &ns, "--yes"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to roll out"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("2 already on Istio"),
        "{}",
        again.stderr
    );
    assert_eq!(
        deployment(&client, &ns, "web").await["metadata"]["generation"],
        generation
    );
}

#[tokio::test]
async fn undo_restores_the_template_and_restarts() {
    let Some(cluster) = cluster_or_skip("undo_restores_the_template_and_restarts") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "undo").await;
    let original = json!({"appmesh.k8s.aws/ports": "8080", "team": "cart"});
    meshed_deployment(&client, &ns, "cart", 1, original.clone(), json!({})).await;
    wait_available(&client, &ns, "cart").await;
    relabel_for_istio(&client, &ns).await;
    let dir = tempfile::tempdir().unwrap();
    let undo = dir.path().join("undo.yaml");
    let run = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &["-n", &ns, "--yes", "--undo-file", undo.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = template_annotations(&deployment(&client, &ns, "cart").await);
    assert_eq!(
        after["traffic.sidecar.istio.io/includeInboundPorts"],
        "8080"
    );
    let recorded = std::fs::read_to_string(&undo).unwrap();
    assert!(recorded.contains("podTemplateChanges"), "{recorded}");
    let generation = deployment(&client, &ns, "cart").await["metadata"]["generation"]
        .as_i64()
        .unwrap();

    // Undo without a terminal needs --yes; then it restores and restarts.
    let refused = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--undo", undo.to_str().unwrap()],
    );
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("rerun with --yes"),
        "{}",
        refused.stderr
    );
    let back = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--undo", undo.to_str().unwrap(), "--yes"],
    );
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert!(
        back.stderr.contains("2026-09-30"),
        "the end-of-support warning: {}",
        back.stderr
    );
    assert!(
        back.stderr.contains("deployment.apps/cart rolled out"),
        "{}",
        back.stderr
    );
    let restored = deployment(&client, &ns, "cart").await;
    assert_eq!(Value::Object(template_annotations(&restored)), original);
    assert!(
        restored["metadata"]["generation"].as_i64().unwrap() > generation,
        "restarted"
    );
    // The namespace is labelled for Istio: the restarted pods are Istio's again, without the
    // translated annotation.
    assert_eq!(pod_containers(&client, &ns, "cart").await, [istio()]);
}

#[tokio::test]
async fn phased_waves_put_tls_coupled_workloads_together_and_stop_after_a_failed_wave() {
    let Some(cluster) = cluster_or_skip("phased_waves") else {
        return;
    };
    let client = cluster.client().unwrap();
    // Namespaces sort a < b < c < d; the dependency graph orders b (backend) before a (caller).
    let caller_ns = meshed_namespace(cluster, &client, "pa-front").await;
    let backend_ns = meshed_namespace(cluster, &client, "pb-pay").await;
    let bad_ns = meshed_namespace(cluster, &client, "pc-bad").await;
    let late_ns = meshed_namespace(cluster, &client, "pd-late").await;
    meshed_deployment(
        &client,
        &backend_ns,
        "pay",
        1,
        json!({}),
        json!({"listeners": [{"portMapping": {"port": 8443, "protocol": "http"},
            "tls": {"mode": "STRICT", "certificate": {"file": {"certificateChain": "/certs/c.pem", "privateKey": "/certs/k.pem"}}}}]}),
    )
    .await;
    create_appmesh(
        &client,
        Some(&backend_ns),
        json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualService",
            "metadata": {"name": "pay", "namespace": backend_ns},
            "spec": {"provider": {"virtualNode": {"virtualNodeRef": {"name": "pay"}}}}}),
    )
    .await;
    meshed_deployment(
        &client,
        &caller_ns,
        "front",
        1,
        json!({}),
        json!({"backends": [{"virtualService": {"virtualServiceRef": {"name": "pay", "namespace": backend_ns},
            "clientPolicy": {"tls": {"validation": {"trust": {"file": {"certificateChain": "/certs/ca.pem"}}}}}}}]}),
    )
    .await;
    meshed_deployment(&client, &bad_ns, "bad", 1, json!({}), json!({})).await;
    meshed_deployment(&client, &late_ns, "late", 1, json!({}), json!({})).await;
    for (ns, name) in [
        (&backend_ns, "pay"),
        (&caller_ns, "front"),
        (&bad_ns, "bad"),
        (&late_ns, "late"),
    ] {
        wait_available(&client, ns, name).await;
        relabel_for_istio(&client, ns).await;
    }
    // The new pods of "bad" never become ready.
    let kubelet = cluster.kubelet().unwrap();
    let rule_id = kubelet.add_rule(PodRule::new(
        &bad_ns,
        &[("app", "bad")],
        PodBehaviour::Unready,
    ));

    let dir = tempfile::tempdir().unwrap();
    let run = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-n",
            &caller_ns,
            "-n",
            &backend_ns,
            "-n",
            &bad_ns,
            "-n",
            &late_ns,
            "--strategy",
            "phased",
            "--yes",
            "--timeout",
            "8s",
            "--check",
            "echo wave $APPMESH2ISTIO_WAVE: $APPMESH2ISTIO_WORKLOADS",
        ],
    );
    kubelet.remove_rule(rule_id);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let wave1 =
        format!("wave 1 of 3 (namespace {backend_ns}): deployment.apps/front, deployment.apps/pay");
    assert!(run.stderr.contains(&wave1), "{}", run.stderr);
    assert!(
        run.stderr.contains("TLS-coupled, restarted together"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "{caller_ns}/front → {backend_ns}/pay (App Mesh TLS on port 8443)"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("wave 2 of 3 (namespace {bad_ns})")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "check: wave 1: {caller_ns}/Deployment/front {backend_ns}/Deployment/pay"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("later waves are not started"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("timed out after 8s"), "{}", run.stderr);
    assert_eq!(pod_containers(&client, &backend_ns, "pay").await, [istio()]);
    assert_eq!(
        pod_containers(&client, &caller_ns, "front").await,
        [istio()]
    );
    assert_eq!(
        pod_containers(&client, &late_ns, "late").await,
        [envoy()],
        "wave 3 never started"
    );
    let table_line = run
        .stderr
        .lines()
        .find(|l| l.contains(" late ") && !l.contains("restart"))
        .unwrap_or_default()
        .to_owned();
    assert!(table_line.contains("notStarted"), "{}", run.stderr);
}

/// `kubectl` for --check commands.
fn kubectl_path() -> String {
    let found = test_cluster::ensure_kubectl().unwrap();
    let path = if found.is_dir() {
        found.join("kubectl")
    } else {
        found
    };
    path.display().to_string()
}

#[tokio::test]
async fn canary_starts_a_share_runs_the_check_then_rolls_the_workload_and_removes_the_copy() {
    let Some(cluster) = cluster_or_skip("canary_success") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "canary").await;
    meshed_deployment(&client, &ns, "shop", 4, json!({}), json!({})).await;
    wait_available(&client, &ns, "shop").await;
    relabel_for_istio(&client, &ns).await;
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen.txt");
    let check = format!(
        "{k} --kubeconfig {cfg} get deployment -n \"$APPMESH2ISTIO_NAMESPACE\" \"$APPMESH2ISTIO_WORKLOAD-istio-canary\" \
         -o jsonpath='{{.spec.replicas}} {{.status.readyReplicas}} {{.spec.template.metadata.annotations.appmesh\\.k8s\\.aws/sidecarInjectorWebhook}}{{\"\\n\"}}' >> {seen}",
        k = kubectl_path(),
        cfg = cluster.kubeconfig_path().display(),
        seen = seen.display()
    );
    let run = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-n",
            &ns,
            "--strategy",
            "canary",
            "--canary-percent",
            "25",
            "--canary-wait",
            "2s",
            "--check",
            &check,
            "--yes",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = std::fs::read_to_string(&seen).unwrap();
    assert!(lines.lines().count() >= 1, "{lines}");
    assert!(
        lines.lines().all(|l| l == "1 1 disabled"),
        "one ready canary pod of four, App Mesh off: {lines}"
    );
    assert!(
        run.stderr
            .contains("1 pod(s) beside its 4 (about 20% of its Service's traffic)"),
        "{}",
        run.stderr
    );
    assert_eq!(pod_containers(&client, &ns, "shop").await, vec![istio(); 4]);
    let copies = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), &ns)
        .get_opt("shop-istio-canary")
        .await
        .unwrap();
    assert!(copies.is_none(), "the copy is removed");
}

#[tokio::test]
async fn a_failing_check_removes_the_canary_and_leaves_the_workload_as_it_was() {
    let Some(cluster) = cluster_or_skip("canary_failure") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "canaryfail").await;
    meshed_deployment(&client, &ns, "shop", 2, json!({}), json!({})).await;
    wait_available(&client, &ns, "shop").await;
    relabel_for_istio(&client, &ns).await;
    let before = deployment(&client, &ns, "shop").await;
    let dir = tempfile::tempdir().unwrap();
    let run = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-n",
            &ns,
            "--strategy",
            "canary",
            "--canary-wait",
            "1s",
            "--check",
            "echo broken >&2; exit 3",
            "--yes",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("exited with 3"), "{}", run.stderr);
    assert!(run.stderr.contains("canaryFailed"), "{}", run.stderr);
    assert!(run.stderr.contains("check: broken"), "{}", run.stderr);
    let after = deployment(&client, &ns, "shop").await;
    assert_eq!(
        after["spec"]["template"], before["spec"]["template"],
        "workload untouched"
    );
    assert_eq!(
        after["metadata"]["generation"],
        before["metadata"]["generation"]
    );
    assert_eq!(
        pod_containers(&client, &ns, "shop").await,
        [envoy(), envoy()]
    );
    eventually("the copy to be gone", Duration::from_secs(10), || async {
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), &ns)
            .get_opt("shop-istio-canary")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_killed_run_resumes_where_it_stopped() {
    let Some(cluster) = cluster_or_skip("killed_run_resumes") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "resume").await;
    // Slow pods (2 s each) so the run is still going when it is killed.
    let slow = json!({"test-cluster.appmesh2istio.io/kubelet-start-delay-ms": "2000"});
    for name in ["r1", "r2", "r3"] {
        meshed_deployment(&client, &ns, name, 1, slow.clone(), json!({})).await;
    }
    for name in ["r1", "r2", "r3"] {
        wait_available(&client, &ns, name).await;
    }
    relabel_for_istio(&client, &ns).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(
        dir.path(),
        cluster.kubeconfig_path(),
        &["-n", &ns, "--max-concurrent", "1", "--yes"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    eventually("r1 on Istio", Duration::from_secs(60), || async {
        (pod_containers(&client, &ns, "r1").await == [istio()]).then_some(())
    })
    .await;
    child.kill().unwrap(); // SIGKILL: no clean-up at all
    child.wait().unwrap();
    let run = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &["-n", &ns, "--yes", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let restarted: Vec<String> = run.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "restart")
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !restarted.contains(&"r1".to_owned()),
        "r1 was done: {restarted:?}"
    );
    assert!(restarted.contains(&"r3".to_owned()), "{restarted:?}");
    for name in ["r1", "r2", "r3"] {
        assert_eq!(
            pod_containers(&client, &ns, name).await,
            [istio()],
            "{name}"
        );
    }
}

#[tokio::test]
async fn transient_api_errors_are_retried() {
    let Some(cluster) = cluster_or_skip("transient_api_errors_are_retried") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "faults").await;
    meshed_deployment(&client, &ns, "web", 1, json!({}), json!({})).await;
    wait_available(&client, &ns, "web").await;
    relabel_for_istio(&client, &ns).await;
    let proxy = cluster.start_fault_proxy().unwrap();
    let deployments = format!("/namespaces/{ns}/deployments");
    proxy.add_rule(
        FaultRule::new(Fault::Status(503))
            .method(Method::PATCH)
            .path_contains(&deployments)
            .times(2),
    );
    proxy.add_rule(
        FaultRule::new(Fault::Status(500))
            .method(Method::GET)
            .path_contains(&format!("/namespaces/{ns}/pods"))
            .times(1),
    );
    proxy.add_rule(
        FaultRule::new(Fault::Status(429))
            .method(Method::GET)
            .path_contains(&deployments)
            .times(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let run = rollout(
        dir.path(),
        proxy.kubeconfig_path(),
        &["-n", &ns, "--yes", "-v"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(proxy.faults_applied() >= 4, "{}", proxy.faults_applied());
    assert_eq!(
        proxy.count(&Method::PATCH, &deployments),
        3,
        "two 503s, then the patch"
    );
    assert_eq!(pod_containers(&client, &ns, "web").await, [istio()]);
    let retries = run
        .stderr
        .lines()
        .find(|l| l.contains("API requests ("))
        .unwrap_or_default();
    assert!(!retries.contains("(0 retries)"), "{}", run.stderr);
}

#[tokio::test]
async fn runs_under_a_restricted_identity_with_the_documented_verbs() {
    let Some(cluster) = cluster_or_skip("restricted_identity") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "rbac").await;
    meshed_deployment(&client, &ns, "web", 1, json!({}), json!({})).await;
    wait_available(&client, &ns, "web").await;
    relabel_for_istio(&client, &ns).await;
    let identity = cluster.restricted_identity(&ns, "rollout").unwrap();
    let workloads = ["deployments", "statefulsets", "daemonsets"];
    // The documented reads, without patch: the plan is shown, the missing right listed.
    cluster
        .grant(
            &identity,
            Some(&ns),
            vec![
                rule("", &["namespaces"], &["get"]),
                rule("", &["pods"], &["list"]),
                rule("apps", &workloads, &["get", "list", "watch"]),
            ],
        )
        .unwrap();
    // Namespaces are cluster-scoped: get on this one.
    cluster
        .grant(&identity, None, vec![rule("", &["namespaces"], &["get"])])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let denied = rollout(
        dir.path(),
        identity.kubeconfig_path(),
        &["-n", &ns, "--yes"],
    );
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    assert!(
        denied.stderr.contains("patch deployments.apps"),
        "{}",
        denied.stderr
    );
    assert_eq!(
        pod_containers(&client, &ns, "web").await,
        [envoy()],
        "nothing changed"
    );
    cluster
        .grant(
            &identity,
            Some(&ns),
            vec![rule("apps", &workloads, &["patch"])],
        )
        .unwrap();
    let run = rollout(
        dir.path(),
        identity.kubeconfig_path(),
        &["-n", &ns, "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(pod_containers(&client, &ns, "web").await, [istio()]);
}

#[tokio::test]
async fn ctrl_c_removes_the_canary_copy_and_prints_where_each_workload_is() {
    let Some(cluster) = cluster_or_skip("ctrl_c") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "sigint").await;
    meshed_deployment(&client, &ns, "shop", 1, json!({}), json!({})).await;
    wait_available(&client, &ns, "shop").await;
    relabel_for_istio(&client, &ns).await;
    let before = deployment(&client, &ns, "shop").await;
    let dir = tempfile::tempdir().unwrap();
    let child = command(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-n",
            &ns,
            "--strategy",
            "canary",
            "--canary-wait",
            "60s",
            "--yes",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let copies = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), &ns);
    eventually(
        "the canary copy to be ready",
        Duration::from_secs(60),
        || async {
            let copy = copies.get_opt("shop-istio-canary").await.ok()??;
            (copy.status?.available_replicas == Some(1)).then_some(())
        },
    )
    .await;
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted: no new restarts"), "{stderr}");
    assert!(
        stderr.contains("deployment.apps/shop-istio-canary deleted"),
        "{stderr}"
    );
    let row = stderr
        .lines()
        .find(|l| l.contains("interrupted while"))
        .unwrap_or_default();
    assert!(row.contains("shop") && row.contains("canary"), "{stderr}");
    assert!(copies.get_opt("shop-istio-canary").await.unwrap().is_none());
    let after = deployment(&client, &ns, "shop").await;
    assert_eq!(
        after["spec"]["template"], before["spec"]["template"],
        "workload untouched"
    );
}

#[tokio::test]
async fn pods_that_still_get_app_mesh_envoy_fail_with_a_hint() {
    let Some(cluster) = cluster_or_skip("pod_level_override") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "override").await;
    meshed_deployment(
        &client,
        &ns,
        "legacy",
        1,
        json!({"appmesh.k8s.aws/sidecarInjectorWebhook": "enabled"}),
        json!({}),
    )
    .await;
    wait_available(&client, &ns, "legacy").await;
    // Relabelled, but App Mesh's injector still sees the namespace (disabled by default), and
    // the pod-level annotation opts the pods back in.
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .patch(
            &ns,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"labels": {
                "appmesh.k8s.aws/sidecarInjectorWebhook": "disabled", "istio-injection": "enabled"}}})),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = rollout(dir.path(), cluster.kubeconfig_path(), &["-n", &ns, "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("AMI4106 pod legacy-"), "{}", run.stderr);
    assert!(
        run.stderr.contains("still carries App Mesh's Envoy"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("App Mesh still injects its pods"),
        "the plan warned: {}",
        run.stderr
    );
    let template = deployment(&client, &ns, "legacy").await;
    assert_eq!(
        template["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"], "true",
        "the pod-level annotation was translated to Istio's label"
    );
}

#[tokio::test]
async fn dry_runs_show_the_plan_and_change_nothing() {
    let Some(cluster) = cluster_or_skip("dry_runs") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "dryrun").await;
    meshed_deployment(
        &client,
        &ns,
        "web",
        1,
        json!({"appmesh.k8s.aws/egressIgnoredPorts": "3306"}),
        json!({}),
    )
    .await;
    wait_available(&client, &ns, "web").await;
    relabel_for_istio(&client, &ns).await;
    let before = deployment(&client, &ns, "web").await;
    let dir = tempfile::tempdir().unwrap();

    for mode in ["--dry-run=client", "--dry-run=server"] {
        let run = rollout(
            dir.path(),
            cluster.kubeconfig_path(),
            &["-n", &ns, mode, "-o", "json"],
        );
        assert_eq!(run.code, 0, "{mode}: {}", run.stderr);
        let plan = run.json();
        let items = plan["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{mode}: {plan}");
        assert_eq!(items[0]["name"], "web", "{mode}: {plan}");
        assert!(
            run.stderr.contains("deployment.apps/web restarted (")
                && run.stderr.contains("dry run)"),
            "{mode}: {}",
            run.stderr
        );
        let after = deployment(&client, &ns, "web").await;
        assert_eq!(
            after["spec"]["template"], before["spec"]["template"],
            "{mode}: template untouched"
        );
        assert_eq!(
            after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"],
            "{mode}: nothing stored"
        );
        assert_eq!(pod_containers(&client, &ns, "web").await, [envoy()]);
    }
    // No undo record for what was never written.
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[tokio::test]
async fn canary_falls_back_to_in_place_for_a_statefulset_and_moves_its_pods() {
    let Some(cluster) = cluster_or_skip("canary_statefulset") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "canarysts").await;
    // App Mesh's injector only injects pods a VirtualNode selects.
    create_appmesh(
        &client,
        Some(&ns),
        json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
               "metadata": {"name": "db", "namespace": ns},
               "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                   "listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}],
                   "serviceDiscovery": {"dns": {"hostname": format!("db.{ns}.svc.cluster.local")}}}}),
    )
    .await;
    let sts: k8s_openapi::api::apps::v1::StatefulSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": ns},
        "spec": {"serviceName": "db", "replicas": 1,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/db:1"}]}}}
    }))
    .unwrap();
    let api = Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), &sts).await.unwrap();
    eventually("db's pod on App Mesh", Duration::from_secs(60), || async {
        (pod_containers(&client, &ns, "db").await == [envoy()]).then_some(())
    })
    .await;
    relabel_for_istio(&client, &ns).await;
    let dir = tempfile::tempdir().unwrap();
    let run = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-n",
            &ns,
            "--strategy",
            "canary",
            "--canary-wait",
            "1s",
            "--yes",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("in-place (StatefulSet: canary copies are for Deployments)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("db-istio-canary"), "{}", run.stderr);
    assert_eq!(pod_containers(&client, &ns, "db").await, [istio()]);
    let copies = Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .unwrap();
    assert_eq!(copies.items.len(), 1, "no copy of a StatefulSet is made");
}

/// What istio-cni's node agent does for ambient mode: it marks each pod it captures with
/// `ambient.istio.io/redirection: enabled` after the pod starts (the test cluster has no CNI).
fn ambient_node_agent(client: kube::Client, ns: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        loop {
            if let Ok(list) = pods.list(&Default::default()).await {
                for pod in list.items {
                    let captured = pod
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("ambient.istio.io/redirection"))
                        .is_some();
                    if captured || pod.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    let _ = pods
                        .patch(
                            &name,
                            &kube::api::PatchParams::default(),
                            &kube::api::Patch::Merge(json!({"metadata": {"annotations": {
                                "ambient.istio.io/redirection": "enabled"}}})),
                        )
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

// Multi-threaded: the node agent task runs while this thread waits for the rollout process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambient_pods_are_verified_by_their_capture_not_by_a_sidecar() {
    let Some(cluster) = cluster_or_skip("ambient_rollout") else {
        return;
    };
    let client = cluster.client().unwrap();
    let ns = meshed_namespace(cluster, &client, "ambient").await;
    // The real agent marks a pod while its network is set up, before it can be Ready; the
    // stand-in below polls, so the pods take 2 s to be Ready to leave it the time.
    let slow = json!({"test-cluster.appmesh2istio.io/kubelet-start-delay-ms": "2000"});
    meshed_deployment(&client, &ns, "web", 1, slow, json!({})).await;
    wait_available(&client, &ns, "web").await;
    // What `label --dataplane ambient` does.
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .patch(
            &ns,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"labels": {
                "appmesh.k8s.aws/sidecarInjectorWebhook": null,
                "istio.io/dataplane-mode": "ambient"}}})),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // No node agent: the new pods run without App Mesh's sidecar but are not captured, and
    // rollout says so instead of calling them migrated.
    let run = rollout(dir.path(), cluster.kubeconfig_path(), &["-n", &ns, "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("not captured by ambient mode"),
        "{}",
        run.stderr
    );
    assert_eq!(
        pod_containers(&client, &ns, "web").await,
        [vec!["app".to_owned()]]
    );

    // With the node agent capturing pods, the next run restarts and verifies them.
    let agent = ambient_node_agent(client.clone(), ns.clone());
    let run = rollout(
        dir.path(),
        cluster.kubeconfig_path(),
        &["-n", &ns, "--all", "--yes"],
    );
    agent.abort();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        pod_containers(&client, &ns, "web").await,
        [vec!["app".to_owned()]]
    );
}
