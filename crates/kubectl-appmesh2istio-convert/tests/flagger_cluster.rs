//! `convert` reads Flagger's Canaries from a real cluster (issue 13): the test API server with
//! Flagger's Canary CRD (`tests/fixtures/flagger/canary-crd.yaml`, from fluxcd/flagger) holds
//! a Canary without `spec.provider`, the Flagger Deployment that runs with
//! `-mesh-provider=appmesh`, and the App Mesh objects Flagger generated (two of them with a
//! real owner reference to the Canary, the garbage collector running). Convert writes the
//! Canary back with `provider: istio` and converts none of Flagger's App Mesh objects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::kubectl;
use test_cluster::cluster_or_skip;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/flagger")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Flagger's Deployment as its App Mesh overlay configures it (kustomize/appmesh/patch.yaml).
const FLAGGER_DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: flagger}
spec:
  selector: {matchLabels: {app: flagger}}
  template:
    metadata: {labels: {app: flagger}}
    spec:
      containers:
      - name: flagger
        image: ghcr.io/fluxcd/flagger:1.0.0
        args: [-log-level=info, -include-label-prefix=app.kubernetes.io, -mesh-provider=appmesh,
               -metrics-server=http://appmesh-prometheus:9090]
";

#[test]
fn canaries_are_read_from_the_cluster_and_flaggers_objects_left_to_flagger() {
    let Some(cluster) =
        cluster_or_skip("canaries_are_read_from_the_cluster_and_flaggers_objects_left_to_flagger")
    else {
        return;
    };
    // The test API server is 1.20: it refuses the schema's two empty-string defaults
    // (`default: ""`, read as null) and kubectl 1.20 does not know x-kubernetes-validations
    // (one CEL rule, dropped by the server). Both are deep in Gateway API fields no test
    // object uses; the rest of Flagger's schema is installed as published.
    let crd: String = fixture("canary-crd.yaml")
        .lines()
        .filter(|line| line.trim() != "default: \"\"")
        .map(|line| format!("{line}\n"))
        .collect();
    kubectl(
        cluster,
        &["apply", "--validate=false", "-f", "-"],
        Some(&crd),
    );
    kubectl(
        cluster,
        &[
            "wait",
            "--for",
            "condition=established",
            "--timeout=60s",
            "crd/canaries.flagger.app",
        ],
        None,
    );
    // App Mesh's webhooks admit objects only in a namespace a Mesh selects.
    let mesh = cluster.unique_name("flagger-mesh");
    let ns = cluster
        .fresh_namespace_with_labels("flagger", &[("flagger-test-mesh", &mesh)])
        .unwrap();
    kubectl(
        cluster,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: {{name: {mesh}}}\n\
             spec: {{namespaceSelector: {{matchLabels: {{flagger-test-mesh: {mesh}}}}}}}\n"
        )),
    );
    // The Canary without a provider: Flagger's default decides, and it is App Mesh here.
    let canary = fixture("appmesh-canary.yaml")
        .replace("  provider: appmesh\n", "")
        .replace("namespace: test", &format!("namespace: {ns}"));
    kubectl(cluster, &["apply", "-f", "-"], Some(&canary));
    kubectl(
        cluster,
        &["apply", "-n", &ns, "-f", "-"],
        Some(FLAGGER_DEPLOYMENT),
    );
    let uid = kubectl(
        cluster,
        &[
            "get",
            "canary",
            "podinfo",
            "-n",
            &ns,
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    assert!(!uid.is_empty());
    let generated = fixture("appmesh-generated.yaml")
        .replace("0b9a2c1e-0000-4000-8000-000000000001", &uid)
        .replace("namespace: test", &format!("namespace: {ns}"))
        .replace(".test.svc", &format!(".{ns}.svc"));
    kubectl(cluster, &["apply", "-f", "-"], Some(&generated));

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-convert"))
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(["-n", &ns, "-o", "json", "--report", "report.json"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    let canaries: Vec<&Value> = items.iter().filter(|o| o["kind"] == "Canary").collect();
    assert_eq!(canaries.len(), 1, "{items:#?}");
    let canary = canaries[0];
    assert_eq!(canary["apiVersion"], "flagger.app/v1beta1");
    assert_eq!(canary["metadata"]["namespace"], ns.as_str());
    assert_eq!(canary["spec"]["provider"], "istio");
    assert_eq!(canary["spec"]["service"].get("meshName"), None);
    assert_eq!(
        canary["spec"]["service"]["retries"]["retryOn"],
        "gateway-error,reset,409,refused-stream"
    );
    // Only the Canary and the client node produced objects.
    for object in items {
        let source = object["metadata"]["annotations"]["appmesh2istio.io/source"]
            .as_str()
            .unwrap_or("");
        assert!(
            source == format!("Canary {ns}/podinfo")
                || source == format!("VirtualNode {ns}/frontend"),
            "{} {} comes from {source:?}",
            object["kind"],
            object["metadata"]["name"]
        );
    }
    // The report file (the text on stderr is wrapped to the terminal).
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let findings: Vec<(String, String, String)> = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["findings"].as_array().unwrap())
        .map(|f| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let subject = &f["subject"];
            (
                text(&f["code"]),
                format!(
                    "{} {}/{}",
                    text(&subject["kind"]),
                    text(&subject["namespace"]),
                    text(&subject["name"])
                ),
                text(&f["message"]),
            )
        })
        .collect();
    let converted: Vec<&(String, String, String)> =
        findings.iter().filter(|f| f.0 == "AMI2700").collect();
    assert_eq!(converted.len(), 1, "{findings:#?}");
    assert!(
        converted[0].2.starts_with(&format!(
            "Flagger's -mesh-provider=appmesh on Deployment {ns}/flagger"
        )),
        "{converted:?}"
    );
    let mut managed: Vec<&str> = findings
        .iter()
        .filter(|f| f.0 == "AMI2705")
        .inspect(|f| {
            assert!(
                f.2.starts_with(&format!("managed by Flagger Canary {ns}/podinfo")),
                "{f:?}"
            )
        })
        .map(|f| f.1.as_str())
        .collect();
    managed.sort_unstable();
    let expected: Vec<String> = [
        "VirtualNode {ns}/podinfo-canary",
        "VirtualNode {ns}/podinfo-primary",
        "VirtualRouter {ns}/podinfo",
        "VirtualRouter {ns}/podinfo-canary",
        "VirtualService {ns}/podinfo",
        "VirtualService {ns}/podinfo-canary",
    ]
    .iter()
    .map(|s| s.replace("{ns}", &ns))
    .collect();
    assert_eq!(managed, expected);
    // --apply writes the Istio objects and leaves the Canary to the user, saying so.
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-convert"))
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(["-n", &ns, "-q", "--apply", "--yes"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "note: Canary {ns}/podinfo is not applied: not an Istio object"
        )),
        "{stderr}"
    );
    let live = kubectl(
        cluster,
        &[
            "get",
            "canary",
            "podinfo",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.provider}",
        ],
        None,
    );
    assert_eq!(
        live, "",
        "the live Canary is untouched (it had no provider)"
    );
    kubectl(cluster, &["delete", "namespace", &ns, "--wait=false"], None);
    kubectl(cluster, &["delete", "mesh", &mesh, "--wait=false"], None);
}
