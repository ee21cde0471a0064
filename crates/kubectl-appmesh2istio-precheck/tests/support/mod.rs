//! Shared helpers: run the real precheck binary against the real test API server and read its
//! JSON report.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_cluster::TestCluster;

pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-appmesh2istio-precheck");

/// The precheck binary, isolated from the developer's own kubeconfig and colour settings.
pub fn precheck() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("NO_COLOR")
        .env("TERM", "dumb");
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

pub fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("running precheck");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// precheck against `kubeconfig`, `-n namespace`, looking for the control planes in the given
/// namespaces (so tests sharing the cluster do not see each other's), JSON output.
pub fn precheck_ns(kubeconfig: &Path, namespace: &str, planes: &Planes, extra: &[&str]) -> Run {
    let mut cmd = precheck();
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "-n",
            namespace,
            "--appmesh-namespace",
            &planes.appmesh,
            "--istio-namespace",
            &planes.istio,
            "-o",
            "json",
        ])
        .args(extra);
    run(cmd)
}

/// Findings of `code` in a JSON report.
pub fn findings<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["checks"].as_array().into_iter().flatten())
        .flat_map(|c| c["findings"].as_array().into_iter().flatten())
        .filter(|f| f["code"] == code)
        .collect()
}

/// The check whose own code is `code`.
pub fn check<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["checks"].as_array().into_iter().flatten())
        .find(|c| c["code"] == code)
        .unwrap_or_else(|| panic!("no check {code} in {report:#}"))
}

/// `Kind ns/name` of a finding's subject.
pub fn subject(finding: &Value) -> String {
    let s = &finding["subject"];
    match s["namespace"].as_str() {
        Some(ns) => format!(
            "{} {}/{}",
            s["kind"].as_str().unwrap_or(""),
            ns,
            s["name"].as_str().unwrap_or("")
        ),
        None => format!(
            "{} {}",
            s["kind"].as_str().unwrap_or(""),
            s["name"].as_str().unwrap_or("")
        ),
    }
}

/// The single finding of `code` about `subject`, with its severity checked.
pub fn expect_finding<'a>(
    report: &'a Value,
    code: &str,
    severity: &str,
    subject_text: &str,
) -> &'a Value {
    let all = findings(report, code);
    let matching: Vec<&&Value> = all.iter().filter(|f| subject(f) == subject_text).collect();
    assert_eq!(
        matching.len(),
        1,
        "want one {code} about {subject_text}, got {:#?}\nall {code}: {all:#?}",
        matching
    );
    let f = matching[0];
    assert_eq!(f["severity"], severity, "{f:#}");
    f
}

pub fn no_finding(report: &Value, code: &str, subject_text: &str) {
    let hits: Vec<_> = findings(report, code)
        .into_iter()
        .filter(|f| subject(f) == subject_text)
        .collect();
    assert!(
        hits.is_empty(),
        "unexpected {code} about {subject_text}: {hits:#?}"
    );
}

/// `kubectl apply -f -` with `yaml`, as the admin.
pub fn apply(cluster: &TestCluster, yaml: &str) {
    kubectl_stdin(cluster.kubectl(), &["apply", "-f", "-"], yaml);
}

pub fn kubectl_stdin(mut cmd: Command, args: &[&str], stdin: &str) {
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}\n--- input ---\n{stdin}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn kubectl(cluster: &TestCluster, args: &[&str]) -> String {
    let out = cluster.kubectl().args(args).output().expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Poll `kubectl get -o jsonpath` until `done` says so (the controller-manager and the kubelet
/// stand-in work asynchronously).
pub fn wait_for(cluster: &TestCluster, args: &[&str], done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = cluster.kubectl().args(args).output().expect("kubectl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {args:?}; last output {text:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Where a test's App Mesh controller and istiod live (fresh namespaces per test).
pub struct Planes {
    pub appmesh: String,
    pub istio: String,
}

/// Fresh control-plane namespaces; optionally an available App Mesh controller and an istiod
/// of image tag `istio_tag`.
pub fn planes(cluster: &TestCluster, controller: bool, istio_tag: Option<&str>) -> Planes {
    let appmesh = cluster.fresh_namespace("appmesh-system").unwrap();
    let istio = cluster.fresh_namespace("istio-system").unwrap();
    if controller {
        apply(
            cluster,
            &deployment(
                &appmesh,
                "appmesh-controller",
                "public.ecr.aws/appmesh/appmesh-controller:v1.13.3",
                1,
            ),
        );
        wait_available(cluster, &appmesh, "appmesh-controller");
    }
    if let Some(tag) = istio_tag {
        apply(
            cluster,
            &deployment(&istio, "istiod", &format!("docker.io/istio/pilot:{tag}"), 1),
        );
    }
    Planes { appmesh, istio }
}

pub fn wait_available(cluster: &TestCluster, ns: &str, name: &str) {
    wait_for(
        cluster,
        &[
            "get",
            "deployment",
            name,
            "-n",
            ns,
            "-o",
            "jsonpath={.status.availableReplicas}",
        ],
        |t| t.trim().parse::<i64>().unwrap_or(0) > 0,
    );
}

/// A Deployment whose single container is `image` (`app: <name>` labels).
pub fn deployment(ns: &str, name: &str, image: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}, labels: {{app: {name}}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - {{name: discovery, image: "{image}"}}
"#
    )
}

/// A Mesh selecting namespaces labelled `mesh: <name>`.
pub fn mesh(name: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {{name: {name}}}
spec:
  namespaceSelector: {{matchLabels: {{mesh: {name}}}}}
{extra_spec}"#
    )
}

/// A namespace in Mesh `mesh` (label `mesh: <mesh>`) plus extra labels.
pub fn meshed_namespace(
    cluster: &TestCluster,
    prefix: &str,
    mesh_name: &str,
    labels: &[(&str, &str)],
) -> String {
    let mut all = vec![("mesh", mesh_name)];
    all.extend_from_slice(labels);
    cluster.fresh_namespace_with_labels(prefix, &all).unwrap()
}
