use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::*;

const REGENERATE: &str = "APPMESH2ISTIO_REGENERATE_BOUNDS";

fn crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crds/appmesh")
}

fn table_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/appmesh/schema_bounds.rs")
}

/// Schema keys that carry no constraint the API server checks on a stored value (or that
/// decoding into our model already checks: types, `required`).
const STRUCTURAL: &[&str] = &[
    "type",
    "description",
    "properties",
    "items",
    "required",
    "nullable",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-preserve-unknown-fields",
];

/// Collect the bounds below `schema` at `path`; panics on any constraint keyword this module
/// does not enforce, so that a CRD update cannot add one silently.
fn collect(schema: &Value, path: &str, out: &mut Vec<(String, String)>) {
    let Some(map) = schema.as_object() else {
        panic!("{path}: schema is not an object");
    };
    for (key, value) in map {
        let rule = match key.as_str() {
            "minimum" | "maximum" => format!(
                "Rule::{}({})",
                if key == "minimum" {
                    "Minimum"
                } else {
                    "Maximum"
                },
                value
                    .as_i64()
                    .unwrap_or_else(|| panic!("{path}: {key} {value} is not an integer"))
            ),
            "minLength" | "maxLength" | "minItems" | "maxItems" => {
                let name = match key.as_str() {
                    "minLength" => "MinLength",
                    "maxLength" => "MaxLength",
                    "minItems" => "MinItems",
                    _ => "MaxItems",
                };
                format!(
                    "Rule::{name}({})",
                    value
                        .as_u64()
                        .unwrap_or_else(|| panic!("{path}: {key} {value} is not a count"))
                )
            }
            "enum" => {
                let members: Vec<String> = value
                    .as_array()
                    .unwrap_or_else(|| panic!("{path}: enum is not a list"))
                    .iter()
                    .map(|m| {
                        let m = m
                            .as_str()
                            .unwrap_or_else(|| panic!("{path}: enum member {m} is not a string"));
                        format!("{m:?}")
                    })
                    .collect();
                format!("Rule::Enum(&[{}])", members.join(", "))
            }
            // Integer formats: decoding into i64 already refuses what int64 cannot hold.
            "format" if value == "int64" => continue,
            "additionalProperties" if value.get("type") == Some(&json!("string")) => {
                assert_eq!(
                    value.as_object().map(Map::len),
                    Some(1),
                    "{path}: map values with constraints are not supported"
                );
                continue;
            }
            k if STRUCTURAL.contains(&k) => continue,
            other => panic!(
                "{path}: the CRD uses `{other}`, which appmesh::schema does not enforce; extend Rule"
            ),
        };
        out.push((path.to_owned(), rule));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            collect(child, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = map.get("items") {
        collect(items, &format!("{path}[]"), out);
    }
}

/// The field names of every object schema below `schema` at `path` (arrays as `[]`).
fn collect_fields(schema: &Value, path: &str, out: &mut Vec<(String, Vec<String>)>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let mut names: Vec<String> = properties.keys().cloned().collect();
        names.sort();
        out.push((path.to_owned(), names));
        for (name, child) in properties {
            collect_fields(child, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        collect_fields(items, &format!("{path}[]"), out);
    }
}

/// The generated module, from the CRD files in `dir`.
fn generate(dir: &Path) -> String {
    let mut rows: Vec<(usize, String, String)> = Vec::new();
    let mut field_rows: Vec<(usize, String, Vec<String>)> = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("appmesh.k8s.aws_") && n.ends_with(".yaml"))
        })
        .collect();
    files.sort();
    let mut kinds_seen = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let options = serde_saphyr::options! {
            budget: serde_saphyr::budget! { max_events: 10_000_000, max_nodes: 5_000_000 },
        };
        let crd: Value = serde_saphyr::from_str_with_options(&text, options).unwrap();
        let kind_name = crd["spec"]["names"]["kind"].as_str().unwrap();
        let kind = AppMeshKind::from_kind(kind_name)
            .unwrap_or_else(|| panic!("{}: unknown kind {kind_name}", file.display()));
        kinds_seen.push(kind);
        let version = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == super::super::VERSION)
            .unwrap_or_else(|| panic!("{}: no v1beta2", file.display()));
        // The premise for checking `spec` only: status is a subresource.
        assert!(
            version["subresources"]["status"].is_object(),
            "{}: status is not a subresource",
            file.display()
        );
        let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let mut out = Vec::new();
        collect(spec, "spec", &mut out);
        let index = AppMeshKind::ALL.iter().position(|k| *k == kind).unwrap();
        rows.extend(out.into_iter().map(|(path, rule)| (index, path, rule)));
        let mut fields = Vec::new();
        collect_fields(spec, "spec", &mut fields);
        field_rows.extend(fields.into_iter().map(|(path, names)| (index, path, names)));
    }
    kinds_seen.sort();
    assert_eq!(kinds_seen, AppMeshKind::ALL.to_vec(), "one CRD per kind");
    rows.sort();
    field_rows.sort();
    let mut text = String::from(
        "//! The bounds of the App Mesh CRDs' `spec` (minimum, maximum, minLength, maxLength,\n\
         //! minItems, maxItems, enum) and the field names of each of its objects, generated from\n\
         //! `../shared/crds/appmesh/` by the test\n\
         //! `appmesh::schema::tests::bounds_table_is_exactly_the_crds`. Do not edit: regenerate with\n\
         //! `APPMESH2ISTIO_REGENERATE_BOUNDS=1 cargo test -p appmesh2istio --lib bounds_table`.\n\
         \n\
         use super::AppMeshKind;\n\
         use super::schema::{Bound, Rule};\n\
         \n\
         #[rustfmt::skip]\n\
         pub(super) const BOUNDS: &[Bound] = &[\n",
    );
    for (index, path, rule) in rows {
        text.push_str(&format!(
            "    Bound::new(AppMeshKind::{}, {path:?}, {rule}),\n",
            AppMeshKind::ALL[index].as_str()
        ));
    }
    text.push_str("];\n");
    text.push_str(
        "\n/// The fields of each object of the schemas, by path (`[]`: every item of an array).\n\
         #[rustfmt::skip]\n\
         pub(super) const FIELDS: &[(AppMeshKind, &str, &[&str])] = &[\n",
    );
    for (index, path, names) in field_rows {
        let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        text.push_str(&format!(
            "    (AppMeshKind::{}, {path:?}, &[{}]),\n",
            AppMeshKind::ALL[index].as_str(),
            names.join(", ")
        ));
    }
    text.push_str("];\n");
    text
}

