//! cleanup: what App Mesh leaves behind that breaks or clutters a migrated cluster — webhook
//! configurations whose service is gone (AMI3610), and App Mesh labels and pod-template
//! annotations left on namespaces already moved to Istio (AMI3611). Objects stuck terminating
//! are AMI3107's. `kubectl appmesh2istio cleanup` removes all three.

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::labels::{APPMESH_INJECT, istio_injection};
use super::super::snapshot::Snapshot;
use super::super::{CheckOutput, Skipped};
use super::{editable_pod_specs, has_appmesh_sidecar, plural};
use crate::findings::Finding;
use crate::origin::ObjectRef;

/// App Mesh webhook configurations whose webhooks call a Service that does not exist (only
/// Services of namespaces that were read can be checked).
pub fn orphaned_webhooks(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let mutating = snap.mutating_webhooks.get()?;
    let validating = snap.validating_webhooks.get()?;
    let services = snap.services.get()?;
    let namespaces: BTreeSet<&str> = snap.namespaces.get()?.iter().map(|n| n.name()).collect();
    let existing: BTreeSet<(&str, &str)> = services
        .iter()
        .filter_map(|s| Some((s.namespace()?, s.name())))
        .collect();
    let mut out = CheckOutput::default();
    for config in mutating.iter().chain(validating) {
        if !crate::cleanup::scan::is_appmesh_webhook_configuration(&config.value) {
            continue;
        }
        let gone: Vec<String> = crate::cleanup::scan::webhook_services(&config.value)
            .into_iter()
            .filter(|s| {
                s.split_once('/').is_some_and(|(ns, name)| {
                    namespaces.contains(ns) && !existing.contains(&(ns, name))
                })
            })
            .collect();
        if gone.is_empty() {
            continue;
        }
        out.findings.push(Finding::new(
            "AMI3610",
            config.object_ref(),
            format!(
                "calls {} which does not exist: with failurePolicy Fail, pod creation (and every change of an App Mesh object) fails where it applies",
                gone.join(", ")
            ),
        ));
    }
    Ok(out)
}

/// Migrated namespaces (labelled for Istio, no pod running App Mesh's sidecar: needs the
/// cluster's pods) that still carry App Mesh's injector label, and workloads of such namespaces
/// whose pod template still carries `appmesh.k8s.aws/*` annotations. Before the pods moved,
/// both labels are coexistence (AMI3301-3304), not leftovers.
pub fn leftover_keys(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let namespaces = snap.namespaces.get()?;
    let pods = snap.pods.get()?;
    let still_on_appmesh: BTreeSet<&str> = pods
        .iter()
        .filter(|p| p.at("/spec").is_some_and(has_appmesh_sidecar))
        .filter_map(|p| p.namespace())
        .collect();
    let mut out = CheckOutput::default();
    let mut migrated: BTreeSet<&str> = BTreeSet::new();
    for ns in namespaces {
        let labels = ns.labels();
        if istio_injection(&labels).is_none() || still_on_appmesh.contains(ns.name()) {
            continue;
        }
        migrated.insert(ns.name());
        if let Some(value) = labels.get(APPMESH_INJECT) {
            out.findings.push(Finding::new(
                "AMI3611",
                ObjectRef::new("Namespace", None, ns.name()),
                format!("labelled for Istio and still {APPMESH_INJECT}={value}"),
            ));
        }
    }
    for workload in editable_pod_specs(snap) {
        if workload.kind() == "Pod" || !workload.namespace().is_some_and(|n| migrated.contains(n)) {
            continue;
        }
        let keys: Vec<String> = workload
            .at("/spec/template/metadata/annotations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .filter(|k| k.starts_with("appmesh.k8s.aws/"))
            .collect();
        if !keys.is_empty() {
            out.findings.push(Finding::new(
                "AMI3611",
                workload.object_ref(),
                format!(
                    "its namespace is on Istio and its pod template still carries {}: {}",
                    plural(keys.len(), "App Mesh annotation"),
                    keys.join(", ")
                ),
            ));
        }
    }
    Ok(out)
}
