//! Helpers shared by label's cluster tests: run the plugin, read namespaces back as the admin,
//! create pods to see what the injectors do now.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use test_cluster::{Started, TestCluster};

pub const APPMESH_INJECT: &str = "appmesh.k8s.aws/sidecarInjectorWebhook";
pub const PREVIOUS: &str = "appmesh2istio.io/labels-before";

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The plugin with stdin closed (not a terminal), run in `dir`.
pub fn label_in(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-label"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "400")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The namespace as stored (admin kubectl).
pub fn namespace(cluster: &TestCluster, name: &str) -> Value {
    let out = cluster
        .kubectl()
        .args(["get", "namespace", name, "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `metadata.labels` and `metadata.annotations` of a namespace, exactly as stored.
pub fn metadata_maps(cluster: &TestCluster, name: &str) -> (Value, Value) {
    let ns = namespace(cluster, name);
    (
        ns.pointer("/metadata/labels")
            .cloned()
            .unwrap_or(Value::Null),
        ns.pointer("/metadata/annotations")
            .cloned()
            .unwrap_or(Value::Null),
    )
}

pub fn labels(cluster: &TestCluster, name: &str) -> BTreeMap<String, String> {
    namespace(cluster, name)
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// `kubectl <args>` as the admin; panics on failure.
pub fn kubectl(cluster: &TestCluster, args: &[&str]) -> String {
    let out = cluster.kubectl().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Create `object` (admin kubectl) and return it as stored, after the admission webhooks.
pub fn create(cluster: &TestCluster, object: &Value) -> Value {
    let mut child = cluster
        .kubectl()
        .args(["create", "-f", "-", "-o", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(object.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A pod created now in `ns` with `labels` (e.g. a Deployment's template labels, so App Mesh's
/// injector would see a VirtualNode member), as the injectors left it.
pub fn new_pod(cluster: &TestCluster, ns: &str, labels: &Value) -> Value {
    let name = cluster.unique_name("probe");
    create(
        cluster,
        &json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "example.com/app:1"}]},
        }),
    )
}

pub fn container_names(pod: &Value) -> Vec<String> {
    ["/spec/containers", "/spec/initContainers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A Deployment's pod template labels.
pub fn template_labels(cluster: &TestCluster, ns: &str, name: &str) -> Value {
    let out = kubectl(
        cluster,
        &["get", "deployment", name, "-n", ns, "-o", "json"],
    );
    let deployment: Value = serde_json::from_str(&out).unwrap();
    deployment["spec"]["template"]["metadata"]["labels"].clone()
}

/// The undo files in `dir`.
pub fn undo_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("appmesh2istio-undo-")
        })
        .collect();
    files.sort();
    files
}

/// The plugin started in the background; [`Started::wait_for`] reads its stderr up to a line.
pub fn start_label(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Started {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-label"));
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1");
    Started::spawn(command)
}
