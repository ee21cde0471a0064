//! What cleanup removes, in which order, and what it keeps and why.
//!
//! | phase | what | when |
//! |---|---|---|
//! | 0 | App Mesh webhook configurations whose service is gone | always (they break pod creation, and App Mesh's validating webhook refuses every update of an App Mesh object, the finalizer removal included) |
//! | 10-16 | GatewayRoutes, VirtualServices, VirtualRouters, VirtualNodes, VirtualGateways, BackendGroups, Meshes (referrers first; a Mesh only when nothing anywhere still belongs to it) | always |
//! | 20, 21 | App Mesh namespace labels; pod-template annotations (only with `--restart`) | `--labels` |
//! | 30-32 | the controller's webhook configurations, Deployment, then Service, ServiceAccount, RBAC | `--controller` |
//! | 40 | the seven CRDs, only when no App Mesh object is left | `--crds` |

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::backup::{clean, partial};
use super::gates::object_ref;
use super::scan::{Scan, webhook_services};
use super::steps::{METADATA, Step, StepKind, TEMPLATE_METADATA};
use crate::change::ObjectKey;
use crate::findings::Finding;
use crate::precheck::{APPMESH_INJECT, string_map};

pub const ORPHANED_WEBHOOK: &str = "AMI4212";
pub const MESH_KEPT: &str = "AMI4213";
pub const TEMPLATE_ANNOTATIONS_LEFT: &str = "AMI4214";

pub const PHASE_ORPHANED_WEBHOOKS: u32 = 0;
pub const PHASE_MESH: u32 = 16;
pub const PHASE_LABELS: u32 = 20;
pub const PHASE_TEMPLATES: u32 = 21;
pub const PHASE_CONTROLLER_WEBHOOKS: u32 = 30;
pub const PHASE_CONTROLLER: u32 = 31;
pub const PHASE_CONTROLLER_REST: u32 = 32;
pub const PHASE_CRDS: u32 = 40;

/// The deletion phase of an App Mesh kind: what refers to others first.
pub fn appmesh_phase(kind: &str) -> u32 {
    match kind {
        "GatewayRoute" => 10,
        "VirtualService" => 11,
        "VirtualRouter" => 12,
        "VirtualNode" => 13,
        "VirtualGateway" => 14,
        "BackendGroup" => 15,
        _ => PHASE_MESH,
    }
}

/// Whether a phase deletes App Mesh objects (and waits for them).
pub fn is_appmesh_phase(phase: u32) -> bool {
    (10..=PHASE_MESH).contains(&phase)
}

/// What was asked for besides the App Mesh objects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Choice {
    pub labels: bool,
    pub restart: bool,
    pub controller: bool,
    pub crds: bool,
}

/// The steps (with the object as read) and the notes about what is kept.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub steps: Vec<(Step, Value)>,
    pub notes: Vec<Finding>,
    /// Partial Namespaces and workloads: the keys removed, for the backup.
    pub partials: Vec<Value>,
}

fn text<'v>(object: &'v Value, pointer: &str) -> &'v str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn key(object: &Value) -> Option<ObjectKey> {
    ObjectKey::of(object)
}

fn mesh_of(object: &Value) -> Option<&str> {
    object.pointer("/spec/meshRef/name").and_then(Value::as_str)
}

fn delete(object: &Value, phase: u32, why: impl Into<String>) -> Option<(Step, Value)> {
    let key = key(object)?;
    Some((
        Step::new(
            key,
            phase,
            StepKind::Delete {
                why: why.into(),
                manifest: clean(object),
            },
        ),
        object.clone(),
    ))
}

fn keep(object: &Value, phase: u32, why: String) -> Option<(Step, Value)> {
    Some((
        Step::new(key(object)?, phase, StepKind::Keep { why }),
        object.clone(),
    ))
}

/// `matchLabels` of a selector at `pointer`.
fn match_labels(object: &Value, pointer: &str) -> BTreeMap<String, String> {
    string_map(object, &format!("{pointer}/matchLabels"))
}

