//! Values the App Mesh CRD schema accepts never make the converter produce invalid Istio
//! configuration (which it reports as its own bug, exit 4).
//!
//! Every App Mesh object of the conversion fixtures (`tests/fixtures/convert/*/input.yaml`) is
//! taken as a base; each of its scalar values under `spec` (and each label key and value of its
//! selectors) is replaced in turn by awkward values that are still within the bounds of the
//! field's CRD schema (empty, spaces, 64 or 300 characters, non-ASCII, an IP address, upper
//! case, slashes, negative or huge numbers, ...). Each variant is converted: it may be
//! converted, approximated or refused with a finding, but the generated objects must always
//! pass Istio's validation. Each field path is tried once (on its first occurrence).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use appmesh2istio::appmesh::schema::{Rule, bounds};
use appmesh2istio::appmesh::{AppMeshKind, GROUP};
use appmesh2istio::convert::{ConvertError, ConvertOptions, convert};
use appmesh2istio::load::{LoadOptions, load_str};
use appmesh2istio::resolve::resolve;
use serde_json::{Value, json};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/convert");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path().join("input.yaml"))
        .filter(|p| p.is_file())
        .collect();
    cases.sort();
    cases
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn kind_of(doc: &Value) -> Option<AppMeshKind> {
    let api = doc.get("apiVersion")?.as_str()?;
    if !api.starts_with(&format!("{GROUP}/")) {
        return None;
    }
    AppMeshKind::from_kind(doc.get("kind")?.as_str()?)
}

/// The schema path of a concrete path: `spec.routes[0].name` → `spec.routes[].name`, and
/// every label of a selector as `matchLabels.*`.
fn schema_path(concrete: &str) -> String {
    if let Some(at) = concrete.find("matchLabels.") {
        return format!("{}matchLabels.*", schema_path(&concrete[..at]));
    }
    let mut out = String::new();
    let mut in_index = false;
    for c in concrete.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// What a value at `path` of `kind` must respect (its CRD bounds).
fn rules_at(kind: AppMeshKind, path: &str) -> Vec<Rule> {
    let schema = schema_path(path);
    bounds()
        .iter()
        .filter(|b| b.kind == kind && b.path == schema)
        .map(|b| b.rule)
        .collect()
}

fn within(rules: &[Rule], value: &Value) -> bool {
    rules.iter().all(|rule| match (rule, value) {
        (Rule::Minimum(min), Value::Number(n)) => n.as_i64().is_some_and(|n| n >= *min),
        (Rule::Maximum(max), Value::Number(n)) => n.as_i64().is_some_and(|n| n <= *max),
        (Rule::MinLength(min), Value::String(s)) => s.chars().count() >= *min,
        (Rule::MaxLength(max), Value::String(s)) => s.chars().count() <= *max,
        (Rule::Enum(_), _) => false,
        _ => true,
    })
}

fn awkward_strings() -> Vec<String> {
    [
        "",
        " ",
        "a b",
        "café",
        "10.0.0.1",
        "::1",
        "UPPER",
        "-leading-dash",
        "trailing-dash-",
        "a/b/c",
        "a_b",
        "a..b",
        ".",
        "*",
        "*.example.com",
        "a:80",
        "/",
        "?",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([
        "x".repeat(63),
        "x".repeat(64),
        "x".repeat(254),
        format!("{}.{}", "a".repeat(63), "b".repeat(63)),
        ("a".repeat(60) + ".").repeat(5),
    ])
    .collect()
}

fn awkward_numbers() -> Vec<Value> {
    [
        json!(-1),
        json!(0),
        json!(1),
        json!(65535),
        json!(65536),
        json!(i64::from(i32::MAX) + 1),
        json!(i64::MAX),
        json!(i64::MIN),
    ]
    .to_vec()
}

/// Fields whose value is an RE2 regex: their checks belong to the regex validation.
fn is_regex_field(path: &str) -> bool {
    path.ends_with(".regex")
}

/// Every scalar under `spec` (and every label key of a selector), as concrete paths with
/// their JSON pointers.
fn leaves(value: &Value, pointer: &str, path: &str, out: &mut Vec<(String, String, Leaf)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                let f = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if (f.ends_with("matchLabels") || f.ends_with(".labels"))
                    && let Value::Object(labels) = v
                {
                    for key in labels.keys() {
                        out.push((p.clone(), format!("{f}.{key}"), Leaf::Key(key.clone())));
                    }
                }
                leaves(v, &p, &f, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, &format!("{pointer}/{i}"), &format!("{path}[{i}]"), out);
            }
        }
        Value::String(_) | Value::Number(_) => {
            out.push((pointer.to_owned(), path.to_owned(), Leaf::Value));
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Leaf {
    Value,
    /// A key of the map at the pointer.
    Key(String),
}

fn variant(doc: &Value, pointer: &str, leaf: &Leaf, replacement: &Value) -> Value {
    let mut doc = doc.clone();
    let target = doc.pointer_mut(pointer).unwrap();
    match leaf {
        Leaf::Value => *target = replacement.clone(),
        Leaf::Key(key) => {
            let map = target.as_object_mut().unwrap();
            let value = map.remove(key).unwrap();
            map.insert(replacement.as_str().unwrap().to_owned(), value);
        }
    }
    doc
}

#[test]
fn values_the_crd_accepts_never_produce_invalid_istio_objects() {
    let mut tried: BTreeSet<(AppMeshKind, String, bool)> = BTreeSet::new();
    let mut failures: Vec<String> = Vec::new();
    let mut conversions = 0usize;
    for file in fixtures() {
        let docs = documents(&file);
        for (index, doc) in docs.iter().enumerate() {
            let Some(kind) = kind_of(doc) else { continue };
            let Some(spec) = doc.get("spec") else {
                continue;
            };
            let mut found = Vec::new();
            leaves(spec, "/spec", "spec", &mut found);
            for (pointer, path, leaf) in found {
                let is_key = matches!(leaf, Leaf::Key(_));
                if is_regex_field(&path) || !tried.insert((kind, schema_path(&path), is_key)) {
                    continue;
                }
                let rules = rules_at(kind, &path);
                let current = doc.pointer(&pointer).unwrap();
                let candidates: Vec<Value> = if is_key || current.is_string() {
                    awkward_strings().into_iter().map(Value::String).collect()
                } else {
                    awkward_numbers()
                };
                for replacement in candidates.into_iter().filter(|c| within(&rules, c)) {
                    let mut items = docs.clone();
                    items[index] = variant(doc, &pointer, &leaf, &replacement);
                    let text = serde_json::to_string(&json!({
                        "apiVersion": "v1", "kind": "List", "items": items
                    }))
                    .unwrap();
                    let Ok(inventory) = load_str("variant.json", &text, &LoadOptions::default())
                    else {
                        continue;
                    };
                    let resolved = resolve(&inventory);
                    conversions += 1;
                    if let Err(ConvertError::InvalidOutput(violations)) =
                        convert(&inventory, &resolved, &ConvertOptions::default())
                    {
                        failures.push(format!(
                            "{} {kind} {path}{} = {replacement}: {}",
                            file.parent()
                                .unwrap()
                                .file_name()
                                .unwrap()
                                .to_string_lossy(),
                            if is_key { " (label key)" } else { "" },
                            violations
                                .first()
                                .map(ToString::to_string)
                                .unwrap_or_default()
                        ));
                    }
                }
            }
        }
    }
    eprintln!("{} field paths, {conversions} conversions", tried.len());
    assert!(conversions > 1000, "too few variants: {conversions}");
    assert!(
        failures.is_empty(),
        "{} variants produced invalid Istio objects:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
