//! `convert --target gateway-api` output against a real API server with the Gateway API
//! v1.5.1 CRDs installed (experimental bundle, from `../shared/crds/gateway-api/`): every
//! object is accepted by `kubectl apply --server-side --dry-run=server`, and nothing is
//! stored. The 1.20 test API server enforces the CRDs' structural schemas (types, enums,
//! patterns, bounds, unknown fields), not their CEL rules, which the library's validator
//! checks before anything is printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use test_cluster::{TestCluster, cluster_or_skip};

/// A fixture input of the workspace, with its namespaces renamed to fresh ones.
fn fixture(cluster: &TestCluster, dir: &Path, case: &str, namespaces: &[&str]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/convert")
        .join(case)
        .join("input.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for ns in namespaces {
        let fresh = cluster.fresh_namespace(&format!("gw-{ns}")).unwrap();
        text = text.replace(ns, &fresh);
    }
    let out = dir.join(format!("{case}.yaml"));
    std::fs::write(&out, text).unwrap();
    out
}

fn convert(file: &Path, channel: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-convert"))
        .args([
            "-f",
            file.to_str().unwrap(),
            "-q",
            "--target",
            "gateway-api",
        ])
        .args(["--gateway-api-channel", channel])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "convert failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `kubectl apply --server-side --dry-run=server -f -` of `yaml`: (success, output).
fn apply_dry_run(cluster: &TestCluster, yaml: &str) -> (bool, String) {
    let mut child = cluster
        .kubectl()
        .args(["apply", "--server-side", "--dry-run=server", "-f", "-"])
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
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn gateway_api_output_is_accepted_by_the_api_server() {
    let Some(cluster) = cluster_or_skip("gateway_api_output_is_accepted_by_the_api_server") else {
        return;
    };
    let crds = cluster.install_gateway_api_crds().unwrap();
    assert!(
        crds.iter()
            .any(|c| c == "httproutes.gateway.networking.k8s.io")
            && crds
                .iter()
                .any(|c| c == "tcproutes.gateway.networking.k8s.io"),
        "{crds:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 5] = [
        ("gwapi-cross-namespace", &["billing", "shop"]),
        ("gwapi-cloud-map-versions", &["howto-k8s-cloudmap"]),
        ("gwapi-tcp-experimental", &["cache"]),
        ("gwapi-retries-experimental", &["payments"]),
        ("gwapi-ingress-grpc", &["shop-grpc"]),
    ];
    let mut kinds_applied = std::collections::BTreeSet::new();
    for (case, namespaces) in cases {
        let file = fixture(cluster, dir.path(), case, namespaces);
        for channel in ["standard", "experimental"] {
            let yaml = convert(&file, channel);
            let (ok, out) = apply_dry_run(cluster, &yaml);
            assert!(ok, "{case} ({channel}) refused:\n{out}\n{yaml}");
            for line in out.lines() {
                // `httproute.gateway.networking.k8s.io/cart serverside-applied (server dry run)`
                if let Some((kind, _)) = line.split_once('/') {
                    kinds_applied.insert(kind.to_owned());
                }
            }
            let documents =
                yaml.matches("\nkind: ").count() + usize::from(yaml.starts_with("kind: "));
            let applied = out.matches("serverside-applied (server dry run)").count();
            assert_eq!(
                applied, documents,
                "{case} ({channel}): every object applies:\n{out}"
            );
        }
    }
    for kind in [
        "httproute.gateway.networking.k8s.io",
        "tcproute.gateway.networking.k8s.io",
        "referencegrant.gateway.networking.k8s.io",
        "gateway.gateway.networking.k8s.io",
        "service",
    ] {
        assert!(
            kinds_applied.contains(kind),
            "{kind} not applied: {kinds_applied:?}"
        );
    }
    // A dry run stores nothing.
    let out = cluster
        .kubectl()
        .args([
            "get",
            "httproutes,tcproutes,referencegrants",
            "-A",
            "-o",
            "name",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");
}

#[test]
fn the_api_server_refuses_what_the_gateway_api_schema_forbids() {
    let Some(cluster) =
        cluster_or_skip("the_api_server_refuses_what_the_gateway_api_schema_forbids")
    else {
        return;
    };
    cluster.install_gateway_api_crds().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = fixture(
        cluster,
        dir.path(),
        "gwapi-cross-namespace",
        &["billing", "shop"],
    );
    let yaml = convert(&file, "standard");
    assert!(yaml.contains("port: 8443"), "{yaml}");
    // The same output with a backend port above the CRD's maximum: proves the schema is
    // enforced, so the positive test above means something.
    let (ok, out) = apply_dry_run(cluster, &yaml.replace("port: 8443", "port: 70000"));
    assert!(!ok, "accepted:\n{out}");
    assert!(
        out.contains("backendRefs.port") && out.contains("65535"),
        "{out}"
    );
}
