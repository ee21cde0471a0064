//! precheck's migration dashboard on the real test API server: a copy of the example app (App
//! Mesh objects, pods injected with envoy by the App Mesh injector stand-in) with its
//! namespaces taken to different stages by the real steps: `convert --apply` and `cleanup
//! --labels` through the library (as the plugins run them), the Istio labels and the restart
//! with kubectl (what `label` and `rollout` do), the new pods injected by the Istio injector
//! stand-in. Each row, its next command, and the JSON are asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use appmesh2istio::change::ChangeArgs;
use appmesh2istio::cleanup::{self, CleanupCommand};
use appmesh2istio::cluster::KubeArgs;
use appmesh2istio::commands::convert::{self, ConvertCommand};
use serde_json::Value;
use support::*;
use test_cluster::{TestCluster, cluster_or_skip};

fn kube(cluster: &TestCluster, namespace: &str) -> KubeArgs {
    KubeArgs {
        kubeconfig: Some(cluster.kubeconfig_path().to_owned()),
        namespace: Some(namespace.to_owned()),
        ..KubeArgs::default()
    }
}

/// `kubectl appmesh2istio convert -n NS --apply --yes`, with its exit code (3: partial, one
/// object of payments is not converted and the rest is applied).
fn convert_apply(cluster: &TestCluster, dir: &Path, namespace: &str, code: i32) {
    let command = ConvertCommand {
        kube: kube(cluster, namespace),
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
        code,
        "convert --apply -n {namespace}"
    );
}

/// What `label -n NS` does: Istio's injection on, App Mesh's off.
fn label(cluster: &TestCluster, namespace: &str) {
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
}

