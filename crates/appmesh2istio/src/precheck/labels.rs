//! Label selectors and the two injectors' selection rules, as the API server and the webhooks
//! apply them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;
use serde_json::Value;

/// App Mesh's namespace label (and pod annotation) for its sidecar injector.
pub const APPMESH_INJECT: &str = "appmesh.k8s.aws/sidecarInjectorWebhook";
pub const ISTIO_INJECTION: &str = "istio-injection";
pub const ISTIO_REV: &str = "istio.io/rev";
pub const ISTIO_TAG: &str = "istio.io/tag";
pub const FARGATE_PROFILE: &str = "eks.amazonaws.com/fargate-profile";
/// Istio's ambient mode: pods of a namespace labelled `ambient` get no sidecar; the CNI node
/// agent redirects their traffic and marks them with [`AMBIENT_REDIRECTION`].
pub const ISTIO_DATAPLANE_MODE: &str = "istio.io/dataplane-mode";
pub const AMBIENT_REDIRECTION: &str = "ambient.istio.io/redirection";

/// A string map at `pointer`; non-string scalars are read as their text.
pub fn string_map(value: &Value, pointer: &str) -> BTreeMap<String, String> {
    let Some(Value::Object(map)) = value.pointer(pointer) else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.clone(), s.clone())),
            Value::Number(n) => Some((k.clone(), n.to_string())),
            Value::Bool(b) => Some((k.clone(), b.to_string())),
            _ => None,
        })
        .collect()
}

/// `metav1.LabelSelector` semantics on a selector read as JSON (webhook configurations,
/// objects listed from the cluster): an absent selector (`None`, JSON null) selects nothing,
/// `{}` selects everything; `matchLabels` and `matchExpressions` are ANDed. The semantics live
/// in [`crate::resolve::selector_matches`]; a selector that is not a valid `LabelSelector`
/// selects nothing, as the API server would not have stored it.
pub fn selector_matches(selector: Option<&Value>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector @ Value::Object(_)) = selector else {
        return false;
    };
    LabelSelector::deserialize(selector)
        .is_ok_and(|parsed| crate::resolve::selector_matches(Some(&parsed), labels, false))
}

/// App Mesh's injector intercepts pods of namespaces labelled `enabled` or `disabled` (the
/// value is the namespace default; pods may override it with the annotation).
pub fn appmesh_injection(ns_labels: &BTreeMap<String, String>) -> Option<&str> {
    ns_labels
        .get(APPMESH_INJECT)
        .map(String::as_str)
        .filter(|v| matches!(*v, "enabled" | "disabled"))
}

/// The label that makes Istio inject a namespace's pods, if any (istio-discovery mutating
/// webhook selectors: `istio-injection=enabled`, or `istio.io/rev` when `istio-injection` is
/// absent; `istio-injection` wins).
pub fn istio_injection(ns_labels: &BTreeMap<String, String>) -> Option<String> {
    match ns_labels.get(ISTIO_INJECTION) {
        Some(v) if v == "enabled" => Some(format!("{ISTIO_INJECTION}=enabled")),
        Some(_) => None,
        None => ns_labels
            .get(ISTIO_REV)
            .map(|rev| format!("{ISTIO_REV}={rev}")),
    }
}

/// Whether a namespace is labelled for ambient mode (`istio.io/dataplane-mode=ambient`) and not
/// for sidecar injection (a sidecar-injected pod is never captured by ambient).
pub fn ambient(ns_labels: &BTreeMap<String, String>) -> bool {
    ns_labels.get(ISTIO_DATAPLANE_MODE).map(String::as_str) == Some("ambient")
        && istio_injection(ns_labels).is_none()
}

/// The label that puts a namespace's new pods on Istio (sidecar injection or ambient), if any:
/// what `label` sets and `rollout` needs before restarting a workload.
pub fn istio_enabled(ns_labels: &BTreeMap<String, String>) -> Option<String> {
    istio_injection(ns_labels)
        .or_else(|| ambient(ns_labels).then(|| format!("{ISTIO_DATAPLANE_MODE}=ambient")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selectors_follow_metav1_semantics() {
        let l = labels(&[("mesh", "m"), ("env", "prod")]);
        assert!(!selector_matches(None, &l), "nil selects nothing");
        assert!(!selector_matches(Some(&Value::Null), &l));
        assert!(
            selector_matches(Some(&json!({})), &l),
            "{{}} selects everything"
        );
        assert!(selector_matches(
            Some(&json!({"matchLabels": {"mesh": "m"}})),
            &l
        ));
        assert!(!selector_matches(
            Some(&json!({"matchLabels": {"mesh": "x"}})),
            &l
        ));
        let e = json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                            {"key": "team", "operator": "DoesNotExist"}]});
        assert!(selector_matches(Some(&e), &l));
        let e =
            json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]});
        assert!(!selector_matches(Some(&e), &l));
    }

    #[test]
    fn injection_labels() {
        assert_eq!(
            appmesh_injection(&labels(&[(APPMESH_INJECT, "enabled")])),
            Some("enabled")
        );
        assert_eq!(appmesh_injection(&labels(&[(APPMESH_INJECT, "off")])), None);
        assert_eq!(
            istio_injection(&labels(&[(ISTIO_INJECTION, "enabled")])).as_deref(),
            Some("istio-injection=enabled")
        );
        assert_eq!(
            istio_injection(&labels(&[(ISTIO_REV, "1-30")])).as_deref(),
            Some("istio.io/rev=1-30")
        );
        assert_eq!(
            istio_injection(&labels(&[
                (ISTIO_INJECTION, "disabled"),
                (ISTIO_REV, "1-30")
            ])),
            None
        );
        assert_eq!(
            istio_enabled(&labels(&[(ISTIO_DATAPLANE_MODE, "ambient")])).as_deref(),
            Some("istio.io/dataplane-mode=ambient")
        );
        assert!(!ambient(&labels(&[
            (ISTIO_DATAPLANE_MODE, "ambient"),
            (ISTIO_INJECTION, "enabled")
        ])));
        assert_eq!(istio_enabled(&labels(&[(APPMESH_INJECT, "enabled")])), None);
    }
}
