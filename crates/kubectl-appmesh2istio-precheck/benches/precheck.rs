//! precheck on a large cluster: wall time and API requests, against the floor of reading the
//! same kinds once with `kubectl get <kinds> -A -o json`.
//!
//! ```sh
//! cargo bench -p kubectl-appmesh2istio-precheck --bench precheck
//! PRECHECK_BENCH_NAMESPACES=20 cargo bench -p kubectl-appmesh2istio-precheck --bench precheck   # quick
//! ```
//!
//! It starts a private test API server (kube-apiserver 1.20 + etcd, RBAC, the App Mesh and
//! Istio CRDs and the test injector webhooks, no controller-manager), loads
//! `SyntheticMesh::large_cluster()` (200 namespaces, 5,000 App Mesh objects, 2,001
//! Deployments, 3,001 Services) plus one Pod per Deployment (created directly, and injected
//! with App Mesh's Envoy by the test webhook, as the real injector would), then times each
//! command `PRECHECK_BENCH_RUNS` times (default 3) and prints the medians as a Markdown table.
//!
//! Services are created headless (type ClusterIP, clusterIP None): the test API server's
//! service CIDR is a /24.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use appmesh2istio::cluster::kinds::{self, KindInfo};
use appmesh2istio_bench::SyntheticMesh;
use futures::{StreamExt, stream};
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};
use test_cluster::{ClusterOptions, TestCluster};

const PRECHECK: &str = env!("CARGO_BIN_EXE_kubectl-appmesh2istio-precheck");

/// What kubectl reads for the floor: exactly the kinds precheck lists (the Istio kinds with a
/// label selector in precheck; the benchmark cluster has no Istio objects, so the same data).
const KUBECTL_KINDS: &str = "namespaces,pods,services,deployments.apps,statefulsets.apps,daemonsets.apps,\
mutatingwebhookconfigurations,validatingwebhookconfigurations,meshes.appmesh.k8s.aws,virtualnodes.appmesh.k8s.aws,\
virtualservices.appmesh.k8s.aws,virtualrouters.appmesh.k8s.aws,virtualgateways.appmesh.k8s.aws,\
gatewayroutes.appmesh.k8s.aws,backendgroups.appmesh.k8s.aws,\
virtualservices.networking.istio.io,destinationrules.networking.istio.io,gateways.networking.istio.io,\
serviceentries.networking.istio.io,sidecars.networking.istio.io,peerauthentications.security.istio.io,\
authorizationpolicies.security.istio.io,telemetries.telemetry.istio.io";

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn kind_info(kind: &str) -> Option<KindInfo> {
    match kind {
        "Namespace" => Some(kinds::NAMESPACES),
        "Service" => Some(kinds::SERVICES),
        "Deployment" => Some(kinds::DEPLOYMENTS),
        "Pod" => Some(kinds::PODS),
        other => kinds::appmesh_kind(other).copied(),
    }
}

async fn create_all(client: kube::Client, objects: Vec<Value>) -> Result<usize> {
    let results: Vec<Result<()>> = stream::iter(objects)
        .map(|value| {
            let client = client.clone();
            async move {
                let kind = value["kind"].as_str().unwrap_or("").to_owned();
                let info = kind_info(&kind).with_context(|| format!("unknown kind {kind}"))?;
                let object: DynamicObject = serde_json::from_value(value)?;
                let resource = info.api_resource();
                let api: Api<DynamicObject> = match (&object.metadata.namespace, info.namespaced) {
                    (Some(ns), true) => Api::namespaced_with(client, ns, &resource),
                    _ => Api::all_with(client, &resource),
                };
                match api.create(&PostParams::default(), &object).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                    Err(e) => Err(anyhow::anyhow!(
                        "creating {kind} {:?}: {e}",
                        object.metadata.name
                    )),
                }
            }
        })
        .buffer_unordered(24)
        .collect()
        .await;
    let mut created = 0;
    for r in results {
        r?;
        created += 1;
    }
    Ok(created)
}

/// One Pod per Deployment, as its ReplicaSet would create it (labels, owner by template hash).
fn pod_for(deployment: &Value) -> Value {
    let name = deployment["metadata"]["name"].as_str().unwrap_or("");
    let ns = deployment["metadata"]["namespace"].as_str().unwrap_or("");
    let hash = "5d9f7b6c4";
    let mut labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
    labels["pod-template-hash"] = json!(hash);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{name}-{hash}-x7k2p"),
            "namespace": ns,
            "labels": labels,
            "annotations": deployment["spec"]["template"]["metadata"]["annotations"].clone(),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-{hash}"),
                "uid": "00000000-0000-0000-0000-000000000000", "controller": true
            }]
        },
        "spec": deployment["spec"]["template"]["spec"].clone(),
    })
}