#[test]
fn bounds_table_is_exactly_the_crds() {
    let dir = crd_dir();
    if !dir.is_dir() {
        eprintln!(
            "skipping: App Mesh CRDs not found at {} (../shared is absent)",
            dir.display()
        );
        return;
    }
    let expected = generate(&dir);
    let path = table_path();
    if std::env::var_os(REGENERATE).is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} differs from the bounds of the CRDs in {}; regenerate it with \
         {REGENERATE}=1 cargo test -p appmesh2istio --lib bounds_table",
        path.display(),
        dir.display()
    );
}

/// An object of `kind` holding `leaf` at `path` (`[]` become one-item arrays), and the
/// concrete path of the leaf.
fn object_with(kind: AppMeshKind, path: &str, leaf: Value) -> (Value, String) {
    let mut concrete = String::new();
    let mut segments: Vec<(&str, usize)> = Vec::new();
    for segment in path.split('.') {
        let (name, arrays) = match segment.find("[]") {
            Some(at) => (&segment[..at], segment[at..].len() / 2),
            None => (segment, 0),
        };
        if !concrete.is_empty() {
            concrete.push('.');
        }
        concrete.push_str(name);
        concrete.push_str(&"[0]".repeat(arrays));
        segments.push((name, arrays));
    }
    let mut value = leaf;
    for (name, arrays) in segments.into_iter().rev() {
        for _ in 0..arrays {
            value = Value::Array(vec![value]);
        }
        value = json!({ name: value });
    }
    if let Value::Object(map) = &mut value {
        map.insert("apiVersion".into(), json!(super::super::API_VERSION));
        map.insert("kind".into(), json!(kind.as_str()));
    }
    (value, concrete)
}

/// A value just outside `rule`, and one just inside it (`None` when the rule cannot be broken,
/// such as a minimum length of 0).
fn outside_and_inside(rule: Rule) -> (Option<Value>, Value) {
    let text = |n: usize| Value::String("x".repeat(n));
    let items = |n: usize| Value::Array(vec![Value::Null; n]);
    match rule {
        Rule::Minimum(min) => (Some(json!(min - 1)), json!(min)),
        Rule::Maximum(max) => (Some(json!(max + 1)), json!(max)),
        Rule::MinLength(min) => (min.checked_sub(1).map(text), text(min)),
        Rule::MaxLength(max) => (Some(text(max + 1)), text(max)),
        Rule::MinItems(min) => (min.checked_sub(1).map(items), items(min)),
        Rule::MaxItems(max) => (Some(items(max + 1)), items(max)),
        Rule::Enum(allowed) => (Some(json!("not-a-member")), json!(allowed[0])),
    }
}

