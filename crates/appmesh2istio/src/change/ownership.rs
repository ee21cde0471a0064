//! Edits of `metadata.managedFields`, the server's record of which field manager owns which
//! field. Server-side apply removes a field only when the applying manager owned it and no
//! other manager does, so making an object *exactly* what we apply (a takeover, or drift someone
//! added with `kubectl patch`) first needs every spec field to be ours; and undoing a takeover
//! exactly means giving the fields back to their previous managers.
//!
//! The edit is sent as a JSON patch of `metadata.managedFields` alone, with a `test` of the
//! object's `resourceVersion` (see [`super::write`]): the API server honours managed fields a
//! request sets explicitly, and a request that changes nothing else adds no entry of its own.
//!
//! A `fieldsV1` set is a JSON tree (`f:<field>`, `k:<key>`, `v:<value>`, `i:<index>`, `.`):
//! the union of two sets is the deep merge of their trees.

use serde_json::{Map, Value, json};

/// What to do with the managed fields of the object a step starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnershipEdit {
    /// Make `manager`'s Apply entry own every spec field: other managers' `spec` fields and
    /// `manager`'s own Update entries (a create by POST, a patch) are moved into it, and
    /// top-level spec fields nobody owns that the apply does not set (`generated` lists the
    /// ones it sets) are claimed. A server-side apply sent next by `manager` then removes every
    /// spec field it does not set.
    TakeOverSpec { generated: Vec<String> },
    /// Only fold `manager`'s Update entries into its Apply entry (after a create by POST, so that
    /// the next server-side apply by `manager` does not conflict with itself).
    AdoptOwnUpdates,
    /// After an undo: the entries recorded before the change (`None` for undo files that did not
    /// record them), plus the entries of other managers that appeared since; `manager`'s dropped.
    Restore { previous: Option<Vec<Value>> },
}

impl OwnershipEdit {
    /// The new `managedFields` of `object`, or `None` when the edit changes nothing.
    pub fn apply(&self, object: &Value, manager: &str) -> Option<Vec<Value>> {
        let current = entries(object);
        let edited = match self {
            OwnershipEdit::TakeOverSpec { generated } => {
                take_over(object, &current, manager, Some(generated))
            }
            OwnershipEdit::AdoptOwnUpdates => take_over(object, &current, manager, None),
            OwnershipEdit::Restore { previous } => restore(&current, previous.as_deref(), manager),
        };
        (edited != current).then_some(edited)
    }
}

/// The managed-field entries of an object.
pub fn entries(object: &Value) -> Vec<Value> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn manager_of(entry: &Value) -> &str {
    entry.get("manager").and_then(Value::as_str).unwrap_or("")
}

fn operation_of(entry: &Value) -> &str {
    entry.get("operation").and_then(Value::as_str).unwrap_or("")
}

