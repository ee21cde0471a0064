//! Every check: a function of the snapshot, its category, its codes (the first is the check's
//! own code) and what it asserts when it passes. The order here is the report's order.

mod appmesh;
mod cluster_access;
mod istio;
mod leftovers;
mod pods;
pub(crate) use istio::istio_present;
pub(crate) use pods::istio_equivalent;
mod readiness;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::labels::{APPMESH_INJECT, appmesh_injection, selector_matches};
use super::snapshot::{Object, Snapshot};
use super::{Category, CheckOutput, Skipped};
use crate::origin::{ObjectRef, kind_name};

/// One check.
#[derive(Debug)]
pub struct Check {
    /// Catalog codes the check reports; the first is the check's own code.
    pub codes: &'static [&'static str],
    pub category: Category,
    /// What a passing check asserts.
    pub description: &'static str,
    pub run: fn(&Snapshot) -> Result<CheckOutput, Skipped>,
}

/// The code of the reachability check: the only one that runs when the server is unreachable.
pub const API_REACHABLE: &str = "AMI3001";

/// All checks, in report order.
pub static CHECKS: &[Check] = &[
    // cluster-access
    Check {
        codes: &[API_REACHABLE],
        category: Category::ClusterAccess,
        description: "the API server is reachable",
        run: cluster_access::reachable,
    },
    Check {
        codes: &["AMI3002", "AMI3003"],
        category: Category::ClusterAccess,
        description: "the Kubernetes version is supported by Istio 1.30",
        run: cluster_access::version,
    },
    Check {
        codes: &["AMI3004"],
        category: Category::ClusterAccess,
        description: "can read everything precheck and convert need",
        run: cluster_access::read_permissions,
    },
    Check {
        codes: &["AMI3005"],
        category: Category::ClusterAccess,
        description: "has the rights the migration steps need (label, rollout, convert --apply)",
        run: cluster_access::write_permissions,
    },
    Check {
        codes: &["AMI3006"],
        category: Category::ClusterAccess,
        description: "every kind could be read",
        run: cluster_access::read_errors,
    },
    // appmesh
    Check {
        codes: &["AMI3101", "AMI3102"],
        category: Category::Appmesh,
        description: "App Mesh CRDs are installed and serve appmesh.k8s.aws/v1beta2",
        run: appmesh::crds,
    },
    Check {
        codes: &["AMI3103", "AMI3104"],
        category: Category::Appmesh,
        description: "the App Mesh controller is running",
        run: appmesh::controller,
    },
    Check {
        codes: &["AMI3105"],
        category: Category::Appmesh,
        description: "App Mesh webhooks have a controller behind them",
        run: appmesh::webhooks,
    },
    Check {
        codes: &["AMI3106"],
        category: Category::Appmesh,
        description: "App Mesh objects inventoried",
        run: appmesh::inventory,
    },
    Check {
        codes: &["AMI3107"],
        category: Category::Appmesh,
        description: "no App Mesh object is stuck in deletion",
        run: appmesh::stuck,
    },
    Check {
        codes: &["AMI3108"],
        category: Category::Appmesh,
        description: "no App Mesh resource is shared beyond this cluster",
        run: appmesh::shared,
    },
    // istio
    Check {
        codes: &["AMI3201", "AMI3202", "AMI3203"],
        category: Category::Istio,
        description: "Istio is installed at a supported version",
        run: istio::installed,
    },
    Check {
        codes: &["AMI3204"],
        category: Category::Istio,
        description: "every istio.io/rev namespace label names an installed revision or tag",
        run: istio::revisions,
    },
    Check {
        codes: &["AMI3205"],
        category: Category::Istio,
        description: "the Istio sidecar injector webhook is installed",
        run: istio::injector,
    },
    Check {
        codes: &["AMI3206"],
        category: Category::Istio,
        description: "the Istio CRDs serve the v1 kinds convert writes",
        run: istio::crds,
    },
    // coexistence
    Check {
        codes: &["AMI3301", "AMI3302"],
        category: Category::Coexistence,
        description: "no namespace is selected by both sidecar injectors",
        run: pods::both_injectors,
    },
    Check {
        codes: &["AMI3303"],
        category: Category::Coexistence,
        description: "no pod runs both sidecars",
        run: pods::both_sidecars,
    },
    Check {
        codes: &["AMI3304"],
        category: Category::Coexistence,
        description: "no namespace carries both istio-injection and istio.io/rev",
        run: pods::both_istio_labels,
    },
    // workloads
    Check {
        codes: &["AMI3401"],
        category: Category::Workloads,
        description: "workloads carrying App Mesh sidecars inventoried",
        run: pods::appmesh_sidecars,
    },
    Check {
        codes: &["AMI3402"],
        category: Category::Workloads,
        description: "no meshed pod runs on Fargate",
        run: pods::fargate,
    },
    Check {
        codes: &["AMI3403"],
        category: Category::Workloads,
        description: "no meshed workload uses hostNetwork",
        run: pods::host_network,
    },
    Check {
        codes: &["AMI3404"],
        category: Category::Workloads,
        description: "no application container runs as UID 1337",
        run: pods::uid_1337,
    },
    Check {
        codes: &["AMI3405"],
        category: Category::Workloads,
        description: "no meshed Deployment is paused",
        run: pods::paused,
    },
    Check {
        codes: &["AMI3406", "AMI3407"],
        category: Category::Workloads,
        description: "App Mesh pod annotations have Istio equivalents",
        run: pods::annotations,
    },
    Check {
        codes: &["AMI3420"],
        category: Category::Workloads,
        description: "no workloads are coupled by App Mesh TLS across the move",
        run: pods::tls_coupled,
    },
    // conversion-readiness
    Check {
        codes: &["AMI3501"],
        category: Category::ConversionReadiness,
        description: "every App Mesh object converts exactly",
        run: readiness::conversion,
    },
    // cleanup
    Check {
        codes: &["AMI3601", "AMI3602"],
        category: Category::Cleanup,
        description: "App Mesh finalizers can be released",
        run: readiness::finalizers,
    },
    Check {
        codes: &["AMI3603"],
        category: Category::Cleanup,
        description: "no VirtualNode is registered in Cloud Map",
        run: readiness::cloud_map,
    },
    Check {
        codes: &["AMI3604", "AMI3605"],
        category: Category::Cleanup,
        description: "deleting the Meshes affects no one else",
        run: readiness::mesh_deletion,
    },
    Check {
        codes: &["AMI3610"],
        category: Category::Cleanup,
        description: "every App Mesh webhook calls a Service that exists",
        run: leftovers::orphaned_webhooks,
    },
    Check {
        codes: &["AMI3611"],
        category: Category::Cleanup,
        description: "namespaces on Istio carry no App Mesh labels or pod-template annotations",
        run: leftovers::leftover_keys,
    },
];

