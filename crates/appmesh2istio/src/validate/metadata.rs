//! Metadata rules: what the API server requires of every object (K8S-*) and Istio's
//! `validateMetadata` (M-1, M-2; M-3 is GW-1 in gateway.rs).

use std::collections::BTreeMap;

use super::Checker;
use super::primitives::{is_dns1123_subdomain, is_k8s_label_name, label_key, label_value};
use crate::istio::{AuthorizationAction, IstioObject, MANAGED_BY_LABEL, MANAGED_BY_VALUE};

pub(super) fn check(c: &mut Checker, obj: &IstioObject) {
    let m = obj.metadata();
    name(c, &m.name);
    namespace(
        c,
        m.namespace.as_deref(),
        !matches!(obj, IstioObject::IstioOperator(_)),
    );
    labels(c, &m.labels);
    annotation_keys(c, &m.annotations);
    internal_annotations(c, &m.annotations);
    let action = match obj {
        IstioObject::AuthorizationPolicy(ap) => {
            Some(ap.spec.action.unwrap_or(AuthorizationAction::Allow))
        }
        _ => None,
    };
    dry_run_annotation(c, &m.annotations, action);
}

/// K8S-NAME: the API server requires a DNS-1123 subdomain name.
fn name(c: &mut Checker, name: &str) {
    if !is_dns1123_subdomain(name) {
        c.error(
            "K8S-NAME",
            "metadata.name",
            format!("{name:?} is not a valid object name (lower-case DNS-1123 subdomain, at most 253 characters)"),
        );
    }
}

/// K8S-NAMESPACE: every Istio object we write is namespaced; without a namespace it would
/// land in whatever namespace kubectl's context points at.
fn namespace(c: &mut Checker, namespace: Option<&str>, required: bool) {
    match namespace {
        None if required => c.error(
            "K8S-NAMESPACE",
            "metadata.namespace",
            "namespace is required",
        ),
        Some(ns) if !is_k8s_label_name(ns) => c.error(
            "K8S-NAMESPACE",
            "metadata.namespace",
            format!("{ns:?} is not a valid namespace name (lower-case DNS-1123 label)"),
        ),
        _ => {}
    }
}

/// K8S-LABELS: label keys are qualified names and values valid label values; our own
/// `app.kubernetes.io/managed-by` carries our name.
fn labels(c: &mut Checker, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        let field = format!("metadata.labels[{k}]");
        if let Err(e) = label_key(k).and_then(|()| label_value(v)) {
            c.error("K8S-LABELS", field, e);
        } else if k == MANAGED_BY_LABEL && v != MANAGED_BY_VALUE {
            c.error(
                "K8S-LABELS",
                field,
                format!("{MANAGED_BY_LABEL} must be {MANAGED_BY_VALUE:?}, found {v:?}"),
            );
        }
    }
}

