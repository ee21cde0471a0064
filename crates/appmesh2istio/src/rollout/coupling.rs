//! App Mesh's own dependency graph (VirtualNode backends), read through the resolver: which
//! workloads call which, and which callers and backends are *TLS-coupled*.
//!
//! App Mesh's TLS is not Istio's: a caller whose client policy originates App Mesh TLS to a
//! backend whose listener terminates it cannot talk to that backend once either side runs
//! Istio's sidecar and the other still runs App Mesh's Envoy. Such groups are restarted in one
//! wave, and the plan says that requests between them can fail while that wave rolls. precheck
//! reports the same groups (AMI3420).

use std::collections::{BTreeMap, BTreeSet};

use crate::appmesh::common::ListenerTlsMode;
use crate::origin::ObjectRef;
use crate::resolve::{NsName, Resolved};

/// One TLS-coupled group of workloads, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsGroup {
    pub workloads: BTreeSet<ObjectRef>,
    /// `shop-frontend/frontend-v1 → shop-payments/payments-v1 (port 8443)` per coupled pair.
    pub links: Vec<String>,
}

/// The graph between workloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshGraph {
    /// Workload → the workloads it calls (through VirtualNode backends).
    pub calls: BTreeMap<ObjectRef, BTreeSet<ObjectRef>>,
    pub tls_groups: Vec<TlsGroup>,
}

fn workloads_of(resolved: &Resolved, node: &NsName) -> Vec<ObjectRef> {
    resolved
        .virtual_nodes
        .get(node)
        .map(|entry| {
            entry
                .workloads
                .iter()
                .filter_map(|i| resolved.workload(*i))
                .map(|w| w.object.object_ref())
                .collect()
        })
        .unwrap_or_default()
}

