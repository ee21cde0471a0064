//! Which workloads each VirtualNode and VirtualGateway selects, as App Mesh's pod webhook
//! decides it: the podSelector, within the object's own namespace; an invalid selector selects
//! nothing (AMI1120).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{CODE_INVALID_SELECTOR, Resolver, selector_matches, selector_problem};
use crate::appmesh::AppMeshKind;
use crate::origin::{ObjectRef, Origin};

impl<'a> Resolver<'a> {
    /// Which workloads each VirtualNode/VirtualGateway podSelector selects (same namespace).
    pub(super) fn select_workloads(&mut self) {
        let workloads = &self.r.inventory.workloads;
        let mut selected_by: Vec<Vec<ObjectRef>> = vec![Vec::new(); workloads.len()];
        // Selectors only look into their own namespace: index the workloads by namespace, so
        // that many nodes and many workloads in different namespaces do not multiply.
        let mut by_namespace: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, w) in workloads.iter().enumerate() {
            by_namespace
                .entry(w.object.namespace.as_str())
                .or_default()
                .push(i);
        }
        let mut empty: Vec<(ObjectRef, &'a Origin)> = Vec::new();
        let mut invalid: Vec<(ObjectRef, &'a Origin, String)> = Vec::new();
        let pick = |namespace: &str, selector: Option<&LabelSelector>| -> Vec<usize> {
            // An invalid selector selects nothing (see `selector_problem`).
            if selector.is_some_and(|s| selector_problem(s, "").is_some()) {
                return Vec::new();
            }
            by_namespace
                .get(namespace)
                .into_iter()
                .flatten()
                .copied()
                .filter(|&i| selector_matches(selector, &workloads[i].object.pod_labels, false))
                .collect()
        };
        let namespaces_with_workloads = &by_namespace;
        for (key, vn) in self.r.virtual_nodes.iter_mut() {
            if let Some(problem) = vn
                .object
                .spec
                .pod_selector
                .as_ref()
                .and_then(|s| selector_problem(s, "spec.podSelector"))
            {
                let subject = key.object_ref(AppMeshKind::VirtualNode);
                invalid.push((subject, vn.common.origin, problem));
                vn.workloads = Vec::new();
                continue;
            }
            vn.workloads = pick(&key.namespace, vn.object.spec.pod_selector.as_ref());
            for &i in &vn.workloads {
                selected_by[i].push(key.object_ref(AppMeshKind::VirtualNode));
            }
            if vn.workloads.is_empty()
                && namespaces_with_workloads.contains_key(key.namespace.as_str())
            {
                empty.push((key.object_ref(AppMeshKind::VirtualNode), vn.common.origin));
            }
        }
        for (key, vg) in self.r.virtual_gateways.iter_mut() {
            if let Some(problem) = vg
                .object
                .spec
                .pod_selector
                .as_ref()
                .and_then(|s| selector_problem(s, "spec.podSelector"))
            {
                let subject = key.object_ref(AppMeshKind::VirtualGateway);
                invalid.push((subject, vg.common.origin, problem));
                vg.workloads = Vec::new();
                continue;
            }
            vg.workloads = pick(&key.namespace, vg.object.spec.pod_selector.as_ref());
            for &i in &vg.workloads {
                selected_by[i].push(key.object_ref(AppMeshKind::VirtualGateway));
            }
            if vg.workloads.is_empty()
                && namespaces_with_workloads.contains_key(key.namespace.as_str())
            {
                empty.push((
                    key.object_ref(AppMeshKind::VirtualGateway),
                    vg.common.origin,
                ));
            }
        }
        for (subject, origin, problem) in invalid {
            let (field, problem) = problem.split_once(": ").map_or(
                ("spec.podSelector".to_owned(), problem.clone()),
                |(f, p)| (f.to_owned(), p.to_owned()),
            );
            self.finding(
                CODE_INVALID_SELECTOR,
                subject,
                origin,
                Some(field),
                format!(
                    "{problem}: this is not a valid Kubernetes label selector, so no pod can match it and \
                     App Mesh configured no pod with it; the pod-side settings are not converted"
                ),
            );
        }
        for (subject, origin) in empty {
            let what = if subject.kind == "VirtualNode" {
                "VirtualNode"
            } else {
                "VirtualGateway"
            };
            self.finding(
                "AMI1113",
                subject,
                origin,
                Some("spec.podSelector".into()),
                format!(
                    "this {what}'s podSelector selects no workload of its namespace in the input"
                ),
            );
        }
        for (i, by) in selected_by.into_iter().enumerate() {
            if by.len() > 1 {
                let w = &workloads[i];
                let names: Vec<String> = by.iter().map(ToString::to_string).collect();
                self.finding(
                    "AMI1112",
                    w.object.object_ref(),
                    &w.origin,
                    None,
                    format!("pods are selected by {}", names.join(" and ")),
                );
            }
        }
    }
}
