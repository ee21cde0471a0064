//! cleanup on a large cluster: wall time against the floor of `kubectl delete` of the same
//! objects, one call per kind (`kubectl delete <kind> --all -A`, in the same referrers-first
//! order, each waiting for its objects to be gone as kubectl does by default).
//!
//! ```sh
//! cargo bench -p appmesh2istio-bench --bench cleanup 2>cleanup-bench.log
//! CLEANUP_BENCH_NAMESPACES=20 cargo bench -p appmesh2istio-bench --bench cleanup   # quick
//! ```
//!
//! It starts a private test API server (kube-apiserver 1.20 + etcd, the App Mesh and Istio
//! CRDs, the App Mesh defaulting webhook), loads the precheck benchmark's data
//! (`SyntheticMesh::large_cluster()`: 200 namespaces, 5,000 App Mesh objects) with the
//! namespaces labelled for Istio and the Istio configuration `convert` generates for them
//! created once (so cleanup's gates pass on their merits: no `--force`), then per round loads
//! the App Mesh objects, runs `cleanup -A --yes` (in process, with its backup), loads them
//! again and runs the kubectl floor. Rounds: `CLEANUP_BENCH_RUNS` (default 3); medians are
//! printed on stdout as a Markdown table (cleanup's own plan and results go to stderr).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use appmesh2istio::change::ChangeArgs;
use appmesh2istio::cleanup::{self, CleanupCommand};
use appmesh2istio::cluster::KubeArgs;
use appmesh2istio::cluster::kinds;
use appmesh2istio::convert::{ConvertOptions, convert};
use appmesh2istio::load::{InputSource, LoadOptions, load_sources};
use appmesh2istio::resolve::resolve;
use appmesh2istio_bench::SyntheticMesh;
use futures::{StreamExt, stream};
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};
use test_cluster::{ClusterOptions, TestCluster};

/// Referrers first: the order cleanup deletes in, and the floor's order.
const DELETE_ORDER: [&str; 7] = [
    "gatewayroutes.appmesh.k8s.aws",
    "virtualservices.appmesh.k8s.aws",
    "virtualrouters.appmesh.k8s.aws",
    "virtualnodes.appmesh.k8s.aws",
    "virtualgateways.appmesh.k8s.aws",
    "backendgroups.appmesh.k8s.aws",
    "meshes.appmesh.k8s.aws",
];

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

