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
//! Deployments, 3,001 Services) plus `PRECHECK_BENCH_PODS` Pods (default 20,000, spread over
//! the Deployments, created directly and concurrently; injected by the test webhooks with App
//! Mesh's Envoy and proxyinit, or istio-proxy for every fourth, as the real injectors would; no
//! kubelet binds them), then times each command `PRECHECK_BENCH_RUNS` times (default 3) and
//! prints the medians as a Markdown table, with precheck's peak RSS (VmHWM from /proc).
//!
//! `PRECHECK_BENCH_BASELINE=<path>` names another build of the precheck binary (e.g. main's)
//! to run alternately with this one on the same loaded cluster, so a change's effect on time
//! and peak RSS is measured under the same machine load. `PRECHECK_BENCH_HOLD=<file>` writes the
//! cluster's kubeconfig path to that file after loading and waits until the file is removed,
//! for profiling precheck by hand (heaptrack, massif) against the loaded cluster.
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

/// Pod `index` of `deployment`, as its ReplicaSet would create it (labels, an owner reference
/// to the ReplicaSet named by the template hash), with what real pods carry besides (env,
/// resources, probes, mounts, scrape annotations): about 3 KB before injection. Every fourth
/// pod opts into Istio (`sidecar.istio.io/inject` label, App Mesh's injection disabled by
/// annotation), so the test webhooks give it istio-proxy; the others in App Mesh namespaces get
/// App Mesh's envoy and proxyinit.
fn pod_for(deployment: &Value, index: usize) -> Value {
    let name = deployment["metadata"]["name"].as_str().unwrap_or("");
    let ns = deployment["metadata"]["namespace"].as_str().unwrap_or("");
    let hash = "5d9f7b6c4";
    let mut labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
    labels["pod-template-hash"] = json!(hash);
    let mut annotations = deployment["spec"]["template"]["metadata"]["annotations"].clone();
    annotations["prometheus.io/scrape"] = json!("true");
    annotations["prometheus.io/port"] = json!("9090");
    annotations["kubectl.kubernetes.io/restartedAt"] = json!("2026-11-30T09:12:44Z");
    if index % 4 == 3 {
        labels["sidecar.istio.io/inject"] = json!("true");
        annotations["appmesh.k8s.aws/sidecarInjectorWebhook"] = json!("disabled");
    }
    let mut spec = deployment["spec"]["template"]["spec"].clone();
    if let Some(containers) = spec["containers"].as_array_mut() {
        for c in containers {
            c["env"] = json!((0..12)
                .map(|i| json!({"name": format!("APP_SETTING_{i}"), "value": format!("value-{i}-of-the-{name}-configuration")}))
                .chain([json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})])
                .collect::<Vec<_>>());
            c["resources"] = json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}});
            c["readinessProbe"] =
                json!({"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10});
            c["livenessProbe"] =
                json!({"httpGet": {"path": "/livez", "port": 8080}, "initialDelaySeconds": 15});
            c["volumeMounts"] = json!([
                {"name": "config", "mountPath": "/etc/app"},
                {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
            ]);
            c["imagePullPolicy"] = json!("IfNotPresent");
            c["terminationMessagePath"] = json!("/dev/termination-log");
        }
    }
    spec["volumes"] = json!([
        {"name": "config", "configMap": {"name": format!("{name}-config")}},
        {"name": "kube-api-access", "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
        ]}}
    ]);
    spec["tolerations"] = json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ]);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{name}-{hash}-p{index}"),
            "namespace": ns,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-{hash}"),
                "uid": "00000000-0000-0000-0000-000000000000", "controller": true,
                "blockOwnerDeletion": true
            }]
        },
        "spec": spec,
    })
}

/// Objects created, the time for all of them, and the time for the pods alone.
fn load(
    cluster: &TestCluster,
    mesh: &SyntheticMesh,
    pod_count: usize,
) -> Result<(usize, Duration, Duration)> {
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
    let deployments: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    // Spread over the Deployments; no kubelet binds them, so they stay Pending and nothing
    // but the API server and etcd works for them.
    let pods: Vec<Value> = (0..pod_count)
        .filter_map(|i| {
            deployments
                .get(i % deployments.len().max(1))
                .map(|d| pod_for(d, i))
        })
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
    let pods_started = Instant::now();
    total += cluster.block_on(move |client| async move { create_all(client, pods).await })?;
    Ok((total, started.elapsed(), pods_started.elapsed()))
}

struct Timing {
    wall: Duration,
    requests: u64,
    /// The process's peak resident set (VmHWM), in KiB; 0 for kubectl.
    peak_rss_kib: u64,
}

