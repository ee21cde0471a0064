//! The summary precheck keeps of each pod.

use serde_json::Value;

use crate::cluster::kinds;

/// The fields of a pod precheck's checks read (owner, labels, annotations, deletion, phase,
/// node, hostNetwork, run-as UIDs, and per container its name, image and env names), built page
/// by page while listing: 20,000 whole pods would be held at once otherwise. A check that reads
/// another pod field must add it here.
pub fn pod_summary(pod: Value) -> Value {
    fn pick(from: &Value, keys: &[&str]) -> serde_json::Map<String, Value> {
        keys.iter()
            .filter_map(|k| from.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect()
    }
    fn container(c: &Value) -> Value {
        let mut out = pick(c, &["name", "image"]);
        if let Some(env) = c.get("env").and_then(Value::as_array) {
            let names: Vec<Value> = env
                .iter()
                .filter_map(|e| e.get("name").map(|n| serde_json::json!({"name": n})))
                .collect();
            out.insert("env".into(), Value::Array(names));
        }
        if let Some(uid) = c.pointer("/securityContext/runAsUser") {
            out.insert(
                "securityContext".into(),
                serde_json::json!({"runAsUser": uid}),
            );
        }
        Value::Object(out)
    }
    let metadata = pick(
        &pod["metadata"],
        &[
            "name",
            "namespace",
            "labels",
            "annotations",
            "ownerReferences",
            "deletionTimestamp",
        ],
    );
    let mut spec = pick(&pod["spec"], &["nodeName", "hostNetwork"]);
    if let Some(uid) = pod.pointer("/spec/securityContext/runAsUser") {
        spec.insert(
            "securityContext".into(),
            serde_json::json!({"runAsUser": uid}),
        );
    }
    for field in ["containers", "initContainers"] {
        if let Some(list) = pod["spec"].get(field).and_then(Value::as_array) {
            spec.insert(field.into(), list.iter().map(container).collect());
        }
    }
    let mut out = serde_json::Map::new();
    out.insert("apiVersion".into(), kinds::PODS.api_version().into());
    out.insert("kind".into(), kinds::PODS.kind.into());
    out.insert("metadata".into(), Value::Object(metadata));
    out.insert("spec".into(), Value::Object(spec));
    if let Some(phase) = pod.pointer("/status/phase") {
        out.insert("status".into(), serde_json::json!({"phase": phase}));
    }
    Value::Object(out)
}
