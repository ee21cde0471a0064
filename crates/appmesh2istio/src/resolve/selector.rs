//! Kubernetes label-selector semantics, as App Mesh's controller applies them
//! (`metav1.LabelSelectorAsSelector`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::validate::primitives::{label_key, label_value};

/// Whether `selector` selects an object with `labels`.
///
/// A nil selector selects nothing for `Mesh.namespaceSelector`, `VirtualNode.podSelector` and
/// `VirtualGateway.namespaceSelector/podSelector`, but everything for
/// `VirtualGateway.gatewayRouteSelector`: the caller says which with `nil_means_all`. An empty
/// selector (`{}`) selects everything. `matchLabels` and every `matchExpressions` entry must all
/// hold. An unknown operator selects nothing (the API server would refuse such a selector).
pub fn selector_matches(
    selector: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
    nil_means_all: bool,
) -> bool {
    let Some(selector) = selector else {
        return nil_means_all;
    };
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    labels_match
        && selector.match_expressions.iter().flatten().all(|req| {
            let value = labels.get(&req.key);
            let values = req.values.as_deref().unwrap_or_default();
            match req.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// Why `selector` is not a Kubernetes label selector, as `metav1.LabelSelectorAsSelector`
/// (which App Mesh's controller calls) refuses it: a label key or value Kubernetes does not
/// allow, an unknown operator, `In`/`NotIn` without values or `Exists`/`DoesNotExist` with
/// some. Such a selector selects no object: no object can carry an invalid label, and the
/// controller cannot evaluate it. `field` is the selector's path, for the message.
pub fn selector_problem(selector: &LabelSelector, field: &str) -> Option<String> {
    for (key, value) in selector.match_labels.iter().flatten() {
        if let Err(e) = label_key(key).and_then(|()| label_value(value)) {
            return Some(format!("{field}.matchLabels: {e}"));
        }
    }
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let at = format!("{field}.matchExpressions[{i}]");
        if let Err(e) = label_key(&req.key) {
            return Some(format!("{at}.key: {e}"));
        }
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Some(format!(
                    "{at}: operator {} needs at least one value",
                    req.operator
                ));
            }
            "In" | "NotIn" => {
                for (j, value) in values.iter().enumerate() {
                    if let Err(e) = label_value(value) {
                        return Some(format!("{at}.values[{j}]: {e}"));
                    }
                }
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Some(format!("{at}: operator {} takes no values", req.operator));
            }
            "Exists" | "DoesNotExist" => {}
            other => {
                return Some(format!(
                    "{at}.operator: {other:?} is not one of In, NotIn, Exists, DoesNotExist"
                ));
            }
        }
    }
    None
}

/// Whether a selector is `{}` (no label or expression constraint): it selects every object
/// whatever its labels, which matters when the labels are unknown.
pub fn selects_everything(selector: Option<&LabelSelector>) -> bool {
    selector.is_some_and(|s| {
        s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }
    }

    #[test]
    fn nil_selects_nothing_or_all_as_asked() {
        let l = labels(&[("mesh", "m")]);
        assert!(!selector_matches(None, &l, false));
        assert!(selector_matches(None, &l, true));
        assert!(!selects_everything(None));
    }

    #[test]
    fn empty_selects_everything() {
        let empty = LabelSelector::default();
        assert!(selector_matches(Some(&empty), &labels(&[]), false));
        assert!(selector_matches(
            Some(&empty),
            &labels(&[("a", "b")]),
            false
        ));
        let empty_maps = LabelSelector {
            match_labels: Some(BTreeMap::new()),
            match_expressions: Some(vec![]),
        };
        assert!(selector_matches(Some(&empty_maps), &labels(&[]), false));
        assert!(selects_everything(Some(&empty)) && selects_everything(Some(&empty_maps)));
    }

    #[test]
    fn match_labels_must_all_hold() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("mesh", "m"), ("env", "prod")])),
            ..Default::default()
        };
        assert!(selector_matches(
            Some(&sel),
            &labels(&[("mesh", "m"), ("env", "prod"), ("x", "y")]),
            false
        ));
        assert!(!selector_matches(
            Some(&sel),
            &labels(&[("mesh", "m")]),
            false
        ));
        assert!(!selector_matches(
            Some(&sel),
            &labels(&[("mesh", "m"), ("env", "dev")]),
            false
        ));
        assert!(!selects_everything(Some(&sel)));
    }

    #[test]
    fn match_expressions_operators() {
        let l = labels(&[("tier", "web"), ("env", "prod")]);
        let check = |e: LabelSelectorRequirement| {
            selector_matches(
                Some(&LabelSelector {
                    match_expressions: Some(vec![e]),
                    ..Default::default()
                }),
                &l,
                false,
            )
        };
        assert!(check(expr("tier", "In", &["web", "api"])));
        assert!(!check(expr("tier", "In", &["api"])));
        assert!(!check(expr("missing", "In", &["web"])));
        assert!(check(expr("tier", "NotIn", &["api"])));
        assert!(!check(expr("tier", "NotIn", &["web"])));
        assert!(check(expr("missing", "NotIn", &["web"])));
        assert!(check(expr("env", "Exists", &[])));
        assert!(!check(expr("missing", "Exists", &[])));
        assert!(check(expr("missing", "DoesNotExist", &[])));
        assert!(!check(expr("env", "DoesNotExist", &[])));
        assert!(!check(expr("env", "Gt", &["1"])));
    }

    #[test]
    fn labels_and_expressions_combine() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("mesh", "m")])),
            match_expressions: Some(vec![expr("env", "NotIn", &["dev"])]),
        };
        assert!(selector_matches(
            Some(&sel),
            &labels(&[("mesh", "m"), ("env", "prod")]),
            false
        ));
        assert!(!selector_matches(
            Some(&sel),
            &labels(&[("mesh", "m"), ("env", "dev")]),
            false
        ));
        assert!(!selector_matches(
            Some(&sel),
            &labels(&[("env", "prod")]),
            false
        ));
    }
}