/// `VmHWM` (peak resident set, KiB) of a running process, from /proc.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One precheck run; its peak RSS is its VmHWM sampled every 5 ms until it exits (the high-water
/// mark only grows, so the last sample is the peak up to 5 ms before the end).
fn run_precheck(cluster: &TestCluster, binary: &str) -> Result<(Timing, Value)> {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(["-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdout = child.stdout.take().context("precheck stdout")?;
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut bytes).map(|_| bytes)
    });
    let mut peak_rss_kib = 0;
    while child.try_wait()?.is_none() {
        if let Some(kib) = vm_hwm_kib(child.id()) {
            peak_rss_kib = peak_rss_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = started.elapsed();
    let stdout = reader
        .join()
        .map_err(|_| anyhow::anyhow!("stdout reader panicked"))??;
    let report: Value = serde_json::from_slice(&stdout).context("precheck JSON")?;
    if report["completed"] != true {
        bail!("precheck did not complete: {report}");
    }
    Ok((
        Timing {
            wall,
            requests: report["api"]["requests"].as_u64().unwrap_or(0),
            peak_rss_kib,
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
    Ok(Timing {
        wall,
        requests,
        peak_rss_kib: 0,
    })
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
    let pod_count = env_usize("PRECHECK_BENCH_PODS").unwrap_or(20_000);
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
        "loading {} namespaces, {} App Mesh objects, {} Deployments, {} Services and {pod_count} Pods...",
        counts.namespaces,
        counts.appmesh(),
        counts.deployments,
        counts.services
    );
    let (created, load_time, pods_time) = load(&cluster, &mesh, pod_count)?;
    eprintln!(
        "created {created} objects in {:.1} s ({pod_count} pods in {:.1} s)",
        load_time.as_secs_f64(),
        pods_time.as_secs_f64()
    );

    if let Ok(hold) = std::env::var("PRECHECK_BENCH_HOLD") {
        let hold = std::path::PathBuf::from(hold);
        std::fs::write(&hold, cluster.kubeconfig_path().display().to_string())?;
        eprintln!(
            "holding the cluster until {} is removed (it names the kubeconfig)",
            hold.display()
        );
        while hold.exists() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let baseline_binary = std::env::var("PRECHECK_BENCH_BASELINE").ok();

    // Warm-up: kubectl fills its discovery cache, both warm the API server's caches.
    let kubectl_cold = run_kubectl(&cluster, true)?;
    let (_, report) = run_precheck(&cluster, PRECHECK)?;
    let mut precheck = Vec::new();
    let mut floor = Vec::new();
    let mut precheck_requests = 0;
    let mut peak_rss_kib = Vec::new();
    let mut baseline = Vec::new();
    let mut baseline_rss_kib = Vec::new();
    for _ in 0..runs {
        let (t, _) = run_precheck(&cluster, PRECHECK)?;
        precheck_requests = t.requests;
        precheck.push(t.wall);
        peak_rss_kib.push(t.peak_rss_kib);
        if let Some(binary) = &baseline_binary {
            let (t, _) = run_precheck(&cluster, binary)?;
            baseline.push(t.wall);
            baseline_rss_kib.push(t.peak_rss_kib);
        }
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
        pod_count,
        created
    );
    println!(
        "| set-up: objects created concurrently (24 at a time) | {:.1} s, of which the pods {:.1} s |",
        load_time.as_secs_f64(),
        pods_time.as_secs_f64()
    );
    println!(
        "| precheck -A -o json, wall time (median of {runs}) | {:.2} s |",
        p.as_secs_f64()
    );
    println!("| precheck API requests | {precheck_requests} |");
    peak_rss_kib.sort_unstable();
    println!(
        "| precheck peak RSS (VmHWM; min / max of {runs}) | {:.0} / {:.0} MiB |",
        peak_rss_kib.first().copied().unwrap_or(0) as f64 / 1024.0,
        peak_rss_kib.last().copied().unwrap_or(0) as f64 / 1024.0
    );
    if !baseline.is_empty() {
        baseline_rss_kib.sort_unstable();
        println!(
            "| baseline precheck ({}), wall time (median of {runs}) | {:.2} s |",
            baseline_binary.as_deref().unwrap_or(""),
            median(baseline).as_secs_f64()
        );
        println!(
            "| baseline precheck peak RSS (VmHWM; min / max of {runs}) | {:.0} / {:.0} MiB |",
            baseline_rss_kib.first().copied().unwrap_or(0) as f64 / 1024.0,
            baseline_rss_kib.last().copied().unwrap_or(0) as f64 / 1024.0
        );
    }
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
