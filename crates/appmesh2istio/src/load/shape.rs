//! What kubectl refuses before it looks at an object's content: a document that is not a
//! mapping, an `apiVersion` or `kind` that is missing, not a string or spelled in the wrong case,
//! and Lists whose items cannot be read (not a sequence, not a mapping, or a List again).
//!
//! kubectl 1.20 refuses the whole file for any of these ("error validating data: apiVersion not
//! set", "kind isn't string type", "invalid object to validate", "no matches for kind
//! \"ConfigMap\" in version \"V1\"", "*unstructured.Unstructured is not a list"). The loader
//! reports each such document as an error finding at its file and line and reads the rest, as
//! it does for App Mesh objects the API server would refuse: one bad document does not hide the
//! conversion of the others, and nothing is dropped without a word.

use std::borrow::Cow;

use serde_json::Value;

use crate::origin::{ObjectRef, Origin, kind_name};

/// The document is not an object with a string `apiVersion` and `kind`.
const CODE_NOT_AN_OBJECT: &str = "AMI1006";
/// A List (or one of its items) cannot be read.
const CODE_LIST: &str = "AMI1007";
/// `apiVersion` or `kind` differs only in case from one that is read.
const CODE_CASE: &str = "AMI1008";

/// Why a document (or List item) is not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub(super) code: &'static str,
    pub(super) field: Option<&'static str>,
    pub(super) message: String,
}

impl Problem {
    fn new(code: &'static str, field: Option<&'static str>, message: String) -> Problem {
        Problem {
            code,
            field,
            message,
        }
    }
}

/// `kind: List` (kubectl) or `<Kind>List` (API lists).
pub(super) fn is_list(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
}

/// The object a finding about an unreadable document is about: as much of kind, namespace and
/// name as the document has (the finding's origin and message say where it is).
pub(super) fn subject(value: &Value) -> ObjectRef {
    let kind: Cow<'static, str> = match value.get("kind").and_then(Value::as_str) {
        Some(kind) if !kind.is_empty() => kind_name(kind),
        _ => Cow::Borrowed("(no kind)"),
    };
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
    ObjectRef::new(
        kind,
        text("/metadata/namespace"),
        text("/metadata/name").unwrap_or_default(),
    )
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// Why the document at `origin` cannot be read, if it cannot.
pub(super) fn document_problem(value: &Value, origin: &Origin) -> Option<Problem> {
    if !value.is_object() {
        return Some(Problem::new(
            CODE_NOT_AN_OBJECT,
            None,
            format!(
                "the document at {origin} is {}, not a Kubernetes object (a mapping with apiVersion and kind); \
                 kubectl refuses it, and it is not read",
                type_name(value)
            ),
        ));
    }
    let mut missing: Vec<String> = Vec::new();
    let mut field = None;
    for key in ["apiVersion", "kind"] {
        let problem = match value.get(key) {
            None | Some(Value::Null) => format!("has no {key}"),
            Some(Value::String(s)) if s.is_empty() => format!("has an empty {key}"),
            Some(Value::String(_)) => continue,
            Some(other) => format!(
                "has {key} {other}, which is {} and not a string",
                type_name(other)
            ),
        };
        field.get_or_insert(key);
        missing.push(problem);
    }
    if !missing.is_empty() {
        return Some(Problem::new(
            CODE_NOT_AN_OBJECT,
            field,
            format!(
                "the document at {origin} {}; kubectl refuses it, and it is not read",
                missing.join(" and ")
            ),
        ));
    }
    if is_list(value)
        && let Some(items) = value.get("items").filter(|i| !i.is_null())
    {
        // The parser splits out `items` sequences; one still here is something else.
        return Some(Problem::new(
            CODE_LIST,
            Some("items"),
            format!(
                "the List at {origin} has items that are {}, not a sequence of objects; kubectl refuses it, \
                 and none of it is read",
                type_name(items)
            ),
        ));
    }
    wrong_case(value, origin)
}

