//! The migration dashboard: when App Mesh and Istio coexist in a cluster, where each namespace
//! App Mesh or Istio touches stands, and the next command to run for it.
//!
//! Everything comes from the snapshot precheck already read (paginated lists; no request per
//! namespace). The only kind read for it alone is the Istio objects carrying convert's
//! managed-by label (one labelled list per served Istio kind, see [`super::snapshot`]).

pub mod stage;
mod table;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::checks::{has_appmesh_sidecar, has_istio_sidecar, istio_present};
use super::labels::{
    AMBIENT_REDIRECTION, APPMESH_INJECT, ISTIO_DATAPLANE_MODE, ISTIO_INJECTION, ISTIO_REV,
    appmesh_injection, istio_enabled, selector_matches,
};
use super::snapshot::{ConversionOutcome, Data, Object, Snapshot};
use crate::cluster::kinds::APPMESH_GROUP;
use crate::convert::SOURCE_ANNOTATION;
use crate::istio::MANAGED_BY_LABEL;

pub use stage::{Stage, StageFacts, stage};
pub use table::render_section;

/// What put a namespace into App Mesh.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshedBy {
    /// `appmesh.k8s.aws/sidecarInjectorWebhook=enabled` on the namespace.
    pub injector_label: bool,
    /// Meshes whose `namespaceSelector` selects the namespace.
    pub meshes: Vec<String>,
}

/// Running pods (not finished, not being deleted) by the proxy they carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCounts {
    /// App Mesh's envoy or proxyinit (also when istio-proxy is there too).
    pub appmesh: usize,
    /// istio-proxy, or captured by ambient (`ambient.istio.io/redirection: enabled`).
    pub istio: usize,
    /// Neither.
    pub none: usize,
}

/// The Istio objects of the namespace that carry convert's managed-by label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedConfig {
    pub applied: usize,
    /// Of those, the ones whose spec another field manager changed since (a field manager that
    /// did not set the managed-by label owns a spec field: `kubectl edit`, `kubectl patch`, a
    /// controller). Changes made by the same field manager that applied cannot be told apart.
    pub edited: usize,
}

/// One row of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceProgress {
    pub namespace: String,
    pub meshed_by: MeshedBy,
    /// The namespace's injection labels now (`istio-injection`, `istio.io/rev`,
    /// `istio.io/dataplane-mode`, App Mesh's), as `key=value`.
    pub injection_labels: Vec<String>,
    pub pods: PodCounts,
    pub istio_config: AppliedConfig,
    /// App Mesh objects left in the namespace.
    pub appmesh_objects: usize,
    /// Of those, the ones whose Istio configuration is not in the cluster (convert would write
    /// some, and no object of ours names them in `appmesh2istio.io/source`).
    pub unconverted: usize,
    pub stage: Stage,
    /// The command to run next; `null` when done.
    pub next: Option<String>,
}

/// The dashboard's rows, or `None` when it is not shown: offline (`-f` cannot tell pods or
/// what is applied), a side missing (App Mesh or Istio absent: nothing to move, or nothing
/// left), a kind it needs unreadable (AMI3006 says which), or no namespace to show.
pub fn progress(snap: &Snapshot) -> Option<Vec<NamespaceProgress>> {
    if snap.is_offline() || snap.unreachable.is_some() {
        return None;
    }
    let rows = progress_of(snap)?;
    (!rows.is_empty()).then_some(rows)
}

/// Whether a pod counts as running (not finished, not being deleted).
fn running(pod: &Object) -> bool {
    !matches!(pod.str_at("/status/phase"), Some("Succeeded" | "Failed"))
        && pod
            .at("/metadata/deletionTimestamp")
            .is_none_or(Value::is_null)
}