async fn create_all(client: kube::Client, objects: Vec<Value>) -> Result<usize> {
    let results: Vec<Result<()>> = stream::iter(objects)
        .map(|value| {
            let client = client.clone();
            async move {
                let api_version = value["apiVersion"].as_str().unwrap_or("").to_owned();
                let kind = value["kind"].as_str().unwrap_or("").to_owned();
                let group = api_version
                    .rsplit_once('/')
                    .map_or("", |(g, _)| g)
                    .to_owned();
                let info = kinds::by_group_kind(&group, &kind)
                    .with_context(|| format!("unknown kind {api_version} {kind}"))?;
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

/// The synthetic cluster's documents: namespaces (labelled for Istio) and App Mesh objects.
fn documents(mesh: &SyntheticMesh) -> Result<(String, Vec<Value>)> {
    let text = mesh.generate();
    let mut docs: Vec<Value> = serde_saphyr::from_multiple_with_options(
        &text,
        appmesh2istio_bench::large_stream_options(),
    )
    .context("parsing the synthetic mesh")?;
    docs.retain(|d| !d.is_null());
    docs.retain(|d| {
        let v = d["apiVersion"].as_str().unwrap_or("");
        d["kind"] == "Namespace" || v.starts_with("appmesh.k8s.aws/")
    });
    for d in &mut docs {
        if d["kind"] == "Namespace" {
            d["metadata"]["labels"]["istio-injection"] = json!("enabled");
        }
    }
    Ok((text, docs))
}

/// What convert generates for the synthetic cluster, as objects to create.
fn istio_objects(text: &str) -> Result<Vec<Value>> {
    let inventory = load_sources(
        &[InputSource::stdin(text.as_bytes().to_vec())],
        &LoadOptions::default(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let resolved = resolve(&inventory);
    let conversion = convert(&inventory, &resolved, &ConvertOptions::default())
        .map_err(|_| anyhow::anyhow!("conversion failed validation"))?;
    conversion
        .objects
        .iter()
        .map(|o| serde_json::to_value(o).context("serialising"))
        .collect()
}

fn load_waves(cluster: &TestCluster, docs: &[Value], waves: &[&[&str]]) -> Result<usize> {
    let mut total = 0;
    for wave in waves {
        let batch: Vec<Value> = docs
            .iter()
            .filter(|d| wave.contains(&d["kind"].as_str().unwrap_or("")))
            .cloned()
            .collect();
        total += cluster.block_on(move |client| async move { create_all(client, batch).await })?;
    }
    Ok(total)
}

/// The App Mesh objects, dependencies first (the webhook resolves meshRef from namespace
/// labels, GatewayRoutes attach to the VirtualGateway).
fn load_appmesh(cluster: &TestCluster, docs: &[Value]) -> Result<usize> {
    load_waves(
        cluster,
        docs,
        &[
            &["Mesh"],
            &["VirtualGateway"],
            &[
                "VirtualNode",
                "VirtualRouter",
                "VirtualService",
                "BackendGroup",
            ],
            &["GatewayRoute"],
        ],
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run_cleanup(cluster: &TestCluster, round: usize) -> Result<Duration> {
    let dir = std::env::temp_dir().join(format!("cleanup-bench-{}-{round}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let command = CleanupCommand {
        kube: KubeArgs {
            kubeconfig: Some(cluster.kubeconfig_path().to_owned()),
            all_namespaces: true,
            ..KubeArgs::default()
        },
        change: ChangeArgs {
            yes: true,
            undo_file: Some(dir.join("backup.yaml")),
            ..ChangeArgs::default()
        },
        timeout: Duration::from_secs(600),
        ..CleanupCommand::default()
    };
    let started = Instant::now();
    let code = cleanup::run(&command);
    let wall = started.elapsed();
    if code != 0 {
        bail!("cleanup exited with {code} (see stderr)");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(wall)
}

fn run_floor(cluster: &TestCluster, wait: bool) -> Result<Duration> {
    let started = Instant::now();
    for kind in DELETE_ORDER {
        let out = cluster
            .kubectl()
            .args(["delete", kind, "--all", "-A", &format!("--wait={wait}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        if !out.status.success() {
            bail!(
                "kubectl delete {kind}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(started.elapsed())
}

fn remaining(cluster: &TestCluster) -> Result<usize> {
    let out = cluster
        .kubectl()
        .args(["get", &DELETE_ORDER.join(","), "-A", "-o", "name"])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().count())
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let mut mesh = SyntheticMesh::large_cluster();
    mesh.with_k8s_objects = false;
    if let Some(n) = env_usize("CLEANUP_BENCH_NAMESPACES") {
        mesh.namespaces = n;
        mesh.gateway_routes = mesh.gateway_routes.min(n * mesh.services_per_namespace);
    }
    let runs = env_usize("CLEANUP_BENCH_RUNS").unwrap_or(3).max(1);
    if let Some(reason) = test_cluster::unavailable_reason() {
        eprintln!("cleanup bench skipped: test cluster unavailable ({reason})");
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
    let (text, docs) = documents(&mesh)?;
    let istio = istio_objects(&text)?;
    let appmesh = docs.iter().filter(|d| d["kind"] != "Namespace").count();
    let started = Instant::now();
    load_waves(&cluster, &docs, &[&["Namespace"]])?;
    // Namespaces of generated objects outside the mesh's (istio-system for mesh-wide ones).
    let extra: std::collections::BTreeSet<String> = istio
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str().map(str::to_owned))
        .collect();
    let extra: Vec<Value> = extra
        .into_iter()
        .map(|ns| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        .collect();
    cluster.block_on(move |client| async move { create_all(client, extra).await })?;
    let istio_count = istio.len();
    cluster.block_on(move |client| async move { create_all(client, istio).await })?;
    eprintln!(
        "loaded {} namespaces and {istio_count} Istio objects in {:.1} s",
        mesh.namespaces,
        started.elapsed().as_secs_f64()
    );
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    let mut no_wait = Vec::new();
    for round in 0..runs {
        let loaded = load_appmesh(&cluster, &docs)?;
        eprintln!("round {round}: {loaded} App Mesh objects loaded; cleanup...");
        ours.push(run_cleanup(&cluster, round)?);
        let left = remaining(&cluster)?;
        if left != 0 {
            bail!("cleanup left {left} App Mesh objects");
        }
        eprintln!("round {round}: cleanup {:.2} s", ours[round].as_secs_f64());
        load_appmesh(&cluster, &docs)?;
        eprintln!("round {round}: kubectl delete --wait=false...");
        no_wait.push(run_floor(&cluster, false)?);
        eprintln!(
            "round {round}: kubectl delete --wait=false {:.2} s",
            no_wait[round].as_secs_f64()
        );
        load_appmesh(&cluster, &docs)?;
        eprintln!("round {round}: kubectl delete...");
        floor.push(run_floor(&cluster, true)?);
        eprintln!(
            "round {round}: kubectl delete {:.2} s",
            floor[round].as_secs_f64()
        );
    }
    let (c, f, n) = (median(ours), median(floor), median(no_wait));
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| cluster | {} namespaces labelled for Istio, {appmesh} App Mesh objects, {istio_count} Istio objects |",
        mesh.namespaces
    );
    println!(
        "| cleanup -A --yes (gates, plan, backup, deletes, wait), median of {runs} | {:.2} s |",
        c.as_secs_f64()
    );
    println!(
        "| kubectl delete <kind> --all -A, 7 calls in the same order, median of {runs} | {:.2} s |",
        f.as_secs_f64()
    );
    println!(
        "| kubectl delete <kind> --all -A --wait=false (requests only, no wait), median of {runs} | {:.2} s |",
        n.as_secs_f64()
    );
    println!(
        "| ratio cleanup / floor | {:.2} (target <= 1.0); against --wait=false: {:.2} |",
        c.as_secs_f64() / f.as_secs_f64(),
        c.as_secs_f64() / n.as_secs_f64()
    );
    Ok(())
}