/// Choose the steps.
pub fn select(scan: &Scan, choice: Choice, controller_namespace: &str) -> Selection {
    let mut out = Selection::default();
    // 0. Webhook configurations whose service is gone: first, whatever else is chosen.
    let mut orphaned: BTreeSet<String> = BTreeSet::new();
    for configuration in &scan.webhooks {
        let gone: Vec<String> = webhook_services(configuration)
            .into_iter()
            .filter(|s| scan.missing_services.contains(s))
            .collect();
        if gone.is_empty() {
            continue;
        }
        let why = format!(
            "its service {} does not exist: it rejects pod creation",
            gone.join(", ")
        );
        out.notes.push(Finding::new(
            ORPHANED_WEBHOOK,
            object_ref(configuration),
            why.clone(),
        ));
        orphaned.insert(text(configuration, "/metadata/name").to_owned());
        out.steps
            .extend(delete(configuration, PHASE_ORPHANED_WEBHOOKS, why));
    }

    // 1. App Mesh objects of the namespaces in scope, referrers first.
    let deleted: Vec<&Value> = scan.appmesh_in_scope().collect();
    let deleted_names: BTreeSet<(String, &str, &str)> = deleted
        .iter()
        .map(|o| {
            (
                text(o, "/kind").to_owned(),
                text(o, "/metadata/namespace"),
                text(o, "/metadata/name"),
            )
        })
        .collect();
    for object in &deleted {
        out.steps.extend(delete(
            object,
            appmesh_phase(text(object, "/kind")),
            "migrated to Istio",
        ));
    }
    // Meshes: those the scope uses; deleted only when nothing outside the scope belongs to them.
    let remaining: Vec<&Value> = scan
        .appmesh
        .iter()
        .filter(|o| text(o, "/kind") != "Mesh")
        .filter(|o| {
            !deleted_names.contains(&(
                text(o, "/kind").to_owned(),
                text(o, "/metadata/namespace"),
                text(o, "/metadata/name"),
            ))
        })
        .collect();
    let used_meshes: BTreeSet<&str> = deleted.iter().filter_map(|o| mesh_of(o)).collect();
    let mut kept_meshes: BTreeSet<&str> = BTreeSet::new();
    let mut deleted_meshes: Vec<&Value> = Vec::new();
    for mesh in scan.appmesh.iter().filter(|o| text(o, "/kind") == "Mesh") {
        let name = text(mesh, "/metadata/name");
        let selects_scope = scan.namespaces.values().any(|ns| {
            crate::precheck::selector_matches(
                mesh.pointer("/spec/namespaceSelector"),
                &string_map(ns, "/metadata/labels"),
            )
        });
        if !(scan.all || used_meshes.contains(name) || selects_scope) {
            continue;
        }
        let users: Vec<&&Value> = remaining
            .iter()
            .filter(|o| mesh_of(o) == Some(name))
            .collect();
        if let Some(first) = users.first() {
            let why = format!(
                "{} object(s) outside the scope still belong to it (e.g. {})",
                users.len(),
                object_ref(first)
            );
            out.notes
                .push(Finding::new(MESH_KEPT, object_ref(mesh), why.clone()));
            kept_meshes.insert(name);
            out.steps.extend(keep(mesh, PHASE_MESH, why));
        } else {
            deleted_meshes.push(mesh);
            out.steps
                .extend(delete(mesh, PHASE_MESH, "no App Mesh object left in it"));
        }
    }

    // 2. Namespace labels and pod-template annotations.
    if choice.labels {
        let selectors_of = |objects: &[&Value]| -> BTreeSet<(String, String)> {
            objects
                .iter()
                .flat_map(|o| match_labels(o, "/spec/namespaceSelector"))
                .collect()
        };
        let mut removed_selectors: Vec<&Value> = deleted_meshes.clone();
        removed_selectors.extend(
            deleted
                .iter()
                .filter(|o| text(o, "/kind") == "VirtualGateway"),
        );
        let removed = selectors_of(&removed_selectors);
        let kept_selectors: Vec<&Value> = scan
            .appmesh
            .iter()
            .filter(|o| match text(o, "/kind") {
                "Mesh" => kept_meshes.contains(text(o, "/metadata/name")),
                "VirtualGateway" => remaining.iter().any(|r| std::ptr::eq(*r, *o)),
                _ => false,
            })
            .collect();
        let still_used = selectors_of(&kept_selectors);
        for (name, namespace) in &scan.namespaces {
            let labels = string_map(namespace, "/metadata/labels");
            let mut drop: BTreeMap<String, String> = BTreeMap::new();
            if let Some(v) = labels.get(APPMESH_INJECT) {
                drop.insert(APPMESH_INJECT.to_owned(), v.clone());
            }
            for (k, v) in &labels {
                let pair = (k.clone(), v.clone());
                if removed.contains(&pair) && !still_used.contains(&pair) {
                    drop.insert(k.clone(), v.clone());
                }
            }
            if drop.is_empty() {
                continue;
            }
            let key = ObjectKey::new("v1", "Namespace", None, name);
            out.partials
                .push(partial(&key, METADATA, &drop, &BTreeMap::new()));
            out.steps.push((
                Step::new(
                    key,
                    PHASE_LABELS,
                    StepKind::DropKeys {
                        base: METADATA,
                        labels: drop.into_keys().collect(),
                        annotations: Vec::new(),
                    },
                ),
                namespace.clone(),
            ));
        }
        for workload in &scan.workloads {
            let annotations: BTreeMap<String, String> =
                string_map(workload, "/spec/template/metadata/annotations")
                    .into_iter()
                    .filter(|(k, _)| k.starts_with("appmesh.k8s.aws/"))
                    .collect();
            if annotations.is_empty() {
                continue;
            }
            let Some(key) = key(workload) else { continue };
            if !choice.restart {
                out.notes.push(Finding::new(
                    TEMPLATE_ANNOTATIONS_LEFT,
                    object_ref(workload),
                    format!(
                        "{} left in its pod template: removing them restarts its pods (--restart)",
                        annotations.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
                continue;
            }
            out.partials.push(partial(
                &key,
                TEMPLATE_METADATA,
                &BTreeMap::new(),
                &annotations,
            ));
            out.steps.push((
                Step::new(
                    key,
                    PHASE_TEMPLATES,
                    StepKind::DropKeys {
                        base: TEMPLATE_METADATA,
                        labels: Vec::new(),
                        annotations: annotations.into_keys().collect(),
                    },
                ),
                workload.clone(),
            ));
        }
    }

    // 3. The controller.
    if choice.controller {
        for configuration in &scan.webhooks {
            if orphaned.contains(text(configuration, "/metadata/name")) {
                continue;
            }
            let services = webhook_services(configuration);
            let ours = services.iter().all(|s| {
                s.split_once('/')
                    .is_some_and(|(ns, _)| ns == controller_namespace)
            });
            if ours {
                out.steps.extend(delete(
                    configuration,
                    PHASE_CONTROLLER_WEBHOOKS,
                    "the App Mesh controller's webhook",
                ));
            } else {
                out.steps.extend(keep(
                    configuration,
                    PHASE_CONTROLLER_WEBHOOKS,
                    format!(
                        "calls {} outside the controller namespace {controller_namespace}",
                        services.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        for object in &scan.controller {
            let phase = if text(object, "/kind") == "Deployment" {
                PHASE_CONTROLLER
            } else {
                PHASE_CONTROLLER_REST
            };
            out.steps
                .extend(delete(object, phase, "the App Mesh controller"));
        }
    }

    // 4. The CRDs, when nothing of theirs is left.
    if choice.crds {
        for crd in &scan.crds {
            if let Some(first) = remaining.first() {
                out.steps.extend(keep(
                    crd,
                    PHASE_CRDS,
                    format!(
                        "{} App Mesh object(s) remain outside the scope (e.g. {})",
                        remaining.len(),
                        object_ref(first)
                    ),
                ));
            } else if !kept_meshes.is_empty() {
                out.steps
                    .extend(keep(crd, PHASE_CRDS, "a Mesh is kept".into()));
            } else {
                out.steps
                    .extend(delete(crd, PHASE_CRDS, "no App Mesh object left"));
            }
        }
    }
    out.steps
        .sort_by(|(a, _), (b, _)| a.phase.cmp(&b.phase).then_with(|| a.key.cmp(&b.key)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vn(ns: &str, name: &str, mesh: &str) -> Value {
        json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
            "metadata": {"name": name, "namespace": ns, "uid": format!("{ns}-{name}")},
            "spec": {"meshRef": {"name": mesh, "uid": "m"}}})
    }

    fn scan() -> Scan {
        let mut scan = Scan::default();
        scan.namespaces.insert(
            "a".into(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a",
                "labels": {"mesh": "m", "appmesh.k8s.aws/sidecarInjectorWebhook": "enabled", "team": "x"}}}),
        );
        scan.appmesh = vec![
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": {"name": "m"},
                "spec": {"namespaceSelector": {"matchLabels": {"mesh": "m"}}}}),
            vn("a", "web", "m"),
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "GatewayRoute",
                "metadata": {"name": "gr", "namespace": "a"}, "spec": {"meshRef": {"name": "m"}}}),
        ];
        scan
    }

    #[test]
    fn referrers_first_then_the_mesh_then_its_labels() {
        let selection = select(
            &scan(),
            Choice {
                labels: true,
                ..Choice::default()
            },
            "appmesh-system",
        );
        let order: Vec<String> = selection
            .steps
            .iter()
            .map(|(s, _)| format!("{} {}", s.key.kind, s.key.name))
            .collect();
        assert_eq!(
            order,
            vec![
                "GatewayRoute gr",
                "VirtualNode web",
                "Mesh m",
                "Namespace a"
            ]
        );
        let StepKind::DropKeys { labels, .. } = &selection.steps[3].0.kind else {
            panic!()
        };
        assert_eq!(
            labels,
            &vec![
                "appmesh.k8s.aws/sidecarInjectorWebhook".to_owned(),
                "mesh".to_owned()
            ]
        );
    }

    #[test]
    fn a_mesh_used_outside_the_scope_is_kept_with_its_label() {
        let mut scan = scan();
        scan.appmesh.push(vn("b", "other", "m"));
        let selection = select(
            &scan,
            Choice {
                labels: true,
                crds: true,
                ..Choice::default()
            },
            "appmesh-system",
        );
        let mesh = selection
            .steps
            .iter()
            .find(|(s, _)| s.key.kind == "Mesh")
            .unwrap();
        assert!(
            matches!(&mesh.0.kind, StepKind::Keep { why } if why.contains("VirtualNode b/other")),
            "{mesh:?}"
        );
        assert_eq!(selection.notes[0].code, MESH_KEPT);
        let ns = selection
            .steps
            .iter()
            .find(|(s, _)| s.key.kind == "Namespace")
            .unwrap();
        assert!(
            matches!(&ns.0.kind, StepKind::DropKeys { labels, .. } if labels == &vec!["appmesh.k8s.aws/sidecarInjectorWebhook".to_owned()])
        );
    }
}
