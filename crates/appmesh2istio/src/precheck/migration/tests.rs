//! The dashboard on snapshots built from documents: which namespaces get a row, what each
//! column counts, and how the section is drawn.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;
use crate::cluster::NamespaceScope;
use crate::origin::Origin;
use crate::precheck::snapshot::from_documents;

fn object(value: Value) -> Object {
    Object {
        value,
        origin: Origin::Generated,
    }
}

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn virtual_node(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"podSelector": {"matchLabels": {"app": name}},
                    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                    "serviceDiscovery": {"dns": {"hostname": format!("{name}.{ns}.svc.cluster.local")}}}})
}

fn pod(ns: &str, name: &str, containers: &[&str]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| match *c {
            "envoy" => {
                json!({"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.34"})
            }
            other => json!({"name": other, "image": "x"}),
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
           "spec": {"containers": containers}, "status": {"phase": "Running"}})
}

/// An Istio object of ours naming `source`, applied by `applier`, optionally edited by `editor`.
fn managed(ns: &str, name: &str, source: &str, editor: Option<&str>) -> Value {
    let mut fields = vec![
        json!({"manager": "kubectl-appmesh2istio", "operation": "Apply",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}}},
                     "f:spec": {"f:hosts": {}}}}),
    ];
    if let Some(editor) = editor {
        fields.push(json!({"manager": editor, "operation": "Update",
            "fieldsV1": {"f:spec": {"f:exportTo": {}}}}));
    }
    json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
           "metadata": {"name": name, "namespace": ns,
                        "labels": {"app.kubernetes.io/managed-by": "appmesh2istio"},
                        "annotations": {"appmesh2istio.io/source": source},
                        "managedFields": fields},
           "spec": {"host": name}})
}

fn snapshot(documents: Vec<Value>, ours: Vec<Value>) -> Snapshot {
    let mut snap = from_documents(
        Vec::new(),
        documents.into_iter().map(object).collect(),
        NamespaceScope::All,
    );
    snap.istio_managed = Data::Available(ours.into_iter().map(object).collect());
    snap
}

/// Three namespaces at three stages, one never meshed.
fn three_stages() -> Snapshot {
    snapshot(
        vec![
            namespace(
                "fresh",
                json!({"appmesh.k8s.aws/sidecarInjectorWebhook": "enabled", "mesh": "m"}),
            ),
            namespace(
                "moving",
                json!({"istio-injection": "enabled", "appmesh.k8s.aws/sidecarInjectorWebhook": "disabled", "mesh": "m"}),
            ),
            namespace("moved", json!({"istio.io/rev": "1-30"})),
            namespace("plain", json!({"team": "x"})),
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": {"name": "m"},
                   "spec": {"namespaceSelector": {"matchLabels": {"mesh": "m"}}}}),
            virtual_node("fresh", "a"),
            virtual_node("moving", "b"),
            pod("fresh", "a-1", &["app", "envoy"]),
            pod("moving", "b-1", &["app", "envoy"]),
            pod("moving", "b-2", &["app", "istio-proxy"]),
            pod("moved", "c-1", &["app", "istio-proxy"]),
            pod("moved", "c-2", &["app"]),
            pod("plain", "d-1", &["app"]),
        ],
        vec![
            managed("moving", "b", "VirtualNode moving/b", None),
            managed("moved", "c", "VirtualNode moved/c", Some("kubectl-edit")),
        ],
    )
}

#[test]
fn one_row_per_touched_namespace_with_its_stage() {
    let rows = progress_of(&three_stages()).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.namespace.as_str()).collect();
    assert_eq!(names, ["fresh", "moved", "moving"], "plain is never meshed");

    let fresh = &rows[0];
    assert_eq!(fresh.stage, Stage::Convert);
    assert_eq!(
        fresh.next.as_deref(),
        Some("kubectl appmesh2istio convert -n fresh --apply")
    );
    assert_eq!(
        fresh.meshed_by,
        MeshedBy {
            injector_label: true,
            meshes: vec!["m".into()]
        }
    );
    assert_eq!(
        fresh.injection_labels,
        ["appmesh.k8s.aws/sidecarInjectorWebhook=enabled"]
    );
    assert_eq!(
        fresh.pods,
        PodCounts {
            appmesh: 1,
            istio: 0,
            none: 0
        }
    );
    assert_eq!((fresh.appmesh_objects, fresh.unconverted), (1, 1));

    let moving = &rows[2];
    assert_eq!(moving.stage, Stage::Rollout);
    assert_eq!(
        moving.next.as_deref(),
        Some("kubectl appmesh2istio rollout -n moving")
    );
    assert!(
        !moving.meshed_by.injector_label,
        "disabled is not meshed by label"
    );
    assert_eq!(
        moving.injection_labels,
        [
            "istio-injection=enabled",
            "appmesh.k8s.aws/sidecarInjectorWebhook=disabled"
        ]
    );
    assert_eq!(
        moving.pods,
        PodCounts {
            appmesh: 1,
            istio: 1,
            none: 0
        }
    );
    assert_eq!(
        moving.istio_config,
        AppliedConfig {
            applied: 1,
            edited: 0
        }
    );
    assert_eq!((moving.appmesh_objects, moving.unconverted), (1, 0));

    let moved = &rows[1];
    assert_eq!(moved.stage, Stage::Done);
    assert_eq!(moved.next, None);
    assert_eq!(moved.meshed_by, MeshedBy::default());
    assert_eq!(
        moved.pods,
        PodCounts {
            appmesh: 0,
            istio: 1,
            none: 1
        }
    );
    assert_eq!(
        moved.istio_config,
        AppliedConfig {
            applied: 1,
            edited: 1
        }
    );
}

