//! Property tests (proptest) of the invariants the conversion and `label` rely on:
//! App Mesh's route order is kept; weights keep their proportions; every emitted name is
//! DNS-1123; the same input gives byte-identical output; `label` then `label --undo` (from
//! the undo file, or from the namespace's own annotation) gives back the labels and
//! annotations exactly as they were.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use appmesh2istio::change::record::KeyChanges;
use appmesh2istio::change::{
    Change, DOCUMENT_API_VERSION, ObjectKey, Operation, UndoEntry, UndoRecord, revert,
};
use appmesh2istio::convert::{ConvertOptions, convert};
use appmesh2istio::istio::IstioObject;
use appmesh2istio::label::change::{
    LabelContext, LabelNamespace, PREVIOUS_ANNOTATION, recorded_previous,
};
use appmesh2istio::label::target::Target;
use appmesh2istio::load::{LoadOptions, load_str};
use appmesh2istio::render;
use appmesh2istio::resolve::resolve;
use appmesh2istio_fuzz::structured::Input;
use proptest::prelude::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Conversion helpers

// A YAML stream of JSON documents: the comment keeps it YAML (a source that starts with `{`
// is one strict JSON text, as kubectl reads it).
const HEADER: &str = r#"# app
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{"mesh":"shop"}}}
---
{"apiVersion":"appmesh.k8s.aws/v1beta2","kind":"Mesh","metadata":{"name":"shop"},"spec":{"namespaceSelector":{"matchLabels":{"mesh":"shop"}}}}"#;

fn node(name: &str) -> Value {
    json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
           "metadata": {"name": name, "namespace": "shop"},
           "spec": {"podSelector": {"matchLabels": {"app": name}},
                    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                    "serviceDiscovery": {"dns": {"hostname": format!("{name}.shop.svc.cluster.local")}}}})
}

/// A router `web` with `routes`, its VirtualService `web` (host `web.shop.svc.cluster.local`:
/// the controller names it `web.shop`), and nodes n0..n3.
fn router_app(routes: Vec<Value>) -> String {
    let mut docs: Vec<Value> = (0..4).map(|i| node(&format!("n{i}"))).collect();
    docs.push(json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualRouter",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}], "routes": routes}}));
    docs.push(
        json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"provider": {"virtualRouter": {"virtualRouterRef": {"name": "web"}}}}}),
    );
    let body: Vec<String> = docs.iter().map(Value::to_string).collect();
    format!("{HEADER}\n---\n{}", body.join("\n---\n"))
}

/// Convert `text` (must succeed) and give the objects as JSON plus the YAML stream.
fn convert_text(text: &str) -> (Vec<Value>, String) {
    let inventory = load_str("app.yaml", text, &LoadOptions::default()).unwrap();
    let conversion = convert(&inventory, &resolve(&inventory), &ConvertOptions::default()).unwrap();
    let yaml = render::to_yaml_stream(&conversion.objects).unwrap();
    let objects = conversion
        .objects
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    (objects, yaml)
}

