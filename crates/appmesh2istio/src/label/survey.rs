//! What pods will do once a namespace is labelled: how many running pods carry App Mesh's
//! Envoy today (they keep it until they are recreated), and which workload templates carry App
//! Mesh's pod annotation, which means nothing to Istio.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::target::Target;
use crate::cluster::kinds::{DAEMONSETS, DEPLOYMENTS, KindInfo, PODS, STATEFULSETS};
use crate::cluster::list::list_values;
use crate::cluster::{Cluster, NamespaceScope};
use crate::precheck::checks::has_appmesh_sidecar;
use crate::precheck::labels::{AMBIENT_REDIRECTION, APPMESH_INJECT, string_map};

/// Up to this many namespaces are surveyed one list per namespace and kind; more are read with
/// one list across all namespaces per kind (fewer requests, but needs cluster-wide list rights).
const PER_NAMESPACE_LISTS: usize = 4;

/// One workload template carrying App Mesh's pod annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotatedTemplate {
    /// `Deployment/web`.
    pub workload: String,
    /// `enabled` or `disabled` (as written).
    pub value: String,
}

/// A namespace's pods and templates, as far as labelling concerns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceSurvey {
    /// Running (or pending) pods with App Mesh's Envoy or its init container.
    pub appmesh_pods: usize,
    pub annotated: Vec<AnnotatedTemplate>,
}

impl NamespaceSurvey {
    /// What Istio will do for an annotated template.
    fn istio_effect(value: &str, target: &Target) -> String {
        let disabled = value.eq_ignore_ascii_case("disabled");
        match (target, disabled) {
            (Target::Ambient, true) => {
                "ambient captures it anyway (rollout sets istio.io/dataplane-mode=none)"
            }
            (Target::Ambient, false) => {
                return format!(
                    "ambient captures it (its new pods get {AMBIENT_REDIRECTION}=enabled)"
                );
            }
            (_, true) => "Istio injects it anyway (rollout sets sidecar.istio.io/inject=false)",
            (_, false) => "Istio injects it as the namespace label says",
        }
        .to_owned()
    }

    /// Plan warnings for this namespace.
    pub fn notes(&self, target: &Target) -> Vec<String> {
        let mut notes = Vec::new();
        if self.appmesh_pods > 0 {
            notes.push(format!(
                "AMI4025: {} running pod(s) carry App Mesh's envoy until recreated (rollout)",
                self.appmesh_pods
            ));
        }
        for t in &self.annotated {
            notes.push(format!(
                "AMI4026: {} has {APPMESH_INJECT}={}: {}",
                t.workload,
                t.value,
                Self::istio_effect(&t.value, target)
            ));
        }
        notes
    }

    /// The plan document's `pods` field.
    pub fn document(&self, target: &Target) -> Value {
        json!({
            "withAppMeshEnvoy": self.appmesh_pods,
            "annotatedTemplates": self.annotated.iter().map(|t| json!({
                "workload": t.workload,
                "annotation": format!("{APPMESH_INJECT}={}", t.value),
                "istio": Self::istio_effect(&t.value, target),
            })).collect::<Vec<_>>(),
        })
    }
}

fn is_live_pod(pod: &Value) -> bool {
    !matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    ) && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// Read pods and workloads of `namespaces`. A list the server refuses does not stop the
/// command: it only leaves the plan without that part (the warning says so).
pub async fn read(
    cluster: &Cluster,
    namespaces: &BTreeSet<String>,
) -> (BTreeMap<String, NamespaceSurvey>, Vec<String>) {
    let mut out: BTreeMap<String, NamespaceSurvey> = BTreeMap::new();
    let mut warnings = Vec::new();
    let scopes: Vec<NamespaceScope> = if namespaces.len() <= PER_NAMESPACE_LISTS {
        namespaces
            .iter()
            .map(|n| NamespaceScope::One(n.clone()))
            .collect()
    } else {
        vec![NamespaceScope::All]
    };
    let kinds: [&KindInfo; 4] = [&PODS, &DEPLOYMENTS, &STATEFULSETS, &DAEMONSETS];
    let mut reads = Vec::new();
    for scope in &scopes {
        for kind in kinds {
            reads.push(async move { (kind, list_values(&cluster.client, kind, scope).await) });
        }
    }
    for (kind, result) in futures::future::join_all(reads).await {
        let objects = match result {
            Ok(objects) => objects,
            Err(e) => {
                warnings.push(format!(
                    "{e}: the plan cannot say what {} will do",
                    kind.plural
                ));
                continue;
            }
        };
        for object in objects {
            let Some(ns) = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
            else {
                continue;
            };
            if !namespaces.contains(ns) {
                continue;
            }
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let entry = out.entry(ns.to_owned()).or_default();
            if kind.kind == "Pod" {
                if is_live_pod(&object) && object.get("spec").is_some_and(has_appmesh_sidecar) {
                    entry.appmesh_pods += 1;
                }
            } else if let Some(value) =
                string_map(&object, "/spec/template/metadata/annotations").get(APPMESH_INJECT)
            {
                entry.annotated.push(AnnotatedTemplate {
                    workload: format!("{}/{name}", kind.kind),
                    value: value.clone(),
                });
            }
        }
    }
    for survey in out.values_mut() {
        survey.annotated.sort_by(|a, b| a.workload.cmp(&b.workload));
    }
    (out, warnings)
}