/// Why an item of the List at `list` cannot be read, if it cannot.
pub(super) fn list_item_problem(item: &Value, list: &Origin) -> Option<Problem> {
    if !item.is_object() {
        return Some(Problem::new(
            CODE_LIST,
            None,
            format!(
                "an item of the List at {list} is {}, not an object; kubectl refuses the List, and this item \
                 is not read",
                type_name(item)
            ),
        ));
    }
    if is_list(item) {
        return Some(Problem::new(
            CODE_LIST,
            Some("kind"),
            format!(
                "the List at {list} holds another List; kubectl refuses nested Lists (\"is not a list\"), \
                 and the inner List is not read: move its items into the outer one"
            ),
        ));
    }
    None
}

/// The API groups, versions and kinds the loader reads: everything else is skipped as another
/// tool's business, except when it differs from one of these only in case (a typo kubectl
/// refuses, which would otherwise drop an App Mesh object silently).
const READ: &[(&str, &[&str], &[&str])] = &[
    (
        crate::appmesh::GROUP,
        &[crate::appmesh::VERSION],
        &[
            "Mesh",
            "VirtualNode",
            "VirtualService",
            "VirtualRouter",
            "VirtualGateway",
            "GatewayRoute",
            "BackendGroup",
        ],
    ),
    ("", &["v1"], &["Namespace", "Service", "Pod", "List"]),
    (
        "apps",
        &["v1"],
        &["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"],
    ),
];