/// The mesh VirtualService's HTTP routes for the router's host.
fn http_routes(objects: &[Value]) -> Vec<Value> {
    objects
        .iter()
        .find(|o| {
            o["kind"] == "VirtualService"
                && o["spec"]["hosts"]
                    .as_array()
                    .is_some_and(|h| h.iter().any(|h| h == "web.shop.svc.cluster.local"))
        })
        .map(|vs| vs["spec"]["http"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Route order

#[derive(Debug, Clone)]
enum PathMatch {
    /// `prefix: /` without headers: matches every request.
    CatchAll,
    /// `prefix: /` with a header condition.
    RootWithHeader,
    Prefix(usize),
    Exact(usize),
}

#[derive(Debug, Clone)]
struct RouteSpec {
    priority: Option<i64>,
    path: PathMatch,
}

fn route_spec() -> impl Strategy<Value = RouteSpec> {
    let path = prop_oneof![
        1 => Just(PathMatch::CatchAll),
        1 => Just(PathMatch::RootWithHeader),
        3 => (1usize..6).prop_map(PathMatch::Prefix),
        2 => (1usize..6).prop_map(PathMatch::Exact),
    ];
    (prop::option::of(0i64..4), path).prop_map(|(priority, path)| RouteSpec { priority, path })
}

/// Route `i`'s path: unique per route (the index ends it), `len` letters before the index.
fn path_of(i: usize, len: usize) -> String {
    format!("/{}{i}", "p".repeat(len))
}

fn route_json(i: usize, spec: &RouteSpec) -> Value {
    let mut m = match spec.path {
        PathMatch::CatchAll => json!({"prefix": "/"}),
        PathMatch::RootWithHeader => {
            json!({"prefix": "/", "headers": [{"name": "x-user", "match": {"exact": format!("u{i}")}}]})
        }
        PathMatch::Prefix(len) => json!({"prefix": path_of(i, len)}),
        PathMatch::Exact(len) => json!({"path": {"exact": path_of(i, len)}}),
    };
    let mut route = json!({"name": format!("r{i}"),
        "httpRoute": {"match": m.take(),
                      "action": {"weightedTargets": [{"virtualNodeRef": {"name": "n0"}, "weight": 1}]}}});
    if let Some(p) = spec.priority {
        route["priority"] = json!(p);
    }
    route
}

/// App Mesh's order, from its documentation, written independently of the converter:
/// priority (unset after all prioritised routes), then a route with conditions before one that
/// matches everything, then exact paths before prefixes, longer prefixes first, then
/// declaration order. Routes after the first catch-all are never reached; Istio needs the
/// catch-all last.
fn expected_order(specs: &[RouteSpec]) -> Vec<String> {
    let mut keyed: Vec<(usize, &RouteSpec)> = specs.iter().enumerate().collect();
    keyed.sort_by_key(|(i, s)| {
        let (catch_all, specificity, len) = match s.path {
            PathMatch::CatchAll => (true, 1, 1),
            PathMatch::RootWithHeader => (false, 1, 1),
            PathMatch::Prefix(len) => (false, 1, path_of(*i, len).len()),
            // Exact paths are disjoint: declaration order among them.
            PathMatch::Exact(_) => (false, 0, 0),
        };
        (
            s.priority.is_none(),
            s.priority.unwrap_or(0),
            catch_all,
            specificity,
            std::cmp::Reverse(len),
            *i,
        )
    });
    let mut out = Vec::new();
    let mut catch_all = None;
    for (i, s) in keyed {
        if matches!(s.path, PathMatch::CatchAll) {
            catch_all = Some(format!("r{i}"));
            break;
        }
        out.push(format!("r{i}"));
    }
    out.extend(catch_all);
    out
}

// ---------------------------------------------------------------------------------------------
// Weights

fn target_json(node: usize, weight: i64) -> Value {
    json!({"virtualNodeRef": {"name": format!("n{node}")}, "weight": weight})
}

// ---------------------------------------------------------------------------------------------
// DNS-1123, checked here without the library's own checker

fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

// ---------------------------------------------------------------------------------------------
// label / label --undo

fn label_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("appmesh.k8s.aws/sidecarInjectorWebhook".to_owned()),
        Just("istio-injection".to_owned()),
        Just("istio.io/rev".to_owned()),
        Just("istio.io/dataplane-mode".to_owned()),
        Just("mesh".to_owned()),
        "[a-z]{1,6}(\\.[a-z]{1,4}/)?[a-z0-9]{1,6}",
    ]
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("enabled".to_owned()),
        Just("disabled".to_owned()),
        Just("ambient".to_owned()),
        Just("shop".to_owned()),
        "[a-z0-9]{0,8}",
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Injection),
        Just(Target::Ambient),
        "[a-z0-9]{1,8}".prop_map(Target::Revision),
    ]
}

fn context(target: Target, remove_mesh_labels: bool) -> Arc<LabelContext> {
    Arc::new(LabelContext {
        target: Some(target),
        remove_mesh_labels,
        mesh_selectors: vec![Some(json!({"matchLabels": {"mesh": "shop"}}))],
        gateway_selectors: Vec::new(),
        appmesh_objects: BTreeMap::new(),
        survey: BTreeMap::new(),
    })
}

fn namespace(labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": "shop", "uid": "u-1", "resourceVersion": "7",
                        "labels": labels, "annotations": annotations}})
}

