//! Test support: a real Kubernetes control plane for the test suite.
//!
//! etcd 3.4, kube-apiserver and kube-controller-manager 1.20.2 (built from
//! Debian's source package by `scripts/test-apiserver.sh`) run on loopback
//! with the App Mesh and Istio CRDs installed, sidecar-injector webhooks served
//! by the test process, a kubelet stand-in that makes pods Running and Ready,
//! and fault proxies that fail chosen requests. See this crate's README.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! let Some(cluster) = test_cluster::cluster_or_skip("my_test") else { return Ok(()) };
//! let namespace = cluster.fresh_namespace("my-test")?;
//! let output = cluster.kubectl().args(["get", "pods", "-n", &namespace]).output()?;
//! assert!(output.status.success());
//! # Ok(()) }
//! ```

mod access;
mod audit;
mod background;
mod before_state;
mod binaries;
mod cluster;
mod crds;
mod fault_proxy;
mod identity;
mod injectors;
pub mod kubelet;
mod objects;
mod pki;
mod process;
mod selector;
mod sidecars;
mod started;
pub mod sweep;

pub use audit::{AuditEvent, AuditUser, ObjectRef, ResponseStatus, parse_audit_log};
pub use before_state::{BEFORE_STATE_FILE, BeforeState, FIXTURE_APP, before_state_documents};
pub use binaries::{
    BIN_DIR_ENV, bin_dir, ensure_control_plane, ensure_kubectl, fixtures_dir, shared_dir,
    workspace_root,
};
pub use cluster::{ClusterOptions, REQUIRE_CLUSTER_ENV, TestCluster};
pub use crds::{APPMESH_CRD_FILES, GATEWAY_API_CRD_FILE, ISTIO_CRD_FILE};
pub use fault_proxy::{EXPIRED_CONTINUE_MESSAGE, Fault, FaultProxy, FaultRule, RecordedRequest};
pub use identity::{RestrictedIdentity, rule};
pub use injectors::{APPMESH_WEBHOOK_CONFIGURATION, ISTIO_WEBHOOK_CONFIGURATION, Injectors};
pub use kubelet::{Kubelet, PodBehaviour, PodRule};
pub use sidecars::{APPMESH_ENVOY_IMAGE, ISTIO_PROXY_IMAGE};
pub use started::Started;

/// Whether "cluster unavailable" must fail instead of skip: CI sets
/// `CI=true`, or `APPMESH2ISTIO_REQUIRE_CLUSTER=1` forces it locally.
pub fn cluster_required() -> bool {
    let set = |name: &str, wanted: &[&str]| {
        std::env::var(name)
            .is_ok_and(|value| wanted.contains(&value.trim().to_ascii_lowercase().as_str()))
    };
    set(REQUIRE_CLUSTER_ENV, &["1", "true", "yes"]) || set("CI", &["true", "1"])
}

/// The shared cluster, or `None` after printing one line
/// `skipped <test>: test cluster unavailable (<reason>)` when it cannot exist
/// here (no `../shared/`, binaries missing and not buildable). The first call
/// builds missing binaries once via `scripts/test-apiserver.sh ensure`.
///
/// Panics instead of skipping when [`cluster_required`], and always when the
/// binaries exist but the cluster fails to start (that is a bug, not a skip).
pub fn cluster_or_skip(test_name: &str) -> Option<&'static TestCluster> {
    if let Some(reason) = unavailable_reason() {
        if cluster_required() {
            panic!("{test_name}: test cluster unavailable ({reason}) and CI requires it");
        }
        eprintln!("skipped {test_name}: test cluster unavailable ({reason})");
        return None;
    }
    match TestCluster::shared() {
        Ok(cluster) => Some(cluster),
        Err(error) => panic!("{test_name}: the test cluster failed to start: {error:#}"),
    }
}

/// Why the cluster cannot be had on this machine, if it cannot (builds the
/// binaries once if they are missing and buildable).
pub fn unavailable_reason() -> Option<String> {
    let shared = shared_dir();
    if !shared.join("crds").is_dir() {
        return Some(format!("{} not found", shared.display()));
    }
    ensure_control_plane().err()
}