/// The rows, from any snapshot (unit tests build one from documents).
pub fn progress_of(snap: &Snapshot) -> Option<Vec<NamespaceProgress>> {
    let namespaces = snap.namespaces.ok()?;
    let pods = snap.pods.ok()?;
    let managed = snap.istio_managed.ok()?;
    if snap
        .appmesh
        .values()
        .any(|d| matches!(d, Data::Unavailable(_)))
    {
        return None;
    }

    let appmesh_pod = |p: &&Object| running(p) && p.at("/spec").is_some_and(has_appmesh_sidecar);
    let ns_labels: BTreeMap<&str, BTreeMap<String, String>> =
        namespaces.iter().map(|n| (n.name(), n.labels())).collect();
    let appmesh_side = snap
        .groups
        .ok()
        .is_some_and(|g| g.contains_key(APPMESH_GROUP))
        || snap.appmesh_objects().next().is_some()
        || pods.iter().any(|p| appmesh_pod(&p));
    let istio_side = istio_present(snap)
        || !managed.is_empty()
        || ns_labels.values().any(|l| istio_enabled(l).is_some());
    if !(appmesh_side && istio_side) {
        return None;
    }

    // App Mesh objects (namespaced) and whether convert writes anything for them.
    let produces: BTreeMap<String, bool> = match &snap.conversion {
        Data::Available(ConversionOutcome::Converted(report)) => report
            .sources
            .iter()
            .map(|s| {
                (
                    s.subject.to_string(),
                    s.produced.iter().any(|p| p.kind != "IstioOperator"),
                )
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let named: BTreeSet<String> = managed
        .iter()
        .filter_map(|o| o.annotations().get(SOURCE_ANNOTATION).cloned())
        .flat_map(|s| s.split(", ").map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let mut objects: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for o in snap.appmesh_objects() {
        let Some(ns) = o.namespace() else { continue };
        let subject = o.object_ref().to_string();
        // Unknown to the conversion (not run): assume it writes something, as cleanup does.
        let writes = produces.get(&subject).copied().unwrap_or(true);
        let entry = objects.entry(ns).or_default();
        entry.0 += 1;
        if writes && !named.contains(&subject) {
            entry.1 += 1;
        }
    }
    let mut pod_counts: BTreeMap<&str, PodCounts> = BTreeMap::new();
    for p in pods.iter().filter(|p| running(p)) {
        let Some(ns) = p.namespace() else { continue };
        let counts = pod_counts.entry(ns).or_default();
        let spec = p.at("/spec").unwrap_or(&Value::Null);
        if has_appmesh_sidecar(spec) {
            counts.appmesh += 1;
        } else if has_istio_sidecar(spec)
            || p.annotations().get(AMBIENT_REDIRECTION).map(String::as_str) == Some("enabled")
        {
            counts.istio += 1;
        } else {
            counts.none += 1;
        }
    }
    let mut config: BTreeMap<&str, AppliedConfig> = BTreeMap::new();
    for o in managed {
        let Some(ns) = o.namespace() else { continue };
        let c = config.entry(ns).or_default();
        c.applied += 1;
        if edited_since_applied(&o.value) {
            c.edited += 1;
        }
    }

    // The Meshes selecting each namespace, computed once.
    let meshes_of: BTreeMap<&str, Vec<String>> = ns_labels
        .iter()
        .map(|(ns, labels)| {
            let meshes = snap
                .appmesh_of("Mesh")
                .iter()
                .filter(|m| selector_matches(m.at("/spec/namespaceSelector"), labels))
                .map(|m| m.name().to_owned())
                .collect();
            (*ns, meshes)
        })
        .collect();
    let empty = BTreeMap::new();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    names.extend(objects.keys());
    names.extend(
        pod_counts
            .iter()
            .filter(|(_, c)| c.appmesh > 0)
            .map(|(ns, _)| *ns),
    );
    names.extend(ns_labels.iter().filter_map(|(ns, labels)| {
        let touched = appmesh_injection(labels).is_some()
            || meshes_of.get(ns).is_some_and(|m| !m.is_empty())
            || istio_enabled(labels).is_some();
        touched.then_some(*ns)
    }));
    let mut rows = Vec::new();
    for ns in names {
        let labels = ns_labels.get(ns).unwrap_or(&empty);
        let meshes = meshes_of.get(ns).cloned().unwrap_or_default();
        let (appmesh_objects, unconverted) = objects.get(ns).copied().unwrap_or_default();
        let pods = pod_counts.get(ns).cloned().unwrap_or_default();
        let facts = StageFacts {
            appmesh_objects,
            unconverted,
            istio_labelled: istio_enabled(labels).is_some(),
            appmesh_injection_enabled: appmesh_injection(labels) == Some("enabled"),
            appmesh_label: labels.contains_key(APPMESH_INJECT),
            appmesh_pods: pods.appmesh,
        };
        let stage = stage(&facts);
        rows.push(NamespaceProgress {
            namespace: ns.to_owned(),
            meshed_by: MeshedBy {
                injector_label: facts.appmesh_injection_enabled,
                meshes,
            },
            injection_labels: [
                ISTIO_INJECTION,
                ISTIO_REV,
                ISTIO_DATAPLANE_MODE,
                APPMESH_INJECT,
            ]
            .iter()
            .filter_map(|k| labels.get(*k).map(|v| format!("{k}={v}")))
            .collect(),
            pods,
            istio_config: config.get(ns).cloned().unwrap_or_default(),
            appmesh_objects,
            unconverted,
            stage,
            next: stage.command(ns),
        });
    }
    Some(rows)
}

fn manager(entry: &Value) -> &str {
    entry.get("manager").and_then(Value::as_str).unwrap_or("")
}

/// Whether a field manager other than the one(s) that set the managed-by label owns a spec
/// field: someone changed the object's spec since it was applied. Objects listed without
/// `managedFields` read as unchanged (nothing tells otherwise).
pub fn edited_since_applied(object: &Value) -> bool {
    let entries = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let label_key = format!("f:{MANAGED_BY_LABEL}");
    let appliers: BTreeSet<&str> = entries
        .iter()
        .filter(|e| {
            e.get("fieldsV1")
                .and_then(|f| f.get("f:metadata"))
                .and_then(|m| m.get("f:labels"))
                .and_then(|l| l.get(&label_key))
                .is_some()
        })
        .map(manager)
        .collect();
    if appliers.is_empty() {
        return false;
    }
    entries.iter().any(|e| {
        let subresource = e
            .get("subresource")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        !subresource
            && !appliers.contains(manager(e))
            && e.get("fieldsV1")
                .and_then(|f| f.get("f:spec"))
                .and_then(Value::as_object)
                .is_some_and(|spec| !spec.is_empty())
    })
}

#[cfg(test)]
mod tests;