// ---------------------------------------------------------------------------------------------
// Helpers shared by the checks.

/// "1 VirtualNode", "3 VirtualNodes".
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// "1 pod carries", "2 pods carry": a count with its noun and a verb in agreement.
fn counted(n: usize, noun: &str, verb_singular: &str, verb_plural: &str) -> String {
    if n == 1 {
        format!("1 {noun} {verb_singular}")
    } else {
        format!("{n} {noun}s {verb_plural}")
    }
}

/// The image tag (`…/pilot:1.30.3` → `1.30.3`), ignoring digests and registry ports.
fn image_tag(image: &str) -> Option<&str> {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

/// `(major, minor)` of a version-like tag: `v1.13.3`, `1.30.3-distroless`.
fn tag_version(tag: &str) -> Option<(u32, u32)> {
    let mut parts = tag.trim_start_matches('v').split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The pod spec of a Pod, or the pod template spec of a workload.
fn pod_spec(object: &Object) -> Option<&Value> {
    if object.kind() == "Pod" {
        object.at("/spec")
    } else {
        object.at("/spec/template/spec")
    }
}

/// The pod annotations of a Pod, or of a workload's pod template.
fn pod_annotations(object: &Object) -> BTreeMap<String, String> {
    if object.kind() == "Pod" {
        object.annotations()
    } else {
        super::labels::string_map(&object.value, "/spec/template/metadata/annotations")
    }
}

fn containers<'a>(spec: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    spec.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Whether a container is App Mesh's Envoy (the injected sidecar, or a VirtualGateway's).
pub(crate) fn is_appmesh_envoy(container: &Value) -> bool {
    let name = container.get("name").and_then(Value::as_str).unwrap_or("");
    let image = container.get("image").and_then(Value::as_str).unwrap_or("");
    let env_marks = container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            matches!(
                e.get("name").and_then(Value::as_str),
                Some("APPMESH_VIRTUAL_NODE_NAME" | "APPMESH_RESOURCE_ARN")
            )
        });
    name == crate::k8s::ENVOY_CONTAINER && (image.contains("appmesh-envoy") || env_marks)
        || image.contains("aws-appmesh-envoy")
}

/// Whether a pod (or template) carries App Mesh's sidecar or its iptables init container.
/// (Public for `cleanup`'s gate: the same rule as precheck's.)
pub fn has_appmesh_sidecar(spec: &Value) -> bool {
    containers(spec, "containers").any(is_appmesh_envoy)
        || containers(spec, "initContainers")
            .any(|c| c.get("name").and_then(Value::as_str) == Some(crate::k8s::PROXYINIT_CONTAINER))
}

/// Whether a pod carries Istio's sidecar (a container, or a native-sidecar init container).
pub(crate) fn has_istio_sidecar(spec: &Value) -> bool {
    containers(spec, "containers")
        .chain(containers(spec, "initContainers"))
        .any(|c| c.get("name").and_then(Value::as_str) == Some("istio-proxy"))
}

/// The workload that owns a pod: Deployments through their ReplicaSet (named
/// `<deployment>-<pod-template-hash>`), StatefulSets, DaemonSets, Jobs…; the pod itself when
/// it has no controller. Avoids listing ReplicaSets just to climb one level.
fn owner_of(pod: &Object) -> ObjectRef {
    let ns = pod.namespace();
    let owner = pod
        .at("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true));
    let Some(owner) = owner else {
        return pod.object_ref();
    };
    let kind = owner.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = owner.get("name").and_then(Value::as_str).unwrap_or("");
    if kind == "ReplicaSet"
        && let Some(hash) = pod.labels().get("pod-template-hash")
        && let Some(deployment) = name.strip_suffix(&format!("-{hash}"))
    {
        return ObjectRef::new("Deployment", ns, deployment);
    }
    ObjectRef::new(kind_name(kind), ns, name)
}

/// Namespaces the migration concerns: App Mesh injection enabled, members of a Mesh, holding
/// App Mesh objects, or running pods with App Mesh sidecars.
fn meshed_namespaces(snap: &Snapshot) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ns_labels = snap.namespace_labels();
    for (name, labels) in &ns_labels {
        if appmesh_injection(labels).is_some() {
            out.insert((*name).to_owned());
        }
    }
    for mesh in snap.appmesh_of("Mesh") {
        for (name, labels) in &ns_labels {
            if selector_matches(mesh.at("/spec/namespaceSelector"), labels) {
                out.insert((*name).to_owned());
            }
        }
    }
    for o in snap.appmesh_objects() {
        if let Some(ns) = o.namespace() {
            out.insert(ns.to_owned());
        }
    }
    for pod in snap.pods.ok().into_iter().flatten() {
        if let (Some(ns), Some(spec)) = (pod.namespace(), pod_spec(pod))
            && has_appmesh_sidecar(spec)
        {
            out.insert(ns.to_owned());
        }
    }
    out
}

/// Bare pods (no controller) plus workloads: the objects whose pod spec a user edits.
fn editable_pod_specs(snap: &Snapshot) -> Vec<&Object> {
    let mut out: Vec<&Object> = snap.workloads().collect();
    out.extend(
        snap.pods
            .ok()
            .into_iter()
            .flatten()
            .filter(|p| owner_of(p) == p.object_ref()),
    );
    out
}

/// The App Mesh namespace-injection label, for messages.
fn appmesh_label(value: &str) -> String {
    format!("{APPMESH_INJECT}={value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::catalog;

    #[test]
    fn every_check_code_is_in_the_catalog_under_its_category() {
        let mut seen = BTreeSet::new();
        for check in CHECKS {
            for code in check.codes {
                let entry = catalog()
                    .get(*code)
                    .unwrap_or_else(|| panic!("{code} missing from the catalog"));
                assert_eq!(entry.category, check.category.as_str(), "{code}");
                assert!(seen.insert(*code), "{code} used by two checks");
            }
        }
        // And every precheck code (AMI3000-3999) in the catalog belongs to a check, with a
        // whole hint (an unquoted ` #` in YAML silently cuts the text short).
        for entry in catalog().values() {
            if entry.code.starts_with("AMI3") {
                assert!(
                    seen.contains(entry.code.as_str()),
                    "{} has no check",
                    entry.code
                );
                assert!(
                    entry.hint.ends_with('.'),
                    "{} hint looks truncated: {:?}",
                    entry.code,
                    entry.hint
                );
            }
        }
    }

    #[test]
    fn image_tags_and_versions() {
        assert_eq!(image_tag("docker.io/istio/pilot:1.30.3"), Some("1.30.3"));
        assert_eq!(
            image_tag("localhost:5000/istio/pilot:1.30.3-distroless"),
            Some("1.30.3-distroless")
        );
        assert_eq!(image_tag("localhost:5000/istio/pilot"), None);
        assert_eq!(image_tag("x/pilot:1.2@sha256:abc"), Some("1.2"));
        assert_eq!(tag_version("v1.13.3"), Some((1, 13)));
        assert_eq!(tag_version("1.30.3-distroless"), Some((1, 30)));
        assert_eq!(tag_version("latest"), None);
    }

    #[test]
    fn owners_climb_replicasets_by_template_hash() {
        let pod = Object {
            value: serde_json::json!({"kind": "Pod", "metadata": {"name": "web-5d9f7-abcde", "namespace": "shop",
                "labels": {"pod-template-hash": "5d9f7"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d9f7", "controller": true}]}}),
            origin: crate::origin::Origin::Generated,
        };
        assert_eq!(
            owner_of(&pod),
            ObjectRef::new("Deployment", Some("shop"), "web")
        );
    }
}
