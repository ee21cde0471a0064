//! Helpers shared by cleanup's cluster tests: run the plugin, set up a migrated namespace (the
//! library's own `convert --apply`, Istio labels, a restart), read objects back with kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use appmesh2istio::change::ChangeArgs;
use appmesh2istio::cluster::KubeArgs;
use appmesh2istio::commands::convert::{self, ConvertCommand};
use serde_json::Value;
use test_cluster::TestCluster;

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

/// The plugin in `dir` with stdin closed (not a terminal).
pub fn cleanup(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-cleanup"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// kubectl as the cluster admin; panics when it fails.
pub fn kubectl(cluster: &TestCluster, args: &[&str]) -> String {
    let out = cluster.kubectl().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// kubectl, for commands that may fail: (success, stdout + stderr).
pub fn try_kubectl(cluster: &TestCluster, args: &[&str]) -> (bool, String) {
    let out = cluster.kubectl().args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `kubectl apply -f -` of `yaml` (server-side, as the admin).
pub fn apply(cluster: &TestCluster, yaml: &str) {
    let mut child = cluster
        .kubectl()
        .args(["apply", "--server-side", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl apply: {}\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Set `status` of an App Mesh object (kubectl 1.20 cannot patch the status subresource).
pub fn patch_status(
    cluster: &TestCluster,
    plural: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    status: Value,
) {
    use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
    let resource = ApiResource {
        group: "appmesh.k8s.aws".into(),
        version: "v1beta2".into(),
        api_version: "appmesh.k8s.aws/v1beta2".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    let (namespace, name) = (namespace.to_owned(), name.to_owned());
    cluster
        .block_on(move |client| async move {
            let api: Api<DynamicObject> = Api::namespaced_with(client, &namespace, &resource);
            api.patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"status": status})),
            )
            .await?;
            Ok(())
        })
        .unwrap();
}

pub fn get_json(cluster: &TestCluster, args: &[&str]) -> Value {
    let mut all = vec!["get", "-o", "json"];
    all.extend(args);
    serde_json::from_str(&kubectl(cluster, &all)).unwrap()
}

/// The App Mesh objects of `namespace`, `Kind/name` → object.
pub fn appmesh_objects(cluster: &TestCluster, namespace: &str) -> Vec<Value> {
    let list = get_json(
        cluster,
        &[
            "-n",
            namespace,
            "virtualnodes.appmesh.k8s.aws,virtualservices.appmesh.k8s.aws,virtualrouters.appmesh.k8s.aws,virtualgateways.appmesh.k8s.aws,gatewayroutes.appmesh.k8s.aws,backendgroups.appmesh.k8s.aws",
        ],
    );
    list["items"].as_array().unwrap().clone()
}

/// `convert --apply -n namespace --yes` through the library, as a user would run it; `expected`
/// is its exit code (0, or 3 when an object of the namespace cannot be converted and the rest
/// is applied).
pub fn convert_apply(cluster: &TestCluster, dir: &Path, namespace: &str, expected: i32) {
    let command = ConvertCommand {
        kube: KubeArgs {
            kubeconfig: Some(cluster.kubeconfig_path().to_owned()),
            namespace: Some(namespace.to_owned()),
            ..KubeArgs::default()
        },
        apply: true,
        quiet: true,
        change: ChangeArgs {
            yes: true,
            undo_file: Some(dir.join(format!("convert-undo-{namespace}.yaml"))),
            ..ChangeArgs::default()
        },
        cluster_domain: "cluster.local".into(),
        ingress_gateway_selector: "istio=ingressgateway".into(),
        flagger_mesh_provider: None,
        tracing: None,
        ..ConvertCommand::default()
    };
    assert_eq!(
        convert::run(&command),
        expected,
        "convert --apply -n {namespace}"
    );
}

/// Move `namespace` to Istio: Istio injection on, App Mesh's off, workloads restarted and
/// rolled out (their pods then carry istio-proxy and no envoy).
pub fn label_and_restart(cluster: &TestCluster, namespace: &str) {
    kubectl(
        cluster,
        &[
            "label",
            "ns",
            namespace,
            "istio-injection=enabled",
            "appmesh.k8s.aws/sidecarInjectorWebhook=disabled",
            "--overwrite",
        ],
    );
    let deployments = get_json(cluster, &["deployments", "-n", namespace]);
    if deployments["items"].as_array().unwrap().is_empty() {
        return;
    }
    kubectl(
        cluster,
        &["rollout", "restart", "deployment", "-n", namespace],
    );
    for deployment in deployments["items"].as_array().unwrap() {
        let name = format!(
            "deployment/{}",
            deployment["metadata"]["name"].as_str().unwrap()
        );
        let (ok, out) = try_kubectl(
            cluster,
            &[
                "rollout",
                "status",
                &name,
                "-n",
                namespace,
                "--timeout",
                "120s",
            ],
        );
        if ok {
            continue;
        }
        let (_, pods) = try_kubectl(cluster, &["get", "pods,rs", "-n", namespace, "-o", "wide"]);
        let (_, events) = try_kubectl(cluster, &["get", "events", "-n", namespace]);
        panic!("rollout of {namespace} did not finish: {out}\n{pods}\n{events}");
    }
    // Old pods go away with their ReplicaSets scaled down; wait until none carries envoy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let pods = get_json(cluster, &["pods", "-n", namespace]);
        let envoy = pods["items"].as_array().unwrap().iter().any(|p| {
            p["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == "envoy")
        });
        if !envoy {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "envoy pods remain in {namespace}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// A small migrated namespace without pods: a Mesh of its own selecting it, `count`
/// VirtualNodes each with its VirtualService, their Istio configuration applied by
/// `convert --apply`, the namespace labelled for Istio. Returns (namespace, mesh).
pub fn small_migrated(
    cluster: &TestCluster,
    dir: &Path,
    prefix: &str,
    count: usize,
) -> (String, String) {
    let mesh = cluster.unique_name(&format!("{prefix}-mesh"));
    let ns = cluster
        .fresh_namespace_with_labels(
            prefix,
            &[
                ("mesh", &mesh),
                ("istio-injection", "enabled"),
                ("appmesh.k8s.aws/sidecarInjectorWebhook", "disabled"),
            ],
        )
        .unwrap();
    let mut yaml = format!(
        "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata:\n  name: {mesh}\nspec:\n  namespaceSelector:\n    matchLabels:\n      mesh: {mesh}\n"
    );
    for i in 0..count {
        yaml.push_str(&format!(
            "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: web-{i}\n  namespace: {ns}\nspec:\n  podSelector:\n    matchLabels:\n      app: web-{i}\n  listeners:\n  - portMapping:\n      port: 8080\n      protocol: http\n  serviceDiscovery:\n    dns:\n      hostname: web-{i}.{ns}.svc.cluster.local\n\
             ---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata:\n  name: web-{i}.{ns}.svc.cluster.local\n  namespace: {ns}\nspec:\n  awsName: web-{i}.{ns}.svc.cluster.local\n  provider:\n    virtualNode:\n      virtualNodeRef:\n        name: web-{i}\n"
        ));
    }
    apply(cluster, &yaml);
    convert_apply(cluster, dir, &ns, 0);
    (ns, mesh)
}

/// precheck (the library, as the precheck binary runs it) on `scope`: every finding as
/// `CODE subject`.
pub fn precheck_findings(
    cluster: &TestCluster,
    scope: appmesh2istio::cluster::NamespaceScope,
) -> Vec<String> {
    use appmesh2istio::precheck::{self, ReadOptions};
    let kube = KubeArgs {
        kubeconfig: Some(cluster.kubeconfig_path().to_owned()),
        ..KubeArgs::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let connected = kube
            .connect(appmesh2istio::cluster::CommandName::Cleanup)
            .await
            .unwrap();
        let snapshot = precheck::read_cluster(
            &connected,
            &ReadOptions {
                scope,
                permissions: false,
                convert: false,
                ..ReadOptions::default()
            },
        )
        .await;
        let report = precheck::run(&snapshot, &precheck::Options::default());
        report
            .findings()
            .map(|f| format!("{} {}", f.code, f.subject))
            .collect()
    })
}