/// What `rollout -n NS` does: restart the Deployments, wait until no pod carries envoy.
fn restart(cluster: &TestCluster, namespace: &str) {
    kubectl(
        cluster,
        &["rollout", "restart", "deployment", "-n", namespace],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pods: Value = serde_json::from_str(&kubectl(
            cluster,
            &["get", "pods", "-n", namespace, "-o", "json"],
        ))
        .unwrap();
        let items = pods["items"].as_array().unwrap();
        let envoy = items.iter().any(|p| {
            p["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == "envoy")
        });
        let ready_istio = items.iter().any(|p| {
            p["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == "istio-proxy")
                && p["status"]["phase"] == "Running"
        });
        if !envoy && ready_istio {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "envoy pods remain in {namespace}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `kubectl appmesh2istio cleanup -n NS --labels --yes`.
fn cleanup_labels(cluster: &TestCluster, dir: &Path, namespace: &str) {
    let command = CleanupCommand {
        kube: kube(cluster, namespace),
        labels: true,
        change: ChangeArgs {
            yes: true,
            undo_file: Some(dir.join(format!("cleanup-backup-{namespace}.yaml"))),
            ..ChangeArgs::default()
        },
        timeout: Duration::from_secs(60),
        ..CleanupCommand::default()
    };
    assert_eq!(cleanup::run(&command), 0, "cleanup -n {namespace} --labels");
}

fn precheck_all(cluster: &TestCluster, planes: &Planes, extra: &[&str]) -> Run {
    let mut cmd = precheck();
    cmd.arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args([
            "-A",
            "--appmesh-namespace",
            &planes.appmesh,
            "--istio-namespace",
            &planes.istio,
        ])
        .args(extra)
        // Wide enough for one table row per namespace, whatever other tests' names are.
        .env("COLUMNS", "400");
    run(cmd)
}

fn row<'a>(report: &'a Value, namespace: &str) -> &'a Value {
    report["migration"]
        .as_array()
        .unwrap_or_else(|| panic!("no migration array: {report:#}"))
        .iter()
        .find(|r| r["namespace"] == namespace)
        .unwrap_or_else(|| panic!("no row for {namespace}: {:#}", report["migration"]))
}

#[test]
fn migration_progress_per_namespace_with_the_next_command() {
    let Some(cluster) = cluster_or_skip("migration_progress_per_namespace_with_the_next_command")
    else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let state = cluster.load_before_state().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fresh = format!("{}-frontend", state.app);
    let moving = format!("{}-payments", state.app);
    let moved = format!("{}-catalog", state.app);
    let legacy = state.unmeshed_namespace.clone();

    // payments: configuration applied and labelled, its pods still on App Mesh.
    convert_apply(cluster, dir.path(), &moving, 3);
    label(cluster, &moving);
    // catalog: every step done.
    convert_apply(cluster, dir.path(), &moved, 0);
    label(cluster, &moved);
    restart(cluster, &moved);
    cleanup_labels(cluster, dir.path(), &moved);

    let run = precheck_all(cluster, &planes, &["-o", "json"]);
    assert!(matches!(run.code, 0 | 5), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["apiVersion"], "appmesh2istio.io/v1alpha1");

    // frontend: not started.
    let r = row(&report, &fresh);
    assert_eq!(r["stage"], "convert", "{r:#}");
    assert_eq!(
        r["next"],
        format!("kubectl appmesh2istio convert -n {fresh} --apply")
    );
    assert_eq!(r["meshedBy"]["injectorLabel"], true, "{r:#}");
    assert_eq!(r["meshedBy"]["meshes"][0], state.mesh.as_str(), "{r:#}");
    assert_eq!(
        r["injectionLabels"],
        serde_json::json!(["appmesh.k8s.aws/sidecarInjectorWebhook=enabled"])
    );
    assert!(r["pods"]["appmesh"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["pods"]["istio"], 0, "{r:#}");
    assert_eq!(r["istioConfig"]["applied"], 0, "{r:#}");
    assert!(r["appmeshObjects"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["unconverted"], r["appmeshObjects"], "{r:#}");

    // payments: converted and labelled, pods still on App Mesh.
    let r = row(&report, &moving);
    assert_eq!(r["stage"], "rollout", "{r:#}");
    assert_eq!(
        r["next"],
        format!("kubectl appmesh2istio rollout -n {moving}")
    );
    assert_eq!(r["meshedBy"]["injectorLabel"], false, "{r:#}");
    assert_eq!(
        r["injectionLabels"],
        serde_json::json!([
            "istio-injection=enabled",
            "appmesh.k8s.aws/sidecarInjectorWebhook=disabled"
        ])
    );
    assert!(r["pods"]["appmesh"].as_u64().unwrap() > 0, "{r:#}");
    assert!(r["istioConfig"]["applied"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["istioConfig"]["edited"], 0, "{r:#}");
    assert_eq!(r["unconverted"], 0, "{r:#}");
    let moving_applied = r["istioConfig"]["applied"].as_u64().unwrap();
    let istio_objects: Value = serde_json::from_str(&kubectl(
        cluster,
        &[
            "get",
            "virtualservices.networking.istio.io,destinationrules.networking.istio.io,serviceentries.networking.istio.io,sidecars.networking.istio.io,peerauthentications.security.istio.io,authorizationpolicies.security.istio.io",
            "-n",
            &moving,
            "-l",
            "app.kubernetes.io/managed-by=appmesh2istio",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(
        moving_applied,
        istio_objects["items"].as_array().unwrap().len() as u64,
        "counts what convert applied"
    );

    // catalog: done.
    let r = row(&report, &moved);
    assert_eq!(r["stage"], "done", "{r:#}");
    assert_eq!(r["next"], Value::Null, "{r:#}");
    assert_eq!(r["pods"]["appmesh"], 0, "{r:#}");
    assert!(r["pods"]["istio"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["appmeshObjects"], 0, "{r:#}");
    assert!(r["istioConfig"]["applied"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(
        r["injectionLabels"],
        serde_json::json!(["istio-injection=enabled"])
    );

    // -o yaml is the same document.
    let yaml = precheck_all(cluster, &planes, &["-o", "yaml"]);
    let yaml: Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    for ns in [&fresh, &moving, &moved] {
        assert_eq!(row(&yaml, ns), row(&report, ns), "{ns}");
    }

    // The namespace App Mesh never meshed has no row.
    assert!(
        report["migration"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["namespace"] != legacy.as_str()),
        "{:#}",
        report["migration"]
    );

    // Someone edits an applied object: the dashboard says so.
    let vs: Value = serde_json::from_str(&kubectl(
        cluster,
        &[
            "get",
            "virtualservices.networking.istio.io",
            "-n",
            &moving,
            "-l",
            "app.kubernetes.io/managed-by=appmesh2istio",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    let name = vs["items"][0]["metadata"]["name"].as_str().unwrap();
    kubectl(
        cluster,
        &[
            "patch",
            "virtualservices.networking.istio.io",
            name,
            "-n",
            &moving,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"exportTo":["."]}}"#,
        ],
    );

    // The human report: one row each, the next commands, before the status line.
    let run = precheck_all(cluster, &planes, &[]);
    let out = &run.stdout;
    let section = out
        .find("\nMigration progress\n------------------\n")
        .unwrap_or_else(|| panic!("no section:\n{out}"));
    let status = out.find("\nStatus: ").unwrap();
    assert!(section < status, "{out}");
    let last_category = out.find("\ncleanup\n-------\n").unwrap();
    assert!(last_category < section, "{out}");
    let line = |ns: &str| {
        out[section..status]
            .lines()
            .find(|l| l.starts_with(&format!("{ns} ")))
            .unwrap_or_else(|| panic!("no row for {ns}:\n{out}"))
            .to_owned()
    };
    let f = line(&fresh);
    assert!(
        f.contains(" label, mesh ") && f.contains(" appmesh "),
        "{f}"
    );
    assert!(f.ends_with(" convert"), "{f}");
    let m = line(&moving);
    assert!(m.contains(" istio "), "{m}");
    assert!(
        m.contains(&format!(" {moving_applied} (1 ed.) ")),
        "one object edited since it was applied: {m}"
    );
    assert!(m.ends_with(" rollout"), "{m}");
    let d = line(&moved);
    assert!(d.contains(" 0/"), "{d}");
    assert!(d.ends_with(" done"), "{d}");
    let next = &out[section..status];
    assert!(
        next.contains(&format!(
            "\n  kubectl appmesh2istio convert -n {fresh} --apply\n"
        )),
        "{next}"
    );
    assert!(
        next.contains(&format!("\n  kubectl appmesh2istio rollout -n {moving}\n")),
        "{next}"
    );
    assert!(!next.contains(&format!("-n {moved} ")), "{next}");
    assert!(!next.contains(&format!("-n {moved}\n")), "{next}");
    assert!(!out.contains('\u{1b}'), "no colour off a terminal");

    // -n: the same row, from lists in that namespace only.
    let run = precheck_ns(cluster.kubeconfig_path(), &moving, &planes, &[]);
    let report = run.json();
    let rows = report["migration"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["stage"], "rollout");
    assert_eq!(rows[0]["istioConfig"]["edited"], 1, "{:#}", rows[0]);
}
