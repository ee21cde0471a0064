//! The rights precheck asks about with SelfSubjectAccessReviews: its own reads and what the
//! later steps will need.

use super::Permission;
use crate::cluster::NamespaceScope;
use crate::cluster::access::{AccessAnswer, AccessRequest};
use crate::cluster::kinds::{self, APPMESH_KINDS, ISTIO_KINDS, KindInfo};

/// The rights precheck and the later steps need, asked in `scope`.
pub fn permission_requests(scope: &NamespaceScope) -> Vec<AccessRequest> {
    permission_plan(scope)
        .into_iter()
        .map(|(request, _, _)| request)
        .collect()
}

/// (request, needed by, is a read). `deploy/rbac/`'s roles grant each of these to the
/// commands named (checked by `tests/least_privilege.rs`).
pub fn permission_plan(scope: &NamespaceScope) -> Vec<(AccessRequest, &'static str, bool)> {
    let ns = scope.namespace();
    let mut plan = Vec::new();
    let ask = |kind: &KindInfo, verb: &str| {
        AccessRequest::new(
            verb,
            kind.group,
            kind.plural,
            if kind.namespaced { ns } else { None },
        )
    };
    // Lists only: no command watches App Mesh objects (the audit log of
    // tests/least_privilege.rs shows every request each command makes).
    for kind in &APPMESH_KINDS {
        plan.push((ask(kind, "list"), "precheck, convert", true));
    }
    // Pods tell precheck which workloads run App Mesh's Envoy; convert does not read them.
    plan.push((ask(&kinds::PODS, "list"), "precheck", true));
    for kind in [
        &kinds::NAMESPACES,
        &kinds::SERVICES,
        &kinds::DEPLOYMENTS,
        &kinds::STATEFULSETS,
        &kinds::DAEMONSETS,
    ] {
        plan.push((ask(kind, "list"), "precheck, convert", true));
    }
    for kind in [&kinds::MUTATING_WEBHOOKS, &kinds::VALIDATING_WEBHOOKS] {
        plan.push((ask(kind, "list"), "precheck", true));
    }
    // The migration dashboard counts the Istio objects convert applied.
    for kind in &ISTIO_KINDS {
        plan.push((ask(kind, "list"), "precheck", true));
    }
    plan.push((ask(&kinds::NAMESPACES, "get"), "label", false));
    plan.push((ask(&kinds::NAMESPACES, "patch"), "label", false));
    for kind in [
        &kinds::DEPLOYMENTS,
        &kinds::STATEFULSETS,
        &kinds::DAEMONSETS,
    ] {
        plan.push((ask(kind, "patch"), "rollout", false));
    }
    for kind in &ISTIO_KINDS {
        plan.push((ask(kind, "create"), "convert --apply", false));
        plan.push((ask(kind, "patch"), "convert --apply", false));
    }
    plan
}

pub(super) fn label_permissions(answers: Vec<AccessAnswer>) -> Vec<Permission> {
    let plan = permission_plan(&NamespaceScope::All);
    answers
        .into_iter()
        .map(|answer| {
            let (needed_by, read) = plan
                .iter()
                .find(|(r, _, _)| {
                    r.verb == answer.request.verb
                        && r.group == answer.request.group
                        && r.resource == answer.request.resource
                })
                .map(|(_, by, read)| (*by, *read))
                .unwrap_or(("precheck", true));
            Permission {
                answer,
                needed_by,
                read,
            }
        })
        .collect()
}