fn load(cluster: &TestCluster, mesh: &SyntheticMesh) -> Result<(usize, Duration)> {
    let started = Instant::now();
    let text = mesh.generate();
    let mut docs: Vec<Value> = serde_saphyr::from_multiple_with_options(
        &text,
        appmesh2istio_bench::large_stream_options(),
    )
    .context("parsing the synthetic mesh")?;
    docs.retain(|d| !d.is_null());
    for d in &mut docs {
        if d["kind"] == "Service" {
            d["spec"]["clusterIP"] = json!("None");
            d["spec"]["type"] = json!("ClusterIP");
        }
        if d["kind"] == "Deployment" && d["spec"]["template"]["metadata"]["annotations"].is_null() {
            d["spec"]["template"]["metadata"]["annotations"] = json!({});
        }
    }
    let pods: Vec<Value> = docs
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .map(pod_for)
        .collect();
    // Dependencies first: the App Mesh webhook resolves meshRef from namespace labels, and
    // GatewayRoutes attach to the VirtualGateway.
    let waves: [&[&str]; 4] = [
        &["Namespace", "Mesh"],
        &["VirtualGateway"],
        &[
            "Service",
            "Deployment",
            "VirtualNode",
            "VirtualRouter",
            "VirtualService",
        ],
        &["GatewayRoute"],
    ];
    let mut total = 0;
    for wave in waves {
        let batch: Vec<Value> = docs
            .iter()
            .filter(|d| wave.contains(&d["kind"].as_str().unwrap_or("")))
            .cloned()
            .collect();
        total += cluster.block_on(move |client| async move { create_all(client, batch).await })?;
    }
    total += cluster.block_on(move |client| async move { create_all(client, pods).await })?;
    Ok((total, started.elapsed()))
}

struct Timing {
    wall: Duration,
    requests: u64,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run_precheck(cluster: &TestCluster) -> Result<(Timing, Value)> {
    let started = Instant::now();
    let out = Command::new(PRECHECK)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(["-o", "json"])
        .stderr(Stdio::inherit())
        .output()?;
    let wall = started.elapsed();
    let report: Value = serde_json::from_slice(&out.stdout).context("precheck JSON")?;
    if report["completed"] != true {
        bail!("precheck did not complete: {report}");
    }
    Ok((
        Timing {
            wall,
            requests: report["api"]["requests"].as_u64().unwrap_or(0),
        },
        report,
    ))
}

fn run_kubectl(cluster: &TestCluster, verbose: bool) -> Result<Timing> {
    let mut cmd = cluster.kubectl();
    cmd.args(["get", KUBECTL_KINDS, "-A", "-o", "json"]);
    if verbose {
        cmd.arg("-v=6");
    }
    let started = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    let wall = started.elapsed();
    if !out.status.success() {
        bail!(
            "kubectl get failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let requests = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(" GET https://"))
        .count() as u64;
    Ok(Timing { wall, requests })
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need.
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let mut mesh = SyntheticMesh::large_cluster();
    if let Some(n) = env_usize("PRECHECK_BENCH_NAMESPACES") {
        mesh.namespaces = n;
        mesh.gateway_routes = mesh.gateway_routes.min(n * mesh.services_per_namespace);
    }
    let runs = env_usize("PRECHECK_BENCH_RUNS").unwrap_or(3).max(1);
    let counts = mesh.object_counts();
    if let Some(reason) = test_cluster::unavailable_reason() {
        eprintln!("precheck bench skipped: test cluster unavailable ({reason})");
        return Ok(());
    }
    eprintln!("starting a private test API server...");
    let cluster = TestCluster::start(ClusterOptions {
        controller_manager: false,
        rbac: true,
        kubelet: false,
        injector_webhooks: true,
        install_crds: true,
        audit: false,
    })?;
    eprintln!(
        "loading {} namespaces, {} App Mesh objects, {} Deployments, {} Services and one Pod per Deployment...",
        counts.namespaces,
        counts.appmesh(),
        counts.deployments,
        counts.services
    );
    let (created, load_time) = load(&cluster, &mesh)?;
    eprintln!(
        "created {created} objects in {:.1} s",
        load_time.as_secs_f64()
    );

    // Warm-up: kubectl fills its discovery cache, both warm the API server's caches.
    let kubectl_cold = run_kubectl(&cluster, true)?;
    let (_, report) = run_precheck(&cluster)?;
    let mut precheck = Vec::new();
    let mut floor = Vec::new();
    let mut precheck_requests = 0;
    for _ in 0..runs {
        let (t, _) = run_precheck(&cluster)?;
        precheck_requests = t.requests;
        precheck.push(t.wall);
        floor.push(run_kubectl(&cluster, false)?.wall);
    }
    let kubectl_requests = run_kubectl(&cluster, true)?.requests;
    let (p, f) = (median(precheck), median(floor));
    let pods = report["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["checks"].as_array().into_iter().flatten())
        .find(|c| c["code"] == "AMI3401")
        .map(|c| c["findings"].as_array().map_or(0, Vec::len))
        .unwrap_or(0);
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| cluster | {} namespaces, {} App Mesh objects, {} Deployments, {} Services, {} Pods ({} objects) |",
        counts.namespaces,
        counts.appmesh(),
        counts.deployments,
        counts.services,
        counts.deployments,
        created
    );
    println!(
        "| precheck -A -o json, wall time (median of {runs}) | {:.2} s |",
        p.as_secs_f64()
    );
    println!("| precheck API requests | {precheck_requests} |");
    println!(
        "| kubectl get <same kinds> -A -o json (median of {runs}, warm discovery cache) | {:.2} s |",
        f.as_secs_f64()
    );
    println!(
        "| kubectl API requests (warm cache) | {kubectl_requests} (cold: {}, {:.2} s) |",
        kubectl_cold.requests,
        kubectl_cold.wall.as_secs_f64()
    );
    println!(
        "| ratio precheck / floor | {:.2} (target <= 1.5) |",
        p.as_secs_f64() / f.as_secs_f64()
    );
    println!("| workloads found with App Mesh sidecars | {pods} |");
    Ok(())
}
