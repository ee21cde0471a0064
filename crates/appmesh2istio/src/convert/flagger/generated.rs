//! The App Mesh objects Flagger's App Mesh router generated for a Canary, and the load
//! tester's VirtualNode.
//!
//! Flagger (`pkg/router/appmesh_v1beta2.go`) creates, for a Canary with apex name `A` (its
//! `service.name`, else the target's name) and target `T`: VirtualNodes `A-primary`
//! (selecting `<label>: T-primary`) and `A-canary` (selecting `<label>: T`), VirtualRouters
//! and VirtualServices `A` and `A-canary`. With owner references on (its default) each
//! carries a controller reference to the Canary; without, the names and selectors identify
//! them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{CODE_LOAD_TESTER, object_ref};
use crate::appmesh::{AppMeshObject, VirtualNode, VirtualRouter, VirtualService};
use crate::convert::Context;
use crate::load::Inventory;
use crate::origin::ObjectRef;

/// The names Flagger gives what it generates for one Canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CanaryNames {
    pub namespace: String,
    pub apex: String,
    pub target: String,
    pub canary: ObjectRef,
}

impl CanaryNames {
    pub(crate) fn of(canary: &Value) -> Option<CanaryNames> {
        let text = |p: &str| {
            canary
                .pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let target = text("/spec/targetRef/name")?;
        Some(CanaryNames {
            namespace: text("/metadata/namespace")?.to_owned(),
            apex: text("/spec/service/name").unwrap_or(target).to_owned(),
            target: target.to_owned(),
            canary: object_ref(canary),
        })
    }

    fn primary(&self) -> String {
        format!("{}-primary", self.apex)
    }

    fn canary_name(&self) -> String {
        format!("{}-canary", self.apex)
    }
}

/// Every App Mesh object of `inventory` that Flagger generated for one of `canaries`.
pub(crate) fn managed_objects(
    inventory: &Inventory,
    canaries: &[&Value],
) -> BTreeMap<ObjectRef, ObjectRef> {
    let names: Vec<CanaryNames> = canaries.iter().filter_map(|c| CanaryNames::of(c)).collect();
    let mut managed = BTreeMap::new();
    for sourced in &inventory.appmesh {
        let object = &sourced.object;
        let owner = owner_canary(object).or_else(|| {
            names
                .iter()
                .find(|n| generated_by(object, n))
                .map(|n| n.canary.clone())
        });
        if let Some(canary) = owner {
            managed.insert(object.object_ref(), canary);
        }
    }
    managed
}

/// The Canary named by an owner reference of `object`, if any.
fn owner_canary(object: &AppMeshObject) -> Option<ObjectRef> {
    let meta = object.metadata();
    meta.owner_references.iter().flatten().find_map(|o| {
        (o.kind == "Canary" && o.api_version.split('/').next() == Some(super::GROUP))
            .then(|| ObjectRef::new("Canary", meta.namespace.as_deref(), &o.name))
    })
}

/// Whether `object` has the name and shape Flagger gives what it generates for `n`.
fn generated_by(object: &AppMeshObject, n: &CanaryNames) -> bool {
    if object.namespace() != Some(n.namespace.as_str()) {
        return false;
    }
    let name = object.name();
    let (primary, canary) = (n.primary(), n.canary_name());
    match object {
        AppMeshObject::VirtualNode(vn) => {
            let selects = |value: &str| selects_label_value(vn, value);
            (name == primary && selects(&format!("{}-primary", n.target)))
                || (name == canary && selects(&n.target))
        }
        AppMeshObject::VirtualRouter(vr) => {
            (name == n.apex || name == canary) && routes_to(vr, &[&primary, &canary])
        }
        AppMeshObject::VirtualService(vs) => {
            (name == n.apex || name == canary) && provided_by_router(vs, name)
        }
        _ => false,
    }
}

fn selects_label_value(vn: &VirtualNode, value: &str) -> bool {
    vn.spec
        .pod_selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .is_some_and(|labels| labels.values().any(|v| v == value))
}

fn routes_to(vr: &VirtualRouter, nodes: &[&str]) -> bool {
    vr.spec.routes.iter().any(|route| {
        let targets = route
            .http_route
            .as_ref()
            .map(|r| &r.action.weighted_targets)
            .or_else(|| {
                route
                    .grpc_route
                    .as_ref()
                    .map(|r| &r.action.weighted_targets)
            })
            .or_else(|| route.tcp_route.as_ref().map(|r| &r.action.weighted_targets));
        targets.into_iter().flatten().any(|t| {
            t.virtual_node_ref
                .as_ref()
                .is_some_and(|r| nodes.contains(&r.name.as_str()))
        })
    })
}

fn provided_by_router(vs: &VirtualService, router: &str) -> bool {
    vs.spec
        .provider
        .as_ref()
        .and_then(|p| p.virtual_router.as_ref())
        .and_then(|r| r.virtual_router_ref.as_ref())
        .is_some_and(|r| r.name == router)
}

/// The load tester's App Mesh settings: Flagger's chart (`charts/loadtester`, value
/// `appmesh.enabled`) makes a VirtualNode for it with `appmesh.backends` as backends.
pub(crate) fn report_load_tester(ctx: &mut Context<'_>) {
    let testers: Vec<(ObjectRef, Vec<String>)> = ctx
        .inventory
        .appmesh
        .iter()
        .filter_map(|s| match &s.object {
            AppMeshObject::VirtualNode(vn) if is_load_tester(vn) => Some((
                s.object.object_ref(),
                vn.spec
                    .backends
                    .iter()
                    .filter_map(|b| b.virtual_service.virtual_service_ref.as_ref())
                    .map(|r| r.name.clone())
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    for (subject, backends) in testers {
        let calls = if backends.is_empty() {
            String::new()
        } else {
            format!(
                " (its backends {} become the egress hosts of its Sidecar)",
                backends.join(", ")
            )
        };
        ctx.note(
            CODE_LOAD_TESTER,
            &subject,
            "",
            format!(
                "the Flagger load tester's App Mesh VirtualNode{calls}: after the switch, install the load tester \
                 chart with appmesh.enabled=false, label its namespace for Istio injection and restart it, so \
                 its webhook calls go through Istio's sidecar"
            ),
        );
    }
}

/// The chart names the VirtualNode after the release (`flagger-loadtester`) and selects
/// `app: loadtester`.
fn is_load_tester(vn: &VirtualNode) -> bool {
    let name = vn.metadata.name.as_deref().unwrap_or("");
    name.contains("loadtester")
        || vn
            .spec
            .pod_selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref())
            .is_some_and(|l| {
                l.values()
                    .any(|v| v == "loadtester" || v == "flagger-loadtester")
            })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoadOptions, load_str};
    use serde_json::json;

    const GENERATED: &str = "
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: podinfo-primary, namespace: test}
spec:
  podSelector: {matchLabels: {app: podinfo-primary}}
  listeners: [{portMapping: {port: 9898, protocol: http}}]
  serviceDiscovery: {dns: {hostname: podinfo-primary.test.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: podinfo-canary, namespace: test}
spec:
  podSelector: {matchLabels: {app: podinfo}}
  listeners: [{portMapping: {port: 9898, protocol: http}}]
  serviceDiscovery: {dns: {hostname: podinfo-canary.test.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: other
  namespace: test
  ownerReferences:
  - {apiVersion: flagger.app/v1beta1, kind: Canary, name: podinfo, uid: u1, controller: true}
spec:
  podSelector: {matchLabels: {app: other}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: podinfo-canary, namespace: prod}
spec:
  podSelector: {matchLabels: {app: podinfo}}
";

    #[test]
    fn names_selectors_and_owner_references_mark_flaggers_objects() {
        let inventory = load_str("in.yaml", GENERATED, &LoadOptions::default()).unwrap();
        let canary = json!({"kind": "Canary", "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {"targetRef": {"name": "podinfo"}}});
        let managed = managed_objects(&inventory, &[&canary]);
        let names: Vec<String> = managed.keys().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "VirtualNode test/other",
                "VirtualNode test/podinfo-canary",
                "VirtualNode test/podinfo-primary"
            ]
        );
        assert!(
            managed
                .values()
                .all(|c| c.to_string() == "Canary test/podinfo")
        );
        // Without the Canary only the owner reference tells.
        assert_eq!(managed_objects(&inventory, &[]).len(), 1);
    }
}
