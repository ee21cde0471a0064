//! A VirtualNode's `podSelector` as an Istio workload selector.
//!
//! Istio selectors (Sidecar `workloadSelector.labels`, policy `selector.matchLabels`) are
//! equality-only label maps; a missing selector means "every workload of the namespace".
//! Kubernetes selectors have more: a nil selector selects nothing (App Mesh configures no pod
//! for the node), `{}` selects everything, and `matchExpressions` can say `NotIn`, `Exists`,
//! `DoesNotExist` or `In` with several values. `key In [v]` is `key = v`; the rest cannot be
//! written in Istio.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::resolve::selector_problem;

/// Which pods a node's workload-scoped Istio objects (Sidecar, PeerAuthentication,
/// AuthorizationPolicy, Telemetry) apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scope {
    /// nil podSelector: App Mesh configured no pod for this node.
    NoPods,
    /// `{}`: every pod of the namespace, i.e. Istio objects without a selector.
    Namespace,
    /// The pods carrying all these labels.
    Labels(BTreeMap<String, String>),
    /// Only expressions Istio cannot write: no selector would be faithful.
    Unexpressible,
    /// Not a valid Kubernetes label selector: no pod can match it (the resolver reports it).
    Invalid,
}

impl Scope {
    /// Whether App Mesh configured no pod for the node.
    pub(super) fn selects_no_pods(&self) -> bool {
        matches!(self, Scope::NoPods | Scope::Invalid)
    }

    /// The equality labels, empty for namespace-wide scopes.
    pub(super) fn labels(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Scope::Labels(labels) => Some(labels),
            _ => None,
        }
    }
}

/// A translated selector and the requirements that had to be dropped (as `key op [values]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Translated {
    pub(super) scope: Scope,
    pub(super) dropped: Vec<String>,
}

/// Translate `selector`; see the module documentation for the rules.
pub(super) fn translate(selector: Option<&LabelSelector>) -> Translated {
    let Some(selector) = selector else {
        return Translated {
            scope: Scope::NoPods,
            dropped: Vec::new(),
        };
    };
    if selector_problem(selector, "spec.podSelector").is_some() {
        return Translated {
            scope: Scope::Invalid,
            dropped: Vec::new(),
        };
    }
    let mut labels: BTreeMap<String, String> = selector.match_labels.clone().unwrap_or_default();
    let mut dropped = Vec::new();
    let mut contradictory = false;
    for req in selector.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or_default();
        match (req.operator.as_str(), values) {
            ("In", [value]) => match labels.get(&req.key) {
                Some(existing) if existing != value => contradictory = true,
                _ => {
                    labels.insert(req.key.clone(), value.clone());
                }
            },
            _ if values.is_empty() => dropped.push(format!("{} {}", req.key, req.operator)),
            _ => dropped.push(format!(
                "{} {} [{}]",
                req.key,
                req.operator,
                values.join(", ")
            )),
        }
    }
    let scope = if contradictory {
        // `a = x` and `a In [y]`: Kubernetes selects nothing, as a nil selector does.
        Scope::NoPods
    } else if !dropped.is_empty() && labels.is_empty() {
        Scope::Unexpressible
    } else if labels.is_empty() {
        Scope::Namespace
    } else {
        Scope::Labels(labels)
    };
    Translated { scope, dropped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    fn selector(pairs: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> LabelSelector {
        LabelSelector {
            match_labels: (!pairs.is_empty()).then(|| labels(pairs)),
            match_expressions: (!exprs.is_empty()).then_some(exprs),
        }
    }

    #[test]
    fn nil_selects_no_pods_and_empty_selects_the_namespace() {
        assert_eq!(translate(None).scope, Scope::NoPods);
        assert_eq!(
            translate(Some(&LabelSelector::default())).scope,
            Scope::Namespace
        );
    }

    #[test]
    fn match_labels_and_single_value_in_are_equality() {
        let t = translate(Some(&selector(
            &[("app", "cart")],
            vec![expr("version", "In", &["v1"])],
        )));
        assert_eq!(
            t.scope,
            Scope::Labels(labels(&[("app", "cart"), ("version", "v1")]))
        );
        assert!(t.dropped.is_empty());
    }

    #[test]
    fn other_expressions_are_dropped_but_labels_kept() {
        let t = translate(Some(&selector(
            &[("app", "cart")],
            vec![
                expr("version", "In", &["v1", "v2"]),
                expr("canary", "DoesNotExist", &[]),
            ],
        )));
        assert_eq!(t.scope, Scope::Labels(labels(&[("app", "cart")])));
        assert_eq!(
            t.dropped,
            vec!["version In [v1, v2]", "canary DoesNotExist"]
        );
    }

    #[test]
    fn only_inexpressible_expressions_cannot_be_written() {
        let t = translate(Some(&selector(&[], vec![expr("tier", "NotIn", &["db"])])));
        assert_eq!(t.scope, Scope::Unexpressible);
        assert_eq!(t.dropped, vec!["tier NotIn [db]"]);
    }

    #[test]
    fn contradicting_requirements_select_nothing() {
        let t = translate(Some(&selector(
            &[("app", "a")],
            vec![expr("app", "In", &["b"])],
        )));
        assert_eq!(t.scope, Scope::NoPods);
    }
}