/// K8S-ANNOTATIONS: annotation keys are qualified names; all annotations ≤ 256 KiB.
fn annotation_keys(c: &mut Checker, annotations: &BTreeMap<String, String>) {
    for k in annotations.keys() {
        if let Err(e) = label_key(k) {
            c.error(
                "K8S-ANNOTATIONS",
                format!("metadata.annotations[{k}]"),
                e.replace("label key", "annotation key"),
            );
        }
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > 256 * 1024 {
        c.error(
            "K8S-ANNOTATIONS",
            "metadata.annotations",
            format!("annotations total {size} bytes; at most 262144 are allowed"),
        );
    }
}

/// M-2: annotations Istio reserves for itself.
fn internal_annotations(c: &mut Checker, annotations: &BTreeMap<String, String>) {
    const RESERVED: &[&str] = &[
        "internal.istio.io/parents",
        "internal.istio.io/parent-namespace",
        "internal.istio.io/webhook-always-reject",
    ];
    for k in annotations
        .keys()
        .filter(|k| RESERVED.contains(&k.as_str()))
    {
        c.error(
            "M-2",
            format!("metadata.annotations[{k}]"),
            format!("annotation {k} is reserved for Istio"),
        );
    }
}

/// M-1: `istio.io/dry-run` only on ALLOW/DENY AuthorizationPolicies, with a bool value.
fn dry_run_annotation(
    c: &mut Checker,
    annotations: &BTreeMap<String, String>,
    action: Option<AuthorizationAction>,
) {
    const KEY: &str = "istio.io/dry-run";
    let Some(value) = annotations.get(KEY) else {
        return;
    };
    let field = format!("metadata.annotations[{KEY}]");
    match action {
        Some(AuthorizationAction::Allow | AuthorizationAction::Deny) => {}
        Some(_) => c.error(
            "M-1",
            field.clone(),
            "istio.io/dry-run is only supported with action ALLOW or DENY",
        ),
        None => c.error(
            "M-1",
            field.clone(),
            "istio.io/dry-run is only supported on AuthorizationPolicy",
        ),
    }
    // Go's strconv.ParseBool.
    if ![
        "1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False",
    ]
    .contains(&value.as_str())
    {
        c.error(
            "M-1",
            field,
            format!("istio.io/dry-run value {value:?} is not a boolean"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::testing::{errors, labels as map, one};

    #[test]
    fn k8s_name_rule() {
        assert!(errors(|c| name(c, "cart-v1.shop")).is_empty());
        assert_eq!(
            errors(|c| name(c, "Cart_v1")),
            one("K8S-NAME", "metadata.name")
        );
        assert_eq!(errors(|c| name(c, "")), one("K8S-NAME", "metadata.name"));
    }

    #[test]
    fn k8s_namespace_rule() {
        assert!(errors(|c| namespace(c, Some("shop"), true)).is_empty());
        assert!(errors(|c| namespace(c, None, false)).is_empty());
        assert_eq!(
            errors(|c| namespace(c, None, true)),
            one("K8S-NAMESPACE", "metadata.namespace")
        );
        assert_eq!(
            errors(|c| namespace(c, Some("a.b"), true)),
            one("K8S-NAMESPACE", "metadata.namespace")
        );
    }

    #[test]
    fn k8s_labels_rule_including_managed_by() {
        assert!(
            errors(|c| labels(
                c,
                &map(&[(MANAGED_BY_LABEL, MANAGED_BY_VALUE), ("app", "cart")])
            ))
            .is_empty()
        );
        assert_eq!(
            errors(|c| labels(c, &map(&[(MANAGED_BY_LABEL, "someone-else")]))),
            one(
                "K8S-LABELS",
                "metadata.labels[app.kubernetes.io/managed-by]"
            )
        );
        assert_eq!(
            errors(|c| labels(c, &map(&[("app", "no spaces")]))),
            one("K8S-LABELS", "metadata.labels[app]")
        );
    }

    #[test]
    fn k8s_annotation_keys_rule() {
        assert!(
            errors(|c| annotation_keys(
                c,
                &map(&[("appmesh2istio.io/source", "VirtualNode shop/a")])
            ))
            .is_empty()
        );
        assert_eq!(
            errors(|c| annotation_keys(c, &map(&[("bad key", "x")]))),
            one("K8S-ANNOTATIONS", "metadata.annotations[bad key]")
        );
    }

    #[test]
    fn m2_reserved_annotations() {
        assert!(errors(|c| internal_annotations(c, &map(&[("istio.io/rev", "x")]))).is_empty());
        assert_eq!(
            errors(|c| internal_annotations(c, &map(&[("internal.istio.io/parents", "x")]))),
            one("M-2", "metadata.annotations[internal.istio.io/parents]")
        );
    }

    #[test]
    fn m1_dry_run_annotation() {
        let ann = map(&[("istio.io/dry-run", "true")]);
        assert!(
            errors(|c| dry_run_annotation(c, &ann, Some(AuthorizationAction::Deny))).is_empty()
        );
        assert_eq!(
            errors(|c| dry_run_annotation(c, &ann, None)),
            one("M-1", "metadata.annotations[istio.io/dry-run]")
        );
        assert_eq!(
            errors(|c| dry_run_annotation(
                c,
                &map(&[("istio.io/dry-run", "yes")]),
                Some(AuthorizationAction::Allow)
            )),
            one("M-1", "metadata.annotations[istio.io/dry-run]")
        );
    }
}
