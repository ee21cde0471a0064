//! Waves of the phased strategy: namespaces (or `--batch-size` workloads), ordered from App
//! Mesh's dependency graph with backends before their callers, and every TLS-coupled group
//! moved into one wave (the earliest that holds one of its members).

use std::collections::{BTreeMap, BTreeSet};

use super::coupling::MeshGraph;
use super::select::Target;
use crate::origin::ObjectRef;

/// One wave: indices into the targets, and what the plan says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub targets: Vec<usize>,
    /// `namespace shop-payments`, `batch 2`.
    pub name: String,
    /// TLS-coupled groups restarted together in this wave.
    pub coupled: Vec<String>,
}

fn object_ref(target: &Target) -> ObjectRef {
    ObjectRef::new(
        crate::origin::kind_name(&target.key.kind),
        target.key.namespace.as_deref(),
        &target.key.name,
    )
}

/// Nodes in an order where what a node calls comes first (Kahn's algorithm, ties by name; a
/// cycle is broken at its smallest node).
fn backends_first<N: Ord + Clone>(nodes: &BTreeSet<N>, calls: &BTreeMap<N, BTreeSet<N>>) -> Vec<N> {
    let mut waiting: BTreeMap<N, BTreeSet<N>> = nodes
        .iter()
        .map(|n| {
            let deps = calls
                .get(n)
                .map(|c| {
                    c.iter()
                        .filter(|d| *d != n && nodes.contains(*d))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            (n.clone(), deps)
        })
        .collect();
    let mut out = Vec::with_capacity(nodes.len());
    while !waiting.is_empty() {
        let next = waiting
            .iter()
            .find(|(_, deps)| deps.is_empty())
            .map(|(n, _)| n.clone())
            .or_else(|| waiting.keys().next().cloned());
        let Some(next) = next else { break };
        waiting.remove(&next);
        for deps in waiting.values_mut() {
            deps.remove(&next);
        }
        out.push(next);
    }
    out
}

/// The waves for `targets`.
pub fn build(targets: &[Target], batch_size: Option<usize>, graph: &MeshGraph) -> Vec<Wave> {
    let refs: Vec<ObjectRef> = targets.iter().map(object_ref).collect();
    let mut waves: Vec<Wave> = match batch_size {
        Some(size) => {
            let nodes: BTreeSet<ObjectRef> = refs.iter().cloned().collect();
            let order = backends_first(&nodes, &graph.calls);
            let position: BTreeMap<&ObjectRef, usize> =
                order.iter().enumerate().map(|(i, r)| (r, i)).collect();
            let mut indices: Vec<usize> = (0..targets.len()).collect();
            indices.sort_by_key(|i| position.get(&refs[*i]).copied().unwrap_or(usize::MAX));
            indices
                .chunks(size.max(1))
                .enumerate()
                .map(|(n, chunk)| Wave {
                    targets: chunk.to_vec(),
                    name: format!("batch {}", n + 1),
                    coupled: Vec::new(),
                })
                .collect()
        }
        None => {
            let namespaces: BTreeSet<String> =
                refs.iter().filter_map(|r| r.namespace.clone()).collect();
            let mut ns_calls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (caller, callees) in &graph.calls {
                if let Some(from) = &caller.namespace {
                    for callee in callees {
                        if let Some(to) = &callee.namespace
                            && to != from
                        {
                            ns_calls.entry(from.clone()).or_default().insert(to.clone());
                        }
                    }
                }
            }
            backends_first(&namespaces, &ns_calls)
                .into_iter()
                .map(|ns| Wave {
                    targets: (0..targets.len())
                        .filter(|i| refs[*i].namespace.as_deref() == Some(ns.as_str()))
                        .collect(),
                    name: format!("namespace {ns}"),
                    coupled: Vec::new(),
                })
                .collect()
        }
    };
    // Every TLS-coupled group into the earliest wave holding one of its members.
    for group in &graph.tls_groups {
        let members: Vec<usize> = (0..targets.len())
            .filter(|i| group.workloads.contains(&refs[*i]))
            .collect();
        if members.len() < 2 {
            continue;
        }
        let Some(first) = waves
            .iter()
            .position(|w| w.targets.iter().any(|t| members.contains(t)))
        else {
            continue;
        };
        for wave in &mut waves {
            wave.targets.retain(|t| !members.contains(t));
        }
        waves[first].targets.extend(&members);
        waves[first].targets.sort_unstable();
        let names: Vec<String> = members
            .iter()
            .map(|i| {
                format!(
                    "{}/{}",
                    refs[*i].namespace.as_deref().unwrap_or(""),
                    refs[*i].name
                )
            })
            .collect();
        waves[first].coupled.push(format!(
            "TLS-coupled, restarted together ({}): {}; requests between them can fail while this wave rolls (App Mesh's TLS is not Istio's)",
            group.links.join("; "),
            names.join(", ")
        ));
    }
    waves.retain(|w| !w.targets.is_empty());
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ObjectKey;
    use crate::rollout::coupling::TlsGroup;

    fn target(ns: &str, name: &str) -> Target {
        Target {
            key: ObjectKey::new("apps/v1", "Deployment", Some(ns), name),
            live: serde_json::Value::Null,
            why: String::new(),
            translation: Default::default(),
        }
    }

    fn r(ns: &str, name: &str) -> ObjectRef {
        ObjectRef::new("Deployment", Some(ns), name)
    }

    #[test]
    fn namespaces_backends_first_and_tls_groups_together() {
        let targets = vec![
            target("front", "web"),
            target("pay", "payments"),
            target("pay", "ledger"),
            target("store", "catalog"),
        ];
        let mut graph = MeshGraph::default();
        graph.calls.insert(
            r("front", "web"),
            [r("pay", "payments"), r("store", "catalog")].into(),
        );
        graph
            .calls
            .insert(r("pay", "payments"), [r("pay", "ledger")].into());
        let waves = build(&targets, None, &graph);
        let names: Vec<&str> = waves.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            ["namespace pay", "namespace store", "namespace front"]
        );
        graph.tls_groups.push(TlsGroup {
            workloads: [r("front", "web"), r("pay", "payments")].into(),
            links: vec!["front/web → pay/payments (App Mesh TLS on port 8443)".into()],
        });
        let waves = build(&targets, None, &graph);
        assert_eq!(waves[0].targets, [0, 1, 2], "web joins payments' wave");
        assert!(waves[0].coupled[0].contains("front/web, pay/payments"));
        assert_eq!(
            waves.len(),
            2,
            "the front namespace's wave is empty and dropped"
        );
        let batches = build(&targets, Some(2), &MeshGraph::default());
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1].name, "batch 2");
    }
}
