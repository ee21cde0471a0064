//! Workload selector rules shared by DR-4, SE-2, SC-1, PA-3, AP-1 and TM-1.

use std::collections::BTreeMap;

use super::Checker;
use super::primitives::label_map;

/// No empty key and no `*` in keys or values (Istio and CRD CEL); an empty selector
/// selects every workload (warning). Keys and values must also be valid Kubernetes labels,
/// or the selector could never match a pod. `field` is the path of the label map.
pub(super) fn selector_labels(
    c: &mut Checker,
    rule: &'static str,
    field: &str,
    labels: &BTreeMap<String, String>,
) {
    if labels.is_empty() {
        c.warn(
            rule,
            field,
            "an empty selector selects every workload in the namespace",
        );
    }
    for (k, v) in labels {
        let f = format!("{field}[{k}]");
        if k.is_empty() {
            c.error(rule, f, "empty key is not supported in selector");
        } else if k.contains('*') || v.contains('*') {
            c.error(rule, f, "wildcard is not supported in selector");
        } else if let Err(e) = label_map([(k, v)]) {
            c.error(rule, f, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::testing::{errors, labels, one, warnings};

    #[test]
    fn selector_label_rules() {
        assert!(
            errors(|c| selector_labels(c, "PA-3", "sel", &labels(&[("app", "cart")]))).is_empty()
        );
        assert_eq!(
            errors(|c| selector_labels(c, "PA-3", "sel", &labels(&[("", "x")]))),
            one("PA-3", "sel[]")
        );
        assert_eq!(
            errors(|c| selector_labels(c, "PA-3", "sel", &labels(&[("app", "ca*")]))),
            one("PA-3", "sel[app]")
        );
        assert_eq!(
            errors(|c| selector_labels(c, "PA-3", "sel", &labels(&[("app", "a b")]))),
            one("PA-3", "sel[app]")
        );
        assert_eq!(
            warnings(|c| selector_labels(c, "PA-3", "sel", &labels(&[]))),
            one("PA-3", "sel")
        );
    }
}