/// Apply the writes of a decision as the API server would (merge and JSON patches).
fn apply_writes(live: &Value, writes: &[Operation]) -> Value {
    let mut object = live.clone();
    for write in writes {
        match write {
            Operation::MergePatch { patch } => json_patch::merge(&mut object, patch),
            Operation::JsonPatch { operations } => {
                let patch: json_patch::Patch =
                    serde_json::from_value(Value::Array(operations.clone())).unwrap();
                json_patch::patch(&mut object, &patch).unwrap();
            }
            other => panic!("label/undo wrote something else than a patch: {other:?}"),
        }
    }
    object
}

/// `label` on `live`: the object after it, and the undo file entry it recorded.
fn label(live: &Value, target: Target, remove_mesh_labels: bool) -> (Value, Option<KeyChanges>) {
    let change = LabelNamespace::new("shop", context(target, remove_mesh_labels));
    let decision = change.decide(Some(live));
    let after = apply_writes(live, &decision.writes);
    // The engine's verify step: what the plan said it would do is what the object shows.
    assert!(
        change
            .verify(&decision, Some(&after), Default::default())
            .is_empty(),
        "label's own verification fails after its writes"
    );
    let undo = match decision.undo {
        Some(UndoEntry::Metadata(keys)) => Some(keys),
        None => None,
        Some(other) => panic!("label recorded {other:?}"),
    };
    (after, undo)
}

fn record(changes: Vec<KeyChanges>) -> UndoRecord {
    UndoRecord {
        api_version: DOCUMENT_API_VERSION.to_owned(),
        kind: "UndoRecord".to_owned(),
        command: "label".to_owned(),
        undo_command: String::new(),
        created_at: "2026-01-01T00:00:00Z".to_owned(),
        context: None,
        server: "https://127.0.0.1:6443".to_owned(),
        field_manager: "appmesh2istio".to_owned(),
        created: Vec::new(),
        updated: Vec::new(),
        metadata_changes: changes,
        pod_template_changes: Vec::new(),
        deleted: Vec::new(),
    }
}

/// `label --undo` with `record`: the object after every revert's writes.
fn undo(live: &Value, record: &UndoRecord) -> Value {
    let mut object = live.clone();
    for change in revert::changes(record) {
        let decision = change.decide(Some(&object));
        object = apply_writes(&object, &decision.writes);
    }
    object
}

/// What `label --undo` without a file builds from the namespace's annotation.
fn undo_from_annotation(live: &Value) -> UndoRecord {
    let key = ObjectKey::new("v1", "Namespace", None, "shop");
    let mut changes = KeyChanges::new(&key, live, "/metadata", [], [PREVIOUS_ANNOTATION]);
    changes
        .annotations
        .insert(PREVIOUS_ANNOTATION.to_owned(), None);
    changes.labels = recorded_previous(live).unwrap();
    record(vec![changes])
}