#[test]
fn every_bound_of_the_table_is_enforced_at_its_limit() {
    assert!(bounds().len() > 100, "the table lost its rows");
    for bound in bounds() {
        let (outside, inside) = outside_and_inside(bound.rule);
        let (object, concrete) = object_with(bound.kind, bound.path, inside);
        let found = check(bound.kind, &object);
        assert!(
            !found
                .iter()
                .any(|v| v.path == concrete && v.rule == bound.rule),
            "{bound:?}: the limit itself is refused: {found:?}"
        );
        let Some(outside) = outside else { continue };
        let (object, concrete) = object_with(bound.kind, bound.path, outside);
        let found = check(bound.kind, &object);
        assert!(
            found
                .iter()
                .any(|v| v.path == concrete && v.rule == bound.rule),
            "{bound:?}: a value past the limit is not refused: {found:?}"
        );
    }
}

#[test]
fn every_enum_member_is_accepted() {
    for bound in bounds() {
        if let Rule::Enum(allowed) = bound.rule {
            for member in allowed {
                let (object, concrete) = object_with(bound.kind, bound.path, json!(member));
                assert!(
                    check(bound.kind, &object)
                        .iter()
                        .all(|v| v.path != concrete),
                    "{bound:?} refuses {member}"
                );
            }
        }
    }
}

/// Route names have no bound in the CRD (the App Mesh API's own limit is checked elsewhere).
#[test]
fn violations_name_the_concrete_path_and_what_was_found() {
    let router = json!({
        "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualRouter",
        "metadata": {"name": "r", "namespace": "ns"},
        "spec": {
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "routes": [
                {"name": "ok", "priority": 0, "httpRoute": {"match": {"prefix": "/"},
                    "action": {"weightedTargets": [{"virtualNodeRef": {"name": "a"}, "weight": 1}]}}},
                {"name": "", "priority": -1, "httpRoute": {"match": {"prefix": "/"},
                    "action": {"weightedTargets": [{"virtualNodeRef": {"name": "a"}, "weight": 1}]},
                    "timeout": {"idle": {"unit": "s", "value": -5}}}},
                {"name": "n".repeat(300), "tcpRoute": {
                    "action": {"weightedTargets": []}}}
            ]
        }
    });
    let found: Vec<(String, String)> = check(AppMeshKind::VirtualRouter, &router)
        .iter()
        .map(|v| (v.path.clone(), v.to_string()))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "spec.routes[1].httpRoute.timeout.idle.value".to_owned(),
                "-5 is less than the minimum of 0".to_owned()
            ),
            (
                "spec.routes[1].priority".to_owned(),
                "-1 is less than the minimum of 0".to_owned()
            ),
            (
                "spec.routes[2].tcpRoute.action.weightedTargets".to_owned(),
                "0 items are fewer than the minimum of 1".to_owned()
            ),
        ]
    );
}

#[test]
fn nulls_and_wrong_types_are_left_to_decoding_and_status_is_not_checked() {
    let mesh = json!({
        "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": {"name": "m"},
        "spec": {"egressFilter": {"type": null}, "meshServiceDiscovery": {"ipPreference": 6}},
        "status": {"conditions": [{"lastTransitionTime": "not a time"}]}
    });
    assert_eq!(check(AppMeshKind::Mesh, &mesh), Vec::new());
    let bad = json!({"spec": {"egressFilter": {"type": "ALLOW_SOME"}}});
    assert_eq!(
        check(AppMeshKind::Mesh, &bad)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["\"ALLOW_SOME\" is not one of ALLOW_ALL, DROP_ALL"]
    );
}

#[test]
fn closest_known_field_is_suggested_for_a_misspelt_one() {
    use AppMeshKind::*;
    assert_eq!(
        closest_field(VirtualNode, "spec.listners"),
        Some("listeners")
    );
    assert_eq!(
        closest_field(VirtualNode, "spec.listeners[0].portMaping"),
        Some("portMapping")
    );
    assert_eq!(
        closest_field(VirtualRouter, "spec.routes[3].httpRoute.retryPolcy"),
        Some("retryPolicy")
    );
    assert_eq!(
        closest_field(Mesh, "spec.egressfilter"),
        Some("egressFilter")
    );
    // Nothing close, or no such parent: no suggestion.
    assert_eq!(closest_field(VirtualNode, "spec.replicas"), None);
    assert_eq!(closest_field(VirtualNode, "spec.nosuch.thing"), None);
    assert_eq!(closest_field(VirtualNode, "listners"), None);
}
