//! `metav1.LabelSelector` matching on JSON, as the App Mesh controller applies
//! it: an absent selector matches nothing, `{}` matches everything.

use serde_json::{Map, Value};

pub fn labels_of(object: &Value) -> Map<String, Value> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// `selector` is the JSON of a LabelSelector, or `None`/null when absent.
pub fn matches(selector: Option<&Value>, labels: &Map<String, Value>) -> bool {
    let Some(selector) = selector.filter(|value| !value.is_null()) else {
        return false;
    };
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    if let Some(match_labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, wanted) in match_labels {
            if label(key) != wanted.as_str() {
                return false;
            }
        }
    }
    let expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for expression in &expressions {
        let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
        let operator = expression
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or("");
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .map(|values| values.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let actual = label(key);
        let ok = match operator {
            "In" => actual.is_some_and(|value| values.contains(&value)),
            "NotIn" => actual.is_none_or(|value| !values.contains(&value)),
            "Exists" => actual.is_some(),
            "DoesNotExist" => actual.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn absent_selects_nothing_and_empty_selects_everything() {
        let pod = labels(json!({"app": "web"}));
        assert!(!matches(None, &pod));
        assert!(!matches(Some(&Value::Null), &pod));
        assert!(matches(Some(&json!({})), &pod));
    }

    #[test]
    fn match_labels_and_expressions_all_apply() {
        let pod = labels(json!({"app": "web", "version": "v2"}));
        let selector = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "version", "operator": "In", "values": ["v1", "v2"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}
            ]
        });
        assert!(matches(Some(&selector), &pod));
        let other = labels(json!({"app": "web", "version": "v3"}));
        assert!(!matches(Some(&selector), &other));
        let wrong_app = labels(json!({"app": "api", "version": "v2"}));
        assert!(!matches(Some(&selector), &wrong_app));
        let exists = json!({"matchExpressions": [{"key": "version", "operator": "Exists"}]});
        assert!(matches(Some(&exists), &pod));
        assert!(!matches(Some(&exists), &labels(json!({"app": "web"}))));
    }
}
