//! Runs a test cluster outside the test suite, for `scripts/test-cluster.sh`
//! and `scripts/demo.sh`: `test-cluster up` starts it (optionally with the App
//! Mesh before state) and keeps it until SIGTERM or Ctrl-C, then stops every
//! process it started. `test-cluster before-state` prints the fixture.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use test_cluster::{ClusterOptions, TestCluster, before_state_documents};

#[derive(Debug, Parser)]
#[command(
    name = "test-cluster",
    about = "A real kube-apiserver for appmesh2istio tests and demos"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a cluster, print `READY <kubeconfig>` and run until SIGTERM/SIGINT.
    Up {
        /// Load the App Mesh before state (examples/shop/app.yaml).
        #[arg(long)]
        before_state: bool,
        /// Application name for the before state (replaces "shop" in it).
        #[arg(long, default_value = "shop")]
        app: String,
        /// Copy the admin kubeconfig here (the cluster's own copy is removed at stop).
        #[arg(long, value_name = "PATH")]
        kubeconfig_out: Option<PathBuf>,
        /// Authorize everything instead of using RBAC.
        #[arg(long)]
        no_rbac: bool,
    },
    /// Print the before state's YAML (with "shop" replaced by --app).
    BeforeState {
        #[arg(long, default_value = "shop")]
        app: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::BeforeState { app } => {
            let documents = before_state_documents(&app)?;
            let yaml = serde_saphyr::to_string_multiple(&documents).context("rendering YAML")?;
            print!("{yaml}");
            Ok(())
        }
        Command::Up {
            before_state,
            app,
            kubeconfig_out,
            no_rbac,
        } => up(before_state, &app, kubeconfig_out, no_rbac),
    }
}

fn up(before_state: bool, app: &str, kubeconfig_out: Option<PathBuf>, no_rbac: bool) -> Result<()> {
    let started = Instant::now();
    let cluster = TestCluster::start(ClusterOptions {
        rbac: !no_rbac,
        ..ClusterOptions::default()
    })?;
    eprintln!(
        "test-cluster: started in {:.1} s at {}",
        cluster.startup_time().as_secs_f64(),
        cluster.server_url()
    );
    if before_state {
        let state = cluster.load_before_state_as(app)?;
        eprintln!(
            "test-cluster: before state loaded: mesh {}, namespaces {:?} (+ {} not meshed), {} Deployments",
            state.mesh,
            state.meshed_namespaces,
            state.unmeshed_namespace,
            state.deployments.len()
        );
    }
    let kubeconfig = match kubeconfig_out {
        Some(path) => {
            std::fs::copy(cluster.kubeconfig_path(), &path)
                .with_context(|| format!("copying the kubeconfig to {}", path.display()))?;
            path
        }
        None => cluster.kubeconfig_path().to_path_buf(),
    };
    eprintln!(
        "test-cluster: logs and state in {}",
        cluster.dir().display()
    );
    for (name, pid) in cluster.pids() {
        eprintln!("test-cluster: {name} pid {pid}");
    }
    eprintln!(
        "test-cluster: ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("READY {}", kubeconfig.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("signal runtime")?;
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        anyhow::Ok(())
    })?;
    eprintln!("test-cluster: stopping");
    drop(cluster);
    Ok(())
}
