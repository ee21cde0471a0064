//! Helpers shared by the cluster test files of convert: run the plugin, generate a namespace's
//! manifests, read objects back as the cluster admin.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use test_cluster::{Started, TestCluster};

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const FIELD_MANAGER: &str = "kubectl-appmesh2istio";

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

fn command(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-convert"));
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// The plugin, with stdin closed (not a terminal), in `dir`.
pub fn convert_in(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Run {
    let out = command(dir, kubeconfig, args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The plugin started in the background; [`Started::wait_for`] reads its stderr up to a line.
pub fn start_convert(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Started {
    Started::spawn(command(dir, kubeconfig, args))
}

/// `tests/data/<name>` with the fixture's `shop` replaced by `ns` (namespace, mesh, hosts),
/// written into `dir`.
pub fn manifest(dir: &Path, name: &str, ns: &str) -> PathBuf {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap();
    let path = dir.join(format!("{ns}-{name}"));
    std::fs::write(&path, text.replace("shop", ns)).unwrap();
    path
}

/// The objects `convert -f` generates for `file`, keyed `Kind namespace/name`.
pub fn expected_objects(dir: &Path, kubeconfig: &Path, file: &Path) -> BTreeMap<String, Value> {
    let run = convert_in(
        dir,
        kubeconfig,
        &["-f", file.to_str().unwrap(), "-o", "json", "-q"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (key(o), o.clone()))
        .collect()
}

pub fn key(object: &Value) -> String {
    format!(
        "{} {}/{}",
        object["kind"].as_str().unwrap(),
        object["metadata"]["namespace"].as_str().unwrap_or(""),
        object["metadata"]["name"].as_str().unwrap()
    )
}

pub fn kubectl_name(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap();
    let group = api_version.split('/').next().unwrap();
    format!(
        "{}.{group}/{}",
        object["kind"].as_str().unwrap().to_ascii_lowercase(),
        object["metadata"]["name"].as_str().unwrap()
    )
}

pub fn plural(kind: &str) -> String {
    match kind {
        "ServiceEntry" => "serviceentries".into(),
        "AuthorizationPolicy" => "authorizationpolicies".into(),
        "Telemetry" => "telemetries".into(),
        other => format!("{}s", other.to_ascii_lowercase()),
    }
}

/// `kind.group` as kubectl takes it.
pub fn resource(object: &Value) -> String {
    let group = object["apiVersion"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    format!("{}.{group}", plural(object["kind"].as_str().unwrap()))
}

/// The object as stored, or `None` (kubectl as the cluster admin).
pub fn get(cluster: &TestCluster, object: &Value) -> Option<Value> {
    let ns = object["metadata"]["namespace"].as_str().unwrap();
    let name = object["metadata"]["name"].as_str().unwrap();
    let out = cluster
        .kubectl()
        .args([
            "get",
            &resource(object),
            name,
            "-n",
            ns,
            "-o",
            "json",
            "--ignore-not-found",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&out.stdout).unwrap())
    }
}

/// kubectl as the cluster admin; panics on failure.
pub fn kubectl(cluster: &TestCluster, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = cluster
        .kubectl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, stdin.unwrap_or_default().as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The field managers of `object`, in order.
pub fn managers(object: &Value) -> Vec<String> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["manager"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn undo_record(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The object named `Kind ns/name` among `objects`.
pub fn find<'a>(objects: &'a BTreeMap<String, Value>, kind: &str, name: &str) -> &'a Value {
    objects
        .values()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:#?}", objects.keys()))
}
