//! `label` on many namespaces: wall time and API requests, against the floor a user has today,
//! one `kubectl label ns <all of them> ... --overwrite` call over the same namespaces.
//!
//! ```sh
//! cargo build --release -p kubectl-appmesh2istio-label -p appmesh2istio-bench
//! cargo run --release -p appmesh2istio-bench --bin label-bench
//! LABEL_BENCH_NAMESPACES=50 LABEL_BENCH_RUNS=3 cargo run --release -p appmesh2istio-bench --bin label-bench
//! ```
//!
//! It starts a private test API server (kube-apiserver 1.20 + etcd, RBAC, the App Mesh and
//! Istio CRDs and the injector webhooks, so `label` finds Istio's injector), creates N
//! namespaces (default 500) labelled for App Mesh's injector, then per round resets them (not
//! timed) and times kubectl and `label` in turn (alternating which goes first). Both make the
//! same change: App Mesh's label removed, `istio-injection=enabled` added. Prints the medians as
//! a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use test_cluster::{ClusterOptions, TestCluster};

const APPMESH_INJECT: &str = "appmesh.k8s.aws/sidecarInjectorWebhook";
const PREVIOUS: &str = "appmesh2istio.io/labels-before";

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// `kubectl-appmesh2istio-label` beside this binary (same profile's target directory).
fn label_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .context("no directory")?
        .join("kubectl-appmesh2istio-label");
    if !path.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p kubectl-appmesh2istio-label)",
            path.display()
        );
    }
    Ok(path)
}

fn kubectl(cluster: &TestCluster, args: &[String]) -> Result<std::process::Output> {
    let out = cluster
        .kubectl()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if !out.status.success() {
        bail!(
            "kubectl {}: {}",
            args.first().map(String::as_str).unwrap_or(""),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// Back to App Mesh's label, no Istio label, no annotation of ours: one merge patch per
/// namespace, 16 at a time (kubectl would take minutes behind its client-side rate limit).
fn reset(cluster: &TestCluster, names: &[String]) -> Result<()> {
    let names = names.to_vec();
    cluster.block_on(move |client| async move {
        let api: Api<Namespace> = Api::all(client);
        let patch = json!({"metadata": {
            "labels": {APPMESH_INJECT: "enabled", "istio-injection": null},
            "annotations": {PREVIOUS: null},
        }});
        let results: Vec<Result<Namespace, kube::Error>> = stream::iter(names)
            .map(|name| {
                let api = api.clone();
                let patch = patch.clone();
                async move {
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for r in results {
            r.context("resetting a namespace")?;
        }
        Ok(())
    })
}

/// The floor: one kubectl call over every namespace. Requests counted from `-v=6`.
fn run_kubectl(cluster: &TestCluster, names: &[String]) -> Result<(Duration, usize)> {
    let mut args = vec!["label".to_owned(), "namespace".to_owned()];
    args.extend(names.iter().cloned());
    args.extend([
        format!("{APPMESH_INJECT}-"),
        "istio-injection=enabled".to_owned(),
        "--overwrite".to_owned(),
        "-v=6".to_owned(),
    ]);
    let started = Instant::now();
    let out = kubectl(cluster, &args)?;
    let wall = started.elapsed();
    let requests = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("round_trippers") && l.contains(" https://"))
        .count();
    Ok((wall, requests))
}

fn run_label(
    cluster: &TestCluster,
    binary: &PathBuf,
    selector: &str,
    n: usize,
) -> Result<(Duration, u64)> {
    let started = Instant::now();
    let out = Command::new(binary)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(["-l", selector, "--yes", "-v"])
        .env("NO_COLOR", "1")
        .current_dir(cluster.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.contains(&format!(": {n} to label")) {
        bail!("label failed:\n{stderr}");
    }
    let requests = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_suffix(" retries)"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("no request count")?;
    Ok((wall, requests))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let n = env_usize("LABEL_BENCH_NAMESPACES").unwrap_or(500).max(1);
    let runs = env_usize("LABEL_BENCH_RUNS").unwrap_or(3).max(1);
    let binary = label_binary()?;
    if let Some(reason) = test_cluster::unavailable_reason() {
        eprintln!("label bench skipped: test cluster unavailable ({reason})");
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
    let names: Vec<String> = (0..n).map(|i| format!("bench-label-{i:04}")).collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": names.iter().map(|name| json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"bench": "label", APPMESH_INJECT: "enabled", "team": "shop"}},
    })).collect::<Vec<_>>()});
    let file = cluster.dir().join("label-bench-namespaces.json");
    std::fs::write(&file, list.to_string())?;
    eprintln!("creating {n} namespaces...");
    kubectl(
        &cluster,
        &["create".into(), "-f".into(), file.display().to_string()],
    )?;

    // Warm-up: kubectl fills its discovery cache; both warm the API server.
    kubectl(&cluster, &["get".into(), "namespaces".into()])?;
    reset(&cluster, &names)?;
    run_label(&cluster, &binary, "bench=label", n)?;
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    let (mut our_requests, mut kubectl_requests) = (0, 0);
    for round in 0..runs {
        let mut order = [true, false];
        if round % 2 == 1 {
            order.reverse();
        }
        for kubectl_first in order {
            reset(&cluster, &names)?;
            if kubectl_first {
                let (wall, requests) = run_kubectl(&cluster, &names)?;
                floor.push(wall);
                kubectl_requests = requests;
            } else {
                let (wall, requests) = run_label(&cluster, &binary, "bench=label", n)?;
                ours.push(wall);
                our_requests = requests;
            }
        }
    }
    let (o, f) = (median(ours), median(floor));
    println!("| measure ({n} meshed namespaces, median of {runs}) | value |");
    println!("|---|---|");
    println!(
        "| `kubectl label ns <{n} names> appmesh...- istio-injection=enabled --overwrite` | {:.2} s, {kubectl_requests} requests ({:.2} per namespace) |",
        f.as_secs_f64(),
        kubectl_requests as f64 / n as f64
    );
    println!(
        "| `kubectl appmesh2istio label -l bench=label --yes` (plan, rights, undo file, write, verify) | {:.2} s, {our_requests} requests ({:.2} per namespace) |",
        o.as_secs_f64(),
        our_requests as f64 / n as f64
    );
    println!(
        "| ratio label / kubectl | {:.2} (target <= 1.0) |",
        o.as_secs_f64() / f.as_secs_f64()
    );
    Ok(())
}
