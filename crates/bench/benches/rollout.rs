//! rollout at scale: 200 single-replica Deployments restarted with `--max-concurrent 20` on the
//! test cluster (kube-apiserver, controller-manager, the kubelet stand-in with a fixed readiness
//! delay, the Istio injector stand-in), against the floor `workloads × delay / concurrency`, and
//! the API requests per workload (counted on the wire by a fault proxy without faults).
//!
//! ```sh
//! cargo bench -p appmesh2istio-bench --bench rollout
//! ROLLOUT_BENCH_WORKLOADS=40 ROLLOUT_BENCH_DELAY_MS=1000 cargo bench -p appmesh2istio-bench --bench rollout
//! ```
//!
//! The plugin binary is built in release mode first (`cargo build --release -p
//! kubectl-appmesh2istio-rollout`) and run as a user would run it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use test_cluster::{ClusterOptions, TestCluster};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn build_plugin() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    // cargo gives a bench the variables of its own package; passed on, they make build scripts
    // (ring's) rerun and rebuild half the dependency tree.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
        {
            build.env_remove(key.as_ref());
        }
    }
    let status = build
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "kubectl-appmesh2istio-rollout",
        ])
        .current_dir(test_cluster::workspace_root())
        .status()
        .unwrap();
    assert!(status.success(), "building the plugin failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || test_cluster::workspace_root().join("target"),
        PathBuf::from,
    );
    target.join("release/kubectl-appmesh2istio-rollout")
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let workloads = env_u64("ROLLOUT_BENCH_WORKLOADS", 200);
    let delay_ms = env_u64("ROLLOUT_BENCH_DELAY_MS", 3000);
    let concurrency = env_u64("ROLLOUT_BENCH_CONCURRENCY", 20);
    let plugin = build_plugin();
    let cluster = TestCluster::start(ClusterOptions {
        rbac: false,
        ..ClusterOptions::default()
    })
    .unwrap();
    let ns = "bench".to_owned();
    let setup = Instant::now();
    cluster
        .block_on({
            let ns = ns.clone();
            move |client| async move {
                let namespace: Namespace =
                    serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
                Api::<Namespace>::all(client.clone())
                    .create(&PostParams::default(), &namespace)
                    .await
                    .unwrap();
                let api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
                let created: Vec<()> = stream::iter(0..workloads)
                    .map(|i| {
                        let api = api.clone();
                        async move {
                            let name = format!("w{i:03}");
                            let d: Deployment = serde_json::from_value(json!({
                                "metadata": {"name": name},
                                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                                    "template": {"metadata": {"labels": {"app": name},
                                        "annotations": {"test-cluster.appmesh2istio.io/kubelet-start-delay-ms": delay_ms.to_string()}},
                                    "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1"}]}}}
                            }))
                            .unwrap();
                            api.create(&PostParams::default(), &d).await.unwrap();
                        }
                    })
                    .buffer_unordered(20)
                    .collect()
                    .await;
                assert_eq!(created.len() as u64, workloads);
                // Every Deployment available before the namespace is labelled for Istio.
                loop {
                    let list = api.list(&ListParams::default()).await.unwrap();
                    let ready = list
                        .items
                        .iter()
                        .filter(|d| d.status.as_ref().and_then(|s| s.available_replicas) == Some(1))
                        .count() as u64;
                    if ready == workloads {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Api::<Namespace>::all(client)
                    .patch(
                        &ns,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"labels": {"istio-injection": "enabled"}}})),
                    )
                    .await
                    .unwrap();
                Ok::<(), anyhow::Error>(())
            }
        })
        .unwrap();
    eprintln!(
        "setup: {workloads} Deployments available in {:.1?}",
        setup.elapsed()
    );

    let proxy = cluster.start_fault_proxy().unwrap();
    let dir = std::env::temp_dir();
    let started = Instant::now();
    let out = Command::new(&plugin)
        .arg("--kubeconfig")
        .arg(proxy.kubeconfig_path())
        .args([
            "-n",
            &ns,
            "--max-concurrent",
            &concurrency.to_string(),
            "--yes",
            "--timeout",
            "10m",
        ])
        .arg("--undo-file")
        .arg(dir.join(format!("rollout-bench-undo-{}.yaml", std::process::id())))
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rollout failed:\n{stderr}");
    let verified = format!("{workloads} of {workloads} workload(s) verified on Istio");
    assert!(stderr.contains(&verified), "{stderr}");
    let requests = proxy.requests();
    let watches = requests
        .iter()
        .filter(|r| r.uri.contains("watch=true"))
        .count();
    let floor = Duration::from_millis(workloads * delay_ms / concurrency);
    println!(
        "| Deployments | readiness delay | --max-concurrent | floor | rollout | ratio (target ≤ 1.3×) | API requests | per workload (target ≤ ~10) | of which watches |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {workloads} | {delay_ms} ms | {concurrency} | {:.1} s | {:.1} s | {:.2}× | {} | {:.2} | {watches} |",
        floor.as_secs_f64(),
        wall.as_secs_f64(),
        wall.as_secs_f64() / floor.as_secs_f64(),
        requests.len(),
        requests.len() as f64 / workloads as f64,
    );
}