fn wrong_case(value: &Value, origin: &Origin) -> Option<Problem> {
    let api_version = value.get("apiVersion").and_then(Value::as_str)?;
    let kind = value.get("kind").and_then(Value::as_str)?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    for (known_group, versions, kinds) in READ {
        if !group.eq_ignore_ascii_case(known_group) {
            continue;
        }
        let known_version = versions
            .iter()
            .find(|v| v.eq_ignore_ascii_case(version))
            .copied();
        let known_kind = kinds.iter().find(|k| k.eq_ignore_ascii_case(kind)).copied();
        let group_differs = group != *known_group;
        let version_differs = known_version.is_some_and(|v| v != version);
        let kind_differs = known_kind.is_some_and(|k| k != kind);
        // Only a case difference is a typo worth stopping for; another version (v1beta1) or an
        // unknown kind is reported, or skipped, by the usual rules.
        if !(group_differs || version_differs || kind_differs) {
            return None;
        }
        if group_differs && known_version.is_none() {
            return None;
        }
        let meant_version = match (known_group.is_empty(), known_version.unwrap_or(version)) {
            (true, v) => v.to_owned(),
            (false, v) => format!("{known_group}/{v}"),
        };
        let meant_kind = known_kind.unwrap_or(kind);
        let field = if group_differs || version_differs {
            "apiVersion"
        } else {
            "kind"
        };
        return Some(Problem::new(
            CODE_CASE,
            Some(field),
            format!(
                "the document at {origin} is `{api_version}` `{kind}`: API groups, versions and kinds are \
                 case-sensitive, so kubectl refuses it (no matches for kind \"{kind}\" in version \
                 \"{api_version}\") and it is not read; did you mean `{meant_version}` `{meant_kind}`?"
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin() -> Origin {
        Origin::file("f.yaml", 3)
    }

    fn code(value: Value) -> Option<&'static str> {
        document_problem(&value, &origin()).map(|p| p.code)
    }

    #[test]
    fn missing_empty_and_non_string_api_version_or_kind_are_refused() {
        for value in [
            json!({"kind": "Service"}),
            json!({"apiVersion": "", "kind": "Service"}),
            json!({"apiVersion": 1, "kind": "Service"}),
            json!({"apiVersion": "v1"}),
            json!({"apiVersion": "v1", "kind": 5}),
            json!({"apiVersion": "v1", "kind": ["Service"]}),
            json!({"apiVersion": null, "kind": null}),
            json!("a string"),
            json!([1, 2]),
            json!(7),
        ] {
            assert_eq!(code(value.clone()), Some(CODE_NOT_AN_OBJECT), "{value}");
        }
        let p = document_problem(&json!({"metadata": {"name": "a"}}), &origin()).unwrap();
        assert_eq!(p.field, Some("apiVersion"));
        assert!(
            p.message
                .starts_with("the document at f.yaml:3 has no apiVersion and has no kind;"),
            "{}",
            p.message
        );
        let p = document_problem(&json!({"apiVersion": 1, "kind": "Service"}), &origin()).unwrap();
        assert!(
            p.message
                .contains("has apiVersion 1, which is a number and not a string"),
            "{}",
            p.message
        );
    }

    #[test]
    fn wrong_case_of_what_is_read_is_refused_and_named() {
        for (api_version, kind, field) in [
            ("AppMesh.k8s.aws/v1beta2", "VirtualNode", "apiVersion"),
            ("appmesh.k8s.aws/V1beta2", "VirtualNode", "apiVersion"),
            ("appmesh.k8s.aws/v1beta2", "virtualnode", "kind"),
            ("V1", "Service", "apiVersion"),
            ("v1", "namespace", "kind"),
            ("Apps/v1", "Deployment", "apiVersion"),
            ("v1", "list", "kind"),
        ] {
            let p = document_problem(&json!({"apiVersion": api_version, "kind": kind}), &origin())
                .unwrap_or_else(|| panic!("{api_version} {kind} passed"));
            assert_eq!(
                (p.code, p.field),
                (CODE_CASE, Some(field)),
                "{api_version} {kind}"
            );
        }
        let p = document_problem(
            &json!({"apiVersion": "AppMesh.k8s.aws/v1beta2", "kind": "virtualNode"}),
            &origin(),
        )
        .unwrap();
        assert!(
            p.message
                .ends_with("did you mean `appmesh.k8s.aws/v1beta2` `VirtualNode`?"),
            "{}",
            p.message
        );
    }

    #[test]
    fn exact_spellings_other_versions_and_other_kinds_pass() {
        for (api_version, kind) in [
            ("appmesh.k8s.aws/v1beta2", "VirtualNode"),
            ("appmesh.k8s.aws/v1beta1", "VirtualNode"),
            ("appmesh.k8s.aws/v1beta2", "Route"),
            ("v1", "ConfigMap"),
            ("apps/v1", "Deployment"),
            ("networking.istio.io/v1", "VirtualService"),
            ("example.com/v1", "List"),
        ] {
            assert_eq!(
                code(json!({"apiVersion": api_version, "kind": kind})),
                None,
                "{api_version} {kind}"
            );
        }
    }

    #[test]
    fn lists_with_unreadable_items_are_refused() {
        let list = origin();
        assert_eq!(
            code(json!({"apiVersion": "v1", "kind": "List", "items": {"a": {}}})),
            Some(CODE_LIST)
        );
        assert_eq!(
            code(json!({"apiVersion": "v1", "kind": "List", "items": "x"})),
            Some(CODE_LIST)
        );
        assert_eq!(
            code(json!({"apiVersion": "v1", "kind": "List", "items": null})),
            None
        );
        assert_eq!(
            code(json!({"apiVersion": "v1", "kind": "List"})),
            None,
            "an empty List is fine"
        );
        for item in [
            json!([{"apiVersion": "v1", "kind": "Service"}]),
            json!("x"),
            json!({"apiVersion": "v1", "kind": "List", "items": []}),
            json!({"apiVersion": "v1", "kind": "ServiceList", "items": []}),
        ] {
            assert_eq!(
                list_item_problem(&item, &list).map(|p| p.code),
                Some(CODE_LIST),
                "{item}"
            );
        }
        assert_eq!(
            list_item_problem(&json!({"apiVersion": "v1", "kind": "Service"}), &list),
            None
        );
    }
}