#[test]
fn not_shown_when_one_side_is_missing_or_offline() {
    // App Mesh only: no Istio label, no Istio object of ours, no Istio in the cluster.
    let snap = snapshot(
        vec![
            namespace(
                "fresh",
                json!({"appmesh.k8s.aws/sidecarInjectorWebhook": "enabled"}),
            ),
            virtual_node("fresh", "a"),
            pod("fresh", "a-1", &["app", "envoy"]),
        ],
        Vec::new(),
    );
    assert_eq!(progress_of(&snap), None);
    // Istio only: nothing of App Mesh anywhere.
    let snap = snapshot(
        vec![
            namespace("moved", json!({"istio-injection": "enabled"})),
            pod("moved", "c-1", &["app", "istio-proxy"]),
        ],
        Vec::new(),
    );
    assert_eq!(progress_of(&snap), None);
    // Both, but from files: pods and applied objects cannot be told.
    assert_eq!(progress(&three_stages()), None);
}

#[test]
fn not_shown_when_a_needed_kind_is_unreadable() {
    let mut snap = three_stages();
    snap.istio_managed = Data::Unavailable("forbidden".into());
    assert_eq!(progress_of(&snap), None);
    let mut snap = three_stages();
    snap.pods = Data::Unavailable("forbidden".into());
    assert_eq!(progress_of(&snap), None);
}

#[test]
fn finished_and_deleting_pods_are_not_counted() {
    let mut finished = pod("moving", "job-1", &["app", "envoy"]);
    finished["status"]["phase"] = json!("Succeeded");
    let mut deleting = pod("moving", "b-0", &["app", "envoy"]);
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let mut snap = three_stages();
    if let Data::Available(pods) = &mut snap.pods {
        pods.retain(|p| p.name() != "b-1");
        pods.push(object(finished));
        pods.push(object(deleting));
    }
    let rows = progress_of(&snap).unwrap();
    let moving = rows.iter().find(|r| r.namespace == "moving").unwrap();
    assert_eq!(moving.pods.appmesh, 0);
    assert_eq!(moving.stage, Stage::Cleanup, "objects left, no envoy pod");
}

#[test]
fn edited_means_another_field_manager_owns_a_spec_field() {
    assert!(!edited_since_applied(&managed("a", "b", "x", None)));
    assert!(edited_since_applied(&managed(
        "a",
        "b",
        "x",
        Some("kubectl-patch")
    )));
    // A status subresource entry is not an edit of the spec.
    let mut status = managed("a", "b", "x", None);
    status["metadata"]["managedFields"]
        .as_array_mut()
        .unwrap()
        .push(
            json!({"manager": "istiod", "operation": "Update", "subresource": "status",
                     "fieldsV1": {"f:spec": {"f:x": {}}}}),
        );
    assert!(!edited_since_applied(&status));
    // No managed fields at all: nothing tells, so not counted as edited.
    assert!(!edited_since_applied(&json!({"metadata": {}})));
}

#[test]
fn table_fits_80_columns_and_lists_next_commands() {
    let rows = progress_of(&three_stages()).unwrap();
    let mut out = String::new();
    render_section(&mut out, &rows, false, 80);
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "{line:?} is wider than 80");
    }
    let table: Vec<&str> = out.lines().collect();
    assert_eq!(table[1], "Migration progress");
    assert_eq!(
        &table[3..7],
        [
            "NAMESPACE  MESHED BY      INJECTION  PODS AM/IS/-  ISTIO CFG  APP MESH  NEXT",
            "fresh      label, mesh m  appmesh    1/0/0         0          1         convert",
            "moved      none           rev=1-30   0/1/1         1 (1 ed.)  0         done",
            "moving     mesh m         istio      1/1/0         1          1         rollout",
        ],
        "{out}"
    );
    assert!(out.contains(
        "Next:\n  kubectl appmesh2istio convert -n fresh --apply\n  kubectl appmesh2istio rollout -n moving\n"
    ), "{out}");
}

#[test]
fn narrow_terminals_get_blocks_without_broken_names() {
    let rows = progress_of(&three_stages()).unwrap();
    let mut out = String::new();
    render_section(&mut out, &rows, false, 50);
    assert!(!out.contains("NAMESPACE"), "{out}");
    assert!(out.contains("moving: rollout\n"), "{out}");
    assert!(
        out.contains("\n      appmesh.k8s.aws/sidecarInjectorWebhook=disabled\n"),
        "the label stays whole, on a line of its own: {out}"
    );
    assert!(
        out.contains("    pods: 1 on App Mesh, 1 on Istio, 0 with no\n      sidecar\n"),
        "{out}"
    );
    // Only an identifier longer than the width itself may overflow, alone on its line.
    for line in out.lines() {
        assert!(
            line.chars().count() <= 50 || !line.trim().contains(' '),
            "{line:?}"
        );
    }
}

#[test]
fn colour_only_when_asked() {
    let rows = progress_of(&three_stages()).unwrap();
    let mut plain = String::new();
    render_section(&mut plain, &rows, false, 120);
    assert!(!plain.contains('\u{1b}'));
    let mut coloured = String::new();
    render_section(&mut coloured, &rows, true, 120);
    assert!(
        coloured.contains("\u{1b}[32mdone\u{1b}[39m"),
        "{coloured:?}"
    );
}
