//! Tracing read from the App Mesh controller Deployment of a real cluster (issue 13): the test
//! API server holds the controller Deployment as its Helm chart renders it with Jaeger
//! tracing (`tests/fixtures/tracing/`); `convert --install` (both formats) puts the Zipkin
//! provider into the IstioOperator's meshConfig and the istiod Helm values, and prints the
//! mesh-wide Telemetry with App Mesh's sampling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use test_cluster::{TestCluster, cluster_or_skip};

fn kubectl_apply(cluster: &TestCluster, yaml: &str) {
    support::kubectl(cluster, &["apply", "-f", "-"], Some(yaml));
}

fn convert(cluster: &TestCluster, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-convert"))
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

#[test]
fn jaeger_tracing_of_the_controller_lands_in_the_operator_and_the_helm_values() {
    let Some(cluster) = cluster_or_skip(
        "jaeger_tracing_of_the_controller_lands_in_the_operator_and_the_helm_values",
    ) else {
        return;
    };
    let mesh = cluster.unique_name("tracing-mesh");
    let ns = cluster
        .fresh_namespace_with_labels("tracing", &[("tracing-test-mesh", &mesh)])
        .unwrap();
    kubectl_apply(
        cluster,
        &format!(
            "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: {{name: {mesh}}}\n\
             spec: {{namespaceSelector: {{matchLabels: {{tracing-test-mesh: {mesh}}}}}}}\n"
        ),
    );
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tracing/appmesh-controller-jaeger.yaml");
    // In the test's own namespace, so `-n` reads it (a real controller is in appmesh-system,
    // which `-A` reads).
    let controller = std::fs::read_to_string(&fixture)
        .unwrap()
        .replace("namespace: appmesh-system", &format!("namespace: {ns}"));
    kubectl_apply(cluster, &controller);

    let tmp = tempfile::tempdir().unwrap();
    let provider = json!([{"name": "appmesh-jaeger",
        "zipkin": {"service": "appmesh-jaeger.appmesh-system.svc.cluster.local", "port": 9411}}]);

    let (code, stdout, stderr) = convert(
        cluster,
        tmp.path(),
        &["-n", &ns, "-o", "json", "--install", "--install-dir", "iop"],
    );
    assert_eq!(code, 0, "{stderr}");
    let iop = yaml(&tmp.path().join("iop/istio-operator.yaml"));
    assert_eq!(iop["spec"]["meshConfig"]["extensionProviders"], provider);
    let list: Value = serde_json::from_str(&stdout).unwrap();
    let telemetry: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "Telemetry")
        .collect();
    assert_eq!(telemetry.len(), 1, "{stdout}");
    assert_eq!(
        telemetry[0]["spec"],
        json!({"tracing": [{"providers": [{"name": "appmesh-jaeger"}], "randomSamplingPercentage": 100}]})
    );
    assert_eq!(
        telemetry[0]["metadata"]["annotations"]["appmesh2istio.io/source"],
        format!("Deployment {ns}/appmesh-controller")
    );

    let (code, _, stderr) = convert(
        cluster,
        tmp.path(),
        &[
            "-n",
            &ns,
            "-q",
            "--install",
            "helm",
            "--install-dir",
            "helm",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let istiod = yaml(&tmp.path().join("helm/istiod.values.yaml"));
    assert_eq!(istiod["meshConfig"]["extensionProviders"], provider);
    assert_eq!(istiod["meshConfig"], iop["spec"]["meshConfig"]);

    let _ = cluster
        .kubectl()
        .args(["delete", "namespace", &ns, "--wait=false"])
        .output();
    let _ = cluster
        .kubectl()
        .args(["delete", "mesh", &mesh, "--wait=false"])
        .output();
}