/// The call graph and the TLS-coupled groups (connected components of TLS links).
pub fn graph(resolved: &Resolved) -> MeshGraph {
    let mut out = MeshGraph::default();
    let mut links: Vec<(BTreeSet<ObjectRef>, String)> = Vec::new();
    for (caller_key, caller) in &resolved.virtual_nodes {
        let callers = workloads_of(resolved, caller_key);
        let defaults_tls = caller
            .object
            .spec
            .backend_defaults
            .as_ref()
            .and_then(|d| d.client_policy.as_ref())
            .and_then(|p| p.tls.as_ref());
        for backend in &caller.backends {
            let Some(vs_key) = backend.virtual_service.object() else {
                continue;
            };
            let Some(vs) = resolved.virtual_services.get(vs_key) else {
                continue;
            };
            let tls = backend
                .client_policy
                .and_then(|p| p.tls.as_ref())
                .or(defaults_tls)
                .filter(|t| t.enforce != Some(false));
            for server_key in &vs.nodes {
                let servers = workloads_of(resolved, server_key);
                for c in &callers {
                    out.calls
                        .entry(c.clone())
                        .or_default()
                        .extend(servers.iter().filter(|s| *s != c).cloned());
                }
                let Some(tls) = tls else { continue };
                let Some(server) = resolved.virtual_nodes.get(server_key) else {
                    continue;
                };
                // Ports the client originates TLS on (empty: all), listeners that terminate it.
                let ports: Vec<i64> = server
                    .object
                    .spec
                    .listeners
                    .iter()
                    .filter(|l| {
                        l.tls
                            .as_ref()
                            .is_some_and(|t| t.mode != ListenerTlsMode::Disabled)
                    })
                    .map(|l| l.port_mapping.port)
                    .filter(|p| tls.ports.is_empty() || tls.ports.contains(p))
                    .collect();
                if ports.is_empty() || callers.is_empty() || servers.is_empty() {
                    continue;
                }
                let members: BTreeSet<ObjectRef> =
                    callers.iter().chain(&servers).cloned().collect();
                let port_list: Vec<String> = ports.iter().map(i64::to_string).collect();
                links.push((
                    members,
                    format!(
                        "{}/{} → {}/{} (App Mesh TLS on port {})",
                        caller_key.namespace,
                        caller_key.name,
                        server_key.namespace,
                        server_key.name,
                        port_list.join(", ")
                    ),
                ));
            }
        }
    }
    // Connected components over the links.
    let mut groups: Vec<TlsGroup> = Vec::new();
    for (members, why) in links {
        let (joined, rest): (Vec<TlsGroup>, Vec<TlsGroup>) = groups
            .into_iter()
            .partition(|g| !g.workloads.is_disjoint(&members));
        let mut group = TlsGroup {
            workloads: members,
            links: vec![why],
        };
        for g in joined {
            group.workloads.extend(g.workloads);
            group.links.extend(g.links);
        }
        group.links.sort();
        group.links.dedup();
        groups = rest;
        groups.push(group);
    }
    groups.sort_by(|a, b| a.workloads.cmp(&b.workloads));
    out.tls_groups = groups;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoadOptions, from_values};
    use crate::origin::Origin;
    use crate::resolve::resolve;
    use serde_json::json;

    fn objects(tls_enforce: bool) -> Vec<serde_json::Value> {
        let deployment = |ns: &str, name: &str| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": ns, "name": name},
                "spec": {"selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "x"}]}}}})
        };
        vec![
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": {"name": "m"},
                "spec": {"namespaceSelector": {"matchLabels": {"mesh": "m"}}}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"mesh": "m"}}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b", "labels": {"mesh": "m"}}}),
            deployment("a", "front"),
            deployment("b", "pay"),
            deployment("b", "other"),
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode", "metadata": {"namespace": "a", "name": "front"},
                "spec": {"podSelector": {"matchLabels": {"app": "front"}},
                  "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                  "backends": [{"virtualService": {"virtualServiceRef": {"namespace": "b", "name": "pay"},
                     "clientPolicy": {"tls": {"enforce": tls_enforce, "validation": {"trust": {"file": {"certificateChain": "/c"}}}}}}},
                     {"virtualService": {"virtualServiceRef": {"namespace": "b", "name": "other"}}}]}}),
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode", "metadata": {"namespace": "b", "name": "pay"},
                "spec": {"podSelector": {"matchLabels": {"app": "pay"}},
                  "listeners": [{"portMapping": {"port": 8443, "protocol": "http"},
                     "tls": {"mode": "STRICT", "certificate": {"file": {"certificateChain": "/c", "privateKey": "/k"}}}}]}}),
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode", "metadata": {"namespace": "b", "name": "other"},
                "spec": {"podSelector": {"matchLabels": {"app": "other"}},
                  "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}}),
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualService", "metadata": {"namespace": "b", "name": "pay"},
                "spec": {"provider": {"virtualNode": {"virtualNodeRef": {"name": "pay"}}}}}),
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualService", "metadata": {"namespace": "b", "name": "other"},
                "spec": {"provider": {"virtualNode": {"virtualNodeRef": {"name": "other"}}}}}),
        ]
    }

    #[test]
    fn callers_originating_app_mesh_tls_are_coupled_with_their_backend() {
        let inventory = from_values(objects(true), &Origin::Generated, &LoadOptions::default());
        let resolved = resolve(&inventory);
        let g = graph(&resolved);
        let front = ObjectRef::new("Deployment", Some("a"), "front");
        let pay = ObjectRef::new("Deployment", Some("b"), "pay");
        let other = ObjectRef::new("Deployment", Some("b"), "other");
        assert_eq!(g.calls[&front], [pay.clone(), other.clone()].into());
        assert_eq!(g.tls_groups.len(), 1);
        assert_eq!(g.tls_groups[0].workloads, [front, pay].into());
        assert_eq!(
            g.tls_groups[0].links,
            ["a/front → b/pay (App Mesh TLS on port 8443)"]
        );
        // Not enforced: no coupling.
        let inventory = from_values(objects(false), &Origin::Generated, &LoadOptions::default());
        assert!(graph(&resolve(&inventory)).tls_groups.is_empty());
    }
}
