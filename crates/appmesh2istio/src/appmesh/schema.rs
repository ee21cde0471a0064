//! The bounds of the App Mesh CRD schemas, checked the way the API server checks them.
//!
//! An App Mesh object is stored only when it passes its CRD's `openAPIV3Schema`: a route
//! priority of -1, a route name of 300 characters or an empty rewrite prefix are refused with
//! the whole object, so App Mesh never ran it. Decoding into our model catches wrong types and
//! missing required fields; this module adds the numeric bounds, lengths, item counts and enums.
//!
//! The rules are a table ([`schema_bounds::BOUNDS`](super::schema_bounds)) generated from the
//! controller's CRDs (`../shared/crds/appmesh/`); a test regenerates it from those files and
//! fails when it differs, so the bounds enforced here are exactly the CRDs'. Only `spec` is
//! checked: every App Mesh CRD has the status subresource, so the API server ignores `status`
//! when an object is created or updated.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use super::AppMeshKind;
use super::schema_bounds::{BOUNDS, FIELDS};

/// One constraint of a CRD schema, as the API server applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `minimum` of an integer.
    Minimum(i64),
    /// `maximum` of an integer.
    Maximum(i64),
    /// `minLength` of a string, in characters.
    MinLength(usize),
    /// `maxLength` of a string, in characters.
    MaxLength(usize),
    /// `minItems` of an array.
    MinItems(usize),
    /// `maxItems` of an array.
    MaxItems(usize),
    /// `enum` of a string.
    Enum(&'static [&'static str]),
}

/// A rule at a path of one kind's schema. Paths are dotted from the object root; `[]` stands
/// for every item of an array, e.g. `spec.routes[].priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub kind: AppMeshKind,
    pub path: &'static str,
    pub rule: Rule,
}

impl Bound {
    pub(super) const fn new(kind: AppMeshKind, path: &'static str, rule: Rule) -> Bound {
        Bound { kind, path, rule }
    }
}

/// The known field closest to a field the CRD does not have (`spec.listners` →
/// `listeners`), for "did you mean": the same parent object in the CRD's schema, within a
/// small edit distance. `None` when nothing is close, or the parent is not in the schema.
pub fn closest_field(kind: AppMeshKind, unknown_path: &str) -> Option<&'static str> {
    let (parent, name) = unknown_path.rsplit_once('.')?;
    // Concrete indices (`listeners[0]`) are `[]` in the table.
    let mut schema_parent = String::with_capacity(parent.len());
    let mut in_index = false;
    for c in parent.chars() {
        match c {
            '[' => {
                in_index = true;
                schema_parent.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => schema_parent.push(c),
        }
    }
    let (_, _, names) = FIELDS
        .iter()
        .find(|(k, path, _)| *k == kind && *path == schema_parent)?;
    let lower = name.to_ascii_lowercase();
    names
        .iter()
        .map(|known| {
            (
                strsim::damerau_levenshtein(&lower, &known.to_ascii_lowercase()),
                *known,
            )
        })
        .filter(|(distance, known)| *distance <= (known.len() / 3).clamp(1, 3))
        .min()
        .map(|(_, known)| known)
}

/// Every bound of the App Mesh CRDs (generated; see the module documentation).
pub fn bounds() -> &'static [Bound] {
    BOUNDS
}

/// A value the CRD schema refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The concrete path, e.g. `spec.routes[2].priority`.
    pub path: String,
    pub rule: Rule,
    /// What was found, in the user's terms: `-1`, `300 characters`, `"ALLOW_SOME"`, `0 items`.
    pub found: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let found = &self.found;
        match self.rule {
            Rule::Minimum(min) => write!(f, "{found} is less than the minimum of {min}"),
            Rule::Maximum(max) => write!(f, "{found} is more than the maximum of {max}"),
            Rule::MinLength(min) => {
                write!(f, "{found} is shorter than the minimum length of {min}")
            }
            Rule::MaxLength(max) => {
                write!(f, "{found} is longer than the maximum length of {max}")
            }
            Rule::MinItems(min) => write!(f, "{found} are fewer than the minimum of {min}"),
            Rule::MaxItems(max) => write!(f, "{found} are more than the maximum of {max}"),
            Rule::Enum(allowed) => write!(f, "{found} is not one of {}", allowed.join(", ")),
        }
    }
}

/// The rules of one kind as a tree over field names, so that checking an object walks it once.
#[derive(Debug, Default)]
struct Node {
    rules: Vec<Rule>,
    fields: BTreeMap<&'static str, Node>,
    /// The rules of every item, when this node is an array.
    items: Option<Box<Node>>,
}

