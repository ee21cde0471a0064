//! Shared set-up of the rollout cluster tests: meshed namespaces whose Deployments really run
//! App Mesh's Envoy (injected by the App Mesh injector stand-in), relabelled for Istio the way
//! `label` does, and the plugin run as a process.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use serde_json::{Value, json};
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

/// The plugin with `args`, stdin closed (not a terminal), in `dir`.
pub fn rollout(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Run {
    let out = command(dir, kubeconfig, args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn command(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-rollout"));
    c.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "250")
        .stdin(Stdio::null());
    c
}

pub async fn eventually<F, Fut, T>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn dynamic(
    client: &kube::Client,
    ns: Option<&str>,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: "appmesh.k8s.aws".into(),
        version: "v1beta2".into(),
        api_version: "appmesh.k8s.aws/v1beta2".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

pub async fn create_appmesh(client: &kube::Client, ns: Option<&str>, object: Value) {
    let kind = object["kind"].as_str().unwrap().to_owned();
    let plural = match kind.as_str() {
        "Mesh" => "meshes".to_owned(),
        other => format!("{}s", other.to_ascii_lowercase()),
    };
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    dynamic(client, ns, &kind, &plural)
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
}

/// A namespace App Mesh injects (with its own Mesh), as before the migration.
pub async fn meshed_namespace(
    cluster: &TestCluster,
    client: &kube::Client,
    prefix: &str,
) -> String {
    let mesh = cluster.unique_name(&format!("{prefix}-mesh"));
    let ns = cluster
        .fresh_namespace_with_labels(
            prefix,
            &[
                ("mesh", &mesh),
                ("appmesh.k8s.aws/sidecarInjectorWebhook", "enabled"),
            ],
        )
        .unwrap();
    create_appmesh(
        client,
        None,
        json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": {"name": mesh},
               "spec": {"namespaceSelector": {"matchLabels": {"mesh": mesh}}}}),
    )
    .await;
    ns
}

/// A VirtualNode selecting `app=<name>`, then a Deployment of `replicas` pods of it (whose
/// pods the App Mesh injector gives Envoy).
pub async fn meshed_deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
    replicas: i32,
    template_annotations: Value,
    vn_spec_extra: Value,
) {
    let mut spec = json!({"podSelector": {"matchLabels": {"app": name}},
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": format!("{name}.{ns}.svc.cluster.local")}}});
    if let (Value::Object(s), Value::Object(extra)) = (&mut spec, vn_spec_extra) {
        s.extend(extra);
    }
    create_appmesh(
        client,
        Some(ns),
        json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
               "metadata": {"name": name, "namespace": ns}, "spec": spec}),
    )
    .await;
    create_deployment(client, ns, name, replicas, template_annotations, json!({})).await;
}

pub async fn create_deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
    replicas: i32,
    template_annotations: Value,
    spec_extra: Value,
) {
    let mut spec = json!({
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}, "annotations": template_annotations},
            "spec": {"containers": [{"name": "app", "image": format!("registry.example.com/{name}:1"),
                "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}
    });
    if let (Value::Object(s), Value::Object(extra)) = (&mut spec, spec_extra) {
        s.extend(extra);
    }
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns}, "spec": spec}))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
}

/// Wait until the Deployment is available with all its replicas.
pub async fn wait_available(client: &kube::Client, ns: &str, name: &str) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    eventually(
        &format!("deployment {ns}/{name} to be available"),
        Duration::from_secs(60),
        || async {
            let d = api.get(name).await.ok()?;
            let want = d.spec.as_ref()?.replicas.unwrap_or(1);
            let s = d.status?;
            (s.available_replicas.unwrap_or(0) == want
                && s.updated_replicas.unwrap_or(0) == want
                && s.replicas.unwrap_or(0) == want)
                .then_some(())
        },
    )
    .await;
}

/// What `label` does: App Mesh injection off, Istio's on.
pub async fn relabel_for_istio(client: &kube::Client, ns: &str) {
    Api::<Namespace>::all(client.clone())
        .patch(
            ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                "appmesh.k8s.aws/sidecarInjectorWebhook": null, "istio-injection": "enabled"}}})),
        )
        .await
        .unwrap();
}

/// Container names of the live (not terminating) pods labelled `app=<app>`, sorted per pod.
pub async fn pod_containers(client: &kube::Client, ns: &str, app: &str) -> Vec<Vec<String>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap();
    let mut out: Vec<Vec<String>> = list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let spec = p.spec.unwrap_or_default();
            let mut names: Vec<String> = spec
                .containers
                .into_iter()
                .chain(spec.init_containers.unwrap_or_default())
                .map(|c| c.name)
                .collect();
            names.sort();
            names
        })
        .collect();
    out.sort();
    out
}

pub async fn deployment(client: &kube::Client, ns: &str, name: &str) -> Value {
    let d = Api::<Deployment>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap();
    serde_json::to_value(d).unwrap()
}

pub fn template_annotations(d: &Value) -> serde_json::Map<String, Value> {
    d.pointer("/spec/template/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}
