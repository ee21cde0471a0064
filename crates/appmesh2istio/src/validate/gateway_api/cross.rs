//! Rules between the Gateway API objects of one output set: a reference into another
//! namespace (a backendRef, a Gateway's certificateRef) works only when a ReferenceGrant in
//! that namespace allows it (Istio marks the route `ResolvedRefs: False` / the listener
//! invalid otherwise), and a route's Gateway parent generated with it must exist.

use crate::gateway_api::{BackendRef, GROUP, ReferenceGrantSpec};
use crate::istio::IstioObject;
use crate::validate::{Violation, ViolationSeverity};

/// A cross-namespace reference with no ReferenceGrant allowing it.
pub const REFERENCE_GRANT: &str = "GAPI-REFERENCE-GRANT";

pub(in crate::validate) fn check(objs: &[IstioObject]) -> Vec<Violation> {
    let grants: Vec<(&str, &ReferenceGrantSpec)> = objs
        .iter()
        .filter_map(|o| match o {
            IstioObject::ReferenceGrant(g) => {
                Some((g.metadata.namespace.as_deref().unwrap_or(""), &g.spec))
            }
            _ => None,
        })
        .collect();
    let allowed = |from_kind: &str,
                   from_ns: &str,
                   to_ns: &str,
                   to_group: &str,
                   to_kind: &str,
                   to_name: &str| {
        grants.iter().any(|(ns, g)| {
            *ns == to_ns
                && g.from
                    .iter()
                    .any(|f| f.group == GROUP && f.kind == from_kind && f.namespace == from_ns)
                && g.to.iter().any(|t| {
                    t.group == to_group
                        && t.kind == to_kind
                        && t.name.as_deref().is_none_or(|n| n == to_name)
                })
        })
    };
    let mut out = Vec::new();
    for o in objs {
        let own_ns = o.namespace().unwrap_or("");
        let mut refs: Vec<(String, &BackendRef)> = Vec::new();
        match o {
            IstioObject::HttpRoute(r) => {
                for (i, rule) in r.spec.rules.iter().enumerate() {
                    for (j, b) in rule.backend_refs.iter().enumerate() {
                        refs.push((format!("spec.rules[{i}].backendRefs[{j}]"), &b.backend));
                    }
                }
            }
            IstioObject::GrpcRoute(r) => {
                for (i, rule) in r.spec.rules.iter().enumerate() {
                    for (j, b) in rule.backend_refs.iter().enumerate() {
                        refs.push((format!("spec.rules[{i}].backendRefs[{j}]"), &b.backend));
                    }
                }
            }
            IstioObject::TcpRoute(r) => {
                for (i, rule) in r.spec.rules.iter().enumerate() {
                    for (j, b) in rule.backend_refs.iter().enumerate() {
                        refs.push((format!("spec.rules[{i}].backendRefs[{j}]"), b));
                    }
                }
            }
            IstioObject::KubernetesGateway(g) => {
                for (i, l) in g.spec.listeners.iter().enumerate() {
                    for (j, r) in l.tls.iter().flat_map(|t| &t.certificate_refs).enumerate() {
                        let Some(ns) = r.namespace.as_deref().filter(|ns| *ns != own_ns) else {
                            continue;
                        };
                        let kind = r.kind.as_deref().unwrap_or("Secret");
                        let group = r.group.as_deref().unwrap_or("");
                        if !allowed("Gateway", own_ns, ns, group, kind, &r.name) {
                            out.push(violation(o, format!("spec.listeners[{i}].tls.certificateRefs[{j}]"), format!("{kind} {ns}/{} is in another namespace and no ReferenceGrant there allows Gateways of {own_ns} to use it", r.name)));
                        }
                    }
                }
            }
            _ => {}
        }
        for (field, b) in refs {
            let Some(ns) = b.namespace.as_deref().filter(|ns| *ns != own_ns) else {
                continue;
            };
            if !allowed(
                o.kind(),
                own_ns,
                ns,
                b.effective_group(),
                b.effective_kind(),
                &b.name,
            ) {
                out.push(violation(o, field, format!("{} {ns}/{} is in another namespace and no ReferenceGrant there allows {}s of {own_ns} to use it", b.effective_kind(), b.name, o.kind())));
            }
        }
    }
    out
}

fn violation(o: &IstioObject, field: String, message: String) -> Violation {
    Violation {
        rule: REFERENCE_GRANT,
        object: o.object_ref(),
        field,
        message,
        severity: ViolationSeverity::Error,
    }
}
