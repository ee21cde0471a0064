//! BackendGroups have no Istio counterpart of their own: resolve expands them into the
//! backends of the VirtualNodes listing them, and the VirtualNode conversion imports those
//! hosts into each node's Sidecar, crediting the group as one of its sources. What is left
//! here is telling the user about groups that contribute nothing.

use std::collections::BTreeSet;

use crate::appmesh::AppMeshKind;
use crate::resolve::NsName;

use super::Context;

pub(super) const CODE_UNUSED: &str = "AMI2230";

/// Findings for BackendGroups that add no backend to any VirtualNode.
pub(crate) fn convert_backend_groups(ctx: &mut Context<'_>) {
    let resolved = ctx.resolved;
    let listed: BTreeSet<NsName> = resolved
        .virtual_nodes
        .iter()
        .flat_map(|(key, vn)| {
            vn.object
                .spec
                .backend_groups
                .iter()
                .filter(|g| g.name != "*")
                .map(|g| NsName::new(g.namespace_or(&key.namespace), &g.name))
        })
        .collect();
    for (key, group) in &resolved.backend_groups {
        let subject = key.object_ref(AppMeshKind::BackendGroup);
        if !listed.contains(key) {
            ctx.note(
                CODE_UNUSED,
                &subject,
                "",
                "no VirtualNode lists this BackendGroup in spec.backendGroups, so it adds no backend and nothing is generated",
            );
        } else if group.virtual_services.is_empty() {
            ctx.note(
                CODE_UNUSED,
                &subject,
                "spec.virtualservices",
                "the BackendGroup has no VirtualServices, so it adds no backend to the VirtualNodes listing it",
            );
        }
    }
}