impl Node {
    fn insert(&mut self, path: &'static str, rule: Rule) {
        let mut node = self;
        for segment in path.split('.') {
            let (name, arrays) = match segment.find("[]") {
                Some(at) => (&segment[..at], segment[at..].len() / 2),
                None => (segment, 0),
            };
            node = node.fields.entry(name).or_default();
            for _ in 0..arrays {
                node = node.items.get_or_insert_with(Box::default);
            }
        }
        node.rules.push(rule);
    }
}

/// Limits of the App Mesh API (AWS) on values its CRDs leave unbounded: the controller's
/// create call fails on them, so the resource never exists in App Mesh. From the App Mesh API
/// reference: `CreateRoute` `routeName`, 1 to 255 characters.
const APP_MESH_API_BOUNDS: &[Bound] = &[
    Bound::new(
        AppMeshKind::VirtualRouter,
        "spec.routes[].name",
        Rule::MinLength(1),
    ),
    Bound::new(
        AppMeshKind::VirtualRouter,
        "spec.routes[].name",
        Rule::MaxLength(255),
    ),
];

type Trees = BTreeMap<AppMeshKind, Node>;

fn trees_of(table: &[Bound]) -> Trees {
    let mut trees = Trees::new();
    for bound in table {
        trees
            .entry(bound.kind)
            .or_default()
            .insert(bound.path, bound.rule);
    }
    trees
}

/// Every value of `object` (an App Mesh object of `kind`, as parsed) that its CRD schema
/// refuses, ordered by field name at each level. Values of the wrong type are left to
/// decoding, and `null` values count as absent, as the API server prunes them from
/// non-nullable fields.
pub fn check(kind: AppMeshKind, object: &Value) -> Vec<Violation> {
    static TREES: OnceLock<Trees> = OnceLock::new();
    check_with(TREES.get_or_init(|| trees_of(BOUNDS)), kind, object)
}

/// Every value of `object` that the App Mesh API refuses although the CRD accepts it.
pub fn check_app_mesh_api(kind: AppMeshKind, object: &Value) -> Vec<Violation> {
    static TREES: OnceLock<Trees> = OnceLock::new();
    check_with(
        TREES.get_or_init(|| trees_of(APP_MESH_API_BOUNDS)),
        kind,
        object,
    )
}

fn check_with(trees: &Trees, kind: AppMeshKind, object: &Value) -> Vec<Violation> {
    let mut violations = Vec::new();
    if let Some(tree) = trees.get(&kind) {
        let mut path = String::new();
        walk(object, tree, &mut path, &mut violations);
    }
    violations
}

fn walk(value: &Value, node: &Node, path: &mut String, out: &mut Vec<Violation>) {
    if value.is_null() {
        return;
    }
    for rule in &node.rules {
        if let Some(found) = violates(value, *rule) {
            out.push(Violation {
                path: path.clone(),
                rule: *rule,
                found,
            });
        }
    }
    match value {
        Value::Object(map) => {
            for (name, child) in &node.fields {
                if let Some(child_value) = map.get(*name) {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                    walk(child_value, child, path, out);
                    path.truncate(len);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = &node.items {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, item_node, path, out);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

/// What `value` shows that breaks `rule`, or `None` when it holds (or does not apply to the
/// value's type: a type error is decoding's to report).
fn violates(value: &Value, rule: Rule) -> Option<String> {
    match (rule, value) {
        (Rule::Minimum(min), Value::Number(n)) => below(n, min).then(|| n.to_string()),
        (Rule::Maximum(max), Value::Number(n)) => above(n, max).then(|| n.to_string()),
        (Rule::MinLength(min), Value::String(s)) => {
            let len = s.chars().count();
            (len < min).then(|| characters(len))
        }
        (Rule::MaxLength(max), Value::String(s)) => {
            let len = s.chars().count();
            (len > max).then(|| characters(len))
        }
        (Rule::MinItems(min), Value::Array(items)) => {
            (items.len() < min).then(|| count_items(items.len()))
        }
        (Rule::MaxItems(max), Value::Array(items)) => {
            (items.len() > max).then(|| count_items(items.len()))
        }
        (Rule::Enum(allowed), Value::String(s)) => {
            (!allowed.contains(&s.as_str())).then(|| format!("{s:?}"))
        }
        _ => None,
    }
}

fn below(n: &serde_json::Number, min: i64) -> bool {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i < min,
        (None, Some(_)) => false,
        (None, None) => n.as_f64().is_some_and(|f| f < min as f64),
    }
}

fn above(n: &serde_json::Number, max: i64) -> bool {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i > max,
        (None, Some(_)) => true,
        (None, None) => n.as_f64().is_some_and(|f| f > max as f64),
    }
}

fn characters(n: usize) -> String {
    if n == 1 {
        "1 character".to_owned()
    } else {
        format!("{n} characters")
    }
}

fn count_items(n: usize) -> String {
    if n == 1 {
        "1 item".to_owned()
    } else {
        format!("{n} items")
    }
}

#[cfg(test)]
mod tests;