/// Entries of a subresource (`status`) are about other fields: never touched.
fn is_subresource(entry: &Value) -> bool {
    entry
        .get("subresource")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// Whether `manager` owns anything in `object` (any operation).
pub fn mentions(object: &Value, manager: &str) -> bool {
    entries(object).iter().any(|e| manager_of(e) == manager)
}

/// Deep merge of `other` into `into` (the union of two field sets).
pub fn union(into: &mut Value, other: &Value) {
    match (into, other) {
        (Value::Object(target), Value::Object(source)) => {
            for (key, value) in source {
                match target.get_mut(key) {
                    Some(existing) => union(existing, value),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (slot, value) => {
            if !slot.is_object() {
                *slot = value.clone();
            }
        }
    }
}

/// `generated`: `None` folds only our own entries; `Some` takes over the spec too.
fn take_over(
    object: &Value,
    current: &[Value],
    manager: &str,
    generated: Option<&Vec<String>>,
) -> Vec<Value> {
    let spec = generated.is_some();
    let mut claimed = json!({});
    let mut ours_apply: Option<Value> = None;
    let mut kept = Vec::with_capacity(current.len());
    for entry in current {
        if is_subresource(entry) {
            kept.push(entry.clone());
            continue;
        }
        let fields = entry.get("fieldsV1").cloned().unwrap_or_else(|| json!({}));
        if manager_of(entry) == manager {
            if operation_of(entry) == "Apply" && ours_apply.is_none() {
                ours_apply = Some(entry.clone());
            } else {
                // Our own Update entries (and any duplicate Apply entry) fold into one.
                union(&mut claimed, &fields);
            }
            continue;
        }
        if !spec {
            kept.push(entry.clone());
            continue;
        }
        let mut rest = fields;
        if let Some(spec_fields) = rest.as_object_mut().and_then(|m| m.remove("f:spec")) {
            union(&mut claimed, &json!({"f:spec": spec_fields}));
        }
        if rest.as_object().is_some_and(|m| !m.is_empty()) {
            let mut entry = entry.clone();
            entry["fieldsV1"] = rest;
            kept.push(entry);
        }
    }
    if spec {
        // Top-level spec fields nobody owns (objects written before managed fields existed, or
        // whose entries were stripped) and the apply does not set: claim them so that the
        // apply removes them too. (One the apply sets is left alone: a whole-field claim
        // would make the apply prune what it sets; verification reports anything left.)
        let mut owned = claimed.clone();
        if let Some(ours) = &ours_apply {
            union(&mut owned, ours.get("fieldsV1").unwrap_or(&Value::Null));
        }
        for entry in &kept {
            union(&mut owned, entry.get("fieldsV1").unwrap_or(&Value::Null));
        }
        if let Some(spec) = object.get("spec").and_then(Value::as_object) {
            let generated = generated.map(Vec::as_slice).unwrap_or_default();
            for key in spec.keys().filter(|k| !generated.contains(k)) {
                let field = format!("f:{key}");
                if owned
                    .pointer(&format!("/f:spec/{}", super::object::pointer_token(&field)))
                    .is_none()
                {
                    union(&mut claimed, &json!({"f:spec": {field: {}}}));
                }
            }
        }
    }
    let claimed_anything = claimed.as_object().is_some_and(|m| !m.is_empty());
    let ours = match ours_apply {
        Some(mut entry) => {
            if claimed_anything {
                let mut fields = entry.get("fieldsV1").cloned().unwrap_or_else(|| json!({}));
                union(&mut fields, &claimed);
                entry["fieldsV1"] = fields;
            }
            Some(entry)
        }
        None if claimed_anything => Some(json!({
            "manager": manager,
            "operation": "Apply",
            "apiVersion": object.get("apiVersion").cloned().unwrap_or(Value::Null),
            "time": now(),
            "fieldsType": "FieldsV1",
            "fieldsV1": claimed,
        })),
        None => None,
    };
    let mut out = Vec::with_capacity(kept.len() + 1);
    out.extend(ours);
    out.extend(kept);
    out
}

fn restore(current: &[Value], previous: Option<&[Value]>, manager: &str) -> Vec<Value> {
    match previous {
        Some(previous) => {
            let known: Vec<&str> = previous.iter().map(manager_of).collect();
            let mut out = previous.to_vec();
            out.extend(
                current
                    .iter()
                    .filter(|e| manager_of(e) != manager && !known.contains(&manager_of(e)))
                    .cloned(),
            );
            out
        }
        None => current
            .iter()
            .filter(|e| manager_of(e) != manager)
            .cloned()
            .collect(),
    }
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The spec fields (top level) other managers own, with their managers: what a takeover takes.
pub fn spec_owners(object: &Value, manager: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for entry in entries(object) {
        if manager_of(&entry) == manager || is_subresource(&entry) {
            continue;
        }
        if let Some(spec) = entry.pointer("/fieldsV1/f:spec").and_then(Value::as_object) {
            for key in spec.keys().filter_map(|k| k.strip_prefix("f:")) {
                let owners = out
                    .entry(key.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = owners {
                    let name = Value::String(manager_of(&entry).to_owned());
                    if !list.contains(&name) {
                        list.push(name);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(managed: Value, spec: Value) -> Value {
        json!({"apiVersion": "networking.istio.io/v1", "metadata": {"managedFields": managed}, "spec": spec})
    }

    #[test]
    fn takeover_moves_other_managers_spec_fields_and_keeps_their_metadata() {
        let live = object(
            json!([
                {"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {".": {}, "f:hosts": {}, "f:exportTo": {}}}},
                {"manager": "kubectl-patch", "operation": "Update", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:spec": {"f:tcp": {}}}},
                {"manager": "status-writer", "operation": "Update", "subresource": "status", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:status": {}}}
            ]),
            json!({"hosts": ["a"], "exportTo": ["."], "tcp": [], "orphan": true, "unowned-but-generated": 1}),
        );
        let take_over = OwnershipEdit::TakeOverSpec {
            generated: vec!["hosts".into(), "unowned-but-generated".into()],
        };
        let edited = take_over.apply(&live, "me").unwrap();
        assert_eq!(edited.len(), 3, "{edited:#?}");
        assert_eq!(edited[0]["manager"], "me");
        assert_eq!(edited[0]["operation"], "Apply");
        assert_eq!(
            edited[0]["fieldsV1"]["f:spec"],
            json!({".": {}, "f:hosts": {}, "f:exportTo": {}, "f:tcp": {}, "f:orphan": {}})
        );
        assert_eq!(
            edited[1]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:team": {}}}}),
            "their labels stay theirs"
        );
        assert_eq!(edited[2]["subresource"], "status");
        // Nothing left to take: no edit.
        let taken = object(
            Value::Array(edited),
            json!({"hosts": ["a"], "exportTo": ["."], "tcp": [], "orphan": true}),
        );
        assert_eq!(take_over.apply(&taken, "me"), None);
    }

    #[test]
    fn own_update_entries_fold_into_the_apply_entry() {
        let created = object(
            json!([{"manager": "me", "operation": "Update", "apiVersion": "networking.istio.io/v1", "time": "t",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:hosts": {}}}}]),
            json!({"hosts": ["a"]}),
        );
        let edited = OwnershipEdit::AdoptOwnUpdates
            .apply(&created, "me")
            .unwrap();
        assert_eq!(edited.len(), 1);
        assert_eq!(edited[0]["operation"], "Apply");
        assert_eq!(edited[0]["fieldsV1"], json!({"f:spec": {"f:hosts": {}}}));
        let applied = object(Value::Array(edited), json!({"hosts": ["a"]}));
        assert_eq!(OwnershipEdit::AdoptOwnUpdates.apply(&applied, "me"), None);
    }

    #[test]
    fn restore_gives_back_the_previous_entries_and_keeps_newcomers() {
        let previous = vec![
            json!({"manager": "theirs", "operation": "Update", "fieldsV1": {"f:spec": {"f:hosts": {}}}}),
        ];
        let now = object(
            json!([
                {"manager": "me", "operation": "Apply", "fieldsV1": {"f:spec": {"f:hosts": {}}}},
                {"manager": "me", "operation": "Update", "fieldsV1": {"f:spec": {"f:http": {}}}},
                {"manager": "theirs", "operation": "Update", "fieldsV1": {"f:spec": {"f:x": {}}}},
                {"manager": "newcomer", "operation": "Update", "fieldsV1": {"f:metadata": {}}}
            ]),
            json!({}),
        );
        let edited = OwnershipEdit::Restore {
            previous: Some(previous.clone()),
        }
        .apply(&now, "me")
        .unwrap();
        assert_eq!(
            edited,
            vec![
                previous[0].clone(),
                now["metadata"]["managedFields"][3].clone()
            ]
        );
        let without_record = OwnershipEdit::Restore { previous: None }
            .apply(&now, "me")
            .unwrap();
        assert!(without_record.iter().all(|e| e["manager"] != "me"));
        assert_eq!(without_record.len(), 2);
    }

    #[test]
    fn spec_owners_name_the_other_managers() {
        let live = object(
            json!([{"manager": "me", "fieldsV1": {"f:spec": {"f:hosts": {}}}},
                   {"manager": "kubectl-patch", "fieldsV1": {"f:spec": {"f:exportTo": {}}}}]),
            json!({}),
        );
        assert_eq!(
            Value::Object(spec_owners(&live, "me")),
            json!({"exportTo": ["kubectl-patch"]})
        );
    }
}