fn metadata_maps(object: &Value) -> (Value, Value) {
    let map = |key: &str| {
        let v = object["metadata"][key].clone();
        // An empty map and an absent one are the same to the API server.
        if v.as_object().is_some_and(|m| m.is_empty()) {
            Value::Null
        } else {
            v
        }
    };
    (map("labels"), map("annotations"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn route_order_is_priority_then_specificity_catch_all_last(
        specs in prop::collection::vec(route_spec(), 1..7)
    ) {
        let routes = specs.iter().enumerate().map(|(i, s)| route_json(i, s)).collect();
        let (objects, _) = convert_text(&router_app(routes));
        let names: Vec<String> = http_routes(&objects)
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        prop_assert_eq!(names, expected_order(&specs));
    }

    #[test]
    fn weights_keep_their_proportions(
        targets in prop::collection::vec((0usize..4, 0i64..=100), 2..6)
    ) {
        let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
        for (n, w) in &targets {
            *wanted.entry(format!("n{n}.shop.svc.cluster.local")).or_default() += w;
        }
        let total: i64 = wanted.values().sum();
        // A split of only zero weights is refused (AMI2119); one destination takes everything.
        prop_assume!(total > 0 && wanted.len() > 1);
        let route = json!({"name": "split", "httpRoute": {"match": {"prefix": "/"},
            "action": {"weightedTargets": targets.iter().map(|(n, w)| target_json(*n, *w)).collect::<Vec<_>>()}}});
        let (objects, _) = convert_text(&router_app(vec![route]));
        let routes = http_routes(&objects);
        prop_assert_eq!(routes.len(), 1);
        let mut got: BTreeMap<String, i64> = BTreeMap::new();
        for d in routes[0]["route"].as_array().unwrap() {
            let host = d["destination"]["host"].as_str().unwrap().to_owned();
            *got.entry(host).or_default() += d["weight"].as_i64().unwrap_or(0);
        }
        let got_total: i64 = got.values().sum();
        prop_assert!(got_total > 0);
        for (host, w) in &wanted {
            let g = got.get(host).copied().unwrap_or(0);
            // w / total == g / got_total, in integers.
            prop_assert_eq!(w * got_total, g * total, "host {} wanted {} of {}, got {} of {}", host, w, total, g, got_total);
        }
        prop_assert!(got.keys().all(|h| wanted.contains_key(h)));
    }

    #[test]
    fn every_emitted_name_is_dns1123_and_output_is_deterministic(
        bytes in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        let input = Input::generate(&mut arbitrary::Unstructured::new(&bytes));
        let text = input.text();
        let Ok(inventory) = load_str("app.yaml", &text, &LoadOptions::default()) else {
            return Ok(());
        };
        let once = convert(&inventory, &resolve(&inventory), &input.options);
        let Ok(once) = once else {
            prop_assert!(false, "our output failed our validation");
            unreachable!()
        };
        for object in &once.objects {
            let value = serde_json::to_value(object).unwrap();
            let name = value["metadata"]["name"].as_str().unwrap_or_default();
            prop_assert!(is_dns1123_subdomain(name), "name {:?} of a {}", name, value["kind"]);
            if !matches!(object, IstioObject::IstioOperator(_)) || value["metadata"].get("namespace").is_some() {
                let ns = value["metadata"]["namespace"].as_str().unwrap_or_default();
                prop_assert!(is_dns1123_label(ns), "namespace {:?} of {}", ns, name);
            }
        }
        // Same input, byte-identical output: again from the text, and from a fresh load.
        let again_inventory = load_str("app.yaml", &text, &LoadOptions::default()).unwrap();
        let again = convert(&again_inventory, &resolve(&again_inventory), &input.options).unwrap();
        prop_assert_eq!(
            render::to_yaml_stream(&once.objects).unwrap(),
            render::to_yaml_stream(&again.objects).unwrap()
        );
        prop_assert_eq!(
            render::report_json(&once.report).unwrap(),
            render::report_json(&again.report).unwrap()
        );
    }

    #[test]
    fn label_then_undo_is_the_identity(
        labels in prop::collection::btree_map(label_key(), label_value(), 0..6),
        annotations in prop::collection::btree_map("[a-z]{1,5}(/[a-z]{1,5})?", "[a-z ]{0,6}", 0..3),
        first in target(),
        second in prop::option::of(target()),
        remove_mesh_labels in any::<bool>(),
    ) {
        let before = namespace(&labels, &annotations);
        let (after, recorded) = label(&before, first, remove_mesh_labels);
        // From the undo file of that run.
        let restored = undo(&after, &record(recorded.into_iter().collect()));
        prop_assert_eq!(metadata_maps(&restored), metadata_maps(&before));
        // From the annotation, after one or two runs (possibly with another target).
        let after = match second {
            Some(t) => label(&after, t, remove_mesh_labels).0,
            None => after,
        };
        if after["metadata"]["annotations"].get(PREVIOUS_ANNOTATION).is_some() {
            let restored = undo(&after, &undo_from_annotation(&after));
            prop_assert_eq!(metadata_maps(&restored), metadata_maps(&before));
            // A second undo changes nothing.
            let twice = undo(&restored, &undo_from_annotation(&restored));
            prop_assert_eq!(metadata_maps(&twice), metadata_maps(&before));
        } else {
            prop_assert_eq!(metadata_maps(&after), metadata_maps(&before));
        }
    }
}
